package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memoryHeadroom is how far above the live heap the Go memory limit stays when the live heap
// outgrows --memory-limit-mib: half of it (with GOGC's 100 the heap may double). An eighth made
// the GC run nearly back to back once a few 10,000-row imports had grown the live heap toward
// the limit (an import took 2.4 s instead of 0.6); memory held at rest is returned by the
// trimmer.
const memoryHeadroom = 2 // limit = live + live/memoryHeadroom

// memoryLimitFor is the soft memory limit for a live heap of live bytes: the floor
// (--memory-limit-mib) while the working set fits under it with headroom, else the live heap and
// a half. A fixed limit below the working set makes the GC run back to back (it took a
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

// Returning memory at rest. A burst (a bulk load, an import) leaves the heap at up to twice its
// live size (GOGC's 100) and the runtime gives the difference back to the OS only slowly, so a
// process at rest would keep its peak. The trimmer runs debug.FreeOSMemory (one collection and
// a full scavenge, after a collection that empties unused pools) once the process has gone quiet with a heap well beyond its live size: the
// resident size comes back to the working set about a second after the work ends, without
// making the collector work harder while there is work.
const (
	trimEvery     = time.Second // how often the trimmer looks
	trimQuietRate = 16 << 20    // quiet: less than this allocated since the last look, in bytes
	trimSlack     = 32 << 20    // trim only when the heap holds this much beyond the live heap...
	trimSlackPart = 4           // ...and a quarter of the live heap
	// At rest, what a trim left is tried again after trimRetryFirst looks, then twice as many
	// each time, up to trimRetryMax (a collection every 5 minutes at the most).
	trimRetryFirst = 5
	trimRetryMax   = 300
	// trimRefreshEvery bounds the collections that refresh the live heap after work: one every
	// 10 looks at the most, so that light intermittent traffic costs little.
	trimRefreshEvery = 10
)

// trimmer decides, from one look at the runtime's metrics to the next, when to give the heap's
// free memory back.
type trimmer struct {
	samples []metrics.Sample
	allocs  uint64 // bytes allocated when it last looked
	looked  bool
	after   uint64 // bytes held after the last trim
	// A trim may leave memory that a later one returns (buffers a pool still held, caches
	// that expire later: the embedded server keeps a stream's recent blocks for 10 s). At
	// rest the trimmer tries again after wait looks, doubling wait each time up to
	// trimRetryMax; work resets it.
	wait, waited int
	// busy says the last look saw work; sinceGC counts the looks since the trimmer last
	// collected. The live heap the runtime reports is the last collection's, taken during the
	// work (with its transient data), and at rest nothing collects: the first quiet look after
	// work collects first, at most once every trimRefreshEvery looks.
	busy    bool
	sinceGC int
}

func newTrimmer() *trimmer {
	return &trimmer{samples: []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}, sinceGC: trimRefreshEvery}
}

// heapHeld is the heap memory the process holds from the OS: objects (live or garbage not yet
// swept), unused span space and free pages not yet returned.
func heapHeld(s []metrics.Sample) uint64 {
	return s[2].Value.Uint64() + s[3].Value.Uint64() + s[4].Value.Uint64()
}

// decide says whether to trim now, from this look: whether the process was quiet since the
// last, its live heap and the heap memory it holds.
func (t *trimmer) decide(quiet bool, live, held uint64) bool {
	if !quiet {
		t.wait, t.waited = 0, 0
		return false
	}
	slack := max(trimSlack, live/trimSlackPart)
	if held <= live+slack {
		return false // nothing worth a collection
	}
	if held <= t.after+slack { // no more than the last trim left (fragmentation stays after one)
		if t.waited++; t.waited < max(t.wait, trimRetryFirst) {
			return false
		}
		t.wait = min(2*max(t.wait, trimRetryFirst), trimRetryMax)
	}
	t.waited = 0
	return true
}

// step looks once and trims when the process is quiet and holds too much; it reports the
// bytes held before and after a trim (0, 0: no trim).
func (t *trimmer) step() (before, after uint64) {
	metrics.Read(t.samples)
	allocs := t.samples[0].Value.Uint64()
	quiet := t.looked && allocs-t.allocs < trimQuietRate
	t.allocs, t.looked = allocs, true
	t.sinceGC++
	if quiet && t.busy && t.sinceGC >= trimRefreshEvery {
		runtime.GC() // the live heap of the work just ended is stale (see trimmer.busy)
		metrics.Read(t.samples)
		t.allocs, t.sinceGC = t.samples[0].Value.Uint64(), 0
	}
	t.busy = !quiet
	held := heapHeld(t.samples)
	if !t.decide(quiet, t.samples[1].Value.Uint64(), held) {
		return 0, 0
	}
	// Two collections: the first moves the buffers pooled (sync.Pool) and unused since the last
	// one to the pools' victim caches, the second frees them (the embedded server pools 8 MiB
	// JetStream block buffers); FreeOSMemory then returns the free pages.
	runtime.GC()
	debug.FreeOSMemory()
	metrics.Read(t.samples)
	t.allocs, t.after, t.sinceGC = t.samples[0].Value.Uint64(), heapHeld(t.samples), 0
	return held, t.after
}

// trimWhenQuiet runs the trimmer every interval until ctx ends.
func trimWhenQuiet(ctx context.Context, every time.Duration, log *slog.Logger) {
	tr := newTrimmer()
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if before, after := tr.step(); before > 0 {
			log.Debug("returned free heap memory to the OS at rest", "held_mib", before>>20, "now_mib", after>>20)
		}
	}
}
