package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"roster/internal/pace"
)

// testReply is a StagedReply: the argument, then each record's id and position.
func testReply(dst, arg []byte, stored []Record) ([]byte, error) {
	b := append(dst, arg...)
	for _, r := range stored {
		b = fmt.Appendf(b, " %s@%d", r.ID, r.Position)
	}
	return b, nil
}

func stagedRequest(t *testing.T, stream, commandID string, n int) AppendRequest {
	arg := []byte("reply-of-" + commandID)
	return AppendRequest{Stream: stream, CommandID: commandID, Events: events(t, n), ReplyArg: arg,
		Reply: func(stored []Record) ([]byte, error) { return testReply(nil, arg, stored) }}
}

// stagingKeys counts the staging keys and reports whether a staged header is stored.
func stagingKeys(t *testing.T, s *BadgerStore) (keys int, header bool) {
	t.Helper()
	if err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixStaging}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys++
		}
		_, err := txn.Get(stagedKey())
		header = err == nil
		if errors.Is(err, badger.ErrKeyNotFound) {
			err = nil
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return keys, header
}

// outcome is one append's answer, named, in the order the answers came.
type outcome struct {
	name string
	res  AppendResult
	err  error
}

// A big append is chained a slice per group commit: a one-record append of another stream
// queued while it is chained is committed between its slices and answered before it, and
// readers see neither until the big append is whole.
func TestStagedAppendLetsOthersCommitBetweenSlices(t *testing.T) {
	ctx := testCtx(t)
	answers := make(chan outcome, 2)
	looked := make(chan struct{})
	var s *BadgerStore
	slicesDone := 0
	hooks := testHooks{afterSlice: func() error {
		switch slicesDone++; slicesDone {
		case 1: // the first slice is on disk: another stream's one-record append arrives
			small := queued(t)(s.AppendAsync(ctx, AppendRequest{Stream: "org-small", ExpectedVersion: 1, Events: events(t, 1)}))
			go func() { res, err := small(); answers <- outcome{"small", res, err} }()
		case 3:
			<-looked // the big append stays unfinished until the test has looked at the log
		}
		return nil
	}}
	s = openTestBadger(t, t.TempDir(), BadgerOptions{StagedReply: testReply}, hooks)
	release := sync.OnceFunc(func() { close(looked) })
	t.Cleanup(release) // before Close: a failed test must not leave the committer held
	mustAppend(t, s, AppendRequest{Stream: "org-small", Events: events(t, 1)})
	req := stagedRequest(t, "org-big", "import-1", 4*StageSlice)
	go func() { res, err := s.Append(ctx, req); answers <- outcome{"big", res, err} }()

	first := <-answers
	if first.name != "small" || first.err != nil {
		t.Fatalf("first answer: %s (%v); want the small append", first.name, first.err)
	}
	if got, want := first.res.Records[0].Position, uint64(2+StageSlice); got != want {
		t.Fatalf("small append at position %d; want %d, right after the big append's first slice", got, want)
	}
	if head, _ := s.Head(ctx); head != 1 {
		t.Errorf("head is %d while the big append is chained; want 1, the position before it", head)
	}
	if durable, _ := s.Durable(ctx); durable < first.res.Records[0].Position {
		t.Errorf("durable position %d is before the acknowledged small append's %d", durable, first.res.Records[0].Position)
	}
	if recs := mustRead(t, s, 1, 0); len(recs) != 1 {
		t.Errorf("a reader sees %d records while the big append is chained; want 1", len(recs))
	}
	if recs, err := s.ReadStream(ctx, "org-big", 1); err != nil || len(recs) != 0 {
		t.Errorf("the big append's stream reads %d records (%v) before it is whole", len(recs), err)
	}
	if v, _ := s.StreamVersion(ctx, "org-big"); v != 0 {
		t.Errorf("the big append's stream is at version %d before it is whole", v)
	}
	if recs, err := s.ReadStream(ctx, "org-small", 1); err != nil || len(recs) != 2 {
		t.Errorf("the small append's stream reads %d records (%v); want 2: it is acknowledged", len(recs), err)
	}
	if _, ok, _ := s.CommandReply(ctx, "org-big", "import-1"); ok {
		t.Error("the big append's reply is stored before it is whole")
	}
	release()

	second := <-answers
	if second.name != "big" || second.err != nil {
		t.Fatalf("second answer: %s (%v)", second.name, second.err)
	}
	all := assertLogConsistent(t, s)
	if len(all) != 2+4*StageSlice {
		t.Fatalf("log has %d records", len(all))
	}
	if _, err := VerifyRecords(all); err != nil {
		t.Fatalf("chain: %v", err)
	}
	for i, r := range second.res.Records {
		if r.ID != req.Events[i].ID || r.Version != uint64(i+1) {
			t.Fatalf("big append record %d: id %s version %d", i, r.ID, r.Version)
		}
	}
	want, _ := testReply(nil, req.ReplyArg, second.res.Records)
	if stored, ok, _ := s.CommandReply(ctx, "org-big", "import-1"); !ok || !bytes.Equal(stored, want) || !bytes.Equal(second.res.Reply, want) {
		t.Errorf("stored reply %.60q (%v), answered %.60q; want %.60q", stored, ok, second.res.Reply, want)
	}
	// The staging goes in the group commit after the last slice's: one more append is after it.
	mustAppend(t, s, AppendRequest{Stream: "org-small", ExpectedVersion: 2, Events: events(t, 1)})
	if keys, header := stagingKeys(t, s); keys != 0 || header {
		t.Errorf("%d staging keys and header %v left after the append", keys, header)
	}
}

// A staged append whose last slice is synced but whose header was not yet deleted when the
// store stopped is whole; if its reply's value did not outlive the stop (Badger keeps a large
// value apart from its key, and a power cut may keep the key only), the open writes the reply
// again, and deletes the header and the staging.
func TestWholeStagedAppendReplyIsRewrittenAtOpen(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	const n = 4 * StageSlice
	slicesDone := 0
	s, err := openBadger(dir, BadgerOptions{StagedReply: testReply}, testHooks{afterSlice: func() error {
		if slicesDone++; slicesDone == n/StageSlice {
			return errors.New("power cut") // after the last slice is synced, before the cleanup
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := stagedRequest(t, "org-big", "import-1", n)
	if _, err := s.Append(ctx, req); err == nil {
		t.Fatal("append cut short after its last slice: no error")
	}
	if keys, header := stagingKeys(t, s); keys == 0 || !header {
		t.Fatalf("%d staging keys and header %v: the cut should leave both", keys, header)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(commandKey("org-big", "import-1")) }); err != nil {
		t.Fatal(err) // the reply lost
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTestBadger(t, dir, BadgerOptions{StagedReply: testReply}, testHooks{})
	all := assertLogConsistent(t, s2)
	if len(all) != n {
		t.Fatalf("log has %d records; want %d", len(all), n)
	}
	want, _ := testReply(nil, req.ReplyArg, all)
	if stored, ok, _ := s2.CommandReply(ctx, "org-big", "import-1"); !ok || !bytes.Equal(stored, want) {
		t.Errorf("stored reply %.60q (%v); want %.60q", stored, ok, want)
	}
	if keys, header := stagingKeys(t, s2); keys != 0 || header {
		t.Errorf("%d staging keys and header %v left after the open", keys, header)
	}
}

// A staged append cut short after some slices (the store failed as a crash would stop it) is
// completed by the next open: whole, after what was appended between its slices, with the
// reply a repeat of its command gets. An open without the reply builder refuses the log.
func TestStagedAppendCutShortIsCompletedAtOpen(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	var s *BadgerStore
	var small func() (AppendResult, error)
	slicesDone := 0
	s, err := openBadger(dir, BadgerOptions{StagedReply: testReply}, testHooks{afterSlice: func() error {
		switch slicesDone++; slicesDone {
		case 1:
			small = queued(t)(s.AppendAsync(ctx, AppendRequest{Stream: "org-small", Events: events(t, 1)}))
		case 2:
			return errors.New("power cut") // after the second slice, with the small append, is synced
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := stagedRequest(t, "org-big", "import-1", 4*StageSlice+10)
	if _, err := s.Append(ctx, req); err == nil || !strings.Contains(err.Error(), "outcome unknown") {
		t.Fatalf("append cut short: %v; want an unknown outcome", err)
	}
	smallRes, err := small()
	if err != nil {
		t.Fatalf("the small append synced before the cut: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := OpenBadger(dir, BadgerOptions{}); !errors.Is(err, ErrStagedReply) {
		t.Fatalf("open without StagedReply: %v; want ErrStagedReply", err)
	}
	s2 := openTestBadger(t, dir, BadgerOptions{StagedReply: testReply}, testHooks{})
	all := assertLogConsistent(t, s2)
	if len(all) != 1+len(req.Events) {
		t.Fatalf("log has %d records; want %d", len(all), 1+len(req.Events))
	}
	if _, err := VerifyRecords(all); err != nil {
		t.Fatalf("chain: %v", err)
	}
	if pos := smallRes.Records[0].Position; all[pos-1].ID != smallRes.Records[0].ID {
		t.Errorf("the small append's record is not at its position %d", pos)
	}
	big, err := s2.ReadStream(ctx, "org-big", 1)
	if err != nil || len(big) != len(req.Events) {
		t.Fatalf("big append: %d records (%v)", len(big), err)
	}
	for i, r := range big {
		if r.ID != req.Events[i].ID {
			t.Fatalf("big append record %d is %s; want %s", i, r.ID, req.Events[i].ID)
		}
	}
	want, _ := testReply(nil, req.ReplyArg, big)
	if stored, ok, _ := s2.CommandReply(ctx, "org-big", "import-1"); !ok || !bytes.Equal(stored, want) {
		t.Errorf("stored reply %.60q (%v); want %.60q", stored, ok, want)
	}
	repeat := stagedRequest(t, "org-big", "import-1", BigAppend)
	if res, err := s2.Append(ctx, repeat); !errors.Is(err, ErrDuplicateCommand) || !bytes.Equal(res.Reply, want) {
		t.Errorf("repeat: %v with reply %.60q; want a duplicate with the completed reply", err, res.Reply)
	}
	if keys, header := stagingKeys(t, s2); keys != 0 || header {
		t.Errorf("%d staging keys and header %v left after the open", keys, header)
	}
}

// Staging is removed when its append is refused, and staging no header names (a crash
// before its append was admitted) is removed at the next open; the log does not change.
func TestStagingOfRefusedAppendIsRemoved(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	s, err := openBadger(dir, BadgerOptions{StagedReply: testReply}, testHooks{})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, AppendRequest{Stream: "org-big", Events: events(t, 1)})
	req := stagedRequest(t, "org-big", "import-1", BigAppend) // expects version 0; the stream is at 1
	if _, err := s.Append(ctx, req); !errors.Is(err, ErrWrongExpectedVersion) {
		t.Fatalf("append: %v; want a wrong expected version", err)
	}
	if keys, header := stagingKeys(t, s); keys != 0 || header {
		t.Errorf("%d staging keys and header %v left by a refused append", keys, header)
	}
	if _, err := s.stage(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if keys, _ := stagingKeys(t, s); keys == 0 {
		t.Fatal("stage wrote nothing")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTestBadger(t, dir, BadgerOptions{StagedReply: testReply}, testHooks{})
	if keys, header := stagingKeys(t, s2); keys != 0 || header {
		t.Errorf("%d staging keys and header %v left after the open", keys, header)
	}
	if all := assertLogConsistent(t, s2); len(all) != 1 {
		t.Errorf("log has %d records; want 1", len(all))
	}
}

// Close while an append is staged completes it: it was admitted.
func TestCloseCompletesStagedAppend(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	var s *BadgerStore
	closed := make(chan error, 1)
	first := true
	s, err := openBadger(dir, BadgerOptions{StagedReply: testReply}, testHooks{afterSlice: func() error {
		if first {
			first = false
			go func() { closed <- s.Close() }()
			<-s.stop // Close has begun: the committer sees it at its next turn
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := stagedRequest(t, "org-big", "import-1", 3*StageSlice+BigAppend)
	res, err := s.Append(ctx, req)
	if err != nil {
		t.Fatalf("append during Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	s2 := openTestBadger(t, dir, BadgerOptions{StagedReply: testReply}, testHooks{})
	all := assertLogConsistent(t, s2)
	if len(all) != len(req.Events) || all[len(all)-1].ID != res.Records[len(res.Records)-1].ID {
		t.Fatalf("log has %d records after Close; want the %d of the append", len(all), len(req.Events))
	}
}

// While an append is staged, other big appends and the appends of its stream wait; the
// others go between its slices, in order.
func TestNextBatchHoldsBehindStagedAppend(t *testing.T) {
	staged := &stagedAppend{op: op("org-big", BigAppend)}
	pending := []*appendOp{op("a", 1), op("org-big", 1), op("b", BigAppend), op("c", 2)}
	batch, rest := nextBatch(nil, slices.Clone(pending), 256, staged)
	if got, want := streamsOf(batch), "a c"; got != want {
		t.Errorf("batch %q; want %q", got, want)
	}
	if got, want := streamsOf(rest), "org-big b"; got != want {
		t.Errorf("rest %q; want %q", got, want)
	}
	if batch, rest := nextBatch(nil, []*appendOp{op("b", BigAppend)}, 256, staged); len(batch) != 0 || len(rest) != 1 {
		t.Errorf("a lone big append went while another is staged: batch %q", streamsOf(batch))
	}
	// A big append held behind the staged one holds its stream's later appends too.
	bigB, smallB, smallC := op("b", BigAppend), op("b", 1), op("c", 1)
	batch, rest = nextBatch(nil, []*appendOp{bigB, smallB, smallC}, 256, staged)
	if streamsOf(batch) != "c" || len(rest) != 2 || rest[0] != bigB || rest[1] != smallB {
		t.Errorf("batch %q, rest %q; want c, then b's big append and b's small one behind it", streamsOf(batch), streamsOf(rest))
	}
}

// Two big appends queued alone: the first goes, the second stays queued whole. The second
// was dropped from the queue (a nil where it stood) and the committer panicked on it: two
// organizations importing at once stopped rosterd (found by a hostile pass).
func TestNextBatchKeepsTheSecondBigAppend(t *testing.T) {
	first, second, behind := op("a", BigAppend), op("b", BigAppend), op("b", 1)
	batch, rest := nextBatch(nil, []*appendOp{first, second, behind}, 256, nil)
	if len(batch) != 1 || batch[0] != first || len(rest) != 2 || rest[0] != second || rest[1] != behind {
		t.Fatalf("batch %v, rest %v; want the first alone, then the second and the one behind it", batch, rest)
	}
	batch, rest = nextBatch(nil, rest, 256, nil)
	if len(batch) != 1 || batch[0] != second || len(rest) != 1 || rest[0] != behind {
		t.Fatalf("next: batch %v, rest %v; want the second, then the one behind it", batch, rest)
	}
}

// The staged header decodes to what was encoded, and a damaged one is corrupt, not state.
func TestStagedHeaderRoundTrip(t *testing.T) {
	h := stagedHeader{staging: staging{id: [16]byte{1, 2, 3}, chunks: 5, argChunks: 2, withReply: true}, stream: "org-\x00x",
		version: 7, commandID: "import-1", events: 4*stageChunk + 1}
	if got, err := decodeStagedHeader(h.encode()); err != nil || got != h {
		t.Fatalf("decoded %+v (%v); want %+v", got, err, h)
	}
	h.withReply, h.argChunks = false, 0
	if got, err := decodeStagedHeader(h.encode()); err != nil || got != h {
		t.Fatalf("without a reply: %+v (%v)", got, err)
	}
	enc := h.encode()
	for _, bad := range [][]byte{nil, enc[:len(enc)-1], append(slices.Clone(enc), 0), append([]byte{9}, enc[1:]...)} {
		if _, err := decodeStagedHeader(bad); !errors.Is(err, ErrCorruptLog) {
			t.Errorf("decode %x: %v; want ErrCorruptLog", bad, err)
		}
	}
}

// streamsOf names ops by their streams.
func streamsOf(ops []*appendOp) string {
	var out []string
	for _, o := range ops {
		out = append(out, o.req.Stream)
	}
	return strings.Join(out, " ")
}

// Two organizations' big appends queued at once are staged one after the other, with a small
// append between, and all three land whole.
func TestTwoBigAppendsAtOnce(t *testing.T) {
	ctx := testCtx(t)
	s := openTestBadger(t, t.TempDir(), BadgerOptions{StagedReply: testReply}, testHooks{})
	a, b := stagedRequest(t, "org-a", "import-a", BigAppend+3), stagedRequest(t, "org-b", "import-b", 2*BigAppend)
	waits := []func() (AppendResult, error){queued(t)(s.AppendAsync(ctx, a)), queued(t)(s.AppendAsync(ctx, b)),
		queued(t)(s.AppendAsync(ctx, AppendRequest{Stream: "org-c", Events: events(t, 1)}))}
	for i, wait := range waits {
		if _, err := wait(); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if all := assertLogConsistent(t, s); len(all) != len(a.Events)+len(b.Events)+1 {
		t.Fatalf("log has %d records", len(all))
	}
}

// A staged append's header lost while its slices are in the log (damage to the data dir) is
// refused at open, naming the stream: serving it would show part of the append, and the
// stream's next append would take a version its records hold.
func TestStagedSlicesWithoutHeaderAreRefused(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	slicesDone := 0
	s, err := openBadger(dir, BadgerOptions{StagedReply: testReply}, testHooks{afterSlice: func() error {
		if slicesDone++; slicesDone == 2 {
			return errors.New("power cut")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, AppendRequest{Stream: "org-big", Events: events(t, 1)}) // an organization is created first
	req := stagedRequest(t, "org-big", "import-1", BigAppend)
	req.ExpectedVersion = 1
	if _, err := s.Append(ctx, req); err == nil {
		t.Fatal("append cut short: no error")
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(stagedKey()) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenBadger(dir, BadgerOptions{StagedReply: testReply})
	if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), "org-big") {
		t.Fatalf("open: %v; want ErrCorruptLog naming org-big", err)
	}
}

// TestPacedSlicesWaitWhileOthersAreServed: with a pacer (BadgerOptions.Pacer), a staged
// append's slices are bulk work: while another request is being served they wait (here the
// pacer's share is so small that the wait is its MaxWait, an hour), and appends queued meanwhile
// are committed alone; once the request ends, the append is chained to its end.
func TestPacedSlicesWaitWhileOthersAreServed(t *testing.T) {
	ctx := testCtx(t)
	p := pace.New(pace.Config{Share: 1e-9, MaxWait: time.Hour, Budget: time.Hour})
	var slices atomic.Int32
	first := make(chan struct{})
	end := func() {}
	s := openTestBadger(t, t.TempDir(), BadgerOptions{StagedReply: testReply, Pacer: p}, testHooks{afterSlice: func() error {
		if slices.Add(1) == 1 {
			// A request is being served from the first slice on (the staging went unpaced).
			end = sync.OnceFunc(p.Begin())
			close(first)
		}
		return nil
	}})
	t.Cleanup(func() { end() }) // before Close, which would otherwise wait out the pause
	answered := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, stagedRequest(t, "org-big", "import-1", 4*StageSlice))
		answered <- err
	}()
	<-first
	for i := range 3 {
		mustAppend(t, s, AppendRequest{Stream: "org-small", ExpectedVersion: uint64(i), Events: events(t, 1)})
	}
	if n := slices.Load(); n != 1 {
		t.Fatalf("%d slices chained while another request was being served; want 1 (the admission's)", n)
	}
	select {
	case err := <-answered:
		t.Fatalf("the staged append was answered (%v) while its slices had to wait", err)
	default:
	}
	end()
	if err := <-answered; err != nil {
		t.Fatalf("staged append: %v", err)
	}
	if n := slices.Load(); n != 4 {
		t.Fatalf("%d slices; want 4", n)
	}
	all := assertLogConsistent(t, s)
	if _, err := VerifyRecords(all); err != nil || len(all) != 3+4*StageSlice {
		t.Fatalf("log of %d records, chain %v", len(all), err)
	}
}

// TestStagedAppendsAreBounded: at most MaxStaged big appends are staged or waiting to be
// chained at once; one more is refused with ErrStagedBusy and writes nothing, and once one is
// answered the next is taken.
func TestStagedAppendsAreBounded(t *testing.T) {
	ctx := testCtx(t)
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	first := true
	s := openTestBadger(t, t.TempDir(), BadgerOptions{StagedReply: testReply}, testHooks{afterSlice: func() error {
		if first { // the first big append stops the committer after its first slice
			first = false
			<-hold
		}
		return nil
	}})
	t.Cleanup(release)
	answers := make(chan error, MaxStaged)
	for i := range MaxStaged {
		req := stagedRequest(t, fmt.Sprintf("org-%d", i), fmt.Sprintf("import-%d", i), BigAppend)
		wait := queued(t)(s.AppendAsync(ctx, req)) // staged before it returns
		go func() { _, err := wait(); answers <- err }()
	}
	keys, _ := stagingKeys(t, s)
	_, err := s.Append(ctx, stagedRequest(t, "org-extra", "import-extra", BigAppend))
	if !errors.Is(err, ErrStagedBusy) || !strings.Contains(err.Error(), fmt.Sprint(MaxStaged)) {
		t.Fatalf("a big append beyond %d staged: %v; want ErrStagedBusy naming the limit", MaxStaged, err)
	}
	if after, _ := stagingKeys(t, s); after != keys {
		t.Fatalf("the refused append wrote %d staging keys", after-keys)
	}
	release()
	for range MaxStaged {
		if err := <-answers; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, stagedRequest(t, "org-extra", "import-extra", BigAppend)); err != nil {
		t.Fatalf("a big append once the others were answered: %v", err)
	}
}
