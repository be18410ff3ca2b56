package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// RunContract is the one test suite every Store implementation passes. open
// returns a fresh, empty store; RunContract closes it.
func RunContract(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"AppendAndRead", contractAppendAndRead},
		{"WrongExpectedVersion", contractWrongExpectedVersion},
		{"InvalidRequests", contractInvalidRequests},
		{"ConcurrentStreamsGapFree", contractConcurrentStreams},
		{"ConcurrentSameStream", contractConcurrentSameStream},
		{"Idempotency", contractIdempotency},
		{"IdempotencyConcurrent", contractIdempotencyConcurrent},
		{"NoEventReply", contractNoEventReply},
		{"ReplyError", contractReplyError},
		{"ReadStream", contractReadStream},
		{"Scan", contractScan},
		{"TimeAndPositionAt", contractTimeAndPositionAt},
		{"WaitFor", contractWaitFor},
		{"Close", contractClose},
		{"AppendAsyncInOrder", contractAppendAsyncInOrder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

var baseTime = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newEvent(t testing.TB, typ string, data any) Record {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("uuid: %v", err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return Record{ID: id.String(), Type: typ, Time: baseTime, OrgID: "acme", Actor: "u1", Data: raw}
}

func events(t testing.TB, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = newEvent(t, "Tested", map[string]int{"i": i})
	}
	return out
}

func mustAppend(t testing.TB, s Store, req AppendRequest) AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), req)
	if err != nil {
		t.Fatalf("append to %s at %d: %v", req.Stream, req.ExpectedVersion, err)
	}
	return res
}

func mustRead(t *testing.T, s Store, from uint64, limit int) []Record {
	t.Helper()
	recs, err := s.Read(testCtx(t), from, limit)
	if err != nil {
		t.Fatalf("read from %d: %v", from, err)
	}
	return recs
}

func assertRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// assertLogConsistent checks that the whole log is gap-free, each stream's
// versions are gap-free, and ReadStream agrees with Read.
func assertLogConsistent(t *testing.T, s Store) []Record {
	t.Helper()
	ctx := testCtx(t)
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := mustRead(t, s, 1, 0)
	if uint64(len(all)) != head {
		t.Fatalf("read %d records, head is %d", len(all), head)
	}
	byStream := map[string][]Record{}
	ids := map[string]bool{}
	for i, r := range all {
		if r.Position != uint64(i+1) {
			t.Fatalf("record %d has position %d", i, r.Position)
		}
		if ids[r.ID] {
			t.Fatalf("id %s stored twice", r.ID)
		}
		ids[r.ID] = true
		byStream[r.Stream] = append(byStream[r.Stream], r)
		if n := uint64(len(byStream[r.Stream])); r.Version != n {
			t.Fatalf("record %d of stream %s has version %d, want %d", r.Position, r.Stream, r.Version, n)
		}
	}
	for stream, recs := range byStream {
		v, err := s.StreamVersion(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if v != uint64(len(recs)) {
			t.Fatalf("stream %s version %d, has %d records", stream, v, len(recs))
		}
		got, err := s.ReadStream(ctx, stream, 1)
		if err != nil {
			t.Fatal(err)
		}
		assertRecords(t, got, recs)
	}
	if b, ok := s.(*BadgerStore); ok {
		// The background pass finds it whole too: every record indexed, every command with its reply.
		if err := b.VerifyValues(ctx); err != nil {
			t.Fatalf("checksum pass: %v", err)
		}
	}
	return all
}

func contractAppendAndRead(t *testing.T, s Store) {
	ctx := testCtx(t)
	if h, err := s.Head(ctx); err != nil || h != 0 {
		t.Fatalf("empty head = %d, %v", h, err)
	}
	if recs := mustRead(t, s, 1, 0); len(recs) != 0 {
		t.Fatalf("empty log read %d records", len(recs))
	}
	in := events(t, 3)
	in[1].CommandID, in[1].CorrelationID = "cmd-x", "corr-y"
	res := mustAppend(t, s, AppendRequest{Stream: "org-a", CommandID: "cmd-x", Events: in})
	if len(res.Records) != 3 {
		t.Fatalf("stored %d records", len(res.Records))
	}
	for i, r := range res.Records {
		if r.Position != uint64(i+1) || r.Version != uint64(i+1) || r.Stream != "org-a" || r.ID != in[i].ID || r.Type != in[i].Type {
			t.Fatalf("record %d stored as %+v", i, r)
		}
	}
	res2 := mustAppend(t, s, AppendRequest{Stream: "org-b", Events: events(t, 2)})
	if p, v := res2.Records[1].Position, res2.Records[1].Version; p != 5 || v != 2 {
		t.Fatalf("second stream: position %d version %d, want 5 and 2", p, v)
	}
	all := mustRead(t, s, 0, 0)
	assertRecords(t, all, append(append([]Record{}, res.Records...), res2.Records...))
	assertRecords(t, mustRead(t, s, 2, 2), all[1:3])
	assertRecords(t, mustRead(t, s, 5, 10), all[4:])
	if recs := mustRead(t, s, 6, 0); len(recs) != 0 {
		t.Fatalf("read past head returned %d records", len(recs))
	}
	// The envelope round-trips through JSON.
	b, err := json.Marshal(all[1])
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	assertRecords(t, []Record{back}, all[1:2])
	if h, _ := s.Head(ctx); h != 5 {
		t.Fatalf("head %d, want 5", h)
	}
	assertLogConsistent(t, s)
}

func contractWrongExpectedVersion(t *testing.T, s Store) {
	ctx := testCtx(t)
	mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 2)})
	for _, expected := range []uint64{0, 1, 3} {
		res, err := s.Append(ctx, AppendRequest{Stream: "org-a", ExpectedVersion: expected, Events: events(t, 1)})
		if !errors.Is(err, ErrWrongExpectedVersion) {
			t.Fatalf("expected version %d: err = %v, want ErrWrongExpectedVersion", expected, err)
		}
		var se *StoreError
		if !errors.As(err, &se) || se.Op != "append" || se.Stream != "org-a" {
			t.Fatalf("err %v is not a StoreError for append on org-a", err)
		}
		if len(res.Records) != 0 {
			t.Fatalf("failed append returned %d records", len(res.Records))
		}
	}
	if h, _ := s.Head(ctx); h != 2 {
		t.Fatalf("head %d after rejected appends, want 2", h)
	}
	mustAppend(t, s, AppendRequest{Stream: "org-a", ExpectedVersion: 2, Events: events(t, 1)})
	assertLogConsistent(t, s)
}

func contractInvalidRequests(t *testing.T, s Store) {
	ctx := testCtx(t)
	bad := []AppendRequest{
		{Stream: "", Events: events(t, 1)},
		{Stream: "org-a"},
		{Stream: "org-a", CommandID: "c1"}, // no events and no reply
		{Stream: "org-a", Events: []Record{{Type: "NoID"}}},
		{Stream: "org-a", Events: []Record{{ID: "x"}}},
		{Stream: "org-a", Events: []Record{{ID: "x", Type: "T", Stream: "org-b"}}},
		{Stream: "org-a", CommandID: "c1", Events: []Record{{ID: "x", Type: "T", CommandID: "c2"}}}, // another command's
		{Stream: "org-a", Events: []Record{{ID: "x", Type: "T", Data: json.RawMessage("{nope")}}},
	}
	for i, req := range bad {
		if _, err := s.Append(ctx, req); !errors.Is(err, ErrInvalidAppend) {
			t.Errorf("request %d: err = %v, want ErrInvalidAppend", i, err)
		}
	}
	if h, _ := s.Head(ctx); h != 0 {
		t.Fatalf("head %d after invalid appends", h)
	}
}

func contractConcurrentStreams(t *testing.T, s Store) {
	const writers, perWriter = 32, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("org-%d", w)
			for i := range perWriter {
				_, err := s.Append(context.Background(), AppendRequest{Stream: stream, ExpectedVersion: uint64(2 * i), Events: events(t, 2)})
				if err != nil {
					errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := assertLogConsistent(t, s)
	if len(all) != writers*perWriter*2 {
		t.Fatalf("log has %d records, want %d", len(all), writers*perWriter*2)
	}
}

func contractConcurrentSameStream(t *testing.T, s Store) {
	const writers, perWriter = 32, 4
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		committed = map[string]bool{} // ids of successful appends
		conflicts int
	)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			ctx := context.Background()
			for done := 0; done < perWriter; {
				v, err := s.StreamVersion(ctx, "org-hot")
				if err != nil {
					errs <- err
					return
				}
				evs := events(t, 1+w%2)
				_, err = s.Append(ctx, AppendRequest{Stream: "org-hot", ExpectedVersion: v, Events: evs})
				switch {
				case errors.Is(err, ErrWrongExpectedVersion):
					mu.Lock()
					conflicts++
					mu.Unlock()
				case err != nil:
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				default:
					mu.Lock()
					for _, e := range evs {
						committed[e.ID] = true
					}
					mu.Unlock()
					done++
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := assertLogConsistent(t, s)
	if len(all) != len(committed) {
		t.Fatalf("log has %d records, %d were acknowledged", len(all), len(committed))
	}
	for _, r := range all {
		if !committed[r.ID] {
			t.Fatalf("record %s stored but its append failed", r.ID)
		}
	}
	t.Logf("%d conflicts rejected", conflicts)
}

func replyOf(stored []Record) ([]byte, error) {
	type ev struct {
		ID       string `json:"id"`
		Position uint64 `json:"position"`
	}
	out := struct {
		OK     bool `json:"ok"`
		Events []ev `json:"events"`
	}{OK: true, Events: []ev{}}
	for _, r := range stored {
		out.Events = append(out.Events, ev{r.ID, r.Position})
	}
	return json.Marshal(out)
}

func contractIdempotency(t *testing.T, s Store) {
	ctx := testCtx(t)
	mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 1)})
	var first AppendResult
	for i := range 10 {
		res, err := s.Append(ctx, AppendRequest{Stream: "org-a", ExpectedVersion: 1, CommandID: "cmd-1", Events: events(t, 2), Reply: replyOf})
		if i == 0 {
			if err != nil {
				t.Fatalf("first append: %v", err)
			}
			first = res
			want, _ := replyOf(res.Records)
			if string(res.Reply) != string(want) {
				t.Fatalf("reply %s, want %s", res.Reply, want)
			}
			continue
		}
		if !errors.Is(err, ErrDuplicateCommand) {
			t.Fatalf("repeat %d: err = %v, want ErrDuplicateCommand", i, err)
		}
		var se *StoreError
		if !errors.As(err, &se) || se.Stream != "org-a" {
			t.Fatalf("repeat %d: err %v is not a StoreError on org-a", i, err)
		}
		if len(res.Records) != 0 || string(res.Reply) != string(first.Reply) {
			t.Fatalf("repeat %d: %d records, reply %s; want none and %s", i, len(res.Records), res.Reply, first.Reply)
		}
	}
	if h, _ := s.Head(ctx); h != 3 {
		t.Fatalf("head %d, want 3", h)
	}
	reply, ok, err := s.CommandReply(ctx, "org-a", "cmd-1")
	if err != nil || !ok || string(reply) != string(first.Reply) {
		t.Fatalf("CommandReply = %s, %t, %v", reply, ok, err)
	}
	// Command ids are scoped to their stream.
	if _, ok, _ := s.CommandReply(ctx, "org-b", "cmd-1"); ok {
		t.Fatal("command id leaked to another stream")
	}
	mustAppend(t, s, AppendRequest{Stream: "org-b", CommandID: "cmd-1", Events: events(t, 1), Reply: replyOf})
	// Without a Reply func the id still deduplicates.
	mustAppend(t, s, AppendRequest{Stream: "org-b", ExpectedVersion: 1, CommandID: "cmd-2", Events: events(t, 1)})
	if _, err := s.Append(ctx, AppendRequest{Stream: "org-b", ExpectedVersion: 2, CommandID: "cmd-2", Events: events(t, 1)}); !errors.Is(err, ErrDuplicateCommand) {
		t.Fatalf("repeat without reply func: err = %v", err)
	}
	if _, ok, _ := s.CommandReply(ctx, "org-a", "cmd-unknown"); ok {
		t.Fatal("unknown command has a reply")
	}
	assertLogConsistent(t, s)
}

func contractIdempotencyConcurrent(t *testing.T, s Store) {
	const n = 10
	type outcome struct {
		res AppendResult
		err error
	}
	outs := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := s.Append(context.Background(), AppendRequest{Stream: "org-a", CommandID: "cmd-1", Events: events(t, 2), Reply: replyOf})
			outs[i] = outcome{res, err}
		})
	}
	wg.Wait()
	var firsts int
	var reply []byte
	for i, o := range outs {
		switch {
		case o.err == nil:
			firsts++
		case errors.Is(o.err, ErrDuplicateCommand):
		default:
			t.Fatalf("append %d: %v", i, o.err)
		}
		if reply == nil {
			reply = o.res.Reply
		} else if string(o.res.Reply) != string(reply) {
			t.Fatalf("replies differ: %s vs %s", o.res.Reply, reply)
		}
	}
	if firsts != 1 {
		t.Fatalf("%d appends succeeded, want 1", firsts)
	}
	if all := assertLogConsistent(t, s); len(all) != 2 {
		t.Fatalf("log has %d records, want 2", len(all))
	}
}

func contractNoEventReply(t *testing.T, s Store) {
	ctx := testCtx(t)
	refusal := []byte(`{"ok":false}`)
	reply := func(stored []Record) ([]byte, error) {
		if len(stored) != 0 {
			return nil, fmt.Errorf("got %d records", len(stored))
		}
		return refusal, nil
	}
	res := mustAppend(t, s, AppendRequest{Stream: "org-a", CommandID: "c1", Reply: reply})
	if string(res.Reply) != string(refusal) || len(res.Records) != 0 {
		t.Fatalf("result %+v", res)
	}
	res, err := s.Append(ctx, AppendRequest{Stream: "org-a", CommandID: "c1", Reply: reply})
	if !errors.Is(err, ErrDuplicateCommand) || string(res.Reply) != string(refusal) {
		t.Fatalf("repeat: %v, reply %s", err, res.Reply)
	}
	if h, _ := s.Head(ctx); h != 0 {
		t.Fatalf("head %d, want 0", h)
	}
	if v, _ := s.StreamVersion(ctx, "org-a"); v != 0 {
		t.Fatalf("version %d, want 0", v)
	}
}

func contractReplyError(t *testing.T, s Store) {
	ctx := testCtx(t)
	boom := errors.New("boom")
	_, err := s.Append(ctx, AppendRequest{Stream: "org-a", CommandID: "c1", Events: events(t, 1),
		Reply: func([]Record) ([]byte, error) { return nil, boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if h, _ := s.Head(ctx); h != 0 {
		t.Fatalf("head %d after failed reply", h)
	}
	if _, ok, _ := s.CommandReply(ctx, "org-a", "c1"); ok {
		t.Fatal("failed command stored a reply")
	}
	// The same command id can then succeed.
	mustAppend(t, s, AppendRequest{Stream: "org-a", CommandID: "c1", Events: events(t, 1), Reply: replyOf})
}

func contractReadStream(t *testing.T, s Store) {
	ctx := testCtx(t)
	a1 := mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 2)})
	mustAppend(t, s, AppendRequest{Stream: "org-b", Events: events(t, 1)})
	a2 := mustAppend(t, s, AppendRequest{Stream: "org-a", ExpectedVersion: 2, Events: events(t, 2)})
	got, err := s.ReadStream(ctx, "org-a", 2)
	if err != nil {
		t.Fatal(err)
	}
	assertRecords(t, got, []Record{a1.Records[1], a2.Records[0], a2.Records[1]})
	if got[1].Position != 4 || got[1].Version != 3 {
		t.Fatalf("record %+v", got[1])
	}
	if got, _ := s.ReadStream(ctx, "org-a", 5); len(got) != 0 {
		t.Fatalf("read past stream end: %d records", len(got))
	}
	if got, _ := s.ReadStream(ctx, "org-none", 0); len(got) != 0 {
		t.Fatalf("unknown stream: %d records", len(got))
	}
	// A stream whose name is a prefix of another's stays separate.
	mustAppend(t, s, AppendRequest{Stream: "org", Events: events(t, 1)})
	if got, _ := s.ReadStream(ctx, "org", 1); len(got) != 1 {
		t.Fatalf("stream org: %d records", len(got))
	}
}

func contractScan(t *testing.T, s Store) {
	ctx := testCtx(t)
	for i := range 30 {
		mustAppend(t, s, AppendRequest{Stream: "org-a", ExpectedVersion: uint64(i * 20), Events: events(t, 20)})
	}
	var positions []uint64
	if err := s.Scan(ctx, 7, func(r Record) error {
		positions = append(positions, r.Position)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(positions) != 600-6 {
		t.Fatalf("scanned %d records, want %d", len(positions), 594)
	}
	for i, p := range positions {
		if p != uint64(7+i) {
			t.Fatalf("scan %d: position %d", i, p)
		}
	}
	stop := errors.New("stop")
	var n int
	err := s.Scan(ctx, 1, func(r Record) error {
		n++
		if r.Position == 300 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 300 {
		t.Fatalf("scan stopped with %v after %d records", err, n)
	}
	if err := s.Scan(ctx, 601, func(Record) error { return errors.New("called") }); err != nil {
		t.Fatalf("scan past head: %v", err)
	}
}

func contractTimeAndPositionAt(t *testing.T, s Store) {
	ctx := testCtx(t)
	at := func(sec int) time.Time { return baseTime.Add(time.Duration(sec) * time.Second) }
	var want []time.Time
	for i, sec := range []int{0, 10, 10, 5, 30, 20, 40} {
		ev := newEvent(t, "Tested", i)
		ev.Time = at(sec).In(time.FixedZone("x", 3600))
		mustAppend(t, s, AppendRequest{Stream: "org-a", ExpectedVersion: uint64(i), Events: []Record{ev}})
		stored := at(sec)
		if len(want) > 0 && stored.Before(want[len(want)-1]) {
			stored = want[len(want)-1]
		}
		want = append(want, stored)
	}
	all := mustRead(t, s, 1, 0)
	for i, r := range all {
		if !r.Time.Equal(want[i]) {
			t.Fatalf("record %d time %s, want %s", r.Position, r.Time, want[i])
		}
		if i > 0 && r.Time.Before(all[i-1].Time) {
			t.Fatalf("time decreases at %d", r.Position)
		}
	}
	// Stored times (0,10,10,10,30,30,40).
	cases := []struct {
		sec  int
		want uint64
	}{{-1, 0}, {0, 1}, {5, 1}, {10, 4}, {29, 4}, {30, 6}, {40, 7}, {1000, 7}}
	for _, c := range cases {
		got, err := s.PositionAt(ctx, at(c.sec))
		if err != nil || got != c.want {
			t.Errorf("PositionAt(+%ds) = %d, %v; want %d", c.sec, got, err, c.want)
		}
	}
}

func contractWaitFor(t *testing.T, s Store) {
	ctx := testCtx(t)
	if err := s.WaitFor(ctx, 0); err != nil {
		t.Fatalf("wait for 0: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitFor(ctx, 3) }()
	mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 2)})
	select {
	case err := <-done:
		t.Fatalf("WaitFor(3) returned %v at head 2", err)
	default:
	}
	mustAppend(t, s, AppendRequest{Stream: "org-a", ExpectedVersion: 2, Events: events(t, 1)})
	if err := <-done; err != nil {
		t.Fatalf("WaitFor(3): %v", err)
	}
	if h, _ := s.Head(ctx); h < 3 {
		t.Fatalf("WaitFor returned at head %d", h)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- s.WaitFor(cctx, 100) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled WaitFor: %v", err)
	}
}

func contractClose(t *testing.T, s Store) {
	ctx := testCtx(t)
	mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 1)})
	done := make(chan error, 1)
	go func() { done <- s.WaitFor(ctx, 10) }()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitFor across Close: %v", err)
	}
	if _, err := s.Append(ctx, AppendRequest{Stream: "org-a", ExpectedVersion: 1, Events: events(t, 1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestMemoryContract(t *testing.T) {
	RunContract(t, func(*testing.T) Store { return NewMemory() })
}

func TestBadgerContract(t *testing.T) {
	RunContract(t, func(t *testing.T) Store {
		s, err := OpenBadger(t.TempDir(), BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Appends queued one after another by one caller commit in order, so a stream's next append
// may be queued before the previous one is durable; a refused one makes the next fail its
// expected version, never lands out of order.
// queued returns the wait of an append AppendAsync queued, failing t if it refused it at once.
func queued(t testing.TB) func(wait func() (AppendResult, error), err error) func() (AppendResult, error) {
	return func(wait func() (AppendResult, error), err error) func() (AppendResult, error) {
		t.Helper()
		if err != nil {
			t.Fatalf("append refused before it was queued: %v", err)
		}
		return wait
	}
}

func contractAppendAsyncInOrder(t *testing.T, s Store) {
	ctx := testCtx(t)
	var waits []func() (AppendResult, error)
	for v := range uint64(50) {
		waits = append(waits, queued(t)(s.AppendAsync(ctx, AppendRequest{Stream: "s", ExpectedVersion: v,
			Events: []Record{newEvent(t, "E", map[string]uint64{"v": v})}})))
	}
	for i, wait := range waits {
		res, err := wait()
		if err != nil || len(res.Records) != 1 || res.Records[0].Version != uint64(i+1) {
			t.Fatalf("append %d: %+v %v", i, res, err)
		}
	}
	// A wrong expected version in the middle: it is refused and so is the one queued after it.
	bad := queued(t)(s.AppendAsync(ctx, AppendRequest{Stream: "s", ExpectedVersion: 7, Events: []Record{newEvent(t, "E", nil)}}))
	after := queued(t)(s.AppendAsync(ctx, AppendRequest{Stream: "s", ExpectedVersion: 51, Events: []Record{newEvent(t, "E", nil)}}))
	if _, err := bad(); !errors.Is(err, ErrWrongExpectedVersion) {
		t.Fatalf("stale append: %v", err)
	}
	if _, err := after(); !errors.Is(err, ErrWrongExpectedVersion) {
		t.Fatalf("append queued after a refused one: %v", err)
	}
	if v, _ := s.StreamVersion(ctx, "s"); v != 50 {
		t.Fatalf("stream version %d, want 50", v)
	}
}
