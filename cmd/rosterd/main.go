// Command rosterd runs Roster: by default with an embedded NATS server (JetStream)
// on 127.0.0.1:4222 and its data under ./data.
//
// The embedded server has no authentication unless --nats-config names a nats-server
// configuration file declaring the account ROSTER (see docs/SECURITY.md); without one it
// listens on loopback only, unless --insecure. An external NATS (--nats-url) is reached with
// --creds, --nkey, --user/--password and --tls-* (or NATS_* variables, or a nats CLI context).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"roster/commands"
	"roster/domain"
	"roster/internal/caller"
	"roster/internal/daemon"
	"roster/internal/natsconn"
	"roster/internal/pace"
	"roster/projections"
	"roster/queries"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rosterd:", natsconn.Redact(err.Error()))
		os.Exit(1)
	}
}

// parse turns the command line and the environment into the daemon's configuration. It
// returns done when the invocation was answered (--help, --version) and nothing is to run.
func parse(args []string, getenv func(string) string, stdout, stderr io.Writer) (cfg daemon.Config, done bool, err error) {
	fs := flag.NewFlagSet("rosterd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data-dir", "data", "directory for the event log, the views and the embedded NATS server's JetStream data")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:4222", "client address of the embedded NATS server (port 0 picks a free port); a listen, host or port in --nats-config wins")
	fs.StringVar(&cfg.NATSConfig, "nats-config", "", "configure the embedded NATS server from this nats-server configuration file (accounts; must declare the account ROSTER)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "allow the embedded server without --nats-config (no authentication) to listen beyond loopback")
	users := fs.String("user-accounts", "", "comma-separated NATS accounts whose users are people (the actor is the authenticated user)")
	operators := fs.String("operator-accounts", "", "comma-separated NATS accounts that may run admin jobs and see every organization")
	var nopts natsconn.Options
	fs.StringVar(&nopts.URL, "nats-url", "", "use this external NATS instead of embedding one (env NATS_URL)")
	fs.StringVar(&nopts.Creds, "creds", "", "external NATS: credentials file (env NATS_CREDS)")
	fs.StringVar(&nopts.NKey, "nkey", "", "external NATS: nkey seed file (env NATS_NKEY)")
	fs.StringVar(&nopts.User, "user", "", "external NATS: user (env NATS_USER)")
	fs.StringVar(&nopts.Password, "password", "", "external NATS: password (env NATS_PASSWORD, preferred: flags show in the process list)")
	fs.StringVar(&nopts.TLSCert, "tls-cert", "", "external NATS: TLS client certificate (env NATS_CERT)")
	fs.StringVar(&nopts.TLSKey, "tls-key", "", "external NATS: TLS client key (env NATS_KEY)")
	fs.StringVar(&nopts.TLSCA, "tls-ca", "", "external NATS: CA certificate to trust (env NATS_CA)")
	fs.StringVar(&nopts.InboxPrefix, "inbox-prefix", "", "external NATS: prefix of rosterd's reply subjects where its user may subscribe only to its own (env NATS_INBOX_PREFIX)")
	fs.StringVar(&nopts.Context, "context", "", "external NATS: read unset options from this nats CLI context (env NATS_CONTEXT)")
	fs.StringVar(&cfg.Role, "role", daemon.RoleAll, "all, writer (commands, log, relay) or reader (views and queries); writer/reader need --nats-url")
	fs.DurationVar(&cfg.InviteTTL, "invite-ttl", domain.DefaultInviteTTL, "how long invitations stay pending (at least 1m, at most 8760h = 1 year)")
	fs.IntVar(&cfg.MaxWaiters, "max-waiters", queries.DefaultMaxWaiters, "queries waiting for min_position or the log at once; one more is answered unavailable")
	fs.IntVar(&cfg.OrgQueue, "org-queue", commands.MaxOrgQueue, "commands of one organization queued at once; one more is answered unavailable")
	fs.Float64Var(&cfg.BulkShare, "bulk-share", pace.DefaultShare, "share of the time bulk work (an import's decision, encoding, staging and chaining) keeps while other requests are active; 1: unpaced")
	logMem := fs.Int64("log-memtable-mib", daemon.DefaultLogMemTableMiB, "Badger memtable size of the event log, MiB (a transaction takes at most 15% of it)")
	logCache := fs.Int64("log-cache-mib", daemon.DefaultLogCacheMiB, "Badger block cache of the event log, MiB")
	fs.IntVar(&cfg.LogMemtables, "log-memtables", daemon.DefaultLogMemtables, "Badger memtables of the event log kept before writes wait for a flush (the written one and those being flushed)")
	fs.Int64Var(&cfg.LogValueThreshold, "log-value-threshold", daemon.DefaultLogValueThreshold, "bytes from which the event log keeps a record in Badger's value log, the memtable holding a pointer (what a transaction takes of the memtable)")
	fs.IntVar(&cfg.ViewsMemtables, "views-memtables", daemon.DefaultViewsMemtables, "Badger memtables of the views' snapshots kept before writes wait for a flush")
	fs.IntVar(&cfg.Compactors, "badger-compactors", daemon.DefaultCompactors, "Badger compaction goroutines of each database (at least 2)")
	viewsMem := fs.Int64("views-memtable-mib", daemon.DefaultViewsMemTableMiB, "Badger memtable size of the views' snapshots, MiB")
	viewsCache := fs.Int64("views-cache-mib", daemon.DefaultViewsCacheMiB, "Badger block cache of the views' snapshots, MiB")
	jsMem := fs.Int64("js-max-memory-mib", daemon.DefaultJSMaxMemoryMiB, "embedded NATS: JetStream memory storage limit, MiB (max_memory_store)")
	jsStore := fs.Int64("js-max-store-mib", 0, "embedded NATS: JetStream file storage limit, MiB (max_file_store; 0: the server's default, a share of the disk)")
	fs.Int64Var(&cfg.CheckCache, "check-cache", projections.DefaultCheckCacheBytes, "memory bound of the Check decision cache, in bytes")
	fs.IntVar(&cfg.Replicas, "replicas", 1, "JetStream stream replicas (3 on a cluster)")
	fs.DurationVar(&cfg.FlushEvery, "view-flush", 0, "how often views write their snapshots and checkpoints (default 10s; a restart re-applies at most this much of the log)")
	fs.BoolVar(&cfg.RecoverFromStream, "recover-from-stream", false, "before starting, rebuild the event log from the JetStream stream ROSTER_EVENTS (the old log is moved aside; see docs/INTEGRITY.md)")
	memLimit := fs.Int64("memory-limit-mib", daemon.DefaultMemoryLimitMiB, "Go soft memory limit of the process, MiB, raised to half again the live heap when that outgrows it (the GC works harder near it; 0: none); GOMEMLIMIT, when set, wins over the default but not over this flag")
	bulkAllow := fs.Int64("bulk-gc-allowance-mib", daemon.DefaultBulkGCAllowMiB, "while bulk work (an import) is in flight, the Go collector runs only once the process holds this much more than when the work began, at most 5 s at a time (0: none; needs --memory-limit-mib)")
	fs.StringVar(&cfg.Pprof, "pprof", "", "debug: serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060; port 0 picks one, logged)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, true, nil
		}
		return cfg, false, err
	}
	if *version {
		fmt.Fprintln(stdout, "rosterd", daemon.Version)
		return cfg, true, nil
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.InviteTTL < daemon.MinInviteTTL || cfg.InviteTTL > daemon.MaxInviteTTL {
		return cfg, false, fmt.Errorf("--invite-ttl %s is out of bounds: invitations stay pending at least %s and at most %s (8760h)",
			cfg.InviteTTL, daemon.MinInviteTTL, daemon.MaxInviteTTL)
	}
	if cfg.BulkShare == 0 { // the library's default; on the command line out of bounds (Validate checks the rest)
		return cfg, false, fmt.Errorf("--bulk-share %g is out of bounds: at least %g, at most 1 (unpaced)", cfg.BulkShare, pace.MinShare)
	}
	if cfg.MaxWaiters <= 0 || cfg.OrgQueue <= 0 || cfg.CheckCache <= 0 || *logMem <= 0 || *logCache <= 0 || *viewsMem <= 0 || *viewsCache <= 0 || *jsMem <= 0 {
		return cfg, false, errors.New("--max-waiters, --org-queue, --check-cache, --js-max-memory-mib and the --log-*/--views-* sizes must be positive")
	}
	if cfg.LogMemtables <= 0 || cfg.ViewsMemtables <= 0 || cfg.Compactors < 2 {
		return cfg, false, errors.New("--log-memtables and --views-memtables must be positive, --badger-compactors at least 2")
	}
	if *jsStore < 0 {
		return cfg, false, errors.New("--js-max-store-mib must not be negative")
	}
	// Before the sizes become bytes; their bounds are checked with the rest (Config.Validate).
	for _, f := range []struct {
		name string
		mib  int64
	}{{"log-memtable-mib", *logMem}, {"views-memtable-mib", *viewsMem}, {"log-cache-mib", *logCache}, {"views-cache-mib", *viewsCache},
		{"js-max-memory-mib", *jsMem}, {"js-max-store-mib", *jsStore}, {"memory-limit-mib", *memLimit}} {
		if f.mib > maxMiB {
			return cfg, false, fmt.Errorf("--%s %d is beyond the limit of %d MiB", f.name, f.mib, maxMiB)
		}
	}
	if flagSet(fs, "view-flush") && (cfg.FlushEvery < daemon.MinFlushEvery || cfg.FlushEvery > daemon.MaxFlushEvery) {
		return cfg, false, fmt.Errorf("--view-flush %s is out of bounds: %s to %s", cfg.FlushEvery, daemon.MinFlushEvery, daemon.MaxFlushEvery)
	}
	if *memLimit < 0 {
		return cfg, false, errors.New("--memory-limit-mib must not be negative")
	}
	cfg.MemoryLimit = *memLimit << 20
	if *bulkAllow < 0 || *bulkAllow > daemon.MaxBulkGCAllowMiB {
		return cfg, false, fmt.Errorf("--bulk-gc-allowance-mib %d is out of bounds: 0 (none) to %d", *bulkAllow, daemon.MaxBulkGCAllowMiB)
	}
	cfg.BulkGCAllowance = *bulkAllow << 20
	if !flagSet(fs, "memory-limit-mib") && getenv("GOMEMLIMIT") != "" {
		cfg.MemoryLimit = 0 // the runtime has read GOMEMLIMIT; the environment's choice stands
	}
	cfg.LogMemTable, cfg.LogCache, cfg.ViewsMemTable, cfg.ViewsCache = *logMem<<20, *logCache<<20, *viewsMem<<20, *viewsCache<<20
	cfg.JSMaxMemory, cfg.JSMaxStore = *jsMem<<20, *jsStore<<20
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return cfg, false, fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	cfg.UserAccounts = caller.SplitList(*users)
	cfg.OperatorAccounts = caller.SplitList(*operators)
	if cfg.NATSConfig == "" {
		// The NATS_* environment and a context describe an external server; with a config
		// file rosterd embeds its own and they are not consulted.
		if nopts, err = nopts.Resolve(getenv); err != nil {
			return cfg, false, err
		}
	}
	cfg.NATS = nopts
	cfg.NATSURL = nopts.URL
	if err := cfg.Validate(); err != nil {
		return cfg, false, err
	}
	return cfg, false, nil
}

// flagSet reports whether the command line gave the flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// maxMiB bounds every size flag given in MiB, so that its size in bytes is never out of range
// (Config.Validate holds the tighter bounds of some).
const maxMiB = 1 << 30

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, done, err := parse(args, getenv, stdout, stderr)
	if err != nil || done {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.MemoryLimit > 0 {
		cfg.Logger.Info("Go soft memory limit", "mib", cfg.MemoryLimit>>20, "above", "half again the live heap")
		g := newMemoryGovernor(cfg.MemoryLimit, cfg.BulkGCAllowance, cgroupMemoryLimit(cgroupMemoryFiles(selfCgroup())), cfg.Logger)
		if cfg.BulkGCAllowance > 0 {
			cfg.OnBulk = g.bulk
		}
		go g.follow(ctx, 500*time.Millisecond)
	} else if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		cfg.Logger.Info("Go soft memory limit (GOMEMLIMIT)", "mib", limit>>20)
	}
	if cfg.BulkGCAllowance > 0 && cfg.MemoryLimit == 0 {
		cfg.Logger.Info("the collector's allowance for bulk work is off: it needs --memory-limit-mib (with GOMEMLIMIT or no limit, nothing would bound the heap while GOGC is off)")
	}
	go trimWhenQuiet(ctx, trimEvery, cfg.Logger)
	if cfg.RecoverFromStream {
		if _, err := daemon.RecoverLog(ctx, cfg); err != nil {
			return err
		}
	}
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	cfg.Logger.Info("stopping: draining NATS and flushing the views")
	d.Close()
	cfg.Logger.Info("stopped")
	return nil
}
