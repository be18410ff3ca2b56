package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"roster/eventstore"
	"roster/internal/daemon"
)

// writeLog writes target events of generated organizations straight into a Badger log at dir
// (up to 1000 events per Append, a few appenders, without command ids) and returns the head.
func (b *bench) writeLog(ctx context.Context, dir string, target int) (uint64, error) {
	g, err := newGenerator()
	if err != nil {
		return 0, err
	}
	store, err := eventstore.OpenBadger(dir, eventstore.BadgerOptions{})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	cfg := b.cfg
	sh := shapeFor(cfg.Orgs, cfg.Users, cfg.Projects, cfg.Memberships)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan []eventstore.Record, 16)
	var errMu sync.Mutex
	var firstErr error
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	var appenders sync.WaitGroup
	for a := 0; a < 4; a++ {
		appenders.Add(1)
		go func() {
			defer appenders.Done()
			for recs := range jobs {
				// The log keeps one command's stored reply per append, and these are appended
				// 1,000 records at a time, many commands each: they carry no command id, so
				// that the log holds no command whose reply it lacks (the checksum pass
				// refuses one).
				for i := range recs {
					recs[i].CommandID = ""
				}
				for off := 0; off < len(recs); off += 1000 {
					end := min(off+1000, len(recs))
					if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: recs[0].Stream, ExpectedVersion: uint64(off),
						Events: recs[off:end]}); err != nil {
						fail(err)
						return
					}
				}
			}
		}()
	}
	// Two producers decide the organizations' commands in process; the event budget is
	// shared, so the last organization may be cut short (a valid prefix of its stream).
	var budget sync.Mutex
	left := target
	var producers sync.WaitGroup
	for pr := 0; pr < 2; pr++ {
		producers.Add(1)
		go func(pr int) {
			defer producers.Done()
			for i := pr; ctx.Err() == nil; i += 2 {
				recs, err := g.records(planOrg(i, sh))
				if err != nil {
					fail(err)
					return
				}
				budget.Lock()
				take := min(len(recs), left)
				left -= take
				budget.Unlock()
				if take == 0 {
					return
				}
				select {
				case jobs <- recs[:take]:
				case <-ctx.Done():
					return
				}
			}
		}(pr)
	}
	producers.Wait()
	close(jobs)
	appenders.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	return store.Head(ctx)
}

// ready measures start to ready of rosterd on a log of cfg.ReadyEvents events: the first
// start (views built from the log, empty JetStream stream that the relay then refills), then
// per round a start with cold views (no snapshot) and one with warm views (snapshot current).
func (b *bench) ready(ctx context.Context) error {
	cfg := b.cfg
	dir := filepath.Join(b.tmp, "ready")
	defer os.RemoveAll(dir)
	t0 := time.Now()
	head, err := b.writeLog(ctx, filepath.Join(dir, "log"), cfg.ReadyEvents)
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	b.rep.set("ready_events", float64(head))
	b.progress("wrote a log of %d events in %s", head, time.Since(t0).Round(time.Millisecond))
	start := func() (*daemon.Daemon, time.Duration, error) {
		t := time.Now()
		d, err := daemon.Start(ctx, rosterdMemory(daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: b.log}))
		if err != nil {
			return nil, 0, err
		}
		el := time.Since(t)
		if p := d.Perms.Position(); p != head {
			d.Close()
			return nil, 0, fmt.Errorf("ready with the permissions view at %d of %d", p, head)
		}
		return d, el, nil
	}
	d, first, err := start()
	if err != nil {
		return err
	}
	b.rep.set("ready_first_s", first.Seconds())
	// Let the relay refill the JetStream stream (as it would be on a restart), for at most
	// RelayWait; a start measured while it still publishes shares the CPU with it.
	t1 := time.Now()
	wctx, cancel := context.WithTimeout(ctx, cfg.RelayWait)
	err = d.Relay.WaitPublished(wctx, head)
	cancel()
	relay := time.Since(t1)
	published := d.Relay.Published()
	d.Close()
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		b.rep.note("the relay had republished %s of %s events %s after the first start; the later starts ran while it went on",
			thousands(float64(published)), thousands(float64(head)), relay.Round(time.Second))
	}
	b.rep.set("relay_events_per_s", float64(published)/(first+relay).Seconds())
	b.progress("first start %s; relay refilled the stream %s later", first.Round(time.Millisecond), relay.Round(time.Millisecond))
	for r := 0; r < cfg.Rounds; r++ {
		if err := os.RemoveAll(filepath.Join(dir, "views")); err != nil {
			return err
		}
		d, cold, err := start()
		if err != nil {
			return err
		}
		d.Close()
		d, warm, err := start()
		if err != nil {
			return err
		}
		d.Close()
		b.rep.add("ready_s", cold.Seconds())
		b.rep.add("ready_warm_s", warm.Seconds())
		b.progress("ready with %d events: cold views %s, warm views %s", head, cold.Round(time.Millisecond), warm.Round(time.Millisecond))
	}
	if int(head) < cfg.ReadyTarget {
		b.rep.note("start to ready measured with %s events, not %s", thousands(float64(head)), thousands(float64(cfg.ReadyTarget)))
	}
	return nil
}
