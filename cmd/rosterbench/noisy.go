package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/commands"
	"roster/internal/daemon"
)

// rosterdFlags are the memory flags rosterbench gives its in-process rosterd: rosterd's own
// defaults, so that the throughput figures are taken with the memory the RSS figure is.
func rosterdMemory(c daemon.Config) daemon.Config {
	return daemon.WithMemoryDefaults(c)
}

// external runs the phases that need rosterd as a process of its own: its memory (VmRSS and
// VmHWM after the data set is loaded) and the noisy-neighbour ratio (other organizations'
// p99 during 10,000-row imports, against the same p99 on the quiet server).
func (b *bench) external(ctx context.Context) error {
	cfg := b.cfg
	bin := cfg.RosterdBin
	if bin == "" {
		t0 := time.Now()
		var err error
		if bin, err = buildRosterd(ctx, b.tmp); err != nil {
			return err
		}
		b.progress("built rosterd in %s", time.Since(t0).Round(time.Millisecond))
	}
	dataDir := filepath.Join(b.tmp, "rosterd-process")
	defer os.RemoveAll(dataDir)
	args := cfg.RosterdArgs
	if cfg.HeapDir != "" {
		if err := os.MkdirAll(cfg.HeapDir, 0o755); err != nil {
			return err
		}
		args = append([]string{"--pprof", "127.0.0.1:0"}, args...)
	}
	p, err := startRosterd(ctx, bin, dataDir, args)
	if err != nil {
		return err
	}
	defer p.stop()
	b.proc = p
	inProcess := b.conns
	b.conns = nil
	defer func() { b.proc, b.conns = nil, inProcess }()
	for i := 0; i < cfg.Conns; i++ {
		nc, err := nats.Connect(p.URL, nats.Name(fmt.Sprintf("rosterbench-process-%d", i)))
		if err != nil {
			return err
		}
		defer nc.Close()
		b.conns = append(b.conns, nc)
	}
	if len(cfg.RosterdArgs) > 0 {
		b.rep.note("the separate rosterd ran with %s", strings.Join(cfg.RosterdArgs, " "))
	}
	rss0, _, err := p.memory()
	if err != nil {
		return err
	}
	b.rep.set("rosterd_rss_start_mib", rss0)
	for _, t := range b.toggles { // a fresh data set: every membership starts on its A roles
		t.onB = false
	}
	if err := b.load(ctx, "separate rosterd"); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if _, err := b.wait(ctx); err != nil { // the views have applied the load
		return err
	}
	// At rest with the data loaded: the median of one RSS sample a second over cfg.Rest.
	// rosterd's background work after a load (view snapshots, the history index, Badger's
	// compactions) comes in bursts of garbage that it gives back about a second after each
	// (cmd/rosterd trimWhenQuiet), so one sample could fall on either; the largest is reported
	// too, and the peak is VmHWM.
	rss, restMax, anon, file, err := restingMemory(ctx, p, max(cfg.Rest, time.Second))
	if err != nil {
		return err
	}
	_, hwm, err := p.memory()
	if err != nil {
		return err
	}
	b.rep.set("rosterd_rss_mib", rss)
	b.rep.set("rosterd_rss_rest_max_mib", restMax)
	b.rep.set("rosterd_hwm_mib", hwm)
	b.rep.set("rosterd_rss_anon_mib", anon)
	b.rep.set("rosterd_rss_file_mib", file)
	b.progress("separate rosterd at rest after the load: RSS %.0f MiB median (anonymous %.0f, files %.0f), at most %.0f; peak %.0f MiB (at start %.0f MiB)", rss, anon, file, restMax, hwm, rss0)
	if cfg.HeapDir != "" {
		if err := p.heapProfile(ctx, cfg.HeapDir, "heap-after-load"); err != nil {
			return err
		}
	}
	for r := 0; r < cfg.Rounds; r++ {
		if err := b.noisy(ctx, r); err != nil {
			return fmt.Errorf("noisy neighbour round %d: %w", r+1, err)
		}
	}
	rss, hwm, err = p.memory()
	if err != nil {
		return err
	}
	b.rep.set("rosterd_rss_after_imports_mib", rss)
	b.rep.set("rosterd_hwm_after_imports_mib", hwm)
	if anon, file, err = p.residentParts(); err != nil {
		return err
	}
	b.progress("separate rosterd after the imports: RSS %.0f MiB (anonymous %.0f, files %.0f), peak %.0f MiB", rss, anon, file, hwm)
	if cfg.HeapDir != "" {
		if err := p.heapProfile(ctx, cfg.HeapDir, "heap-after-imports"); err != nil {
			return err
		}
	}
	return nil
}

// restingMemory samples p's RSS once a second for window and returns the median sample
// (with its anonymous and file-backed parts) and the largest.
func restingMemory(ctx context.Context, p *rosterdProc, window time.Duration) (median, largest, anon, file float64, err error) {
	type sample struct{ rss, anon, file float64 }
	var samples []sample
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for range int(window / time.Second) {
		select {
		case <-tk.C:
		case <-ctx.Done():
			return 0, 0, 0, 0, ctx.Err()
		}
		rss, _, err := p.memory()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		a, f, err := p.residentParts()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		samples = append(samples, sample{rss, a, f})
	}
	slices.SortFunc(samples, func(x, y sample) int { return cmp.Compare(x.rss, y.rss) })
	m := samples[len(samples)/2]
	return m.rss, samples[len(samples)-1].rss, m.anon, m.file, nil
}

// noisyClients send the other organizations' requests of the noisy-neighbour figure: half
// small commands (ChangeRole), half Checks, each waiting for its reply before the next. One
// more client measures visibility: a ChangeRole, then a ListMembers with its reply's position
// as min_position; the time from the reply to the query's answer.
const noisyClients = 8

// otherLoad runs the other organizations' requests until stop is closed and returns the
// latencies of the commands, of the Checks, and of the visibility client's queries.
func (b *bench) otherLoad(ctx context.Context, stop <-chan struct{}) (cmds, checks, visible latencies, err error) {
	half := noisyClients / 2
	assign := b.assignToggles(half + 1)
	subj := client.QueryPrefix + "Check"
	var mu sync.Mutex
	var firstErr error
	collect := func(into *latencies, mine latencies, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		*into = append(*into, mine...)
	}
	var wg sync.WaitGroup
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return ctx.Err() != nil
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := client.New(b.conn(noisyClients)).WithTimeout(30 * time.Second)
		nc := b.conn(noisyClients)
		ts := assign[half]
		var mine latencies
		var err error
		for i := 0; len(ts) > 0 && !stopped(); i++ {
			t := ts[i%len(ts)]
			var rep *client.CommandReply
			if rep, err = b.flip(ctx, c, t); err != nil {
				break
			}
			t0 := time.Now()
			body, _ := json.Marshal(client.ListMembers{OrgID: t.Org, Limit: 1, MinPosition: rep.Position, WaitMS: 30000})
			var msg *nats.Msg
			if msg, err = nc.Request(client.QueryPrefix+"ListMembers", body, 40*time.Second); err != nil {
				break
			}
			if !bytes.HasPrefix(msg.Data, okPrefix) {
				err = fmt.Errorf("check after position %d: %s", rep.Position, msg.Data)
				break
			}
			mine = append(mine, time.Since(t0))
		}
		collect(&visible, mine, err)
	}()
	for w := 0; w < noisyClients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine latencies
			var err error
			if w < half {
				c := client.New(b.conn(w)).WithTimeout(30 * time.Second)
				ts := assign[w]
				for i := 0; len(ts) > 0 && !stopped(); i++ {
					t0 := time.Now()
					if _, err = b.flip(ctx, c, ts[i%len(ts)]); err != nil {
						break
					}
					mine = append(mine, time.Since(t0))
				}
			} else {
				nc := b.conn(w)
				for i := 0; !stopped(); i++ {
					body := b.checkBodies[(w*7919+i*noisyClients)%len(b.checkBodies)]
					t0 := time.Now()
					var msg *nats.Msg
					if msg, err = nc.Request(subj, body, 30*time.Second); err != nil {
						break
					}
					if err = checkOK(body, msg.Data); err != nil {
						break
					}
					mine = append(mine, time.Since(t0))
				}
			}
			if w < half {
				collect(&cmds, mine, err)
			} else {
				collect(&checks, mine, err)
			}
		}(w)
	}
	wg.Wait()
	sortLat(cmds)
	sortLat(checks)
	sortLat(visible)
	if firstErr == nil && (len(cmds) == 0 || len(checks) == 0 || len(visible) == 0) {
		firstErr = fmt.Errorf("no sample (%d commands, %d checks, %d visibility checks)", len(cmds), len(checks), len(visible))
	}
	return cmds, checks, visible, firstErr
}

// noisy measures one round of the noisy-neighbour figure: the other organizations' requests
// on the quiet server, then during a 10,000-row ImportMembers into an organization of its own.
// The quiet phase comes first, once rosterd has settled (settle): right after an import rosterd
// is still digesting it (both views apply its events and write their snapshots, Badger
// compacts, the collector runs), and a baseline taken then is no quiet server's.
func (b *bench) noisy(ctx context.Context, r int) error {
	c := client.New(b.conn(0)).WithTimeout(5 * time.Minute)
	org := fmt.Sprintf("noisy%d", r)
	admin := org + "u0"
	for _, cmd := range []struct {
		name string
		body map[string]any
	}{
		{"CreateOrganization", map[string]any{"name": "Noisy " + org, "kind": "team", "preset": "ica",
			"actor_email": admin + "@example.test", "actor_name": "Admin " + org}},
		{"CreateProject", map[string]any{"project_id": "p", "name": "Imports", "visibility": "private"}},
	} {
		cmd.body["org_id"], cmd.body["actor"] = org, admin
		cmd.body["command_id"] = fmt.Sprintf("noisy-%s-%s", org, cmd.name)
		if _, err := c.Command(ctx, cmd.name, cmd.body); err != nil {
			return fmt.Errorf("%s: %w", cmd.name, err)
		}
	}
	var csv strings.Builder
	csv.WriteString("email,user_id,name,roles,grants\n")
	for i := range commands.MaxImportRows {
		fmt.Fprintf(&csv, "%sguest%d@example.test,,Guest %d,project_viewer,\n", org, i, i)
	}
	body, err := json.Marshal(client.ImportMembers{Meta: client.Meta{OrgID: org, Actor: admin, CommandID: "noisy-import-" + org},
		ProjectID: "p", CSV: csv.String()})
	if err != nil {
		return err
	}
	if _, err := b.wait(ctx); err != nil {
		return err
	}
	if err := b.settle(ctx); err != nil {
		return err
	}

	// Quiet: the same requests, as long as the one-client phase.
	quietStop := make(chan struct{})
	time.AfterFunc(b.cfg.Single, func() { close(quietStop) })
	quietCmds, quietChecks, quietVisible, err := b.otherLoad(ctx, quietStop)
	if err != nil {
		return fmt.Errorf("other organizations, quiet: %w", err)
	}

	// During the import.
	stop := make(chan struct{})
	var importErr error
	var importTook atomic.Int64
	go func() {
		defer close(stop)
		t0 := time.Now()
		_, importErr = c.Command(ctx, client.CmdImportMembers, body)
		importTook.Store(int64(time.Since(t0)))
	}()
	noisyCmds, noisyChecks, noisyVisible, err := b.otherLoad(ctx, stop)
	<-stop
	if importErr != nil {
		return fmt.Errorf("import of %d rows: %w", commands.MaxImportRows, importErr)
	}
	if err != nil {
		return fmt.Errorf("other organizations during the import: %w", err)
	}
	took := time.Duration(importTook.Load())

	b.rep.add("noisy_import_s", took.Seconds())
	b.rep.add("noisy_command_p99_ms", ms(noisyCmds.pct(99)))
	b.rep.add("noisy_check_p99_ms", ms(noisyChecks.pct(99)))
	b.rep.add("quiet_command_p99_ms", ms(quietCmds.pct(99)))
	b.rep.add("quiet_check_p99_ms", ms(quietChecks.pct(99)))
	b.rep.add("noisy_command_p99_ratio", ms(noisyCmds.pct(99))/ms(quietCmds.pct(99)))
	b.rep.add("noisy_check_p99_ratio", ms(noisyChecks.pct(99))/ms(quietChecks.pct(99)))
	b.rep.add("noisy_visible_max_ms", ms(noisyVisible[len(noisyVisible)-1]))
	b.rep.add("quiet_visible_max_ms", ms(quietVisible[len(quietVisible)-1]))
	b.progress("noisy neighbour: import of %d rows %s; others' p99 commands %.2f ms (quiet %.2f, %d samples), Checks %.2f ms (quiet %.2f, %d samples), longest command to visible %.2f ms (quiet %.2f, %d samples)",
		commands.MaxImportRows, took.Round(time.Millisecond), ms(noisyCmds.pct(99)), ms(quietCmds.pct(99)), len(noisyCmds),
		ms(noisyChecks.pct(99)), ms(quietChecks.pct(99)), len(noisyChecks),
		ms(noisyVisible[len(noisyVisible)-1]), ms(quietVisible[len(quietVisible)-1]), len(noisyVisible))
	return nil
}

// Settling: rosterd's CPU use is sampled every settleEvery; it has settled once it used less
// than settleBusy of one processor over settleQuiet, or after settleMax (said in the report).
const (
	settleEvery = 100 * time.Millisecond
	settleQuiet = time.Second
	settleBusy  = 0.05
	settleMax   = 30 * time.Second
)

// settle waits until the separate rosterd is idle: no import or its aftermath still running.
func (b *bench) settle(ctx context.Context) error {
	if b.proc == nil {
		return nil
	}
	t0 := time.Now()
	var samples []time.Duration // rosterd's CPU time, one per settleEvery
	for time.Since(t0) < settleMax {
		cpu, err := b.proc.cpu()
		if err != nil {
			return err
		}
		samples = append(samples, cpu)
		if n := int(settleQuiet / settleEvery); len(samples) > n {
			if used := samples[len(samples)-1] - samples[len(samples)-1-n]; used.Seconds() < settleBusy*settleQuiet.Seconds() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settleEvery):
		}
	}
	b.rep.note("rosterd did not settle within %s before a noisy-neighbour round (it used %.0f%% of a processor at rest)",
		settleMax, 100*(samples[len(samples)-1]-samples[len(samples)-1-int(settleQuiet/settleEvery)]).Seconds()/settleQuiet.Seconds())
	return nil
}
