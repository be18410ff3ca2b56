package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/edge"
	"roster/projections"
	"roster/queries"
)

// The history figures (rosterbench history): the as-of queries of one organization whose
// log holds 1k, 10k, 100k (and, when asked, 1M) events, in process against a Badger log.
//
//	go run ./cmd/rosterbench history [--sizes 1000,10000,100000,1000000] [--requests 300]
//	    [--only NAME] [--cpuprofile FILE] [--memprofile FILE] [--json]
//
// Each query's figures are the wall time of its requests (p50, p99), their own CPU time (the
// thread's CPU clock, apart from the time the machine's other work held the cores), and its
// allocations per request.

// historyQuery is one measured query: its name and a request body for a random draw.
type historyQuery struct {
	name, query string
	body        func(rng *rand.Rand, head uint64) string
}

// historyFigure is one query's p50 and p99 at one size.
type historyFigure struct {
	Size  int     `json:"events"`
	Query string  `json:"query"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	// CPUP50MS and CPUP99MS are the requests' own CPU time (their thread's CPU clock): what a
	// request costs, apart from the time the machine's other work held the cores.
	CPUP50MS float64 `json:"cpu_p50_ms,omitempty"`
	CPUP99MS float64 `json:"cpu_p99_ms,omitempty"`
	IndexSec float64 `json:"index_build_s"`
	// AllocsPerReq and BytesPerReq are the heap allocations of one request (mean); GCs the
	// collections that ran during the timed requests (of every query: they take turns).
	AllocsPerReq float64 `json:"allocs_per_request"`
	BytesPerReq  float64 `json:"bytes_per_request"`
	GCs          uint32  `json:"gcs"`
}

// historyOptions are the history bench's knobs besides the sizes.
type historyOptions struct {
	dir      string
	requests int
	only     string // a substring of the query names to measure ("" every query)
	mem      string // heap profiles before and after the measured queries go to mem.SIZE.before/after
	cpu      string // CPU profiles of the measured queries (not the writing) go to cpu.SIZE
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rosterbench history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "1000,10000,100000", "events of the organization, comma-separated (e.g. 1000,10000,100000,1000000)")
	requests := fs.Int("requests", 1000, "requests per query and size")
	dir := fs.String("dir", "", "parent directory of the temp data dirs")
	asJSON := fs.Bool("json", false, "print JSON instead of the table")
	only := fs.String("only", "", "measure only the queries whose name holds this text (e.g. AccessAt)")
	mem := fs.String("memprofile", "", "write heap profiles before and after the measured queries to FILE.SIZE.before and FILE.SIZE.after (compare allocations with pprof -base)")
	cpu := fs.String("cpuprofile", "", "write a CPU profile of the measured queries to this file, one per size (FILE.SIZE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 {
			return fmt.Errorf("--sizes: %q is not a number of events of at least 100", s)
		}
		ns = append(ns, n)
	}
	opts := historyOptions{dir: *dir, requests: *requests, only: *only, cpu: *cpu, mem: *mem}
	var figs []historyFigure
	for _, n := range ns {
		fmt.Fprintf(stderr, "history: writing %d events...\n", n)
		f, err := historyAt(ctx, n, opts, stderr)
		if err != nil {
			return fmt.Errorf("%d events: %w", n, err)
		}
		figs = append(figs, f...)
	}
	if *asJSON {
		b, err := json.MarshalIndent(figs, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	fmt.Fprintf(stdout, "%-22s %10s %9s %9s %10s %10s %10s %10s %10s\n", "query", "events", "p50 ms", "p99 ms", "p50/first", "p99/first", "cpu p99", "cpu99/1st", "allocs/req")
	first := map[string]historyFigure{}
	for _, f := range figs {
		if _, ok := first[f.Query]; !ok {
			first[f.Query] = f
		}
	}
	for _, f := range figs {
		if f.Query == "index build" {
			continue
		}
		b := first[f.Query]
		fmt.Fprintf(stdout, "%-22s %10d %9.3f %9.3f %10.2f %10.2f %10.3f %10.2f %10.0f\n", f.Query, f.Size, f.P50MS, f.P99MS, f.P50MS/b.P50MS, f.P99MS/b.P99MS,
			f.CPUP99MS, f.CPUP99MS/b.CPUP99MS, f.AllocsPerReq)
	}
	for _, n := range ns {
		for _, f := range figs {
			if f.Size == n && f.Query == "index build" {
				fmt.Fprintf(stdout, "index built from the log at %d events in %.2fs\n", n, f.IndexSec)
			}
		}
	}
	return nil
}

// historyAt writes one organization of n events and measures the queries on it.
func historyAt(ctx context.Context, n int, opts historyOptions, progress io.Writer) ([]historyFigure, error) {
	tmp, err := os.MkdirTemp(opts.dir, "rosterbench-history-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	quiet := slog.New(slog.DiscardHandler)
	store, err := eventstore.OpenBadger(tmp, eventstore.BadgerOptions{Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	presets := domain.MustLoadPresets()
	const org = "big"
	svc, err := commands.New(commands.Config{Presets: presets, Store: store, Logger: quiet})
	if err != nil {
		return nil, err
	}
	for _, c := range []struct{ name, body string }{
		{"CreateOrganization", `{"org_id":"big","kind":"team","preset":"neptune","actor":"ana"}`},
		{"AddOrgMember", `{"org_id":"big","actor":"ana","user_id":"bob","name":"Bob Builder","email":"bob@example.com"}`},
		{"CreateProject", `{"org_id":"big","actor":"ana","project_id":"p1"}`},
		{"AddMember", `{"org_id":"big","actor":"ana","project_id":"p1","user_id":"bob","roles":["viewer"]}`},
	} {
		if reply, code := svc.Execute(ctx, c.name, []byte(c.body)); code != "" {
			return nil, fmt.Errorf("%s: %s", c.name, reply)
		}
	}
	stream := edge.StreamOf(org)
	seed, err := store.ReadStream(ctx, stream, 1)
	if err != nil {
		return nil, err
	}
	var member map[string]any
	for _, r := range seed {
		if r.Type == domain.EvOrgMemberAdded {
			if err := json.Unmarshal(r.Data, &member); err != nil {
				return nil, err
			}
		}
	}
	// The rest of the organization's history: other members joining (as in the table).
	version := uint64(len(seed))
	for version < uint64(n) {
		batch := make([]eventstore.Record, 0, 1000)
		for len(batch) < cap(batch) && version+uint64(len(batch)) < uint64(n) {
			i := version + uint64(len(batch))
			member["user_id"] = fmt.Sprintf("m%07d", i)
			member["name"] = fmt.Sprintf("Member %d", i)
			member["email"] = fmt.Sprintf("m%07d@example.com", i)
			data, err := json.Marshal(member)
			if err != nil {
				return nil, err
			}
			batch = append(batch, eventstore.Record{ID: uuid.Must(uuid.NewV7()).String(), Stream: stream, Type: domain.EvOrgMemberAdded,
				Time: time.Now().UTC(), OrgID: org, Actor: "ana", Data: data})
		}
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: version, Events: batch}); err != nil {
			return nil, err
		}
		version += uint64(len(batch))
	}
	members := projections.NewView("members", presets, nil, quiet)
	perms := projections.NewView("permissions", presets, nil, quiet)
	perms.EnableCheckCache()
	for _, v := range []*projections.View{members, perms} {
		if err := v.CatchUp(ctx, store); err != nil {
			return nil, err
		}
	}
	history := projections.StoreHistory{Store: store}
	index := projections.NewHistoryIndex(history)
	start := time.Now()
	if err := index.CatchUp(ctx); err != nil {
		return nil, err
	}
	built := time.Since(start)
	q, err := queries.NewQueries(queries.Config{Members: members, Permissions: perms, History: history, Index: index, Presets: presets, Logger: quiet})
	if err != nil {
		return nil, err
	}
	head, err := store.Head(ctx)
	if err != nil {
		return nil, err
	}
	qs := []historyQuery{
		{"AccessAt position", queries.QAccessAt, func(rng *rand.Rand, head uint64) string {
			return fmt.Sprintf(`{"org_id":"big","project_id":"p1","user_id":"bob","position":%d}`, 1+rng.Uint64N(head))
		}},
		{"AccessAt at (head)", queries.QAccessAt, func(*rand.Rand, uint64) string {
			return `{"org_id":"big","project_id":"p1","user_id":"bob","at":"` + time.Now().UTC().Format(time.RFC3339Nano) + `"}`
		}},
		{"Check explain", queries.QCheck, func(*rand.Rand, uint64) string {
			return `{"org_id":"big","project_id":"p1","user_id":"bob","permission":"project.content.view","explain":true}`
		}},
		{"Audit user, limit 10", queries.QAudit, func(rng *rand.Rand, head uint64) string {
			return fmt.Sprintf(`{"org_id":"big","user_id":"m%07d","limit":10}`, 4+rng.Uint64N(head-4))
		}},
		{"Audit type, limit 10", queries.QAudit, func(rng *rand.Rand, head uint64) string {
			return fmt.Sprintf(`{"org_id":"big","type":"OrgMemberAdded","after_position":%d,"limit":10}`, rng.Uint64N(head))
		}},
		{"ListMembers q", queries.QListMembers, func(*rand.Rand, uint64) string {
			return `{"org_id":"big","q":"bob","limit":10}`
		}},
		{"ListMembers q e-mail", queries.QListMembers, func(rng *rand.Rand, head uint64) string {
			return fmt.Sprintf(`{"org_id":"big","q":"m%07d@example","limit":10}`, 4+rng.Uint64N(head-4))
		}},
		{"ListMembers q id 10", queries.QListMembers, func(rng *rand.Rand, head uint64) string {
			return fmt.Sprintf(`{"org_id":"big","q":"m%06d","limit":10}`, (4+rng.Uint64N(head-4))/10)
		}},
		{"ListMembers page", queries.QListMembers, func(rng *rand.Rand, head uint64) string {
			token := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "1:m%07d", 4+rng.Uint64N(head-4)))
			return `{"org_id":"big","limit":10,"page_token":"` + token + `"}`
		}},
	}
	// Let Badger's compactions after the bulk write settle and collect the catch-up's garbage,
	// so that the figures are the queries' own.
	time.Sleep(time.Duration(min(n/20_000, 10)) * time.Second)
	runtime.GC()
	figs := []historyFigure{{Size: n, Query: "index build", IndexSec: built.Seconds()}}
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	if opts.cpu != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", opts.cpu, n))
		if err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	heapProfile := func(suffix string) error {
		if opts.mem == "" {
			return nil
		}
		f, err := os.Create(fmt.Sprintf("%s.%d.%s", opts.mem, n, suffix))
		if err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
		defer f.Close()
		runtime.GC() // the profile holds the allocations as of the last collection
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}
	if err := heapProfile("before"); err != nil {
		return nil, err
	}
	var picked []historyQuery
	for _, hq := range qs {
		if strings.Contains(hq.name, opts.only) {
			picked = append(picked, hq)
		}
	}
	one := func(hq historyQuery) (wall, cpu time.Duration, cpuOK bool, err error) {
		body := hq.body(rng, head)
		c0, cpuOK := threadCPU()
		t0 := time.Now()
		reply, code := q.Execute(ctx, hq.query, []byte(body))
		wall = time.Since(t0)
		c1, _ := threadCPU()
		if code != "" {
			return 0, 0, false, fmt.Errorf("%s %s: %s", hq.query, body, reply)
		}
		return wall, c1 - c0, cpuOK, nil
	}
	// The timings: the queries take turns, one request of each in turn, so that a burst of
	// background work (Badger's compactions after the bulk write, another process on the
	// machine) falls on all of them alike, not on whichever would run first. The goroutine
	// keeps its thread: the thread's CPU clock is then the request's own CPU time.
	runtime.LockOSThread()
	lat := make([]latencies, len(picked))
	cpu := make([]latencies, len(picked))
	done := make([]bool, len(picked))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range opts.requests + 5 {
		for j, hq := range picked {
			if done[j] {
				continue
			}
			wall, c, cpuOK, err := one(hq)
			if err != nil {
				runtime.UnlockOSThread()
				return nil, err
			}
			if i < 5 { // warm-up
				continue
			}
			lat[j] = append(lat[j], wall)
			if cpuOK {
				cpu[j] = append(cpu[j], c)
			}
			if strings.HasPrefix(hq.name, "ListMembers") && wall > 200*time.Millisecond && len(lat[j]) >= 20 {
				done[j] = true // an O(n) query: enough samples
			}
		}
	}
	runtime.ReadMemStats(&after)
	gcs := after.NumGC - before.NumGC
	// The allocations: a shorter pass of each query alone (reading the heap's statistics
	// stops the world, so not around every request of the timed pass).
	allocReqs := min(opts.requests, 100)
	for j, hq := range picked {
		runtime.ReadMemStats(&before)
		for range allocReqs {
			if _, _, _, err := one(hq); err != nil {
				runtime.UnlockOSThread()
				return nil, err
			}
		}
		runtime.ReadMemStats(&after)
		slices.Sort(lat[j])
		slices.Sort(cpu[j])
		fig := historyFigure{Size: n, Query: hq.name, P50MS: ms(lat[j].pct(50)), P99MS: ms(lat[j].pct(99)), GCs: gcs,
			CPUP50MS: ms(cpu[j].pct(50)), CPUP99MS: ms(cpu[j].pct(99)),
			AllocsPerReq: float64(after.Mallocs-before.Mallocs) / float64(allocReqs),
			BytesPerReq:  float64(after.TotalAlloc-before.TotalAlloc) / float64(allocReqs)}
		figs = append(figs, fig)
		fmt.Fprintf(progress, "history: %d events: %-22s p50 %.3f ms p99 %.3f ms (CPU p50 %.3f p99 %.3f), %.0f allocs %.0f B a request\n",
			n, hq.name, fig.P50MS, fig.P99MS, fig.CPUP50MS, fig.CPUP99MS, fig.AllocsPerReq, fig.BytesPerReq)
	}
	runtime.UnlockOSThread()
	fmt.Fprintf(progress, "history: %d events: %d collections during the timed requests\n", n, gcs)
	if err := heapProfile("after"); err != nil {
		return nil, err
	}
	runtime.KeepAlive(q)
	return figs, nil
}
