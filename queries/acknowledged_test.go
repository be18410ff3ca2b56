package queries_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"

	"roster/client"
	"roster/projections"
	"roster/queries"
)

// lagging is the local log as its readers see it while another organization's large import is
// chained (eventstore staged.go): the head stays at visible until released, while every
// position written is acknowledged (Durable).
type lagging struct {
	projections.StoreHistory
	visible  uint64
	waiting  chan struct{} // told when a wait beyond visible begins
	released chan struct{}
}

func (l lagging) Head(ctx context.Context) (uint64, error) {
	select {
	case <-l.released:
		return l.StoreHistory.Head(ctx)
	default:
		return l.visible, nil
	}
}

func (l lagging) WaitFor(ctx context.Context, pos uint64) error {
	if pos <= l.visible {
		return nil
	}
	l.waiting <- struct{}{}
	select {
	case <-l.released:
		return l.StoreHistory.WaitFor(ctx, pos)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l lagging) Durable(ctx context.Context) (uint64, error) { return l.StoreHistory.Head(ctx) }

// A position the log acknowledged but does not show yet (a command of another organization
// answered while an import is chained) is waited for, as min_position is, then answered: it
// used to be refused invalid as beyond the head. A position never written is still refused at
// once.
func TestAcknowledgedPositionBeyondTheHeadIsWaitedFor(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	members := projections.NewView("members", presets, nil, quiet)
	perms := projections.NewView("permissions", presets, nil, quiet)
	for _, v := range []*projections.View{members, perms} {
		if err := v.CatchUp(ctx, store); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ query, body string }{
		{client.QAccessAt, fmt.Sprintf(`{"org_id":"acme","user_id":"bob","position":%d,"wait_ms":30000}`, head)},
		{client.QAudit, fmt.Sprintf(`{"org_id":"acme","after_position":%d,"wait_ms":30000}`, head)},
	} {
		t.Run(c.query, func(t *testing.T) {
			hist := lagging{StoreHistory: projections.StoreHistory{Store: store}, visible: head - 1,
				waiting: make(chan struct{}, 1), released: make(chan struct{})}
			q, err := queries.NewQueries(queries.Config{Members: members, Permissions: perms, History: hist, Presets: presets})
			if err != nil {
				t.Fatal(err)
			}
			beyond := fmt.Sprintf(`{"org_id":"acme","user_id":"bob","position":%d,"wait_ms":30000}`, head+5)
			if c.query == client.QAudit {
				beyond = fmt.Sprintf(`{"org_id":"acme","after_position":%d,"wait_ms":30000}`, head+5)
			}
			if reply, code, _ := q.Answer(ctx, c.query, []byte(beyond), true); code != client.CodeInvalid || !bytes.Contains(reply, []byte("beyond the log head")) {
				t.Errorf("a position never written: %s %s; want invalid at once, beyond the log head", code, reply)
			}
			type answer struct {
				reply []byte
				code  string
			}
			done := make(chan answer, 1)
			go func() {
				reply, code, _ := q.Answer(ctx, c.query, []byte(c.body), true)
				done <- answer{reply, code}
			}()
			select {
			case <-hist.waiting: // the query waits for the acknowledged position
			case a := <-done:
				t.Fatalf("acknowledged position %d answered without waiting: %s %s", head, a.code, a.reply)
			}
			close(hist.released)
			if a := <-done; a.code != "" {
				t.Fatalf("acknowledged position %d: %s %s; want an answer once the log shows it", head, a.code, a.reply)
			}
		})
	}
}
