// Command rostertorture is a crash test of rosterd in the manner of Jepsen's
// lost-write checker. It runs rosterd as a child process under concurrent
// command load (every command with a unique command id), kills it with SIGKILL
// at random moments (--kills, default 50), with --external also restarts the
// NATS server under it, starts it again, and at the end checks that
//
//   - every acknowledged command's events are in the log exactly once, at the
//     acknowledged positions, with gap-free positions and stream versions;
//   - the JetStream stream ROSTER_EVENTS holds exactly the log, in order;
//   - every view equals a fresh fold of the log (same digest);
//   - every rule of SPEC §2 holds in the final state.
//
// Its last line is the summary, e.g. "acked 5321, lost 0, duplicated 0, views
// equal: yes"; it exits 0 only when nothing was lost or duplicated, the views
// are equal and every other check passed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rostertorture:", err)
		}
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	kills     int
	external  bool
	seed      uint64
	rosterd   string
	dir       string
	keep      bool
	workers   int // per organization
	minDelay  time.Duration
	maxDelay  time.Duration
	settle    time.Duration // load after the last restart, before the check
	reqTO     time.Duration // one request
	readyTO   time.Duration // rosterd start-up
	resend    int           // acknowledged commands re-sent at the end (idempotency)
	natsEvery float64       // chance per kill round of a NATS restart (--external)
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("rostertorture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.IntVar(&c.kills, "kills", 50, "how many times rosterd is killed with SIGKILL")
	fs.BoolVar(&c.external, "external", false, "run NATS as a separate server (in this process) and restart it too at random kills")
	fs.Uint64Var(&c.seed, "seed", 0, "random seed (0: from the clock); printed so that a run can be repeated")
	fs.StringVar(&c.rosterd, "rosterd", "", "rosterd binary (default: go build ./cmd/rosterd from the module root)")
	fs.StringVar(&c.dir, "dir", "", "working directory for the data (default: a new temporary directory)")
	fs.BoolVar(&c.keep, "keep", false, "keep the working directory even when every check passes")
	fs.IntVar(&c.workers, "workers", 2, "concurrent load workers per organization (4 organizations)")
	fs.DurationVar(&c.minDelay, "min-delay", 50*time.Millisecond, "shortest time rosterd runs under load before a kill")
	fs.DurationVar(&c.maxDelay, "max-delay", 400*time.Millisecond, "longest time rosterd runs under load before a kill")
	fs.DurationVar(&c.settle, "settle", 500*time.Millisecond, "load after the last restart, before the final check")
	fs.DurationVar(&c.reqTO, "request-timeout", 3*time.Second, "timeout of one command request")
	fs.DurationVar(&c.readyTO, "ready-timeout", 30*time.Second, "how long rosterd may take to log ready")
	fs.IntVar(&c.resend, "resend", 200, "acknowledged commands re-sent with the same command id at the end")
	fs.Float64Var(&c.natsEvery, "nats-restarts", 0.4, "with --external: chance per kill round that the NATS server restarts too")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if c.kills < 0 {
		errs = append(errs, errors.New("--kills is negative"))
	}
	if c.workers < 1 {
		errs = append(errs, errors.New("--workers must be at least 1"))
	}
	if c.minDelay < 0 || c.maxDelay < c.minDelay {
		errs = append(errs, errors.New("need 0 <= --min-delay <= --max-delay"))
	}
	if c.reqTO <= 0 || c.readyTO <= 0 {
		errs = append(errs, errors.New("timeouts must be positive"))
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	return c, errors.Join(errs...)
}

// printer serializes output lines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) f(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// run is the whole program: flags, build, torture, check. Its last output
// line on stdout is the summary when the final check ran.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	out := &printer{w: stdout}
	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))

	dir := cfg.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "rostertorture-*"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keepDir := func(failed bool) {
		if !failed && !cfg.keep && cfg.dir == "" {
			_ = os.RemoveAll(dir)
			return
		}
		out.f("working directory kept: %s (rosterd's output in %s)", dir, filepath.Join(dir, "rosterd.log"))
	}
	defer func() {
		if err != nil && dir != "" {
			keepDir(true)
		}
	}()

	mode := "embedded NATS"
	if cfg.external {
		mode = "external NATS"
	}
	out.f("rostertorture: %d kills, %s, seed %d, dir %s", cfg.kills, mode, cfg.seed, dir)

	bin := cfg.rosterd
	if bin == "" {
		start := time.Now()
		if bin, err = buildRosterd(ctx, dir); err != nil {
			return err
		}
		out.f("built rosterd in %s", time.Since(start).Round(time.Millisecond))
	}

	t, err := newTorture(ctx, cfg, out, rng, bin, dir)
	if err != nil {
		return err
	}
	rep, err := t.torture()
	t.close()
	if err != nil {
		return err
	}
	t.printChildErrors()
	keepDir(!rep.ok())
	dir = ""
	out.f("acked %d, lost %d, duplicated %d, views equal: %s", rep.acked, rep.lost, rep.duplicated, yesNo(rep.viewsEqual))
	if !rep.ok() {
		return errors.New("the final check failed (see above)")
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
