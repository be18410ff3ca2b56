package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/domain"
	"roster/internal/daemon"
	"roster/projections"
)

// Config sizes a benchmark run.
type Config struct {
	Orgs, Users, Projects, Memberships int

	Clients int           // concurrent clients of the throughput phases
	Conns   int           // NATS connections the clients share
	Phase   time.Duration // length of one throughput phase
	Single  time.Duration // length of the one-client latency phases
	Rest    time.Duration // how long the separate rosterd's RSS is sampled at rest after the load
	Rounds  int
	// FreshSamples per round of the freshness probe.
	FreshSamples int
	// MemMemberships is the size of the in-process view whose memory is measured.
	MemMemberships int
	// MemTarget is the size the memory figure stands for (extrapolated when larger).
	MemTarget int
	// ReadyEvents is the size of the log the start-to-ready time is measured on.
	ReadyEvents int
	// ReadyTarget is the log size the ready figure stands for.
	ReadyTarget int

	// RelayWait bounds the wait for the relay to refill the stream after the first start.
	RelayWait time.Duration
	// ViewFlush overrides rosterd's view snapshot interval (0: rosterd's default).
	ViewFlush time.Duration

	// RosterdBin is the rosterd binary of the separate-process phases ("" builds cmd/rosterd);
	// RosterdArgs are extra flags for it (memory settings to compare).
	RosterdBin  string
	RosterdArgs []string
	// NoProcess skips the separate-process phases (rosterd's RSS, the noisy neighbour).
	NoProcess bool
	// OnlyProcess runs only the separate-process phases (to compare rosterd's memory flags).
	OnlyProcess bool
	// OnlyReady runs only the start-to-ready phase.
	OnlyReady bool
	// HeapDir, when set, runs the separate rosterd with --pprof on loopback and writes its heap
	// profiles there after the load and after the imports.
	HeapDir string

	Dir      string    // parent of the temp dir; "" uses the system's
	Progress io.Writer // progress lines; nil discards them
}

// DefaultConfig is the full run of the issue.
func DefaultConfig() Config {
	return Config{Orgs: 100, Users: 10_000, Projects: 2_000, Memberships: 50_000,
		Clients: 64, Conns: 4, Phase: 5 * time.Second, Single: 2 * time.Second, Rest: 30 * time.Second, Rounds: 3, FreshSamples: 300,
		MemMemberships: 1_000_000, MemTarget: 1_000_000, ReadyEvents: 1_000_000, ReadyTarget: 1_000_000,
		RelayWait: 3 * time.Minute}
}

// QuickConfig runs in under a minute.
func QuickConfig() Config {
	c := DefaultConfig()
	c.Orgs, c.Users, c.Projects, c.Memberships = 20, 1_000, 200, 5_000
	c.Phase, c.Single, c.Rest, c.FreshSamples = time.Second, 400*time.Millisecond, 5*time.Second, 60
	c.MemMemberships, c.ReadyEvents, c.RelayWait = 50_000, 30_000, 30*time.Second
	return c
}

// bench is one run.
type bench struct {
	cfg     Config
	rep     *Report
	tmp     string
	presets domain.Presets
	log     *slog.Logger

	d     *daemon.Daemon
	proc  *rosterdProc // the separate rosterd process, while its phases run
	conns []*nats.Conn
	plans []*orgPlan

	checkBodies [][]byte
	echoBodies  [][]byte
	tuples      []tuple
	toggles     []*toggle
	cmdSeq      atomic.Uint64
}

func (b *bench) progress(format string, args ...any) {
	if b.cfg.Progress != nil {
		fmt.Fprintf(b.cfg.Progress, "rosterbench: "+format+"\n", args...)
	}
}

// Run runs the whole benchmark and returns its report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Orgs < 1 || cfg.Users < 2*cfg.Orgs || cfg.Projects < cfg.Orgs || cfg.Clients < 1 || cfg.Rounds < 1 {
		return nil, errors.New("config: need orgs >= 1, users >= 2 per org, projects >= 1 per org, clients >= 1, rounds >= 1")
	}
	cfg.Conns = max(1, min(cfg.Conns, cfg.Clients))
	tmp, err := os.MkdirTemp(cfg.Dir, "rosterbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	presets, err := domain.LoadPresets()
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, rep: newReport(cfg), tmp: tmp, presets: presets, log: slog.New(slog.DiscardHandler)}
	if la, ok := loadAvg(); ok {
		b.rep.set("machine_load_avg_start", la)
		if la > 0.5 {
			b.rep.note("the machine was busy when the run began (1-minute load average %.1f on %d CPUs): other processes share the cores and the disk", la, runtime.NumCPU())
		}
	}
	if cfg.OnlyReady {
		if err := b.ready(ctx); err != nil {
			return b.rep, fmt.Errorf("ready: %w", err)
		}
		b.rep.finish()
		return b.rep, nil
	}
	if cfg.OnlyProcess {
		b.plan()
		b.prepareQueries()
		if err := b.external(ctx); err != nil {
			return b.rep, fmt.Errorf("separate rosterd: %w", err)
		}
		b.rep.finish()
		return b.rep, nil
	}
	// Memory first, in a process no daemon has run in yet: a stopped daemon's memory is
	// still being released for a while and would blur the heap difference.
	if err := b.memory(); err != nil {
		return b.rep, fmt.Errorf("memory: %w", err)
	}
	if err := b.onDaemon(ctx); err != nil {
		return b.rep, err
	}
	if !cfg.NoProcess {
		if err := b.external(ctx); err != nil {
			return b.rep, fmt.Errorf("separate rosterd: %w", err)
		}
	}
	if err := b.ready(ctx); err != nil {
		return b.rep, fmt.Errorf("ready: %w", err)
	}
	if la, ok := loadAvg(); ok {
		b.rep.set("machine_load_avg_end", la)
	}
	b.rep.finish()
	return b.rep, nil
}

// plan builds the organizations' plans of the data set.
func (b *bench) plan() {
	cfg := b.cfg
	sh := shapeFor(cfg.Orgs, cfg.Users, cfg.Projects, cfg.Memberships)
	memberships := 0
	for i := 0; i < cfg.Orgs; i++ {
		p := planOrg(i, sh)
		b.plans = append(b.plans, p)
		b.tuples = append(b.tuples, p.Tuples...)
		memberships += p.Memberships
	}
	b.rep.set("dataset_orgs", float64(cfg.Orgs))
	b.rep.set("dataset_users", float64(cfg.Orgs*sh.Users))
	b.rep.set("dataset_projects", float64(cfg.Orgs*sh.Projects))
	b.rep.set("dataset_memberships", float64(memberships))
}

// onDaemon runs every phase that needs the running service.
func (b *bench) onDaemon(ctx context.Context) (err error) {
	cfg := b.cfg
	b.plan()
	t0 := time.Now()
	b.d, err = daemon.Start(ctx, rosterdMemory(daemon.Config{DataDir: filepath.Join(b.tmp, "roster"), Listen: "127.0.0.1:0", Logger: b.log,
		FlushEvery: b.cfg.ViewFlush}))
	if err != nil {
		return fmt.Errorf("start rosterd: %w", err)
	}
	defer b.d.Close()
	b.progress("rosterd ready at %s in %s", b.d.URL, time.Since(t0).Round(time.Millisecond))
	for i := 0; i < cfg.Conns; i++ {
		nc, err := nats.Connect(b.d.URL, nats.Name(fmt.Sprintf("rosterbench-%d", i)))
		if err != nil {
			return err
		}
		defer nc.Close()
		b.conns = append(b.conns, nc)
	}
	stopEcho, err := startEcho(b.d.URL)
	if err != nil {
		return fmt.Errorf("echo service: %w", err)
	}
	defer stopEcho()

	if err := b.load(ctx, ""); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	b.prepareQueries()
	for r := 0; r < cfg.Rounds; r++ {
		b.progress("round %d/%d", r+1, cfg.Rounds)
		if err := b.round(ctx, r); err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
	}
	return nil
}

func (b *bench) conn(w int) *nats.Conn { return b.conns[w%len(b.conns)] }

// ---- load ----

// load builds the data set over NATS: every organization's commands in order, organizations
// in parallel, one command in flight per organization, cfg.Clients clients.
// With a prefix (the separate rosterd process) it reports progress only, no figures.
func (b *bench) load(ctx context.Context, prefix string) error {
	n := len(b.plans)
	ready := make(chan int, n)
	next := make([]int, n)
	total := 0
	for i, p := range b.plans {
		ready <- i
		total += len(p.Cmds)
	}
	var done atomic.Int64
	var mu sync.Mutex
	var lat latencies
	var firstErr error
	var errs int
	var wg sync.WaitGroup
	left := atomic.Int64{}
	left.Store(int64(n))
	finished := make(chan struct{})
	t0 := time.Now()
	for w := 0; w < b.cfg.Clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := client.New(b.conn(w))
			var mine latencies
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for {
				var i int
				select {
				case i = <-ready:
				case <-finished:
					return
				case <-ctx.Done():
					return
				}
				p := b.plans[i]
				c0 := p.Cmds[next[i]]
				body, _ := json.Marshal(c0.Body)
				s := time.Now()
				_, err := c.Command(ctx, c0.Name, body)
				if err != nil {
					mu.Lock()
					errs++
					if firstErr == nil {
						firstErr = fmt.Errorf("%s %s: %w", c0.Name, body, err)
					}
					mu.Unlock()
				} else {
					mine = append(mine, time.Since(s))
				}
				done.Add(1)
				next[i]++
				if next[i] < len(p.Cmds) {
					ready <- i
				} else if left.Add(-1) == 0 {
					close(finished)
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errs > 0 {
		b.rep.set("load_errors", float64(errs))
		if errs*100 > total {
			return fmt.Errorf("%d of %d commands failed; first: %w", errs, total, firstErr)
		}
		b.progress("warning: %d of %d load commands failed; first: %v", errs, total, firstErr)
	}
	sortLat(lat)
	head, err := b.head(ctx)
	if err != nil {
		return err
	}
	if prefix != "" {
		b.progress("%s: loaded %d commands (%d events) in %s: %.0f commands/s", prefix, total, head, elapsed.Round(time.Millisecond),
			float64(len(lat))/elapsed.Seconds())
		_, err := b.wait(ctx)
		return err
	}
	b.rep.set("load_commands", float64(total))
	b.rep.set("load_commands_per_s", float64(len(lat))/elapsed.Seconds())
	b.rep.set("load_command_p99_ms", ms(lat.pct(99)))
	b.rep.set("load_events", float64(head))
	b.progress("loaded %d commands (%d events) in %s: %.0f commands/s", total, head, elapsed.Round(time.Millisecond),
		float64(len(lat))/elapsed.Seconds())
	lag, err := b.wait(ctx)
	if err != nil {
		return err
	}
	b.rep.set("load_view_lag_ms", ms(lag))
	return nil
}

// head is the log head of the rosterd under test.
func (b *bench) head(ctx context.Context) (uint64, error) {
	if b.proc != nil {
		return statusHead(ctx, client.New(b.conn(0)))
	}
	return b.d.Store.Head(ctx)
}

// wait waits until the views of the rosterd under test have applied its log head.
func (b *bench) wait(ctx context.Context) (time.Duration, error) {
	if b.proc != nil {
		return statusWait(ctx, client.New(b.conn(0)))
	}
	return b.waitViews(ctx)
}

// waitViews waits until both views have applied the log head; it returns how long that took.
func (b *bench) waitViews(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	head, err := b.d.Store.Head(ctx)
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, v := range []*projections.View{b.d.Members, b.d.Perms} {
		if err := v.WaitFor(wctx, head); err != nil {
			return 0, fmt.Errorf("view %s stuck at %d of %d: %w", v.Name(), v.Position(), head, err)
		}
	}
	return time.Since(t0), nil
}

// prepareQueries encodes the Check questions once (the load generator then only sends bytes).
func (b *bench) prepareQueries() {
	for _, t := range b.tuples {
		body, _ := json.Marshal(client.CheckRequest{OrgID: t.Org, ProjectID: t.Project, TrackID: t.Track, UserID: t.User, Permission: t.Perm})
		b.checkBodies = append(b.checkBodies, body)
	}
	// Spread the questions so that consecutive requests hit different organizations.
	shuffle(b.checkBodies)
	shuffle(b.tuples)
	b.echoBodies = b.checkBodies
	for _, p := range b.plans {
		b.toggles = append(b.toggles, p.Toggles...)
	}
}

// ---- one round ----

func (b *bench) round(ctx context.Context, r int) error {
	steps := []struct {
		name string
		fn   func(context.Context, int) error
	}{
		{"commands", b.commandsPhase},
		{"bare append", b.appendFloor},
		{"check", b.checkPhase},
		{"echo", b.echoPhase},
		{"check in process", b.inProcess},
		{"freshness", b.freshness},
		{"rebuild", b.rebuild},
	}
	for _, s := range steps {
		if err := s.fn(ctx, r); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// assignToggles gives every client its own memberships, so that no two clients touch one
// membership and, when there are enough organizations, no two touch one organization.
func (b *bench) assignToggles(workers int) [][]*toggle {
	out := make([][]*toggle, workers)
	n := len(b.plans)
	for o, p := range b.plans {
		if n >= workers {
			w := o % workers
			out[w] = append(out[w], p.Toggles...)
			continue
		}
		var ws []int
		for w := o; w < workers; w += n {
			ws = append(ws, w)
		}
		for k, t := range p.Toggles {
			w := ws[k%len(ws)]
			out[w] = append(out[w], t)
		}
	}
	// Interleave organizations inside each client's list.
	for w := range out {
		interleave(out[w])
	}
	return out
}

type changeRole struct {
	OrgID     string   `json:"org_id"`
	Actor     string   `json:"actor"`
	CommandID string   `json:"command_id"`
	ProjectID string   `json:"project_id"`
	TrackID   string   `json:"track_id,omitempty"`
	UserID    string   `json:"user_id"`
	Roles     []string `json:"roles"`
}

// flip sends the ChangeRole that moves t to its other roles and returns the reply.
func (b *bench) flip(ctx context.Context, c *client.Client, t *toggle) (*client.CommandReply, error) {
	roles := t.B
	if t.onB {
		roles = t.A
	}
	body, _ := json.Marshal(changeRole{OrgID: t.Org, Actor: adminOf(t.Org), CommandID: fmt.Sprintf("bench-%d", b.cmdSeq.Add(1)),
		ProjectID: t.Project, TrackID: t.Track, UserID: t.User, Roles: roles})
	rep, err := c.Command(ctx, "ChangeRole", body)
	if err == nil {
		t.onB = !t.onB
	}
	return rep, err
}

func adminOf(org string) string { return org + "u0" }

// commandsPhase: cfg.Clients clients each flip roles of their own memberships (durable
// ChangeRole commands) for one phase.
func (b *bench) commandsPhase(ctx context.Context, r int) error {
	assign := b.assignToggles(b.cfg.Clients)
	clients := make([]*client.Client, b.cfg.Clients)
	for w := range clients {
		clients[w] = client.New(b.conn(w))
	}
	res := closedLoop(ctx, b.cfg.Clients, b.cfg.Phase, func(ctx context.Context, w, i int) error {
		ts := assign[w]
		if len(ts) == 0 {
			time.Sleep(time.Millisecond)
			return errIdle
		}
		_, err := b.flip(ctx, clients[w], ts[i%len(ts)])
		return err
	})
	if res.ops == 0 {
		return fmt.Errorf("no command succeeded: %v", res.firstErr)
	}
	b.rep.add("commands_per_s", res.perSec())
	b.rep.add("command_p50_ms", ms(res.lat.pct(50)))
	b.rep.add("command_p99_ms", ms(res.lat.pct(99)))
	b.rep.add("command_errors", float64(res.errs))
	if res.errs > 0 {
		b.progress("warning: %d commands failed; first: %v", res.errs, res.firstErr)
	}
	if s, ok := b.d.Store.(interface{ Stats() (uint64, uint64) }); ok {
		a, sy := s.Stats()
		if sy > 0 {
			b.rep.set("log_appends_per_sync", float64(a)/float64(sy))
		}
	}
	lag, err := b.waitViews(ctx)
	if err != nil {
		return err
	}
	b.rep.add("commands_view_drain_ms", ms(lag))
	b.progress("commands: %.0f/s, p50 %.2f ms, p99 %.2f ms, views drained %s after", res.perSec(), ms(res.lat.pct(50)),
		ms(res.lat.pct(99)), lag.Round(time.Millisecond))
	return nil
}

func (b *bench) appendFloor(ctx context.Context, r int) error {
	dir := filepath.Join(b.tmp, fmt.Sprintf("bare-%d", r))
	defer os.RemoveAll(dir)
	res, err := bareAppend(ctx, dir, b.cfg.Clients, b.cfg.Phase)
	if err != nil {
		return err
	}
	b.rep.add("floor_append_per_s", res.perSec())
	b.rep.add("floor_append_p99_ms", ms(res.lat.pct(99)))
	b.progress("bare Badger append: %.0f/s, p99 %.2f ms", res.perSec(), ms(res.lat.pct(99)))
	return nil
}

var okPrefix = []byte(`{"ok":true`)

// request sends raw bodies on subject from workers clients for d; check validates each reply.
func (b *bench) request(ctx context.Context, subject string, bodies [][]byte, workers int, d time.Duration, check func(req, rep []byte) error) runResult {
	return closedLoop(ctx, workers, d, func(ctx context.Context, w, i int) error {
		body := bodies[(w*7919+i*workers+w)%len(bodies)]
		msg, err := b.conn(w).Request(subject, body, 10*time.Second)
		if err != nil {
			return err
		}
		return check(body, msg.Data)
	})
}

func checkOK(_, rep []byte) error {
	if !bytes.HasPrefix(rep, okPrefix) {
		return fmt.Errorf("check refused: %s", rep)
	}
	return nil
}

func echoOK(req, rep []byte) error {
	if len(req) != len(rep) {
		return fmt.Errorf("echo returned %d bytes for %d", len(rep), len(req))
	}
	return nil
}

func (b *bench) checkPhase(ctx context.Context, r int) error {
	subj := client.QueryPrefix + "Check"
	res := b.request(ctx, subj, b.checkBodies, b.cfg.Clients, b.cfg.Phase, checkOK)
	if res.ops == 0 || res.errs > 0 {
		return fmt.Errorf("%d checks failed: %v", res.errs, res.firstErr)
	}
	one := b.request(ctx, subj, b.checkBodies, 1, b.cfg.Single, checkOK)
	if one.ops == 0 || one.errs > 0 {
		return fmt.Errorf("%d checks failed: %v", one.errs, one.firstErr)
	}
	b.rep.add("check_per_s", res.perSec())
	b.rep.add("check_p50_ms_64", ms(res.lat.pct(50)))
	b.rep.add("check_p99_ms_64", ms(res.lat.pct(99)))
	b.rep.add("check_p50_us", us(one.lat.pct(50)))
	b.rep.add("check_p99_us_1", us(one.lat.pct(99)))
	b.progress("check: %.0f/s at %d clients (p99 %.2f ms); p50 %.0f µs at 1 client", res.perSec(), b.cfg.Clients,
		ms(res.lat.pct(99)), us(one.lat.pct(50)))
	return nil
}

func (b *bench) echoPhase(ctx context.Context, r int) error {
	res := b.request(ctx, echoSubject, b.echoBodies, b.cfg.Clients, b.cfg.Phase, echoOK)
	one := b.request(ctx, echoSubject, b.echoBodies, 1, b.cfg.Single, echoOK)
	if res.ops == 0 || one.ops == 0 || res.errs+one.errs > 0 {
		return fmt.Errorf("echo failed: %v %v", res.firstErr, one.firstErr)
	}
	b.rep.add("floor_echo_per_s", res.perSec())
	b.rep.add("floor_echo_p50_us", us(one.lat.pct(50)))
	b.progress("bare echo: %.0f/s at %d clients; p50 %.0f µs at 1 client", res.perSec(), b.cfg.Clients, us(one.lat.pct(50)))
	return nil
}

// inProcess times the view's own Check call (View.Check: the permissions view's answer, from its
// decision cache once asked since the organization last changed), and, beside it, the
// evaluation alone without the cache (Org.Check under View.Read).
func (b *bench) inProcess(ctx context.Context, r int) error {
	v := b.d.Perms
	n := len(b.tuples)
	var sink int
	cached := func(iters int) error {
		for i := 0; i < iters; i++ {
			t := &b.tuples[i%n]
			d, _, _, err := v.Check(t.Org, t.User, t.Perm, domain.Scope{ProjectID: t.Project, TrackID: t.Track}, nil)
			if err != nil {
				return err
			}
			sink += len(d.Via)
		}
		return nil
	}
	uncached := func(iters int) error {
		for i := 0; i < iters; i++ {
			t := &b.tuples[i%n]
			if err := v.Read(t.Org, func(o *domain.Org, _ uint64) error {
				d, err := o.Check(t.User, t.Perm, domain.Scope{ProjectID: t.Project, TrackID: t.Track}, nil)
				sink += len(d.Via)
				return err
			}); err != nil {
				return err
			}
		}
		return nil
	}
	timeIt := func(run func(int) error) (float64, error) {
		if err := run(n); err != nil { // warm up (and fill the cache)
			return 0, err
		}
		iters := 0
		t0 := time.Now()
		for time.Since(t0) < b.cfg.Single {
			if err := run(10_000); err != nil {
				return 0, err
			}
			iters += 10_000
		}
		return float64(time.Since(t0).Nanoseconds()) / float64(iters), nil
	}
	ns, err := timeIt(cached)
	if err != nil {
		return err
	}
	b.rep.add("check_inprocess_ns", ns)
	if ns, err = timeIt(uncached); err != nil {
		return err
	}
	b.rep.add("check_inprocess_uncached_ns", ns)
	_ = sink
	return nil
}

// freshness: flip a membership, then poll Check (no min_position) until the change shows.
func (b *bench) freshness(ctx context.Context, r int) error {
	var probes []*toggle
	for _, t := range b.toggles {
		if t.Perm != "" {
			probes = append(probes, t)
		}
	}
	if len(probes) == 0 {
		return errors.New("no membership to probe (need a neptune, dataloop or aunsight organization)")
	}
	interleave(probes)
	c := client.New(b.conn(0))
	nc := b.conn(0)
	subj := client.QueryPrefix + "Check"
	var lat latencies
	polls := 0
	for s := 0; s < b.cfg.FreshSamples; s++ {
		t := probes[(r*b.cfg.FreshSamples+s)%len(probes)]
		if _, err := b.flip(ctx, c, t); err != nil {
			return fmt.Errorf("flip %+v: %w", *t, err)
		}
		t0 := time.Now()
		want := []byte(`"decision":"denied"`)
		if t.onB {
			want = []byte(`"decision":"allowed"`)
		}
		body, _ := json.Marshal(client.CheckRequest{OrgID: t.Org, ProjectID: t.Project, TrackID: t.Track, UserID: t.User, Permission: t.Perm})
		for {
			msg, err := nc.Request(subj, body, 10*time.Second)
			if err != nil {
				return err
			}
			polls++
			if bytes.Contains(msg.Data, want) {
				break
			}
			if !bytes.HasPrefix(msg.Data, okPrefix) {
				return fmt.Errorf("check refused: %s", msg.Data)
			}
			if time.Since(t0) > 10*time.Second {
				return fmt.Errorf("change to %+v not visible after 10 s: %s", *t, msg.Data)
			}
		}
		lat = append(lat, time.Since(t0))
	}
	sortLat(lat)
	b.rep.add("freshness_p50_ms", ms(lat.pct(50)))
	b.rep.add("freshness_p99_ms", ms(lat.pct(99)))
	b.rep.add("freshness_max_ms", ms(lat[len(lat)-1]))
	b.progress("freshness: p50 %.2f ms, p99 %.2f ms over %d samples (%d polls)", ms(lat.pct(50)), ms(lat.pct(99)), len(lat), polls)
	return nil
}

// rebuild times projections.Rebuild of a fresh in-memory view over the whole log.
func (b *bench) rebuild(ctx context.Context, r int) error {
	v := projections.NewView("rebuild", b.presets, nil, b.log)
	head, err := b.d.Store.Head(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := projections.Rebuild(ctx, v, b.d.Store, nil); err != nil {
		return err
	}
	el := time.Since(t0)
	b.rep.add("rebuild_events_per_s", float64(head)/el.Seconds())
	b.progress("rebuild: %d events in %s", head, el.Round(time.Millisecond))
	return nil
}
