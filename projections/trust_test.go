package projections_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"roster/eventstore"
	"roster/projections"
)

// headAt is a log cut at a position (the log as it was, or a log behind the views).
type headAt struct {
	eventstore.Store
	head uint64
}

func (h headAt) Head(context.Context) (uint64, error) { return h.head, nil }
func (h headAt) Scan(ctx context.Context, from uint64, fn func(eventstore.Record) error) error {
	return h.Store.Scan(ctx, from, func(r eventstore.Record) error {
		if r.Position > h.head {
			return nil
		}
		return fn(r)
	})
}

// A view ahead of the log makes Rebuild fail with ErrViewAhead instead of going round forever.
func TestRebuildRefusesViewAheadOfLog(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	v := projections.NewView("members", presets, nil, slog.New(slog.DiscardHandler))
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	err := projections.Rebuild(ctx, v, headAt{store, 2}, nil)
	if !errors.Is(err, projections.ErrViewAhead) {
		t.Fatalf("rebuild with the view at %d and the log at 2: %v", v.Position(), err)
	}
}

// A record that does not link to the view's last one stops a catch-up: the view keeps the
// history it holds.
func TestCatchUpRefusesUnlinkedRecord(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	v := projections.NewView("members", presets, nil, slog.New(slog.DiscardHandler))
	if err := v.CatchUp(ctx, headAt{store, 2}); err != nil {
		t.Fatal(err)
	}
	recs, err := store.Read(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	forged := tamperedLog{store, recs[2]}
	forged.rec.Actor = "mallory"
	forged.rec.Hash, _ = eventstore.HashRecord(forged.rec, forged.rec.PrevHash)
	forged.rec.PrevHash = recs[0].Hash // links to the wrong predecessor
	forged.rec.Hash, _ = eventstore.HashRecord(forged.rec, forged.rec.PrevHash)
	if err := v.CatchUp(ctx, forged); !errors.Is(err, projections.ErrRefused) || v.Position() != 2 {
		t.Fatalf("catch-up over an unlinked record: %v, position %d", err, v.Position())
	}
	if err := v.CatchUp(ctx, store); err != nil || v.Position() != uint64(len(recs)) {
		t.Fatalf("catch-up over the real log: %v, position %d", err, v.Position())
	}
}

// tamperedLog returns rec in place of the record at its position.
type tamperedLog struct {
	eventstore.Store
	rec eventstore.Record
}

func (l tamperedLog) Scan(ctx context.Context, from uint64, fn func(eventstore.Record) error) error {
	return l.Store.Scan(ctx, from, func(r eventstore.Record) error {
		if r.Position == l.rec.Position {
			r = l.rec
		}
		return fn(r)
	})
}
