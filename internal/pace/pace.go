// Package pace gives bulk work a lower priority than interactive work, which Go's scheduler
// does not: every runnable goroutine gets the processors in turn, so a 10,000-row import's
// decision, encoding and chaining take them from other organizations' small commands and
// Checks for as long as it runs.
//
// Interactive work (a Check, a small command from arrival until its append is queued) marks
// itself with Pacer.Begin. Bulk work runs in quanta and calls Bulk.Yield between two: while
// interactive work is active or was seen within Quiet, Yield waits so that bulk work keeps
// at most Share of the time (a quantum that took d is followed by a wait of d·(1−Share)/Share,
// at most MaxWait), and it returns as soon as interactive work has been quiet for Quiet. On an
// idle server bulk work runs at full speed; under load it is slower, never stopped: every wait
// is bounded by MaxWait and all of one piece of bulk work's waits by Budget, so that requests
// kept up on purpose delay an import by at most Budget and it still ends within its deadline.
//
// Bulk work also allocates: a 10,000-row import's decision, encoding and write allocate about
// 100 MB, and the collector cycles that allocation sets off run on everyone's time (their
// assists land on the goroutines answering other organizations). A bulk command marks itself
// with Pacer.Hold from its decision until its events are durable, and Config.OnBulk tells the
// process's owner when such work starts and when the last of it ends (rosterd gives the
// collector a bounded allowance meanwhile: cmd/rosterd).
package pace

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a Pacer (README "Limits").
const (
	// DefaultShare is bulk work's share of the time while interactive work is active, and
	// MinShare the smallest rosterd takes (--bulk-share): below it an import under load would
	// wait out its budget every time.
	DefaultShare = 0.25
	MinShare     = 0.01
	// DefaultMaxWait bounds one wait between two quanta of bulk work.
	DefaultMaxWait = 20 * time.Millisecond
	// DefaultQuiet is how long interactive work must not be seen for bulk work to run at
	// full speed again.
	DefaultQuiet = time.Millisecond
	// DefaultBudget bounds the waits of one piece of bulk work (one import's decision and
	// encoding, its staging, its chaining; one flush of a view) in total.
	DefaultBudget = 3 * time.Second
	// Poll is how often waiting bulk work looks whether interactive work has gone quiet (a
	// thousand wake-ups a second while it waits).
	Poll = time.Millisecond
)

// Pacer tells bulk work when interactive work wants the processors. The zero value is not
// usable; a nil *Pacer paces nothing (every method is a no-op), for callers without one.
type Pacer struct {
	share   float64
	maxWait time.Duration
	quiet   time.Duration
	budget  time.Duration
	now     func() time.Time

	active atomic.Int64 // interactive requests being served
	last   atomic.Int64 // when interactive work last began or ended, in Unix nanoseconds

	onBulk func(active bool)
	holdMu sync.Mutex // orders the onBulk calls
	held   int        // bulk pieces in flight (Hold)
}

// Config sets a Pacer's bounds; zero fields take the defaults.
type Config struct {
	Share   float64
	MaxWait time.Duration
	Quiet   time.Duration
	Budget  time.Duration
	// OnBulk, if set, is called with true when a piece of bulk work starts (Hold) while none
	// was in flight, and with false when the last one in flight ends. The calls come one at a
	// time, in that order, and must return quickly: the bulk work waits for them.
	OnBulk func(active bool)
}

// New returns a Pacer with cfg's bounds.
func New(cfg Config) *Pacer {
	p := &Pacer{share: cfg.Share, maxWait: cfg.MaxWait, quiet: cfg.Quiet, budget: cfg.Budget, now: time.Now, onBulk: cfg.OnBulk}
	if !(p.share > 0 && p.share <= 1) { // NaN too
		p.share = DefaultShare
	}
	if p.maxWait <= 0 {
		p.maxWait = DefaultMaxWait
	}
	if p.quiet <= 0 {
		p.quiet = DefaultQuiet
	}
	if p.budget <= 0 {
		p.budget = DefaultBudget
	}
	return p
}

// Hold marks a piece of bulk work in flight until release is called (Config.OnBulk); calls
// of release after the first do nothing.
func (p *Pacer) Hold() (release func()) {
	if p == nil || p.onBulk == nil {
		return func() {}
	}
	p.holdMu.Lock()
	if p.held++; p.held == 1 {
		p.onBulk(true)
	}
	p.holdMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.holdMu.Lock()
			defer p.holdMu.Unlock()
			if p.held--; p.held == 0 {
				p.onBulk(false)
			}
		})
	}
}

// Begin marks interactive work as active until the returned function is called.
func (p *Pacer) Begin() (end func()) {
	if p == nil {
		return func() {}
	}
	p.active.Add(1)
	p.touch()
	return func() {
		p.touch()
		p.active.Add(-1)
	}
}

// Touch records interactive work that is not measured from beginning to end (a request
// seen arriving).
func (p *Pacer) Touch() {
	if p != nil {
		p.touch()
	}
}

func (p *Pacer) touch() { p.last.Store(p.now().UnixNano()) }

// Contended reports whether interactive work is active or was seen within Quiet.
func (p *Pacer) Contended() bool {
	if p == nil {
		return false
	}
	return p.active.Load() > 0 || p.now().UnixNano()-p.last.Load() < int64(p.quiet)
}

// Bulk starts pacing one piece of bulk work; its first quantum starts now.
func (p *Pacer) Bulk() *Bulk {
	if p == nil {
		return nil
	}
	return &Bulk{p: p, start: p.now()}
}

// Bulk is one piece of bulk work's pace. It is used by one goroutine at a time.
type Bulk struct {
	p     *Pacer
	start time.Time // when the current quantum started
	// Waited is the time this bulk work waited (Yield, or the pauses a caller of Due took:
	// Paused); once it reaches the pacer's Budget, Due is zero.
	Waited time.Duration
}

// Due is how long the quantum that just ended must be followed by a pause before the next
// may start (zero when interactive work is quiet). It does not wait: a caller that has other
// work to do (the log's committer) does it meanwhile and calls Next when the pause is over.
func (b *Bulk) Due() time.Duration {
	if b == nil || b.Waited >= b.p.budget || !b.p.Contended() {
		return 0
	}
	took := b.p.now().Sub(b.start)
	// In floating point, bounded before it becomes a Duration: a tiny share must not overflow.
	wait := min(float64(took)*(1-b.p.share)/b.p.share, float64(b.p.maxWait), float64(b.p.budget-b.Waited))
	return time.Duration(max(wait, 0))
}

// Paused counts a pause of d that a caller of Due took itself against the budget.
func (b *Bulk) Paused(d time.Duration) {
	if b != nil && d > 0 {
		b.Waited += d
	}
}

// Next starts the next quantum.
func (b *Bulk) Next() {
	if b != nil {
		b.start = b.p.now()
	}
}

// Yield ends a quantum: it waits Due, or until interactive work has been quiet for Quiet, or
// ctx ends (whose error it returns), then starts the next quantum.
func (b *Bulk) Yield(ctx context.Context) error {
	if b == nil {
		return nil
	}
	due := b.Due()
	if due <= 0 {
		b.Next()
		return nil
	}
	t0 := b.p.now()
	deadline := t0.Add(due)
	t := time.NewTimer(min(Poll, due))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			b.Waited += b.p.now().Sub(t0)
			return ctx.Err()
		case <-t.C:
		}
		now := b.p.now()
		if !b.p.Contended() || !now.Before(deadline) {
			b.Waited += now.Sub(t0)
			b.Next()
			return nil
		}
		t.Reset(min(Poll, deadline.Sub(now)))
	}
}
