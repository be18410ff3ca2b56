package eventstore

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAppendBig measures one append of 10,000 records (a 10,000-row ImportMembers), the
// work the committer does for it while other appends wait.
func BenchmarkAppendBig(b *testing.B) {
	s, err := OpenBadger(b.TempDir(), BadgerOptions{})
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
		batch, rest := nextBatch(nil, pending, 256)
		if names(batch) != wantBatch || names(rest) != wantRest {
			t.Fatalf("nextBatch(%s) = %s, %s; want %s, %s", names(pending), names(batch), names(rest), wantBatch, wantRest)
		}
		return rest
	}
	rest := step([]*appendOp{bigA, sB, sA, sC}, "[sB sC]", "[bigA sA]")
	rest = step(append(rest, sD), "[bigA]", "[sA sD]")
	step(rest, "[sA sD]", "[]")

	// A batch is capped at maxBatch; what is left waits in order.
	batch, rest := nextBatch(nil, []*appendOp{sB, sC, sD}, 2)
	if names(batch) != "[sB sC]" || names(rest) != "[sD]" {
		t.Fatalf("capped batch %s, rest %s", names(batch), names(rest))
	}
}

// The committer's hasher gives exactly HashRecord's hashes, record after record.
func TestChainHasherMatchesHashRecord(t *testing.T) {
	var h chainHasher
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
		if got := h.next(r, prev); got != want {
			t.Fatalf("record %d: hash %s; HashRecord gives %s", i, got, want)
		}
		prev = want
	}
	if got := h.next(Record{}, "zz"); got != "" {
		t.Fatalf("bad previous hash gave %q", got)
	}
}
