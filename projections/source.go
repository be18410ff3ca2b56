package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"roster/client"
	"roster/eventstore"
	"roster/internal/edge"
)

// History is where the read side reads the past: the log itself in a process that has
// it, or the JetStream stream (which mirrors the log, sequence = position) in a read-only
// replica. Audit, AccessAt and Check's explanations read it.
type History interface {
	// Log gives Head (the last position) and Scan (records in order).
	Log
	// OrgEvents returns every event of one organization, in log order.
	OrgEvents(ctx context.Context, orgID string) ([]eventstore.Record, error)
	// PositionAt is the last position whose time is at or before t.
	PositionAt(ctx context.Context, t time.Time) (uint64, error)
	// WaitFor blocks until the head reaches pos or ctx ends.
	WaitFor(ctx context.Context, pos uint64) error
}

// StoreHistory reads the local log.
type StoreHistory struct{ Store eventstore.Store }

// Head implements History.
func (h StoreHistory) Head(ctx context.Context) (uint64, error) { return h.Store.Head(ctx) }

// Acknowledged is a log that tells the last position it acknowledged, beyond its head while a
// big append is staged (eventstore.BadgerStore, StoreHistory).
type Acknowledged interface {
	Durable(context.Context) (uint64, error)
}

// Durable is the last position the log acknowledged (eventstore.BadgerStore.Durable), beyond
// Head while a big append is staged; Head for a store without staging.
func (h StoreHistory) Durable(ctx context.Context) (uint64, error) {
	if d, ok := h.Store.(Acknowledged); ok {
		return d.Durable(ctx)
	}
	return h.Store.Head(ctx)
}

// OrgEvents implements History.
func (h StoreHistory) OrgEvents(ctx context.Context, orgID string) ([]eventstore.Record, error) {
	return h.Store.ReadStream(ctx, edge.StreamOf(orgID), 1)
}

// PositionAt implements History.
func (h StoreHistory) PositionAt(ctx context.Context, t time.Time) (uint64, error) {
	return h.Store.PositionAt(ctx, t)
}

// WaitFor implements History.
func (h StoreHistory) WaitFor(ctx context.Context, pos uint64) error {
	return h.Store.WaitFor(ctx, pos)
}

// StreamHistory reads the JetStream stream.
type StreamHistory struct {
	JS     jetstream.JetStream
	Stream string
}

func (h StreamHistory) stream(ctx context.Context) (jetstream.Stream, error) {
	name := h.Stream
	if name == "" {
		name = client.EventStream
	}
	s, err := h.JS.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	return s, nil
}

// Head implements History.
func (h StreamHistory) Head(ctx context.Context) (uint64, error) {
	s, err := h.stream(ctx)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// OrgEvents implements History with an ordered consumer filtered on the organization's subjects.
func (h StreamHistory) OrgEvents(ctx context.Context, orgID string) ([]eventstore.Record, error) {
	s, err := h.stream(ctx)
	if err != nil {
		return nil, err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{client.EventPrefix + orgID + ".>"}})
	if err != nil {
		return nil, fmt.Errorf("read organization %s: %w", orgID, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read organization %s: %w", orgID, err)
	}
	want := info.NumPending
	out := make([]eventstore.Record, 0, want)
	for uint64(len(out)) < want {
		batch, err := cons.Fetch(int(min(want-uint64(len(out)), 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read organization %s: %w", orgID, err)
		}
		n := 0
		for msg := range batch.Messages() {
			var r eventstore.Record
			if err := json.Unmarshal(msg.Data(), &r); err == nil {
				out = append(out, r)
			}
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read organization %s: %w", orgID, err)
		}
		if n == 0 {
			break
		}
	}
	return out, nil
}

// PositionAt implements History by binary search over the envelopes' times.
func (h StreamHistory) PositionAt(ctx context.Context, t time.Time) (uint64, error) {
	s, err := h.stream(ctx)
	if err != nil {
		return 0, err
	}
	head, err := h.Head(ctx)
	if err != nil {
		return 0, err
	}
	var searchErr error
	n := sort.Search(int(head), func(i int) bool {
		msg, err := s.GetMsg(ctx, uint64(i)+1)
		if err != nil {
			searchErr = err
			return true
		}
		var r eventstore.Record
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			return false
		}
		return r.Time.After(t)
	})
	if searchErr != nil {
		return 0, fmt.Errorf("position at %s: %w", t, searchErr)
	}
	return uint64(n), nil
}

// WaitFor implements History by polling the stream's head.
func (h StreamHistory) WaitFor(ctx context.Context, pos uint64) error {
	for {
		head, err := h.Head(ctx)
		if err == nil && head >= pos {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Scan implements Log over the stream: every record from position from up to the head
// at the time of the call, in order, through an ordered consumer.
func (h StreamHistory) Scan(ctx context.Context, from uint64, fn func(eventstore.Record) error) error {
	head, err := h.Head(ctx)
	if err != nil || head < from {
		return err
	}
	s, err := h.stream(ctx)
	if err != nil {
		return err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from})
	if err != nil {
		return fmt.Errorf("scan the stream from %d: %w", from, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return fmt.Errorf("scan the stream from %d: %w", from, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			return fmt.Errorf("scan the stream: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("scan the stream: %w", err)
		}
		var r eventstore.Record
		if err := json.Unmarshal(msg.Data(), &r); err != nil || r.Position != meta.Sequence.Stream {
			// Not a log record: still counts as this position for the caller.
			r = eventstore.Record{Position: meta.Sequence.Stream, Type: "", Data: msg.Data()}
		}
		if err := fn(r); err != nil {
			return err
		}
		if meta.Sequence.Stream >= head {
			return nil
		}
	}
}

// Scan implements Log over the local log.
func (h StoreHistory) Scan(ctx context.Context, from uint64, fn func(eventstore.Record) error) error {
	return h.Store.Scan(ctx, from, fn)
}
