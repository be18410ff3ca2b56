package queries

import (
	"context"
	"slices"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
)

func provenanceOf(r eventstore.Record) client.Provenance {
	return client.Provenance{Position: r.Position, Type: r.Type, Actor: r.Actor, Time: r.Time, CommandID: r.CommandID}
}

// lineage gathers, while folding an organization's events, the events behind each
// membership, workgroup membership, organization role and project visibility as they
// stand at the end: a removal starts a membership's story over.
type lineage struct {
	members     map[string][]client.Provenance // target + principal
	groups      map[string][]client.Provenance // group + user
	org         map[string][]client.Provenance // user
	visibility  map[string][]client.Provenance // project
	invitations map[string][]client.Provenance // invitation id
}

func memberKey(t domain.Target, p domain.Principal) string {
	return t.ProjectID + "/" + t.TrackID + "/" + p.Key()
}

func buildLineage(recs []eventstore.Record) *lineage { return buildLineageWith(recs, decodeRecord) }

// decodeRecord decodes a record's event afresh.
func decodeRecord(r eventstore.Record) (domain.Event, error) {
	return domain.DecodeEvent(r.Type, r.Data)
}

// buildLineageWith is buildLineage decoding the records with decode (the history index's
// Event shares the decoded preset-bearing events).
func buildLineageWith(recs []eventstore.Record, decode func(eventstore.Record) (domain.Event, error)) *lineage {
	l := &lineage{members: map[string][]client.Provenance{}, groups: map[string][]client.Provenance{}, org: map[string][]client.Provenance{},
		visibility: map[string][]client.Provenance{}, invitations: map[string][]client.Provenance{}}
	for _, r := range recs {
		ev, err := decode(r)
		if err != nil {
			continue
		}
		p := provenanceOf(r)
		switch e := ev.(type) {
		case *domain.OrganizationCreated:
			l.org[e.AdminID] = []client.Provenance{p}
		case *domain.OrgMemberAdded:
			l.org[e.UserID] = append(slices.Clone(l.invitations[e.InvitationID]), p)
		case *domain.OrgRoleChanged:
			l.org[e.UserID] = append(l.org[e.UserID], p)
		case *domain.OrgMemberRemoved:
			delete(l.org, e.UserID)
		case *domain.WorkgroupMemberAdded:
			l.groups[e.GroupID+"/"+e.UserID] = []client.Provenance{p}
		case *domain.WorkgroupMemberRemoved:
			delete(l.groups, e.GroupID+"/"+e.UserID)
		case *domain.ProjectCreated:
			l.visibility[e.ProjectID] = []client.Provenance{p}
		case *domain.ProjectVisibilitySet:
			l.visibility[e.ProjectID] = []client.Provenance{p}
		case *domain.InvitationCreated:
			l.invitations[e.InvitationID] = []client.Provenance{p}
		case *domain.InvitationAccepted:
			l.invitations[e.InvitationID] = append(l.invitations[e.InvitationID], p)
		case *domain.MemberAdded:
			l.members[memberKey(e.Target, e.Principal)] = append(slices.Clone(l.invitations[e.InvitationID]), p)
		case *domain.RoleChanged:
			k := memberKey(e.Target, e.Principal)
			l.members[k] = append(l.members[k], p)
		case *domain.GrantsSet:
			k := memberKey(e.Target, e.Principal)
			l.members[k] = append(l.members[k], p)
		case *domain.MemberRemoved:
			delete(l.members, memberKey(e.Target, e.Principal))
		}
	}
	return l
}

// explain attaches to each via the events that created the membership behind it.
func (l *lineage) explain(userID string, vias []domain.Via) []client.Via {
	out := make([]client.Via, 0, len(vias))
	for _, v := range vias {
		var evs []client.Provenance
		switch {
		case v.Kind == domain.ViaPublic:
			evs = l.visibility[v.ProjectID]
		case v.Scope == domain.ScopeOrg:
			evs = l.org[userID]
		default:
			principal := domain.Principal{UserID: userID}
			if v.GroupID != "" {
				principal = domain.Principal{GroupID: v.GroupID}
				evs = append(evs, l.groups[v.GroupID+"/"+userID]...)
			}
			evs = append(evs, l.members[memberKey(domain.Target{ProjectID: v.ProjectID, TrackID: v.TrackID}, principal)]...)
		}
		evs = slices.Clone(evs)
		slices.SortFunc(evs, func(a, b client.Provenance) int { return int(a.Position) - int(b.Position) })
		if evs == nil {
			evs = []client.Provenance{}
		}
		w := viaOf(v)
		w.Events = evs
		out = append(out, w)
	}
	return out
}

// explainVias attaches to each via the events behind it, read from the history index: the
// records up to pos that concern the user, their workgroups, the project and the
// invitations those name (projections.HistoryIndex.Facts), which hold every event the
// lineage of the whole stream would give these vias.
func (q *Queries) explainVias(ctx context.Context, orgID, userID, projectID string, pos uint64, vias []domain.Via) ([]client.Via, error) {
	x := q.cfg.Index
	if err := x.CatchUp(ctx); err != nil {
		return nil, fail(client.CodeUnavailable, "read the history of %s: %v", orgID, err)
	}
	recs, err := x.Facts(ctx, orgID, userID, projectID, pos, true)
	if err != nil {
		return nil, fail(client.CodeUnavailable, "read the history of %s: %v", orgID, err)
	}
	return buildLineageWith(recs, x.Event).explain(userID, vias), nil
}
