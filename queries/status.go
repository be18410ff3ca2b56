package queries

import (
	"context"
	"roster/client"
	"roster/projections"
)

// Status

// ProjectionStatus is one view's progress.
type ProjectionStatus = client.ProjectionStatus

func (q *Queries) status(ctx context.Context, r client.StatusRequest, mayBlock bool) (uint64, any, error) {
	for _, v := range []*projections.View{q.cfg.Members, q.cfg.Permissions} {
		if err := q.await(ctx, v, Consistency{r.MinPosition, r.WaitMS}, mayBlock); err != nil {
			return 0, nil, err
		}
	}
	head, err := q.cfg.History.Head(ctx)
	if err != nil {
		return 0, nil, fail(client.CodeUnavailable, "read the log head: %v", err)
	}
	views := []ProjectionStatus{}
	for _, v := range []*projections.View{q.cfg.Members, q.cfg.Permissions} {
		st := ProjectionStatus{Name: v.Name(), Position: v.Position()}
		if r.Digests {
			if st.Position, st.Digest, err = v.Digest(); err != nil {
				return 0, nil, err
			}
		}
		if head > st.Position {
			st.Lag = head - st.Position
		}
		views = append(views, st)
	}
	res := client.Status{Head: head, Projections: views}
	if q.cfg.DeadLetters != nil {
		dead := q.cfg.DeadLetters()
		res.DeadLetters = &dead
	}
	return q.cfg.Members.Position(), res, nil
}
