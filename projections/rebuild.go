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
	round := 0
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
		// The live view moved past the copy: either it applied events the log had not yet when
		// the copy read it (go round again), or it stands ahead of the log, which no round mends.
		if now, err := store.Head(ctx); err != nil {
			return fmt.Errorf("rebuild %s: %w", v.name, err)
		} else if live := v.Position(); live > now {
			return fmt.Errorf("rebuild %s: %w: the view stands at position %d, ahead of the log head %d; "+
				"move the views aside and restart (they are rebuilt from the log), or recover the log if it lost events",
				v.name, ErrViewAhead, live, now)
		}
		if round++; round >= maxRebuildRounds {
			return fmt.Errorf("rebuild %s: the live view kept moving past the copy after %d rounds", v.name, round)
		}
	}
}

// ErrViewAhead reports a view whose position is beyond the log's head.
var ErrViewAhead = errors.New("view ahead of the log")

// maxRebuildRounds bounds how many times a rebuild catches its copy up with a live view that
// keeps moving.
const maxRebuildRounds = 100
