package projections

import (
	"context"
	"errors"
	"fmt"

	"roster/eventstore"
)

// Progress reports a rebuild's advance: events applied so far and the log head it aims at.
type Progress func(done, total uint64)

// Log is what a rebuild reads: the local log (eventstore.Store, StoreHistory) or the stream.
type Log interface {
	Head(ctx context.Context) (uint64, error)
	Scan(ctx context.Context, from uint64, fn func(eventstore.Record) error) error
}

// Rebuild builds a fresh copy of the view from position 1, reading the log directly
// (not one message at a time through the router), then swaps it in atomically; the live
// view keeps answering from its old copy until the swap.
func Rebuild(ctx context.Context, v *View, store Log, progress Progress) error {
	fresh := NewView(v.name, v.presets, nil, v.log)
	for {
		head, err := store.Head(ctx)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", v.name, err)
		}
		err = store.Scan(ctx, fresh.Position()+1, func(r eventstore.Record) error {
			if err := fresh.Apply(r); err != nil && !errors.Is(err, ErrPoison) {
				return err
			}
			if progress != nil && (r.Position%4096 == 0 || r.Position == head) {
				progress(r.Position, head)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", v.name, err)
		}
		if v.swapFrom(fresh) {
			return v.Flush()
		}
	}
}
