package domain

// Import room: ImportMembers, row by row on a scratch copy of the state.

import (
	"fmt"
	"maps"
	"strings"
	"time"
)

func (d *decider) importMembers(c *ImportMembers) (Outcome, error) {
	if _, err := d.target(c.ProjectID, c.TrackID); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdImportMembers, Scope{ProjectID: c.ProjectID, TrackID: c.TrackID}, false); err != nil {
		return Outcome{}, err
	}
	rows, err := parseImportCSV(c.CSV)
	if err != nil {
		return Outcome{}, err
	}
	scratch := d.o.importScratch(c.ProjectID, c.TrackID)
	sd := decider{o: scratch, env: d.env, actor: d.actor, pending: newPendingIndex(scratch, d.env.Now)}
	var evs []Event
	results := make([]ImportRow, 0, len(rows))
	for i, row := range rows {
		if d.env.Yield != nil && i > 0 && i%YieldRows == 0 {
			d.env.Yield()
		}
		res := ImportRow{Row: i + 1}
		var rowEvs []Event
		var rerr error
		if row.userID != "" && row.email == "" || (row.userID != "" && scratch.Members[row.userID] != nil) {
			cmd := &AddMember{MemberRef: MemberRef{ProjectID: c.ProjectID, TrackID: c.TrackID, UserID: row.userID},
				Roles: row.roles, Grants: row.grants, Email: row.email, Name: row.name}
			var p *Project
			if p, rerr = sd.target(c.ProjectID, c.TrackID); rerr == nil {
				rowEvs, rerr = sd.addMembership(p, cmd)
			}
		} else {
			if sd.env.NewID == nil {
				return Outcome{}, invalidf("import needs an id generator for invitations")
			}
			inv := &InviteMember{ProjectID: c.ProjectID, TrackID: c.TrackID, Email: row.email, Name: row.name,
				Roles: row.roles, Grants: row.grants, InvitationID: sd.env.NewID()}
			if row.userID != "" {
				inv.Email, inv.UserID = "", row.userID
			}
			var ev *InvitationCreated
			if ev, rerr = sd.invitation(inv); rerr == nil {
				res.InvitationToken = sd.issueToken(ev)
				rowEvs = []Event{ev}
				res.InvitationID = ev.InvitationID
			}
		}
		if rerr != nil {
			res.Error, res.Code = rerr.Error(), string(CodeOf(rerr))
			res.InvitationID, res.InvitationToken = "", ""
		} else {
			res.OK = true
			for _, ev := range rowEvs {
				switch ev.(type) {
				case *MemberAdded, *InvitationCreated: // what importScratch copies for
				default:
					return Outcome{}, fmt.Errorf("import row %d: event %s would change what the import's scratch state shares with the organization", i+1, ev.EventType())
				}
				Evolve(scratch, ev)
				if inv, ok := ev.(*InvitationCreated); ok {
					sd.pending.add(inv.InvitationID, inv.ProjectID, inv.TrackID, inv.UserID, inv.Email)
				}
			}
			evs = append(evs, rowEvs...)
		}
		results = append(results, res)
	}
	return Outcome{Events: evs, Result: ImportMembersResult{Rows: results}}, nil
}

// importScratch is the copy of o an import decides its rows on. Its rows' events
// (MemberAdded into the target, InvitationCreated) change the invitations, the target
// project's or track's members and the expiry index: those are copied, their entries shared
// (an event replaces an entry, never alters one); the rest is shared and only read. A deep
// Clone cost an allocation for every invitation and membership of the organization, seconds
// of CPU for one of 100,000 members.
func (o *Org) importScratch(projectID, trackID string) *Org {
	c := *o
	c.Invitations = cloneMap(o.Invitations)
	c.expiring = o.expiring.clone()
	if p, ok := o.Projects[projectID]; ok {
		pc := *p
		pc.Members = cloneMap(p.Members)
		if t, ok := p.Tracks[trackID]; ok {
			tc := *t
			tc.Members = cloneMap(t.Members)
			pc.Tracks = maps.Clone(p.Tracks)
			pc.Tracks[trackID] = &tc
		}
		c.Projects = maps.Clone(o.Projects)
		c.Projects[projectID] = &pc
	}
	return &c
}

// cloneMap is maps.Clone, never nil: the copy is written to.
func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return maps.Clone(m)
}

// pendingIndex finds a pending invitation to the same person in the same place in constant
// time, so an import costs O(rows) rather than O(rows × invitations). It is built once per
// import from the scratch state and grows with the invitations the import creates; a hit is
// checked against the state (and a stale one falls back to the linear check).
type pendingIndex struct {
	o   *Org
	now time.Time
	ids map[string]string // key -> smallest invitation id
}

func newPendingIndex(o *Org, now time.Time) *pendingIndex {
	ix := &pendingIndex{o: o, now: now, ids: make(map[string]string, len(o.Invitations))}
	for id, inv := range o.Invitations {
		if inv.Status == InvitePending && inv.ExpiresAt.After(now) {
			ix.add(id, inv.ProjectID, inv.TrackID, inv.UserID, inv.Email)
		}
	}
	return ix
}

func pendingKey(projectID, trackID, kind, who string) string {
	return projectID + "\x00" + trackID + "\x00" + kind + "\x00" + who
}

func (ix *pendingIndex) add(id, projectID, trackID, userID, email string) {
	put := func(k string) {
		if cur, ok := ix.ids[k]; !ok || id < cur {
			ix.ids[k] = id
		}
	}
	if userID != "" {
		put(pendingKey(projectID, trackID, "u", userID))
	}
	if email != "" {
		put(pendingKey(projectID, trackID, "e", strings.ToLower(email)))
	}
}

func (ix *pendingIndex) duplicate(ev *InvitationCreated) error {
	var keys []string
	if ev.UserID != "" {
		keys = append(keys, pendingKey(ev.ProjectID, ev.TrackID, "u", ev.UserID))
	}
	if ev.Email != "" {
		keys = append(keys, pendingKey(ev.ProjectID, ev.TrackID, "e", strings.ToLower(ev.Email)))
	}
	for _, k := range keys {
		id, ok := ix.ids[k]
		if !ok {
			continue
		}
		if inv := ix.o.Invitations[id]; inv != nil && pendingDuplicate(inv, ev, ix.now) {
			return conflictf("invitation %s to the same person is already pending; revoke it first", id)
		}
		// stale (closed during the import): the linear check is exact
		return (&decider{o: ix.o, env: Env{Now: ix.now}}).noPendingDuplicate(ev)
	}
	return nil
}
