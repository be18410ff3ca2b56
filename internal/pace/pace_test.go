package pace

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake clock that moves only when told.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func withClock(p *Pacer, c *clock) *Pacer { p.now = c.now; return p }

func TestBulkRunsFreelyWhenNothingElseIs(t *testing.T) {
	c := newClock()
	p := withClock(New(Config{MaxWait: time.Hour}), c)
	b := p.Bulk()
	c.advance(50 * time.Millisecond) // a long quantum
	if d := b.Due(); d != 0 {
		t.Fatalf("Due with no interactive work = %s; want 0", d)
	}
	if err := b.Yield(context.Background()); err != nil { // returns at once: the clock never moves
		t.Fatal(err)
	}
	// Interactive work seen longer ago than Quiet does not count either.
	p.Begin()()
	c.advance(2 * DefaultQuiet)
	if p.Contended() || b.Due() != 0 {
		t.Fatalf("contended %v, Due %s after interactive work went quiet", p.Contended(), b.Due())
	}
}

func TestDueKeepsBulkToItsShare(t *testing.T) {
	c := newClock()
	p := withClock(New(Config{Share: 0.25, MaxWait: time.Second}), c)
	end := p.Begin()
	defer end()
	b := p.Bulk()
	c.advance(10 * time.Millisecond)
	if d := b.Due(); d != 30*time.Millisecond {
		t.Fatalf("Due after a 10 ms quantum at share 1/4 = %s; want 30ms", d)
	}
	c.advance(time.Second) // a quantum of 1.01 s: the wait is bounded
	if d := b.Due(); d != time.Second {
		t.Fatalf("Due after a long quantum = %s; want MaxWait (1s)", d)
	}
}

// TestYieldWaitsUntilInteractiveWorkEnds: while a request is being served, bulk work waits
// (here MaxWait is an hour and the fake clock does not reach it); it goes on once the request
// has ended and Quiet has passed.
func TestYieldWaitsUntilInteractiveWorkEnds(t *testing.T) {
	c := newClock()
	p := withClock(New(Config{Share: 0.25, MaxWait: time.Hour}), c)
	end := p.Begin()
	b := p.Bulk()
	c.advance(time.Millisecond)
	var ended atomic.Bool
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		if err := b.Yield(context.Background()); err != nil {
			t.Error(err)
		}
		if !ended.Load() {
			t.Error("Yield returned while the request was still being served")
		}
	}()
	// Give a wrong Yield the time to return early (it polls every Poll).
	select {
	case <-returned:
		t.Fatal("Yield returned while the request was still being served")
	case <-time.After(20 * Poll):
	}
	ended.Store(true)
	end()
	c.advance(2 * DefaultQuiet)
	<-returned
	if b.Waited <= 0 {
		t.Fatalf("Waited = %s after a wait", b.Waited)
	}
}

func TestYieldEndsWithItsContext(t *testing.T) {
	c := newClock()
	p := withClock(New(Config{MaxWait: time.Hour}), c)
	defer p.Begin()()
	b := p.Bulk()
	c.advance(time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Yield(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Yield with a cancelled context = %v", err)
	}
}

func TestNilPacerPacesNothing(t *testing.T) {
	var p *Pacer
	p.Begin()()
	p.Touch()
	if p.Contended() {
		t.Fatal("a nil pacer is contended")
	}
	b := p.Bulk()
	if b.Due() != 0 || b.Yield(context.Background()) != nil {
		t.Fatal("a nil pacer's bulk work waits")
	}
	b.Next()
}

func TestNewTakesDefaults(t *testing.T) {
	p := New(Config{Share: 2})
	if p.share != DefaultShare || p.maxWait != DefaultMaxWait || p.quiet != DefaultQuiet {
		t.Fatalf("New(share 2) = share %g, max wait %s, quiet %s", p.share, p.maxWait, p.quiet)
	}
}

// TestBudgetBoundsAllWaits: requests kept up on purpose delay one piece of bulk work by at
// most Budget in total.
func TestBudgetBoundsAllWaits(t *testing.T) {
	c := newClock()
	p := withClock(New(Config{Share: 0.5, MaxWait: time.Second, Budget: 3 * time.Second}), c)
	defer p.Begin()()
	b := p.Bulk()
	var dues []time.Duration
	for range 5 {
		c.advance(time.Hour) // every quantum long: each pause is MaxWait, until the budget is spent
		d := b.Due()
		dues = append(dues, d)
		b.Paused(d)
		b.Next()
	}
	want := []time.Duration{time.Second, time.Second, time.Second, 0, 0}
	for i := range want {
		if dues[i] != want[i] {
			t.Fatalf("pauses %v; want %v", dues, want)
		}
	}
}

// TestTinyShareWaitsItsMaxWait: a share so small that the pause overflows a Duration still
// waits MaxWait (the pause is bounded before it is converted), and a negative or zero pause
// counts nothing against the budget.
func TestTinyShareWaitsItsMaxWait(t *testing.T) {
	for _, share := range []float64{1e-9, 1e-13, 1e-300} {
		c := newClock()
		p := withClock(New(Config{Share: share, MaxWait: 20 * time.Millisecond}), c)
		end := p.Begin()
		b := p.Bulk()
		c.advance(10 * time.Millisecond)
		if d := b.Due(); d != 20*time.Millisecond {
			t.Errorf("share %g: Due after a 10 ms quantum = %s; want MaxWait (20ms)", share, d)
		}
		b.Paused(-time.Hour)
		b.Paused(0)
		if b.Waited != 0 {
			t.Errorf("share %g: Waited %s after pauses of no time", share, b.Waited)
		}
		end()
	}
}

// TestHoldTellsTheFirstStartAndTheLastEnd: OnBulk hears of bulk work when the first piece
// starts and when the last in flight ends, not of the pieces between; a release called twice
// counts once.
func TestHoldTellsTheFirstStartAndTheLastEnd(t *testing.T) {
	var told []bool
	p := New(Config{OnBulk: func(active bool) { told = append(told, active) }})
	a := p.Hold()
	b := p.Hold()
	a()
	a() // once only: b is still in flight
	if len(told) != 1 || !told[0] {
		t.Fatalf("told %v with one piece still in flight; want [true]", told)
	}
	b()
	c := p.Hold()
	c()
	if want := []bool{true, false, true, false}; len(told) != len(want) || told[1] || !told[2] || told[3] {
		t.Fatalf("told %v; want %v", told, want)
	}
	// Without OnBulk, and without a pacer, Hold is free.
	New(Config{}).Hold()()
	var none *Pacer
	none.Hold()()
}
