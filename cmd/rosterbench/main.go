// Command rosterbench starts its own rosterd (embedded NATS and Badger in a temp dir, a
// loopback port), loads a realistic set of organizations over NATS and measures the figures
// of the performance issue next to their floors (a bare NATS echo and a bare Badger group
// commit on the same machine): commands/s, Check/s, Check in process, freshness, rebuild,
// memory per membership and start to ready. Every figure is the median of several rounds.
// Then it builds cmd/rosterd and runs it as a process of its own, loads the same data set into
// it and reads its resident memory (/proc/PID/status VmRSS and VmHWM), and measures the
// noisy-neighbour ratio: the p99 of other organizations' small commands and Checks during a
// 10,000-row ImportMembers over the same p99 on the quiet server, measured just before it once
// rosterd has settled (its CPU use under 5% of a processor for a second).
//
//	go run ./cmd/rosterbench [--quick] [--json] [--out FILE] [--rounds N] [--rosterd-args "FLAGS"] [--only-ready] [--only-process] [--heap-dir DIR]
//	go run ./cmd/rosterbench history [--sizes 1000,10000,100000,1000000] [--requests N]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rosterbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "history" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runHistory(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("rosterbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a smaller load that runs in under a minute on an idle machine")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the table")
	out := fs.String("out", "", "also write the JSON to this file")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	def := DefaultConfig()
	rounds := fs.Int("rounds", 0, "rounds per figure (default 3)")
	orgs := fs.Int("orgs", 0, "organizations (default 100; --quick 20)")
	users := fs.Int("users", 0, "users (default 10000)")
	projects := fs.Int("projects", 0, "projects (default 2000)")
	memberships := fs.Int("memberships", 0, "memberships (default 50000)")
	clients := fs.Int("clients", 0, "concurrent clients (default 64)")
	conns := fs.Int("conns", 0, "NATS connections shared by the clients (default 4)")
	phase := fs.Duration("phase", 0, "length of a throughput phase (default 5s; --quick 1.5s)")
	single := fs.Duration("single", 0, "length of a one-client phase (default 2s; --quick 0.5s)")
	rest := fs.Duration("rest", 0, "how long the separate rosterd's RSS is sampled at rest after the load, once a second (default 30s; --quick 5s)")
	fresh := fs.Int("fresh", 0, "freshness samples per round (default 300)")
	mem := fs.Int("mem-memberships", 0, "memberships of the memory measurement (default 1000000; --quick 100000)")
	readyEvents := fs.Int("ready-events", 0, "events in the log of the ready measurement (default 1000000; --quick 100000)")
	dir := fs.String("dir", "", "parent directory of the temp data dirs")
	viewFlush := fs.Duration("view-flush", 0, "rosterd's view snapshot interval (default: rosterd's own); for diagnosis")
	rosterdBin := fs.String("rosterd", "", "rosterd binary for the separate-process phases (default: build cmd/rosterd)")
	rosterdArgs := fs.String("rosterd-args", "", "extra flags for the separate rosterd, space-separated (e.g. \"--log-memtable-mib 32\")")
	noProcess := fs.Bool("no-process", false, "skip the separate-process phases (rosterd's RSS and the noisy-neighbour ratio)")
	onlyReady := fs.Bool("only-ready", false, "run only the start-to-ready phase (a log of --ready-events events)")
	onlyProcess := fs.Bool("only-process", false, "run only the separate-process phases (to compare --rosterd-args settings)")
	heapDir := fs.String("heap-dir", "", "write the separate rosterd's heap profiles (after the load, after the imports) to this directory")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	cfg := def
	if *quick {
		cfg = QuickConfig()
	}
	setInt := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	setInt(&cfg.Rounds, *rounds)
	setInt(&cfg.Orgs, *orgs)
	setInt(&cfg.Users, *users)
	setInt(&cfg.Projects, *projects)
	setInt(&cfg.Memberships, *memberships)
	setInt(&cfg.Clients, *clients)
	setInt(&cfg.Conns, *conns)
	setInt(&cfg.FreshSamples, *fresh)
	setInt(&cfg.MemMemberships, *mem)
	setInt(&cfg.ReadyEvents, *readyEvents)
	if *phase > 0 {
		cfg.Phase = *phase
	}
	if *single > 0 {
		cfg.Single = *single
	}
	if *rest > 0 {
		cfg.Rest = *rest
	}
	cfg.Dir = *dir
	cfg.RosterdBin, cfg.RosterdArgs, cfg.NoProcess = *rosterdBin, strings.Fields(*rosterdArgs), *noProcess
	cfg.OnlyProcess, cfg.OnlyReady = *onlyProcess, *onlyReady
	cfg.ViewFlush = *viewFlush
	cfg.HeapDir = *heapDir
	if !*quiet {
		cfg.Progress = stderr
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, append(js, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		_, err = fmt.Fprintf(stdout, "%s\n", js)
		return err
	}
	fmt.Fprintf(stdout, "rosterbench: %d orgs, %d users, %d projects, %d memberships; %d clients on %d connections; %d rounds (median)\n\n",
		cfg.Orgs, cfg.Users, cfg.Projects, cfg.Memberships, cfg.Clients, cfg.Conns, cfg.Rounds)
	rep.Table(stdout)
	return nil
}
