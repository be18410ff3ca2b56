package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"roster/internal/benchfloor"
)

func openTestBadger(t testing.TB, dir string, opts BadgerOptions, hooks testHooks) *BadgerStore {
	t.Helper()
	s, err := openBadger(dir, opts, hooks)
	if err != nil {
		t.Fatalf("open badger: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// gatherFirstBatch returns hooks that hold the committer, once it has taken
// its first request, until n-1 more are queued, so that all n form one batch.
// taken is closed when the committer has taken the first request.
func gatherFirstBatch(s **BadgerStore, n int) (hooks testHooks, taken <-chan struct{}) {
	var once sync.Once
	ch := make(chan struct{})
	return testHooks{beforeDrain: func() {
		once.Do(func() {
			close(ch)
			for len((*s).reqs) < n-1 {
				runtime.Gosched()
			}
		})
	}}, ch
}

func TestBadgerReopenKeepsEverything(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := mustAppend(t, s, AppendRequest{Stream: "org-a", CommandID: "c1", Events: events(t, 3), Reply: replyOf})
	mustAppend(t, s, AppendRequest{Stream: "org-b", Events: events(t, 2)})
	mustAppend(t, s, AppendRequest{Stream: "org-a", ExpectedVersion: 3, CommandID: "c2", Reply: func([]Record) ([]byte, error) { return []byte("no-op"), nil }})
	before := mustRead(t, s, 1, 0)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s2 := openTestBadger(t, dir, BadgerOptions{}, testHooks{})
	if h, _ := s2.Head(ctx); h != 5 {
		t.Fatalf("head after reopen %d, want 5", h)
	}
	if v, _ := s2.StreamVersion(ctx, "org-a"); v != 3 {
		t.Fatalf("org-a version after reopen %d, want 3", v)
	}
	if v, _ := s2.StreamVersion(ctx, "org-b"); v != 2 {
		t.Fatalf("org-b version after reopen %d, want 2", v)
	}
	assertRecords(t, mustRead(t, s2, 1, 0), before)
	if reply, ok, err := s2.CommandReply(ctx, "org-a", "c1"); err != nil || !ok || string(reply) != string(first.Reply) {
		t.Fatalf("reply of c1 after reopen: %s %t %v", reply, ok, err)
	}
	res, err := s2.Append(ctx, AppendRequest{Stream: "org-a", ExpectedVersion: 3, CommandID: "c2", Events: events(t, 1)})
	if !errors.Is(err, ErrDuplicateCommand) || string(res.Reply) != "no-op" {
		t.Fatalf("repeat of c2 after reopen: %v %s", err, res.Reply)
	}
	if _, err := s2.Append(ctx, AppendRequest{Stream: "org-a", ExpectedVersion: 2, Events: events(t, 1)}); !errors.Is(err, ErrWrongExpectedVersion) {
		t.Fatalf("stale version after reopen: %v", err)
	}
	next := mustAppend(t, s2, AppendRequest{Stream: "org-a", ExpectedVersion: 3, Events: events(t, 1)})
	if r := next.Records[0]; r.Position != 6 || r.Version != 4 || r.Time.Before(before[4].Time) {
		t.Fatalf("append after reopen stored %+v", r)
	}
	if p, _ := s2.PositionAt(ctx, baseTime); p != 6 {
		t.Fatalf("PositionAt after reopen %d, want 6", p)
	}
	assertLogConsistent(t, s2)
}

// Appends queued together share one group commit: one sync.
func TestBadgerGroupCommitSharesSync(t *testing.T) {
	const n = 64
	var s *BadgerStore
	hooks, _ := gatherFirstBatch(&s, n)
	s = openTestBadger(t, t.TempDir(), BadgerOptions{}, hooks)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := s.Append(context.Background(), AppendRequest{Stream: fmt.Sprintf("org-%d", i), Events: events(t, 1)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	appends, syncs := s.Stats()
	if appends != n || syncs != 1 {
		t.Fatalf("stats: %d appends, %d syncs; want %d and 1", appends, syncs, n)
	}
	assertLogConsistent(t, s)
}

// Without any help from the test, concurrent appends are all stored and
// usually share syncs (reported, not asserted: it depends on scheduling).
func TestBadgerGroupCommitUnderLoad(t *testing.T) {
	const writers, perWriter = 64, 10
	s := openTestBadger(t, t.TempDir(), BadgerOptions{MaxBatch: 16}, testHooks{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if _, err := s.Append(context.Background(), AppendRequest{Stream: fmt.Sprintf("org-%d", w), ExpectedVersion: uint64(i), Events: events(t, 1)}); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d appends failed", failed.Load())
	}
	if all := assertLogConsistent(t, s); len(all) != writers*perWriter {
		t.Fatalf("log has %d records", len(all))
	}
	appends, syncs := s.Stats()
	t.Logf("%d appends, %d syncs", appends, syncs)
}

// A batch larger than one Badger transaction is split between appends, and an
// append too big for any transaction is written in slices, whole.
func TestBadgerBatchLargerThanTransaction(t *testing.T) {
	const big = 8
	dir := t.TempDir()
	var s *BadgerStore
	hooks, taken := gatherFirstBatch(&s, big+2)
	hooks.tune = func(o badger.Options) badger.Options { return o.WithMemTableSize(1 << 20).WithValueThreshold(1 << 10) }
	s = openTestBadger(t, dir, BadgerOptions{}, hooks)

	type outcome struct {
		stream string
		n      int
		err    error
	}
	outs := make(chan outcome, big+2)
	var wg sync.WaitGroup
	submit := func(stream string, n int) {
		wg.Go(func() {
			_, err := s.Append(context.Background(), AppendRequest{Stream: stream, CommandID: "c", Events: events(t, n), Reply: replyOf})
			outs <- outcome{stream, n, err}
		})
	}
	submit("org-first", 1)
	<-taken
	for i := range big {
		submit(fmt.Sprintf("org-%d", i), 300) // ~600 entries each; the batch needs several transactions
	}
	submit("org-huge", 5000) // 10000 entries: more than one transaction holds
	wg.Wait()
	close(outs)
	var stored int
	for o := range outs {
		switch {
		case o.err != nil:
			t.Fatalf("append to %s: %v", o.stream, o.err)
		default:
			stored += o.n
		}
	}
	if _, syncs := s.Stats(); syncs < 3 {
		t.Fatalf("%d syncs, want one per transaction that another follows, at least 3", syncs)
	}
	if all := assertLogConsistent(t, s); len(all) != stored {
		t.Fatalf("log has %d records, %d acknowledged", len(all), stored)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTestBadger(t, dir, BadgerOptions{}, testHooks{})
	if all := assertLogConsistent(t, s2); len(all) != stored {
		t.Fatalf("after reopen the log has %d records, %d acknowledged", len(all), stored)
	}
	if v, _ := s2.StreamVersion(context.Background(), "org-huge"); v != 5000 {
		t.Fatalf("the sliced append's stream is at version %d after a reopen, want 5000", v)
	}
	if _, ok, _ := s2.CommandReply(context.Background(), "org-huge", "c"); !ok {
		t.Fatal("the sliced append's reply is not stored")
	}
}

// Close answers queued appends with ErrClosed and finishes the batch in
// progress, which is durable.
func TestBadgerCloseFailsQueuedAppends(t *testing.T) {
	dir := t.TempDir()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s, err := openBadger(dir, BadgerOptions{MaxBatch: 1}, testHooks{beforeDrain: func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 3)
	go func() {
		_, err := s.Append(context.Background(), AppendRequest{Stream: "org-0", Events: events(t, 1)})
		results <- err
	}()
	<-entered // the committer holds the first append
	for i := 1; i <= 2; i++ {
		go func() {
			_, err := s.Append(context.Background(), AppendRequest{Stream: fmt.Sprintf("org-%d", i), Events: events(t, 1)})
			results <- err
		}()
	}
	for len(s.reqs) < 1 { // one queued; the other blocks on the full queue or sees Close
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	<-s.stop
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	var ok, closedErrs int
	for range 3 {
		switch err := <-results; {
		case err == nil:
			ok++
		case errors.Is(err, ErrClosed):
			closedErrs++
		default:
			t.Fatalf("append: %v", err)
		}
	}
	if ok != 1 || closedErrs != 2 {
		t.Fatalf("%d appends stored, %d closed; want 1 and 2", ok, closedErrs)
	}
	s2 := openTestBadger(t, dir, BadgerOptions{}, testHooks{})
	if all := assertLogConsistent(t, s2); len(all) != 1 || all[0].Stream != "org-0" {
		t.Fatalf("after reopen: %+v", all)
	}
}

func TestBadgerInMemory(t *testing.T) {
	s := openTestBadger(t, "", BadgerOptions{InMemory: true}, testHooks{})
	mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 3)})
	if all := assertLogConsistent(t, s); len(all) != 3 {
		t.Fatalf("log has %d records", len(all))
	}
}

const benchParallelism = 16 // goroutines per GOMAXPROCS

func benchData(b *testing.B) Record {
	return newEvent(b, "MemberAdded", map[string]any{
		"project_id": "p1", "user_id": "u7", "roles": []string{"developer"},
		"email": "u7@example.com", "name": "User Seven", "note": "a payload of typical size for the benchmark",
	})
}

// BenchmarkAppendParallel measures durable appends of one event each, on
// distinct streams, through the group commit.
func BenchmarkAppendParallel(b *testing.B) {
	s, err := OpenBadger(b.TempDir(), BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	proto := benchData(b)
	var streams atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("org-%d", streams.Add(1))
		var version uint64
		for pb.Next() {
			ev := proto
			ev.ID = fmt.Sprintf("%s-%d", stream, version)
			if _, err := s.Append(context.Background(), AppendRequest{Stream: stream, ExpectedVersion: version, Events: []Record{ev}}); err != nil {
				b.Error(err)
				return
			}
			version++
		}
	})
	b.StopTimer()
	appends, syncs := s.Stats()
	if appends > 0 {
		b.ReportMetric(float64(syncs)/float64(appends), "syncs/op")
	}
}

// BenchmarkAppendBareBadger is the floor: benchfloor's bare group commit on Badger (one
// transaction and one Sync per batch, no validation, no JSON; the loop rosterbench runs
// too) at the same concurrency as BenchmarkAppendParallel.
func BenchmarkAppendBareBadger(b *testing.B) {
	db, err := benchfloor.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	body, err := json.Marshal(benchData(b))
	if err != nil {
		b.Fatal(err)
	}
	g, err := benchfloor.Start(db, body, defaultMaxBatch)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	var pos atomic.Uint64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		done := make(chan error, 1)
		for pb.Next() {
			if err := g.Append(eventKey(pos.Add(1)), done); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if n := g.Appends(); n > 0 {
		b.ReportMetric(float64(g.Syncs())/float64(n), "syncs/op")
	}
}
