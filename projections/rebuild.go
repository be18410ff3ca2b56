package projections

import (
	"context"
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
		err = fresh.catchUp(ctx, store, func(pos uint64) {
			if progress != nil {
				progress(pos, max(head, pos))
			}
		})
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", v.name, err)
		}
		if v.swapFrom(fresh) {
			return v.Flush()
		}
	}
}
