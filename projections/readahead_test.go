package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"roster/eventstore"
)

// countingLog counts the reads that reach the log.
type countingLog struct {
	*eventstore.MemoryStore
	reads atomic.Int64
}

func (c *countingLog) Read(ctx context.Context, from uint64, limit int) ([]eventstore.Record, error) {
	c.reads.Add(1)
	return c.MemoryStore.Read(ctx, from, limit)
}

// The views' check reads the log once per ReadAhead messages in order, and every read
// gives the log's record at the position asked, in order or not.
func TestReadAheadReadsTheLogInChunks(t *testing.T) {
	ctx := context.Background()
	mem := eventstore.NewMemory()
	const n = 1000
	evs := make([]eventstore.Record, n)
	for i := range evs {
		evs[i] = eventstore.Record{ID: fmt.Sprintf("e%d", i), Type: "Tested", Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
	}
	if _, err := mem.Append(ctx, eventstore.AppendRequest{Stream: "s", Events: evs}); err != nil {
		t.Fatal(err)
	}
	log := &countingLog{MemoryStore: mem}
	ra := &readAhead{LocalLog: log}
	check := func(pos uint64) {
		t.Helper()
		got, err := ra.Read(ctx, pos, 1)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := mem.Read(ctx, pos, 1)
		if len(got) != 1 || got[0].Position != pos || got[0].ID != want[0].ID || got[0].Hash != want[0].Hash {
			t.Fatalf("read at %d: %+v; want %+v", pos, got, want)
		}
	}
	for pos := uint64(1); pos <= n; pos++ {
		check(pos)
	}
	if got, want := log.reads.Load(), int64((n+ReadAhead-1)/ReadAhead); got != want {
		t.Fatalf("%d reads of the log for %d messages in order; want %d", got, n, want)
	}
	// A redelivery (an earlier position) and a jump are read from the log.
	check(10)
	check(500)
	check(11)
	if got, err := ra.Read(ctx, n+1, 1); err != nil || len(got) != 0 {
		t.Fatalf("read past the head: %v, %v", got, err)
	}
}
