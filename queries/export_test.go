package queries

import (
	"context"
	"slices"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
)

// ExplainReference is Check explain's lineage computed the brute-force way: from every event
// of the organization's stream up to pos (the reference the history index is tested against).
func (q *Queries) ExplainReference(ctx context.Context, orgID, userID string, pos uint64, vias []client.Via) ([]client.Via, error) {
	recs, err := q.cfg.History.OrgEvents(ctx, orgID)
	if err != nil {
		return nil, err
	}
	recs = slices.DeleteFunc(recs, func(r eventstore.Record) bool { return r.Position > pos })
	dv := make([]domain.Via, len(vias))
	for i, v := range vias {
		dv[i] = domain.Via{Kind: v.Kind, Role: v.Role, GroupID: v.GroupID, Scope: v.Scope, ProjectID: v.ProjectID, TrackID: v.TrackID, Condition: v.Condition}
	}
	return buildLineage(recs).explain(userID, dv), nil
}
