package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memoryHeadroom is how far above the live heap the Go memory limit stays when the live heap
// outgrows --memory-limit-mib: an eighth of it (with GOGC's 100 the heap may double).
const memoryHeadroom = 8 // limit = live + live/memoryHeadroom

// memoryLimitFor is the soft memory limit for a live heap of live bytes: the floor
// (--memory-limit-mib) while the working set fits under it with headroom, else the live heap and
// an eighth. A fixed limit below the working set makes the GC run back to back (it took a
// 10,000-row import from 0.3 s to 8 s); one that follows the live heap only makes it run
// more often than GOGC would.
func memoryLimitFor(floor, live int64) int64 {
	return max(floor, live+live/memoryHeadroom)
}

// followMemoryLimit sets the soft memory limit from the live heap after every GC it sees,
// polling every interval until ctx ends.
func followMemoryLimit(ctx context.Context, floor int64, every time.Duration, log *slog.Logger) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := floor
	debug.SetMemoryLimit(set)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			continue
		}
		want := memoryLimitFor(floor, int64(sample[0].Value.Uint64()))
		if want != set {
			debug.SetMemoryLimit(want)
			log.Debug("Go soft memory limit", "mib", want>>20)
			set = want
		}
	}
}
