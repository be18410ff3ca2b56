package queries

import (
	"context"
	"roster/client"
	"roster/projections"
)

// Status

type statusReq struct {
	Consistency
	// Digests adds each view's state digest (a hash of every organization's state).
	Digests bool `json:"digests,omitempty"`
}

// ProjectionStatus is one view's progress.
type ProjectionStatus = client.ProjectionStatus

func (q *Queries) status(ctx context.Context, r statusReq, mayBlock bool) (uint64, any, error) {
	// Digests hash every organization's state and dead letters count every tenant's events:
	// in secured mode they are for operators. Other callers get the positions they need for
	// read-your-writes.
	who := askerOf(ctx)
	full := !who.secured() || who.operator
	if r.Digests && !full {
		return 0, nil, fail(client.CodeForbidden, "digests cover every organization: only operator accounts ask for them")
	}
	for _, v := range []*projections.View{q.cfg.Members, q.cfg.Permissions} {
		if err := q.await(ctx, v, r.Consistency, mayBlock); err != nil {
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
	if q.cfg.DeadLetters != nil && full {
		dead := q.cfg.DeadLetters()
		res.DeadLetters = &dead
	}
	return q.cfg.Members.Position(), res, nil
}
