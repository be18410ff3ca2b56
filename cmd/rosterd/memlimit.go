package main

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// The collector's allowance for bulk work. An import allocates about 100 MB in a second or two
// (its decision, its events' encoding, their write), and near the soft limit that set off a
// collection every 400 ms during it: each marks the whole live heap, and its assists fall on
// whatever goroutine allocates next, the ones answering other organizations included. While
// bulk work is in flight (pace.Pacer.Hold) the governor turns GOGC's trigger off and lets the
// process grow by the allowance over what it held when the work began. When the last piece
// ends it collects once, from a goroutine of its own, with the allowance still there: with
// room left under the limit that collection runs on the collector's own workers, without the
// assists a heap found far over GOGC's goal would ask of everyone. GOGC and the followed limit
// come back once it is done. The soft limit holds throughout (a collection runs when the
// allowance is used up), and a hold is bounded in time: after maxHold the collector runs as
// usual again until no bulk work is left, so that imports kept up on purpose cannot keep it
// off.
const maxHold = 5 * time.Second

// The allowance stays under the container's memory limit, which the Go runtime does not know: a
// hold raises the soft limit to at most ceilingShare of it, and is not taken when that leaves less
// than minRoom over what the process holds (with GOGC off, a limit that close would make the
// collector run back to back).
const (
	ceilingShare = 0.9
	minRoom      = 64 << 20
)

// cgroupMemoryFiles are where the process's memory limit is read: those of its own cgroup, named
// in selfCgroup (/proc/self/cgroup: a systemd unit's MemoryMax=), then those at the root of the
// hierarchy (a container's, seen from inside it); cgroup v2 before v1.
func cgroupMemoryFiles(selfCgroup string) []string {
	var own []string
	for line := range strings.Lines(selfCgroup) {
		id, rest, _ := strings.Cut(strings.TrimSpace(line), ":")
		controllers, path, ok := strings.Cut(rest, ":")
		if !ok || !strings.HasPrefix(path, "/") || path == "/" || strings.Contains(path, "..") {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			own = append(own, "/sys/fs/cgroup"+path+"/memory.max")
		case slices.Contains(strings.Split(controllers, ","), "memory"):
			own = append(own, "/sys/fs/cgroup/memory"+path+"/memory.limit_in_bytes")
		}
	}
	return append(own, "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
}

// selfCgroup is /proc/self/cgroup, or "" where there is none.
func selfCgroup() string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	return string(b)
}

// cgroupMemoryLimit is the smallest limit set in files, in bytes; 0 when none is ("max", v1's
// "unlimited" near 2^63, no such file).
func cgroupMemoryLimit(files []string) int64 {
	var limit int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= 1<<62 {
			continue // "max", or no limit worth the name
		}
		if limit == 0 || v < limit {
			limit = v
		}
	}
	return limit
}

// The governor's states: the collector as usual, held for bulk work, draining (the one
// collection after bulk work, GOGC still off), or expired (bulk work held longer than maxHold:
// the collector as usual until it ends).
const (
	gcUsual = iota
	gcHeld
	gcDraining
	gcExpired
)

// memoryGovernor sets the Go soft memory limit from the live heap (memoryLimitFor, polled) and
// gives bulk work the collector's allowance (bulk).
type memoryGovernor struct {
	floor, allowance int64
	// ceiling is the container's memory limit (cgroupMemoryLimit), 0 when none.
	ceiling int64
	maxHold time.Duration
	now     func() time.Time
	log     *slog.Logger
	// collect runs the collection after bulk work (runtime.GC; tests wait for it).
	collect func()

	mu        sync.Mutex
	samples   []metrics.Sample
	set       int64 // the limit last set
	normal    int64 // the limit memoryLimitFor gives for the live heap last seen
	state     int
	drains    int // collections after bulk work started, so that a stale one changes nothing
	heldSince time.Time
	heldLimit int64 // the limit during a hold: what the process held then, and the allowance
	gcPercent int   // GOGC outside holds
}

func newMemoryGovernor(floor, allowance, ceiling int64, log *slog.Logger) *memoryGovernor {
	g := &memoryGovernor{floor: floor, allowance: allowance, ceiling: ceiling, maxHold: maxHold, now: time.Now, log: log,
		collect: runtime.GC,
		samples: []metrics.Sample{
			{Name: "/gc/heap/live:bytes"},
			{Name: "/memory/classes/total:bytes"},
			{Name: "/memory/classes/heap/released:bytes"},
		}}
	g.normal = floor
	g.setLimit(floor)
	return g
}

func (g *memoryGovernor) setLimit(limit int64) {
	if limit != g.set {
		debug.SetMemoryLimit(limit)
		g.set = limit
	}
}

// limit is the limit due now; g.mu is held.
func (g *memoryGovernor) limit() int64 {
	if g.state == gcHeld || g.state == gcDraining {
		return max(g.normal, g.heldLimit)
	}
	return g.normal
}

// bulk is pace.Config.OnBulk: bulk work started while none was in flight (true), or the last
// of it ended (false).
func (g *memoryGovernor) bulk(active bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.allowance <= 0 {
		return
	}
	switch {
	case active && (g.state == gcUsual || g.state == gcDraining):
		metrics.Read(g.samples)
		inUse := int64(g.samples[1].Value.Uint64() - g.samples[2].Value.Uint64()) // what the limit counts
		room := g.allowance
		if g.ceiling > 0 {
			room = min(room, int64(float64(g.ceiling)*ceilingShare)-inUse)
		}
		if room < minRoom {
			g.log.Debug("no room for the collector's allowance under the container's memory limit", "ceiling_mib", g.ceiling>>20, "in_use_mib", inUse>>20)
			return
		}
		g.heldSince, g.heldLimit = g.now(), inUse+room
		wasUsual := g.state == gcUsual
		g.state = gcHeld
		g.setLimit(g.limit()) // the room first: with GOGC off the limit is the only trigger
		if wasUsual {
			g.gcPercent = debug.SetGCPercent(-1) // draining: off already
		}
		g.log.Debug("Go soft memory limit", "mib", g.set>>20, "bulk_work", "started: GOGC off")
	case !active && g.state == gcExpired: // the collector has run as usual since maxHold
		g.state = gcUsual
		g.log.Debug("Go soft memory limit", "mib", g.set>>20, "bulk_work", "ended")
	case !active && g.state == gcHeld:
		g.state = gcDraining
		g.drains++
		go g.drain(g.drains)
	}
}

// drain collects once after bulk work and then gives GOGC and the followed limit back, unless
// bulk work started again meanwhile.
func (g *memoryGovernor) drain(n int) {
	g.collect()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != gcDraining || g.drains != n {
		return
	}
	g.state = gcUsual
	debug.SetGCPercent(g.gcPercent)
	g.setLimit(g.limit())
	g.log.Debug("Go soft memory limit", "mib", g.set>>20, "bulk_work", "ended and collected: GOGC back", "gogc", g.gcPercent)
}

// step follows the live heap and ends a hold older than maxHold.
func (g *memoryGovernor) step() {
	g.mu.Lock()
	defer g.mu.Unlock()
	metrics.Read(g.samples)
	if s := g.samples[0].Value; s.Kind() == metrics.KindUint64 {
		g.normal = memoryLimitFor(g.floor, int64(s.Uint64()))
	}
	if g.state == gcHeld && g.now().Sub(g.heldSince) >= g.maxHold {
		g.state = gcExpired
		debug.SetGCPercent(g.gcPercent)
		g.log.Warn("bulk work held the collector's allowance too long; collecting as usual until it ends", "held", g.maxHold)
	}
	before := g.set
	g.setLimit(g.limit())
	if g.set != before {
		g.log.Debug("Go soft memory limit", "mib", g.set>>20)
	}
}

// follow runs step every interval until ctx ends.
func (g *memoryGovernor) follow(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.step()
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
	// trim returns the free heap (trimNow; tests add work that runs meanwhile).
	trim func()
}

func newTrimmer() *trimmer {
	return &trimmer{samples: []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}, sinceGC: trimRefreshEvery, trim: trimNow}
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
	t.trim()
	metrics.Read(t.samples)
	now := t.samples[0].Value.Uint64()
	if now-t.allocs >= trimQuietRate {
		// Work ran during the trim (a views flush, say): what is held now is partly that work's,
		// not what the trim left, and taking it for fragmentation would put the next trim off
		// for minutes. The work counts as seen, and the next quiet look decides again.
		t.allocs, t.sinceGC, t.busy = now, 0, true
		return held, heapHeld(t.samples)
	}
	t.allocs, t.after, t.sinceGC = now, heapHeld(t.samples), 0
	return held, t.after
}

// trimNow is a trim: two collections, the first moving the buffers pooled (sync.Pool) and
// unused since the last one to the pools' victim caches, the second freeing them (the embedded
// server pools 8 MiB JetStream block buffers); FreeOSMemory then returns the free pages.
func trimNow() {
	runtime.GC()
	debug.FreeOSMemory()
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
