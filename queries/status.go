package queries

import (
	"context"
	"fmt"

	"roster/client"
	"roster/projections"
)

// Status

// ProjectionStatus is one view's progress.
type ProjectionStatus = client.ProjectionStatus

// status reports the log head, each view's signed lag and alarm, the relay's state (in a
// process with the log) and every alarm an operator must see.
func (q *Queries) status(ctx context.Context, r client.StatusRequest, mayBlock bool) (uint64, any, error) {
	// Digests hash every organization's state and dead letters count every tenant's events:
	// in secured mode they are for operators. Other callers get the positions they need for
	// read-your-writes.
	who := askerOf(ctx)
	full := !who.secured() || who.operator
	if r.Digests && !full {
		return 0, nil, fail(client.CodeForbidden, "digests cover every organization: only operator accounts ask for them")
	}
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
	var alarms []string
	for _, v := range []*projections.View{q.cfg.Members, q.cfg.Permissions} {
		st := ProjectionStatus{Name: v.Name(), Position: v.Position()}
		if r.Digests {
			if st.Position, st.Digest, err = v.Digest(); err != nil {
				return 0, nil, err
			}
		}
		st.Lag = int64(head) - int64(st.Position)
		if a := v.Alarm(); a.Refused > 0 {
			st.Refused = a.Refused
			st.Alarm = fmt.Sprintf("refused stream message at position %d: %s", a.Position, a.Reason)
			alarms = append(alarms, fmt.Sprintf("view %s refused %d stream message(s); last at position %d (%s): %s",
				v.Name(), a.Refused, a.Position, a.At.Format("2006-01-02T15:04:05Z"), a.Reason))
		}
		if st.Lag < 0 {
			st.Alarm = fmt.Sprintf("ahead of the log: position %d, log head %d", st.Position, head)
			alarms = append(alarms, fmt.Sprintf("view %s stands at position %d, ahead of the log head %d", v.Name(), st.Position, head))
		}
		views = append(views, st)
	}
	res := client.Status{Head: head, Projections: views}
	if q.cfg.DeadLetters != nil && full {
		dead := q.cfg.DeadLetters()
		res.DeadLetters = &dead
	}
	if q.cfg.Index != nil && full {
		st := q.cfg.Index.Stats()
		res.HistoryIndex = &client.HistoryIndexStatus{Position: st.Position, Lag: int64(head) - int64(st.Position), Source: st.Source,
			LoadedAt: st.LoadedAt, Saved: st.Saved, Discarded: st.Discarded, LastDiscard: st.LastDiscard}
	}
	if q.cfg.Relay != nil {
		rs := q.cfg.Relay()
		res.Relay = &rs
		if rs.State == "stopped" {
			alarms = append(alarms, "relay stopped: "+rs.Reason)
		}
	}
	if q.cfg.Alarm != nil {
		if a := q.cfg.Alarm(); a != "" {
			alarms = append(alarms, a)
		}
	}
	res.Alarms = alarms
	return q.cfg.Members.Position(), res, nil
}
