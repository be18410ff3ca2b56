package domain

// Import room: ImportMembers, row by row on a scratch copy of the state.

import (
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
	scratch := d.o.Clone()
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
