// Package benchfloor is the floor of durable appends that the benchmarks measure the event
// store against: a group commit straight on Badger (one transaction and one Sync per batch,
// no validation, no encoding, no hash chain). The eventstore's BenchmarkAppendBareBadger
// and rosterbench's bare-append floor both run this one loop.
package benchfloor

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// Open opens a Badger database in dir as the event store opens its own: writes are made
// durable by an explicit Sync, not by each write, and without conflict detection.
func Open(dir string) (*badger.DB, error) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(false).WithDetectConflicts(false).WithLogger(nil))
	if err != nil {
		return nil, fmt.Errorf("benchfloor: open badger in %s: %w", dir, err)
	}
	return db, nil
}

type request struct {
	key  []byte
	done chan error
}

// GroupCommit writes one body under each appended key, batching concurrent appends into
// one transaction and one Sync; a batch holds at most MaxBatch appends.
type GroupCommit struct {
	db      *badger.DB
	body    []byte
	max     int
	reqs    chan request
	stopped chan struct{}
	syncs   atomic.Uint64
	appends atomic.Uint64
}

// Start starts the commit loop on db; every append stores body. Close stops it.
func Start(db *badger.DB, body []byte, maxBatch int) (*GroupCommit, error) {
	if maxBatch < 1 {
		return nil, errors.New("benchfloor: maxBatch must be at least 1")
	}
	g := &GroupCommit{db: db, body: body, max: maxBatch, reqs: make(chan request, maxBatch), stopped: make(chan struct{})}
	go g.loop()
	return g, nil
}

// Append stores the body under key and returns once the batch holding it is synced. done
// is the caller's own channel (capacity 1), reused across its appends.
func (g *GroupCommit) Append(key []byte, done chan error) error {
	g.reqs <- request{key: key, done: done}
	return <-done
}

// Close stops the loop after the pending appends; no Append may follow.
func (g *GroupCommit) Close() {
	close(g.reqs)
	<-g.stopped
}

// Syncs is the number of batches committed (one Sync each); Appends the appends they held.
func (g *GroupCommit) Syncs() uint64   { return g.syncs.Load() }
func (g *GroupCommit) Appends() uint64 { return g.appends.Load() }

func (g *GroupCommit) loop() {
	defer close(g.stopped)
	batch := make([]request, 0, g.max)
	for r := range g.reqs {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < g.max {
			select {
			case r, ok := <-g.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := g.commit(batch)
		g.syncs.Add(1)
		g.appends.Add(uint64(len(batch)))
		for _, r := range batch {
			r.done <- err
		}
	}
}

// commit writes one batch in one transaction and syncs it.
func (g *GroupCommit) commit(batch []request) error {
	txn := g.db.NewTransaction(true)
	for _, r := range batch {
		if err := txn.Set(r.key, g.body); err != nil {
			txn.Discard()
			return fmt.Errorf("benchfloor: set: %w", err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("benchfloor: commit: %w", err)
	}
	if err := g.db.Sync(); err != nil {
		return fmt.Errorf("benchfloor: sync: %w", err)
	}
	return nil
}
