package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"roster/internal/syncbuf"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"roster/internal/daemon"
)

// --invite-ttl is refused at start outside [1m, 1y], 0 included, naming the bounds.
func TestInviteTTLBounds(t *testing.T) {
	for _, v := range []string{"0", "1ns", "59s", "8761h", "-1h"} {
		var out, errOut bytes.Buffer
		_, _, err := parse([]string{"--invite-ttl", v}, noEnv, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "--invite-ttl") || !strings.Contains(err.Error(), "at least 1m0s") {
			t.Fatalf("--invite-ttl %s: %v", v, err)
		}
	}
	for v, want := range map[string]time.Duration{"1m": time.Minute, "8760h": 8760 * time.Hour, "": 168 * time.Hour} {
		args := []string{}
		if v != "" {
			args = []string{"--invite-ttl", v}
		}
		var out, errOut bytes.Buffer
		cfg, _, err := parse(args, noEnv, &out, &errOut)
		if err != nil || cfg.InviteTTL != want {
			t.Fatalf("--invite-ttl %q: %v %v", v, cfg.InviteTTL, err)
		}
	}
}

// The Go memory limit defaults to --memory-limit-mib's default; GOMEMLIMIT, when set, wins over
// the default (rosterd leaves the runtime's limit as the environment set it) but not over the flag.
func TestMemoryLimitFlagAndEnvironment(t *testing.T) {
	env := func(vals map[string]string) func(string) string { return func(k string) string { return vals[k] } }
	cases := []struct {
		args []string
		env  map[string]string
		want int64
	}{
		{nil, nil, daemon.DefaultMemoryLimitMiB << 20},
		{[]string{"--memory-limit-mib", "300"}, nil, 300 << 20},
		{[]string{"--memory-limit-mib", "0"}, nil, 0},
		{nil, map[string]string{"GOMEMLIMIT": "1GiB"}, 0},
		{[]string{"--memory-limit-mib", "300"}, map[string]string{"GOMEMLIMIT": "1GiB"}, 300 << 20},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		cfg, _, err := parse(c.args, env(c.env), &out, &errOut)
		if err != nil || cfg.MemoryLimit != c.want {
			t.Fatalf("%v with %v: memory limit %d, want %d (%v)", c.args, c.env, cfg.MemoryLimit, c.want, err)
		}
	}
	var out, errOut bytes.Buffer
	if _, _, err := parse([]string{"--memory-limit-mib", "-1"}, noEnv, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--memory-limit-mib") {
		t.Fatalf("a negative limit: %v", err)
	}
	if _, _, err := parse([]string{"--badger-compactors", "1"}, noEnv, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--badger-compactors") {
		t.Fatalf("one compactor: %v", err)
	}
}

// The soft memory limit is --memory-limit-mib while the live heap fits under it with a half
// of headroom, and follows the live heap beyond: never at or below the working set, where the
// GC would run back to back.
func TestMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ live, want int64 }{
		{0, 200 * mib}, {100 * mib, 200 * mib}, {130 * mib, 200 * mib}, {160 * mib, 240 * mib}, {240 * mib, 360 * mib}, {1000 * mib, 1500 * mib},
	} {
		if got := memoryLimitFor(200*mib, c.live); got != c.want {
			t.Fatalf("live %d MiB: limit %d MiB, want %d", c.live/mib, got/mib, c.want/mib)
		}
		if got := memoryLimitFor(200*mib, c.live); c.live > 0 && got <= c.live {
			t.Fatalf("live %d MiB: the limit %d MiB is not above it", c.live/mib, got/mib)
		}
	}
}

// The trimmer gives a burst's free heap back once the process is quiet, not while it allocates,
// and not twice for the same memory. The collector is off while the burst is made, so that its
// garbage is still held when the trimmer looks (as after a burst that ends between two
// collections).
func TestTrimmerReturnsFreeHeapAtRest(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	tr := newTrimmer()
	tr.step() // the first look only takes the allocation count
	burst := make([][]byte, 0, 128)
	for range cap(burst) { // 128 MiB, garbage once the burst ends
		b := make([]byte, 1<<20)
		b[0] = 1
		burst = append(burst, b)
	}
	runtime.KeepAlive(burst)
	burst = nil
	if before, _ := tr.step(); before != 0 {
		t.Fatal("the trimmer trimmed right after a burst's allocations")
	}
	before, after := tr.step()
	if before == 0 {
		t.Fatal("the trimmer did not trim a quiet process holding a burst's garbage")
	}
	if before < after+64<<20 {
		t.Fatalf("the trim returned %d MiB of the burst's 128 MiB (held %d MiB, now %d)", (before-after)>>20, before>>20, after>>20)
	}
	if again, _ := tr.step(); again != 0 {
		t.Fatal("the trimmer trimmed again at once with nothing new to return")
	}
}

// Work that runs during a trim (a views flush) leaves the heap held after it larger than the
// trim left; the trimmer must not take that for fragmentation and put the next trim off (it
// did: at rest after rosterbench's load the RSS then stayed near 300 MiB for the 30 s measured,
// where a second trim brought it to 190).
func TestTrimmerIgnoresWorkDuringATrim(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	tr := newTrimmer()
	tr.step()
	garbage := func(mib int) [][]byte {
		out := make([][]byte, 0, mib)
		for range mib {
			b := make([]byte, 1<<20)
			b[0] = 1
			out = append(out, b)
		}
		return out
	}
	runtime.KeepAlive(garbage(64))
	tr.step() // busy
	var work [][]byte
	tr.trim = func() {
		trimNow()
		work = garbage(96) // allocated while the trim runs, still in use when it ends
	}
	if before, _ := tr.step(); before == 0 {
		t.Fatal("no trim of a quiet process holding a burst's garbage")
	}
	tr.trim = trimNow
	work = nil // the work ends; its 96 MiB are garbage now
	runtime.KeepAlive(work)
	if before, after := tr.step(); before == 0 || before < after+64<<20 {
		t.Fatalf("the work done during the last trim was taken for what the trim left: the next quiet look trimmed %d MiB (held %d MiB)", (before-after)>>20, before>>20)
	}
}

// A log memtable too small for the value threshold is refused when the flags are read, naming
// both, instead of surfacing as an unopenable (damaged-looking) log at start.
func TestMemtableTooSmallForTheValueThreshold(t *testing.T) {
	var out, errOut strings.Builder
	noEnv := func(string) string { return "" }
	_, _, err := parse([]string{"--log-memtable-mib", "2"}, noEnv, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "log memtable of 2 MiB") || !strings.Contains(err.Error(), "--log-value-threshold") {
		t.Fatalf("a 2 MiB log memtable with the default threshold: %v", err)
	}
	if _, _, err := parse([]string{"--log-memtable-mib", "2", "--log-value-threshold", "4096"}, noEnv, &out, &errOut); err != nil {
		t.Fatalf("a 2 MiB log memtable with a 4 KiB threshold: %v", err)
	}
}

// Size flags are bounded before they are turned into bytes (2^44 MiB once wrapped to 0, which
// silently meant Badger's defaults or no memory limit), and each refusal names its own flag.
func TestSizeFlagsAreBoundedAndNamed(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-memtable-mib", "17592186044416"}, "--log-memtable-mib"},
		{[]string{"--log-cache-mib", "17592186044416"}, "--log-cache-mib"},
		{[]string{"--memory-limit-mib", "17592186044416"}, "--memory-limit-mib"},
		{[]string{"--memory-limit-mib", "8796093022208"}, "--memory-limit-mib"},
		{[]string{"--log-value-threshold", "-5"}, "--log-value-threshold"},
		{[]string{"--log-value-threshold", "2000000"}, "--log-value-threshold"},
		{[]string{"--views-memtable-mib", "6"}, "views memtable of 6 MiB"},
		{[]string{"--log-cache-mib", "1073741824"}, "--log-cache-mib"},
		{[]string{"--log-memtable-mib", "4096"}, "--log-memtable-mib"},
		{[]string{"--log-memtables", "1000000000"}, "--log-memtables"},
		{[]string{"--views-memtables", "17"}, "--views-memtables"},
		{[]string{"--badger-compactors", "100000"}, "--badger-compactors"},
		{[]string{"--org-queue", "100000000"}, "--org-queue"},
		{[]string{"--max-waiters", "100000000"}, "--max-waiters"},
		{[]string{"--check-cache", "1000000000000000"}, "--check-cache"},
		{[]string{"--view-flush", "-1s"}, "--view-flush"},
		{[]string{"--view-flush", "1ns"}, "--view-flush"},
		{[]string{"--view-flush", "2h"}, "--view-flush"},
		{[]string{"--bulk-share", "0"}, "--bulk-share"},
		{[]string{"--bulk-share", "-0.5"}, "--bulk-share"},
		{[]string{"--bulk-share", "1.5"}, "--bulk-share"},
		{[]string{"--bulk-share", "NaN"}, "--bulk-share"},
		{[]string{"--bulk-share", "1e-13"}, "at least 0.01"},
		{[]string{"--bulk-share", "0.009"}, "--bulk-share"},
	} {
		var out, errOut strings.Builder
		_, _, err := parse(c.args, noEnv, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v: %v; want a refusal naming %q", c.args, err, c.want)
		}
		if c.args[0] == "--views-memtable-mib" && strings.Contains(err.Error(), "--log-value-threshold") {
			t.Fatalf("%v: the refusal points at the log's flag: %v", c.args, err)
		}
	}
}

// At rest the trimmer tries again what a trim left (pooled buffers, caches that expire later),
// less and less often; work resets the wait, and new garbage is trimmed at once.
func TestTrimmerRetriesAtRestWithBackoff(t *testing.T) {
	const mib = 1 << 20
	tr := &trimmer{after: 200 * mib} // a trim left 200 MiB held over a live heap of 150
	var trims []int
	for look := 1; look <= 40; look++ {
		if tr.decide(true, 150*mib, 200*mib) {
			trims = append(trims, look)
		}
	}
	if !slices.Equal(trims, []int{5, 15, 35}) {
		t.Fatalf("retries at rest at looks %v, want [5 15 35] (after 5, 10, 20 looks)", trims)
	}
	if tr.decide(false, 150*mib, 400*mib) {
		t.Fatal("trimmed while busy")
	}
	if !tr.decide(true, 150*mib, 400*mib) {
		t.Fatal("new garbage beyond what the last trim left is not trimmed at once")
	}
	if tr.decide(true, 150*mib, 170*mib) {
		t.Fatal("trimmed a heap within the slack of its live size")
	}
}

// After work, the runtime's live heap is the last collection's, taken during the work with its
// transient data, and at rest nothing collects again: the trimmer collects first at the first
// quiet look, so the garbage of the work is returned at once, not at the runtime's forced
// collection two minutes later.
func TestTrimmerRefreshesAStaleLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	tr := newTrimmer()
	tr.step()
	work := make([][]byte, 0, 128)
	for range cap(work) {
		b := make([]byte, 1<<20)
		b[0] = 1
		work = append(work, b)
	}
	runtime.GC() // a collection during the work: the live heap is now 128 MiB
	if before, _ := tr.step(); before != 0 {
		t.Fatal("the trimmer trimmed during the work")
	}
	runtime.KeepAlive(work)
	work = nil // the work ends: its data is garbage, the live figure stale
	before, after := tr.step()
	if before == 0 || before < after+64<<20 {
		t.Fatalf("the first quiet look after the work returned %d MiB of its 128 (held %d MiB, now %d)", (before-after)>>20, before>>20, after>>20)
	}
}

// gogc reads GOGC (debug.SetGCPercent has no getter).
func gogc() int {
	v := debug.SetGCPercent(100)
	debug.SetGCPercent(v)
	return v
}

// While bulk work is in flight the governor turns GOGC's trigger off and lets the process
// grow by the allowance before the soft limit makes the collector run; when the last piece
// ends it collects once with the allowance still there, and then GOGC and the followed limit
// are back. A hold longer than maxHold ends early, and --bulk-gc-allowance-mib is bounded.
func TestBulkWorkGetsTheCollectorsAllowance(t *testing.T) {
	const mib = 1 << 20
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	now := time.Unix(0, 0)
	var logged syncbuf.Buffer
	g := newMemoryGovernor(64*mib, 512*mib, 0, slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	g.now = func() time.Time { return now }
	collecting, collected := make(chan struct{}), make(chan struct{})
	g.collect = func() { collecting <- struct{}{}; <-collected }
	g.step()
	normal := debug.SetMemoryLimit(-1)
	if normal < 64*mib || normal >= 512*mib {
		t.Fatalf("the followed limit is %d MiB", normal/mib)
	}
	// usual says whether GOGC and the limit are back to what they are outside bulk work.
	usual := func() bool { return gogc() == 100 && debug.SetMemoryLimit(-1) == normal }

	g.bulk(true)
	var held runtime.MemStats
	runtime.ReadMemStats(&held)
	if v := gogc(); v != -1 {
		t.Fatalf("GOGC %d during bulk work; want off", v)
	}
	if got := debug.SetMemoryLimit(-1); got < int64(held.Sys-held.HeapReleased)+400*mib || got > int64(held.Sys)+512*mib {
		t.Fatalf("limit %d MiB during bulk work; want what the process holds (%d MiB) and the allowance", got/mib, (held.Sys-held.HeapReleased)/mib)
	}
	g.step() // following the live heap keeps the allowance
	if usual() {
		t.Fatal("a step during bulk work took the allowance back")
	}
	g.bulk(false)
	<-collecting // the collection after bulk work runs with the allowance still there
	if usual() {
		t.Fatal("GOGC and the limit came back before the collection after bulk work")
	}
	collected <- struct{}{}
	waitFor(t, usual)
	// Both changes are in the debug log (a poll logs only those it makes itself).
	waitFor(t, func() bool {
		l := logged.String()
		return strings.Contains(l, `bulk_work="started: GOGC off"`) && strings.Contains(l, `bulk_work="ended and collected: GOGC back"`)
	})

	// Bulk work that starts again while that collection runs keeps the allowance after it.
	g.bulk(true)
	g.bulk(false)
	<-collecting
	g.bulk(true)
	collected <- struct{}{}
	time.Sleep(10 * time.Millisecond) // the stale collection's end must change nothing
	if gogc() != -1 {
		t.Fatal("the end of the collection before this bulk work gave GOGC back during it")
	}
	g.bulk(false)
	<-collecting
	collected <- struct{}{}
	waitFor(t, usual)

	// Held past maxHold: collected as usual until the work ends, then given again.
	g.bulk(true)
	now = now.Add(maxHold)
	g.step()
	if !usual() {
		t.Fatalf("bulk work held %s: GOGC %d, limit %d MiB; want 100, %d MiB", maxHold, gogc(), debug.SetMemoryLimit(-1)/mib, normal/mib)
	}
	g.bulk(false) // no collection of its own: the collector ran as usual
	if !usual() {
		t.Fatal("the end of a hold that ran out changed GOGC or the limit")
	}
	g.bulk(true)
	if gogc() != -1 {
		t.Fatal("no allowance for the bulk work after a hold that ran out")
	}
	g.bulk(false)
	<-collecting
	collected <- struct{}{}
	waitFor(t, usual)

	// No allowance: nothing changes.
	none := newMemoryGovernor(64*mib, 0, 0, slog.New(slog.DiscardHandler))
	none.bulk(true)
	if gogc() != 100 {
		t.Fatal("an allowance of 0 turned GOGC off")
	}
	none.bulk(false)

	var out, errOut bytes.Buffer
	for _, v := range []string{"-1", "4097"} {
		if _, _, err := parse([]string{"--bulk-gc-allowance-mib", v}, noEnv, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--bulk-gc-allowance-mib") {
			t.Fatalf("--bulk-gc-allowance-mib %s: %v", v, err)
		}
	}
	if cfg, _, err := parse(nil, noEnv, &out, &errOut); err != nil || cfg.BulkGCAllowance != daemon.DefaultBulkGCAllowMiB*mib {
		t.Fatalf("default allowance %d, %v", cfg.BulkGCAllowance, err)
	}
}

// waitFor waits up to 10 s for cond.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
	}
}

// The allowance stays under the container's memory limit: at most 90% of it, and none at all when
// that leaves less than 64 MiB over what the process holds. The limit is read from cgroup v2's
// memory.max, then v1's memory.limit_in_bytes; "max" and v1's "unlimited" are none.
func TestCollectorAllowanceStaysUnderTheContainerLimit(t *testing.T) {
	const mib = 1 << 20
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "none")
	for _, c := range []struct {
		files []string
		want  int64
	}{
		{[]string{file("v2", "536870912\n")}, 512 * mib},
		{[]string{file("v2max", "max\n")}, 0},
		{[]string{missing, file("v1", "1073741824\n")}, 1024 * mib},
		{[]string{missing, file("v1none", "9223372036854771712\n")}, 0},
		{[]string{missing, missing}, 0},
		{[]string{file("own", "268435456\n"), file("root", "536870912\n")}, 256 * mib}, // the smallest
	} {
		if got := cgroupMemoryLimit(c.files); got != c.want {
			t.Fatalf("limit from %v: %d, want %d", c.files, got, c.want)
		}
	}
	// The process's own cgroup comes from /proc/self/cgroup, for v2 and for v1's memory controller.
	got := cgroupMemoryFiles("12:cpu,cpuacct:/x\n4:memory:/system.slice/rosterd.service\n0::/system.slice/rosterd.service\n1:name=systemd:/../etc\n")
	want := []string{"/sys/fs/cgroup/memory/system.slice/rosterd.service/memory.limit_in_bytes", "/sys/fs/cgroup/system.slice/rosterd.service/memory.max",
		"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}
	if !slices.Equal(got, want) {
		t.Fatalf("cgroup files %q; want %q", got, want)
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	inUse := int64(ms.Sys - ms.HeapReleased)
	quiet := slog.New(slog.DiscardHandler)
	// Room for 100 MiB under 90% of the container's limit: the hold gets that, not 512 MiB.
	g := newMemoryGovernor(16*mib, 512*mib, int64(float64(inUse+100*mib)/ceilingShare), quiet)
	g.collect = func() {}
	g.bulk(true)
	if got := debug.SetMemoryLimit(-1); gogc() != -1 || got > inUse+110*mib || got < inUse+80*mib {
		t.Fatalf("hold under a container limit: GOGC %d, limit %d MiB; want off and about %d MiB", gogc(), got/mib, (inUse+100*mib)/mib)
	}
	g.bulk(false)
	waitFor(t, func() bool { return gogc() == 100 })
	// Too little room: no hold at all, GOGC stays.
	tight := newMemoryGovernor(16*mib, 512*mib, int64(float64(inUse+32*mib)/ceilingShare), quiet)
	tight.bulk(true)
	if gogc() != 100 {
		t.Fatal("GOGC turned off with less than 64 MiB of room under the container's limit")
	}
	tight.bulk(false)
	if gogc() != 100 {
		t.Fatal("the end of bulk work that got no hold changed GOGC")
	}
}
