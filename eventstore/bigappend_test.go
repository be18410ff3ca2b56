package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// BenchmarkAppendBig measures one append of 10,000 records (a 10,000-row ImportMembers), the
// work the committer does for it while other appends wait: in one transaction (64 MiB
// memtables) and in slices (16 MiB, rosterd's default).
func BenchmarkAppendBig(b *testing.B) {
	for _, mib := range []int64{16, 64} {
		b.Run(fmt.Sprintf("memtable=%dMiB", mib), func(b *testing.B) { benchAppendBig(b, mib<<20) })
	}
}

func benchAppendBig(b *testing.B, memtable int64) {
	s, err := OpenBadger(b.TempDir(), BadgerOptions{MemTableSize: memtable, NumMemtables: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	proto := benchData(b)
	const n = 10000
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		evs := make([]Record, n)
		for j := range evs {
			evs[j] = proto
			evs[j].ID = fmt.Sprintf("big-%d-%d", i, j)
		}
		if _, err := s.Append(context.Background(), AppendRequest{Stream: fmt.Sprintf("big-%d", i), CommandID: fmt.Sprintf("c%d", i), Events: evs,
			Reply: func(stored []Record) ([]byte, error) { return make([]byte, 100*len(stored)), nil }}); err != nil {
			b.Fatal(err)
		}
	}
}

// A small append queued behind a big one of another stream is committed first: it takes
// the position before the big append's records, and the big append stays whole and in
// order after it.
func TestBadgerSmallAppendPassesBigOne(t *testing.T) {
	ctx := testCtx(t)
	var s *BadgerStore
	hooks, taken := gatherFirstBatch(&s, 2)
	s = openTestBadger(t, t.TempDir(), BadgerOptions{}, hooks)
	big := make(chan AppendResult, 1)
	go func() {
		res, err := s.Append(ctx, AppendRequest{Stream: "org-big", Events: events(t, 10*BigAppend)})
		if err != nil {
			t.Error(err)
		}
		big <- res
	}()
	<-taken // the committer holds the big append; the small one joins its batch
	small, err := s.Append(ctx, AppendRequest{Stream: "org-small", Events: events(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := small.Records[0].Position; got != 1 {
		t.Fatalf("small append at position %d; want 1, before the big append", got)
	}
	b := <-big
	for i, r := range b.Records {
		if r.Position != uint64(2+i) || r.Version != uint64(1+i) {
			t.Fatalf("big append record %d at position %d version %d; want %d and %d", i, r.Position, r.Version, 2+i, 1+i)
		}
	}
	if all := assertLogConsistent(t, s); len(all) != 1+10*BigAppend {
		t.Fatalf("log has %d records", len(all))
	}
}

func op(stream string, n int) *appendOp {
	return &appendOp{req: AppendRequest{Stream: stream, Events: make([]Record, n)}}
}

// The committer's order: small appends pass a big one of another stream, never one of
// their own stream, and a big append is passed over once only.
func TestNextBatchOrder(t *testing.T) {
	bigA, sB, sA, sC, sD := op("a", BigAppend), op("b", 1), op("a", 1), op("c", 2), op("d", 1)
	name := map[*appendOp]string{bigA: "bigA", sB: "sB", sA: "sA", sC: "sC", sD: "sD"}
	names := func(ops []*appendOp) string {
		var out []string
		for _, o := range ops {
			out = append(out, name[o])
		}
		return fmt.Sprint(out)
	}
	step := func(pending []*appendOp, wantBatch, wantRest string) []*appendOp {
		t.Helper()
		batch, rest := nextBatch(nil, pending, 256, nil)
		if names(batch) != wantBatch || names(rest) != wantRest {
			t.Fatalf("nextBatch(%s) = %s, %s; want %s, %s", names(pending), names(batch), names(rest), wantBatch, wantRest)
		}
		return rest
	}
	rest := step([]*appendOp{bigA, sB, sA, sC}, "[sB sC]", "[bigA sA]")
	rest = step(append(rest, sD), "[bigA]", "[sA sD]")
	step(rest, "[sA sD]", "[]")

	// A batch is capped at maxBatch; what is left waits in order.
	batch, rest := nextBatch(nil, []*appendOp{sB, sC, sD}, 2, nil)
	if names(batch) != "[sB sC]" || names(rest) != "[sD]" {
		t.Fatalf("capped batch %s, rest %s", names(batch), names(rest))
	}
}

// The committer's hasher gives exactly HashRecord's hashes, record after record.
func TestChainHasherMatchesHashRecord(t *testing.T) {
	var h ChainHasher
	prev := GenesisHash
	for i, r := range events(t, 50) {
		r.Position, r.Version, r.Stream, r.OrgID = uint64(i+1), uint64(i+1), "s", "o"
		if i%2 == 1 {
			r.Principal = &Principal{Account: "A", User: fmt.Sprintf("u%d", i)}
		}
		want, err := HashRecord(r, prev)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Hash(r, prev); got != want {
			t.Fatalf("record %d: hash %s; HashRecord gives %s", i, got, want)
		}
		if !h.Matches(r, prev, want) {
			t.Fatalf("record %d: Matches refuses its own hash", i)
		}
		// Every other hash is refused: another digit, upper case, cut short, another record.
		flipped := []byte(want)
		flipped[i%64] = "01"[(flipped[i%64]-'0'+1)%2]
		if flipped[i%64] == want[i%64] {
			flipped[i%64] = 'f'
		}
		other := r
		other.Actor += "x"
		for name, bad := range map[string]string{"a digit changed": string(flipped), "upper case": strings.ToUpper(want),
			"cut short": want[:63], "longer": want + "0", "empty": ""} {
			if bad != want && h.Matches(r, prev, bad) {
				t.Fatalf("record %d: Matches accepts the hash with %s: %s", i, name, bad)
			}
		}
		if h.Matches(other, prev, want) {
			t.Fatalf("record %d: Matches accepts another record's content", i)
		}
		prev = want
	}
	if got := h.Hash(Record{}, "zz"); got != "" {
		t.Fatalf("bad previous hash gave %q", got)
	}
	if h.Matches(Record{}, "zz", GenesisHash) {
		t.Fatal("Matches accepts a bad previous hash")
	}
}

// An append written in slices and cut short before its tail (as a crash would cut it) is not
// in the log: the store refuses appends until it is reopened, and the open removes the slices
// (records beyond the head key and the stream keys pointing at them), so the stream's versions
// and the next appends go on from the last committed record.
func TestBadgerSlicedAppendCutShortIsRemovedAtOpen(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	small := func(o badger.Options) badger.Options { return o.WithMemTableSize(1 << 20).WithValueThreshold(1 << 10) }
	cut := errors.New("power cut before the tail")
	s := openTestBadger(t, dir, BadgerOptions{}, testHooks{tune: small, beforeTail: func() error { return cut }})
	if _, err := s.Append(ctx, AppendRequest{Stream: "org-a", Events: events(t, 3)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, AppendRequest{Stream: "org-a", ExpectedVersion: 3, CommandID: "import", Events: events(t, 5000), Reply: replyOf})
	if !errors.Is(err, cut) {
		t.Fatalf("sliced append cut short: err = %v, want the cut", err)
	}
	if _, err := s.Append(ctx, AppendRequest{Stream: "org-b", Events: events(t, 1)}); err == nil {
		t.Fatal("the store took an append after a sliced append was cut short")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The slices are on disk beyond the head key.
	raw, err := badger.Open(small(badger.DefaultOptions(dir).WithLogger(nil)))
	if err != nil {
		t.Fatal(err)
	}
	beyond := 0
	if err := raw.View(func(txn *badger.Txn) error {
		_, err := txn.Get(eventKey(4))
		if err == nil {
			beyond++
		}
		_, err = txn.Get(streamKey("org-a", 4))
		if err == nil {
			beyond++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	if beyond != 2 {
		t.Fatalf("the cut-short slices are not on disk (%d of the 2 keys looked at); the test proves nothing", beyond)
	}

	s2 := openTestBadger(t, dir, BadgerOptions{}, testHooks{tune: small})
	if head, _ := s2.Head(ctx); head != 3 {
		t.Fatalf("head %d after the open, want 3", head)
	}
	if _, ok, _ := s2.CommandReply(ctx, "org-a", "import"); ok {
		t.Fatal("the cut-short append's reply is stored")
	}
	res, err := s2.Append(ctx, AppendRequest{Stream: "org-a", ExpectedVersion: 3, Events: events(t, 2)})
	if err != nil {
		t.Fatalf("append after the open: %v", err)
	}
	if res.Records[0].Position != 4 || res.Records[0].Version != 4 {
		t.Fatalf("next append at position %d version %d, want 4 and 4", res.Records[0].Position, res.Records[0].Version)
	}
	if all := assertLogConsistent(t, s2); len(all) != 5 {
		t.Fatalf("log has %d records, want 5", len(all))
	}
	recs, err := s2.ReadStream(ctx, "org-a", 1)
	if err != nil || len(recs) != 5 {
		t.Fatalf("stream org-a: %d records, %v; want 5", len(recs), err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing beyond the head is left for a later open to trip on.
	s3 := openTestBadger(t, dir, BadgerOptions{}, testHooks{tune: small})
	if head, _ := s3.Head(ctx); head != 5 {
		t.Fatalf("head %d after a second open, want 5", head)
	}
	recs, err = s3.ReadStream(ctx, "org-a", 1)
	if err != nil || len(recs) != 5 {
		t.Fatalf("stream org-a after a second open: %d records, %v; want 5", len(recs), err)
	}
}

// A sliced append whose tail (its reply, the head key, the marker) fits no transaction fails
// alone before anything is written: the store goes on taking appends. (A reply just under the
// value threshold on a memtable whose transaction barely holds one such value once halted
// every organization's commands.)
func TestBadgerSlicedAppendWithAnOversizedTailFailsAlone(t *testing.T) {
	ctx := testCtx(t)
	const memtable = 1 << 20
	threshold := int64(memtable * 15 / 100)
	s := openTestBadger(t, t.TempDir(), BadgerOptions{}, testHooks{tune: func(o badger.Options) badger.Options {
		return o.WithMemTableSize(memtable).WithValueThreshold(threshold)
	}})
	if _, err := s.Append(ctx, AppendRequest{Stream: "org-a", Events: events(t, 1)}); err != nil {
		t.Fatal(err)
	}
	reply := func([]Record) ([]byte, error) { return make([]byte, threshold-200), nil }
	_, err := s.Append(ctx, AppendRequest{Stream: "org-big", CommandID: "import-with-a-long-command-id-" + string(make([]byte, 100)),
		Events: events(t, 5000), Reply: reply})
	if !errors.Is(err, ErrAppendTooBig) || !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("append with an oversized tail: err = %v, want ErrAppendTooBig", err)
	}
	if head, _ := s.Head(ctx); head != 1 {
		t.Fatalf("head %d after the refused append, want 1", head)
	}
	if _, err := s.Append(ctx, AppendRequest{Stream: "org-b", Events: events(t, 1)}); err != nil {
		t.Fatalf("the store refused the next append: %v", err)
	}
	if all := assertLogConsistent(t, s); len(all) != 2 {
		t.Fatalf("log has %d records, want 2", len(all))
	}
}
