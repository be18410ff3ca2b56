// Package daemon wires rosterd together: the embedded or external NATS
// server, the Badger log and its relay to JetStream, the Watermill-fed views,
// the micro service with the command and query endpoints. It holds no logic of
// its own; cmd/rosterd, the CLI's tools and the tests start it.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/caller"
	"roster/internal/embeddednats"
	"roster/internal/natsconn"
	"roster/internal/pace"
	"roster/projections"
	"roster/queries"
)

// Roles a process can run.
const (
	RoleAll    = "all"
	RoleWriter = "writer"
	RoleReader = "reader"
)

// Version of the service, reported by nats micro info.
const Version = "0.1.0"

// Config is rosterd's configuration.
type Config struct {
	DataDir string
	// Listen is the embedded server's client address (port 0 picks one); ignored with NATSURL.
	Listen string
	// NATSURL uses an external NATS instead of embedding one (NATS.URL is used when it is empty).
	NATSURL string
	// NATS holds the external NATS's credentials and TLS (creds, nkey, user/password, cert/key/ca).
	NATS natsconn.Options
	// NATSConfig configures the embedded server from a nats-server configuration file, which must
	// declare the account ROSTER; it makes the daemon secured. Not with an external NATS.
	NATSConfig string
	// Insecure allows the embedded server without a configuration file to listen beyond loopback.
	Insecure bool
	// UserAccounts and OperatorAccounts name the NATS accounts of those kinds; the rest are applications.
	UserAccounts     []string
	OperatorAccounts []string
	// Role is all (default), writer (commands, log, relay) or reader (views and queries).
	Role string
	// InviteTTL is how long invitations stay pending: between MinInviteTTL and MaxInviteTTL
	// (0 gives domain.DefaultInviteTTL).
	InviteTTL time.Duration
	// MaxWaiters bounds the queries waiting for min_position or the log at once
	// (queries.DefaultMaxWaiters when 0).
	MaxWaiters int
	// OrgQueue bounds one organization's queued commands (commands.MaxOrgQueue when 0).
	OrgQueue int
	// BulkShare is bulk work's share of the time while other requests are active (package
	// pace): an import's decision, encoding, staging and chaining. 0 gives pace.DefaultShare;
	// 1 leaves bulk work unpaced.
	BulkShare float64
	// OnBulk, if set, is told when bulk work (an import, from its decision until its events
	// are durable) starts while none was in flight, and when the last such piece ends
	// (pace.Config.OnBulk): rosterd gives the Go collector an allowance meanwhile.
	OnBulk func(active bool)
	// LogMemTable, LogCache, ViewsMemTable and ViewsCache size the Badger memtables and block
	// caches of the log and the views in bytes (0 keeps Badger's defaults: 64 MiB memtables,
	// 256 MiB block cache).
	LogMemTable, LogCache, ViewsMemTable, ViewsCache int64
	// LogMemtables and ViewsMemtables are how many memtables each database keeps before writes
	// stall, and Compactors how many compaction goroutines each runs (0 keeps Badger's 5 and 4;
	// Badger refuses 1 compactor).
	LogMemtables, ViewsMemtables, Compactors int
	// LogValueThreshold is the size from which the log keeps a record in Badger's value log
	// (0 keeps Badger's 1 MiB): what a transaction takes of the memtable (README "rosterd flags").
	LogValueThreshold int64
	// JSMaxMemory and JSMaxStore bound the embedded server's JetStream memory and file storage
	// in bytes (0 lets the server size them from the machine).
	JSMaxMemory, JSMaxStore int64
	// CheckCache bounds the decision cache's memory in bytes
	// (projections.DefaultCheckCacheBytes when 0).
	CheckCache int64
	// FlushEvery is how often views write their snapshots and checkpoints.
	FlushEvery time.Duration
	// Replicas of the JetStream streams (3 in a cluster).
	Replicas int
	// RecoverFromStream asks the caller (rosterd) to rebuild the log from ROSTER_EVENTS with
	// RecoverLog before Start; Start itself ignores it.
	RecoverFromStream bool
	// MemoryLimit is the Go soft memory limit in bytes the caller (rosterd) sets for the whole
	// process with debug.SetMemoryLimit; Start itself ignores it (the limit is the process's,
	// not one daemon's). 0 sets none.
	MemoryLimit int64
	// BulkGCAllowance is how far beyond what the process held when bulk work began the caller
	// (rosterd) lets the heap grow before the collector runs, while bulk work is in flight
	// (OnBulk); Start itself ignores it. 0 gives none.
	BulkGCAllowance int64
	// Pprof, when set, serves net/http/pprof's handlers on this loopback address (a debug aid:
	// heap and CPU profiles of a running rosterd). Port 0 picks one; the address is logged.
	Pprof  string
	Logger *slog.Logger
	Now    func() time.Time
}

// rosterd's memory defaults (README "rosterd flags", where each is explained): Badger memtables
// and block caches of the log and the views, in MiB, their counts, the compactors, the embedded
// JetStream's memory storage and the Go soft memory limit. The library keeps Badger's own
// defaults when the Config fields are 0; rosterd and rosterbench pass these (WithMemoryDefaults).
const (
	DefaultLogMemTableMiB    = 16
	DefaultLogMemtables      = 2
	DefaultLogValueThreshold = 1 << 20
	DefaultLogCacheMiB       = 16
	DefaultViewsMemTableMiB  = 8
	DefaultViewsMemtables    = 1
	DefaultViewsCacheMiB     = 8
	DefaultCompactors        = 2
	DefaultJSMaxMemoryMiB    = 64
	DefaultMemoryLimitMiB    = 384
	DefaultBulkGCAllowMiB    = 512
	MaxBulkGCAllowMiB        = 4096
)

// Bounds of the sizing options (README "rosterd flags"): beyond them Badger fails or takes the
// machine (a memtable's arena is addressed with 32 bits; a cache sizes its counters from its
// bound; each memtable waiting for a flush is an arena; each compactor a goroutine at work).
const (
	MaxMemTableMiB  = 2048
	MaxCacheMiB     = 64 << 10
	MaxMemtables    = 16
	MaxCompactors   = 16
	MaxOrgQueue     = 1 << 16
	MaxWaitersLimit = 1 << 20
	MinFlushEvery   = 100 * time.Millisecond // rosterd's --view-flush floor
	MaxFlushEvery   = time.Hour
)

// MaxLogValueThreshold is Badger's largest value threshold (1 MiB), also its default.
const MaxLogValueThreshold = 1 << 20

// viewsBaseTableSize is the views database's first-level table size with small memtables
// (Badger's is 2 MiB).
const viewsBaseTableSize = 1 << 20

// WithMemoryDefaults fills c's unset memory sizes with rosterd's defaults (not the Go memory
// limit, which is the process's: rosterd sets it).
func WithMemoryDefaults(c Config) Config {
	set := func(dst *int64, mib int64) {
		if *dst == 0 {
			*dst = mib << 20
		}
	}
	set(&c.LogMemTable, DefaultLogMemTableMiB)
	set(&c.LogCache, DefaultLogCacheMiB)
	set(&c.ViewsMemTable, DefaultViewsMemTableMiB)
	set(&c.ViewsCache, DefaultViewsCacheMiB)
	set(&c.JSMaxMemory, DefaultJSMaxMemoryMiB)
	setN := func(dst *int, n int) {
		if *dst == 0 {
			*dst = n
		}
	}
	setN(&c.LogMemtables, DefaultLogMemtables)
	setN(&c.ViewsMemtables, DefaultViewsMemtables)
	setN(&c.Compactors, DefaultCompactors)
	if c.LogValueThreshold == 0 {
		c.LogValueThreshold = DefaultLogValueThreshold
	}
	return c
}

// logSizing and viewsSizing are the Badger sizes of the log and of the views.
func (c Config) logSizing() eventstore.BadgerSizing {
	return eventstore.BadgerSizing{MemTableSize: c.LogMemTable, NumMemtables: c.LogMemtables, BlockCacheSize: c.LogCache,
		NumCompactors: c.Compactors, ValueThreshold: c.LogValueThreshold}
}

func (c Config) viewsSizing() eventstore.BadgerSizing {
	sz := eventstore.BadgerSizing{MemTableSize: c.ViewsMemTable, NumMemtables: c.ViewsMemtables, BlockCacheSize: c.ViewsCache,
		NumCompactors: c.Compactors}
	if c.ViewsMemTable > 0 && c.ViewsMemTable < 16<<20 {
		// Small memtables, small tables: every flush rewrites the snapshots of the organizations
		// changed, so compactions are frequent, and each holds the tables it builds in memory.
		sz.BaseTableSize = viewsBaseTableSize
	}
	return sz
}

// Bounds of Config.InviteTTL (README "Limits").
const (
	MinInviteTTL = time.Minute
	MaxInviteTTL = 365 * 24 * time.Hour
)

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:4222"
	}
	if c.Role == "" {
		c.Role = RoleAll
	}
	if c.InviteTTL == 0 {
		c.InviteTTL = domain.DefaultInviteTTL
	}
	if c.FlushEvery == 0 {
		c.FlushEvery = 10 * time.Second
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	// Every daemon runs with rosterd's sizes, tests included: the log's records then live in
	// Badger's value log as they do in production.
	*c = WithMemoryDefaults(*c)
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	switch c.Role {
	case RoleAll, RoleWriter, RoleReader:
	default:
		errs = append(errs, fmt.Errorf("role %q must be all, writer or reader", c.Role))
	}
	if c.NATSURL == "" {
		if host, _, err := embeddednats.ParseListen(c.Listen); err != nil {
			errs = append(errs, err)
		} else if c.NATSConfig == "" && !c.Insecure && !embeddednats.IsLoopback(host) {
			errs = append(errs, &InsecureListenError{Listen: c.Listen})
		}
		if c.Role != RoleAll {
			errs = append(errs, errors.New("a writer-only or reader-only process needs --nats-url"))
		}
	}
	if c.NATSURL != "" && c.NATSConfig != "" {
		errs = append(errs, errors.New("--nats-config configures the embedded server; an external NATS (--nats-url) is configured on its own"))
	}
	if c.NATSURL != "" {
		o := c.NATS
		o.URL = c.NATSURL
		if err := o.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.InviteTTL != 0 && (c.InviteTTL < MinInviteTTL || c.InviteTTL > MaxInviteTTL) {
		errs = append(errs, fmt.Errorf("invite TTL %s is out of bounds: invitations stay pending at least %s and at most %s", c.InviteTTL, MinInviteTTL, MaxInviteTTL))
	}
	if c.MaxWaiters < 0 || c.OrgQueue < 0 || c.CheckCache < 0 || c.LogMemTable < 0 || c.LogCache < 0 || c.ViewsMemTable < 0 || c.ViewsCache < 0 ||
		c.JSMaxMemory < 0 || c.JSMaxStore < 0 {
		errs = append(errs, errors.New("the waiter, queue and cache limits must not be negative"))
	}
	if c.LogMemtables < 0 || c.ViewsMemtables < 0 || c.Compactors < 0 {
		errs = append(errs, errors.New("the memtable and compactor counts must not be negative"))
	}
	if !(c.BulkShare == 0 || c.BulkShare >= pace.MinShare && c.BulkShare <= 1) { // NaN too; 0 takes the default
		errs = append(errs, fmt.Errorf("--bulk-share %g is out of bounds: at least %g, at most 1 (unpaced)", c.BulkShare, pace.MinShare))
	}
	if c.LogValueThreshold < 0 || c.LogValueThreshold > MaxLogValueThreshold {
		errs = append(errs, fmt.Errorf("--log-value-threshold %d is out of bounds: 0 (Badger's 1 MiB) to %d bytes", c.LogValueThreshold, MaxLogValueThreshold))
	}
	if c.Compactors == 1 {
		errs = append(errs, errors.New("Badger runs 0 or at least 2 compactors, not 1"))
	}
	if c.FlushEvery < 0 || c.FlushEvery > MaxFlushEvery {
		// rosterd's --view-flush also has a floor (MinFlushEvery); tests flush more often.
		errs = append(errs, fmt.Errorf("the views' flush interval %s is out of bounds: at most %s (0: 10s)", c.FlushEvery, MaxFlushEvery))
	}
	// The messages name rosterd's flags: this is where rosterd's bounds are checked too.
	for _, n := range []struct {
		flag, name string
		value, max int
	}{{"log-memtables", "log memtables", c.LogMemtables, MaxMemtables}, {"views-memtables", "views memtables", c.ViewsMemtables, MaxMemtables},
		{"badger-compactors", "compactors", c.Compactors, MaxCompactors}, {"org-queue", "organization queue", c.OrgQueue, MaxOrgQueue},
		{"max-waiters", "waiters", c.MaxWaiters, MaxWaitersLimit}} {
		if n.value > n.max {
			errs = append(errs, fmt.Errorf("--%s %d: %s beyond the limit of %d", n.flag, n.value, n.name, n.max))
		}
	}
	for _, z := range []struct {
		flag, name string
		value, max int64
	}{{"log-memtable-mib", "a log memtable", c.LogMemTable, MaxMemTableMiB << 20}, {"views-memtable-mib", "a views memtable", c.ViewsMemTable, MaxMemTableMiB << 20},
		{"log-cache-mib", "a log cache", c.LogCache, MaxCacheMiB << 20}, {"views-cache-mib", "a views cache", c.ViewsCache, MaxCacheMiB << 20},
		{"check-cache", "a Check cache", c.CheckCache, MaxCacheMiB << 20}} {
		if z.value > z.max {
			errs = append(errs, fmt.Errorf("--%s: %s of %d MiB is beyond the limit of %d MiB", z.flag, z.name, z.value>>20, z.max>>20))
		}
	}
	for _, db := range []struct {
		name, fix           string
		memtable, threshold int64
	}{{"log", " (or a lower --log-value-threshold)", c.LogMemTable, c.LogValueThreshold}, {"views", "", c.ViewsMemTable, 0}} {
		// Badger takes a value of the threshold or more out of line only if a transaction
		// (15% of a memtable) can hold one inline value below it.
		threshold := cmp.Or(db.threshold, MaxLogValueThreshold)
		if db.memtable > 0 && db.memtable*15/100 < threshold {
			errs = append(errs, fmt.Errorf("the %s memtable of %d MiB is too small for a value threshold of %d bytes: a transaction takes 15%% of a memtable, so the memtable needs at least %d MiB%s",
				db.name, db.memtable>>20, threshold, (threshold*100/15+1<<20-1)>>20, db.fix))
		}
	}
	if c.MemoryLimit < 0 {
		errs = append(errs, errors.New("the memory limit must not be negative"))
	}
	if c.Pprof != "" {
		if err := validPprof(c.Pprof); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// InsecureListenError refuses an embedded server without a configuration file (no
// authentication) listening beyond loopback, unless Insecure is set.
type InsecureListenError struct {
	Listen string
}

func (e *InsecureListenError) Error() string {
	return fmt.Sprintf("listen %s: the embedded NATS server without --nats-config has no authentication; "+
		"it listens beyond loopback only with --insecure (or give --nats-config)", e.Listen)
}

// Secured reports whether requests must carry the server's Nats-Request-Info stamp: the embedded
// server is configured from a file, or the external NATS is reached with credentials.
func (c Config) Secured() bool {
	if c.NATSURL == "" {
		return c.NATSConfig != ""
	}
	o := c.NATS
	o.URL = c.NATSURL
	return o.Authenticated()
}

// Daemon is a running rosterd.
type Daemon struct {
	cfg       Config
	URL       string
	NS        *server.Server   // nil with an external NATS
	NC        *nats.Conn       // the service's connection: commands, queries, admin
	Store     eventstore.Store // nil for a reader
	Members   *projections.View
	Perms     *projections.View
	Relay     *eventstore.Relay
	Rebuilder *queries.Rebuilder
	Service   micro.Service
	// Policy turns a request's Nats-Request-Info into its caller.
	Policy *caller.Policy
	// PprofAddr is the address the profiling endpoint listens on (Config.Pprof), or "".
	PprofAddr string

	// relayNC publishes the log to the stream and viewsNC carries the views' consumers: the
	// stream's bursts (an import's 10,000 events, published and delivered to each view) travel on
	// connections of their own, not in the service's socket ahead of other tenants' requests and
	// replies (one connection has one read loop and one write buffer).
	relayNC, viewsNC *nats.Conn
	dial             func(name string) (*nats.Conn, error)

	viewsDB *badger.DB
	alarm   storeAlarm // damage found after start (integrity.go)
	// pacer gives bulk work (an import) a lower priority than other requests; nil with
	// Config.BulkShare 1.
	pacer  *pace.Pacer
	lock   *dataDirLock
	router *message.Router
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

func (d *Daemon) writes() bool { return d.cfg.Role != RoleReader }
func (d *Daemon) reads() bool  { return d.cfg.Role != RoleWriter }

// Start brings rosterd up and returns once the micro service answers.
func Start(ctx context.Context, cfg Config) (_ *Daemon, err error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	d := &Daemon{cfg: cfg, cancel: cancel}
	if cfg.BulkShare < 1 || cfg.OnBulk != nil {
		d.pacer = pace.New(pace.Config{Share: cfg.BulkShare, OnBulk: cfg.OnBulk}) // share 1: no pause
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.lock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if cfg.Pprof != "" {
		if err := d.servePprof(runCtx); err != nil {
			return nil, err
		}
	}
	presets, err := domain.LoadPresets()
	if err != nil {
		return nil, err
	}

	if d.Policy, err = caller.NewPolicy(cfg.Secured(), cfg.UserAccounts, cfg.OperatorAccounts); err != nil {
		return nil, err
	}
	if err := d.connect(ctx); err != nil {
		return nil, err
	}
	if d.viewsNC, err = d.dial("rosterd-views"); err != nil {
		return nil, err
	}
	js, err := jetstream.New(d.NC)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := checkJetStream(ctx, js, d.URL); err != nil {
		return nil, err
	}
	relayCfg := eventstore.RelayConfig{Replicas: cfg.Replicas, Logger: log.With("component", "relay")}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: projections.DeadLetterStream,
		Subjects: []string{projections.DeadLetterPrefix + ">"}, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		MaxAge: 30 * 24 * time.Hour}); err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}

	if d.writes() {
		// A failed open leaves d.Store nil (not an interface holding a nil store), so Close skips it.
		sz := cfg.logSizing()
		store, err := eventstore.OpenBadger(filepath.Join(cfg.DataDir, "log"), eventstore.BadgerOptions{Logger: log.With("component", "log"),
			MemTableSize: sz.MemTableSize, NumMemtables: sz.NumMemtables, BlockCacheSize: sz.BlockCacheSize, NumCompactors: sz.NumCompactors,
			ValueThreshold: sz.ValueThreshold, StagedReply: commands.AppendReplyOf, ReplySpan: commands.ReplySpan, Pacer: d.pacer})
		if err != nil {
			return nil, d.logOpenError(err)
		}
		d.Store = store
		if _, err := eventstore.EnsureStream(ctx, js, relayCfg); err != nil {
			return nil, err
		}
		if err := d.checkStore(ctx, js, eventstore.DefaultStreamName, presets); err != nil {
			return nil, err
		}
		if d.relayNC, err = d.dial("rosterd-relay"); err != nil {
			return nil, err
		}
		relayJS, err := jetstream.New(d.relayNC)
		if err != nil {
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		d.Relay = eventstore.NewRelay(d.Store, relayJS, relayCfg)
		d.goRun(func() {
			if err := d.Relay.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("relay stopped", "err", err)
			}
		})
	}

	var dead projections.DeadLetterCounter
	if d.reads() {
		if d.Store == nil { // with the log, checkStore prepared the views
			if _, err := d.prepareViews(presets); err != nil {
				return nil, err
			}
		}
		if err := d.startViews(ctx, runCtx, presets, js, &dead); err != nil {
			return nil, err
		}
	}
	d.startHousekeeping(runCtx)

	var cmds *commands.Service
	d.Service, err = micro.AddService(d.NC, micro.Config{Name: client.ServiceName, Version: Version,
		Description: "Roster: organizations, projects, tracks, roles and permissions (event-sourced)",
		// micro counts errors and time around a handler only; commands reply later, from the
		// scheduler, so their own figures are reported as the endpoint's data.
		StatsHandler: func(e *micro.Endpoint) any {
			if e.Name == "commands" && cmds != nil {
				return cmds.Stats()
			}
			return nil
		}})
	if err != nil {
		return nil, fmt.Errorf("micro service: %w", err)
	}
	if d.writes() {
		cmds, err = commands.New(commands.Config{Presets: presets, Store: d.Store, Logger: log.With("component", "commands"),
			Now: cfg.Now, InviteTTL: cfg.InviteTTL, Policy: d.Policy, OrgQueue: cfg.OrgQueue, Pacer: d.pacer})
		if err != nil {
			return nil, err
		}
		d.goRun(func() {
			if err := cmds.Warm(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("warm organization states", "err", err)
			}
		})
		if err := cmds.AddEndpoints(runCtx, d.Service); err != nil {
			return nil, err
		}
		d.goRun(func() { cmds.RunExpiry(runCtx) })
	}
	if d.reads() {
		qcfg := queries.Config{Members: d.Members, Permissions: d.Perms, Presets: presets, Now: cfg.Now,
			Logger: log.With("component", "queries"), DeadLetters: dead.Load, History: projections.StreamHistory{JS: js},
			Policy: d.Policy, MaxWaiters: cfg.MaxWaiters, MaxPayload: d.NC.MaxPayload(), Alarm: d.alarm.get, Pacer: d.pacer}
		if d.Store != nil {
			qcfg.History = projections.StoreHistory{Store: d.Store}
		}
		if d.Relay != nil {
			qcfg.Relay = func() client.RelayStatus {
				st := d.Relay.State()
				return client.RelayStatus{State: st.State, Reason: st.Reason, Published: st.Published}
			}
		}
		q, err := queries.NewQueries(qcfg)
		if err != nil {
			return nil, err
		}
		// The history index is a view with a checkpoint beside the views (loaded, caught up
		// and saved by Run; queries wait for the load).
		q.Index().UseStore(d.viewsDB, log.With("component", "history-index"))
		d.goRun(func() { q.Index().Run(runCtx, d.cfg.FlushEvery) })
		if err := q.AddEndpoints(runCtx, d.Service); err != nil {
			return nil, err
		}
		d.Rebuilder = queries.NewRebuilder(d.NC, []*projections.View{d.Members, d.Perms}, qcfg.History, log.With("component", "rebuild"))
		d.Rebuilder.Policy = d.Policy
		d.Rebuilder.History = q.Index()
		if err := d.Rebuilder.AddEndpoints(runCtx, d.Service); err != nil {
			return nil, err
		}
	}
	if d.Store != nil {
		integ := &queries.Integrity{Store: d.Store, JS: js, Policy: d.Policy, Logger: log.With("component", "integrity")}
		if err := integ.AddEndpoints(runCtx, d.Service); err != nil {
			return nil, err
		}
	}
	if err := d.NC.Flush(); err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	d.startChecksums(runCtx, cmds)
	log.Info("ready", "url", natsconn.Redact(d.URL), "role", cfg.Role, "data_dir", cfg.DataDir)
	return d, nil
}

// connect starts the embedded server (or not) and opens rosterd's connection.
func (d *Daemon) connect(ctx context.Context) error {
	cfg, log := d.cfg, d.cfg.Logger
	connOpts := []nats.Option{nats.Name("rosterd"), nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", natsconn.Redact(err.Error()))
			}
		})}
	if cfg.NATSURL != "" {
		d.URL = cfg.NATSURL
		o := cfg.NATS
		o.URL = cfg.NATSURL
		if !cfg.Secured() {
			log.Warn("insecure: the external NATS is reached without credentials; every request is answered as an anonymous application",
				"url", natsconn.Redact(d.URL))
		}
		d.dial = func(name string) (*nats.Conn, error) {
			return natsconn.Connect(ctx, o, append(connOpts, nats.Name(name))...)
		}
		nc, err := d.dial("rosterd")
		if err != nil {
			return err
		}
		d.NC = nc
		return nil
	}
	host, port, _ := embeddednats.ParseListen(cfg.Listen)
	e, err := embeddednats.Open(embeddednats.Config{Host: host, Port: port, StoreDir: filepath.Join(cfg.DataDir, "nats"),
		ConfigFile: cfg.NATSConfig, MaxMemoryStore: cfg.JSMaxMemory, MaxFileStore: cfg.JSMaxStore, Logger: log})
	if err != nil {
		return err
	}
	d.NS = e.Server
	d.URL = d.NS.ClientURL()
	if e.Secured {
		log.Info("embedded NATS server listening", "url", natsconn.Redact(d.URL), "config", cfg.NATSConfig,
			"account", embeddednats.RosterAccount)
	} else {
		log.Warn("insecure: the embedded NATS server has no authentication and every request is answered as an anonymous application; give --nats-config for accounts",
			"url", natsconn.Redact(d.URL))
	}
	d.dial = func(name string) (*nats.Conn, error) {
		nc, err := nats.Connect(d.URL, append(append(e.ConnectOptions(), connOpts...), nats.Name(name))...)
		if err != nil {
			return nil, fmt.Errorf("connect to the embedded server: %w", err)
		}
		return nc, nil
	}
	d.NC, err = d.dial("rosterd")
	return err
}

func (d *Daemon) startViews(ctx, runCtx context.Context, presets domain.Presets, js jetstream.JetStream, dead *projections.DeadLetterCounter) error {
	log := d.cfg.Logger
	if err := d.openViews(presets); err != nil {
		return err
	}
	err := d.loadViews(ctx)
	if errors.Is(err, projections.ErrSnapshotDamaged) {
		// The views are derived from the log: a damaged one is set aside and rebuilt,
		// never served.
		d.Perms.CloseCheckCache()
		if cerr := d.viewsDB.Close(); cerr != nil {
			return fmt.Errorf("close damaged views: %w", cerr)
		}
		d.viewsDB = nil
		if err := d.moveViewsAside("damaged", "a view's snapshot is damaged: moving the views aside; they are rebuilt from the log", "err", err); err != nil {
			return err
		}
		if err := d.openViews(presets); err != nil {
			return err
		}
		err = d.loadViews(ctx)
	}
	if err != nil {
		return err
	}
	views := []*projections.View{d.Members, d.Perms}
	for _, v := range views {
		v.SetPacer(d.pacer)
		d.goRun(func() { v.RunFlusher(runCtx, d.cfg.FlushEvery) })
	}
	viewsJS, err := jetstream.New(d.viewsNC)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	rcfg := projections.RouterConfig{NC: d.viewsNC, JS: viewsJS, Views: []*projections.View{d.Members, d.Perms}, Logger: log}
	if d.Store != nil {
		// The log is local: the views check every stream message against it, and follow it
		// directly once a stream message was refused.
		rcfg.Log = d.Store
		for _, v := range views {
			d.goRun(func() { v.FollowLog(runCtx, d.Store) })
		}
	}
	d.router, err = projections.NewRouter(rcfg, dead)
	if err != nil {
		return err
	}
	d.goRun(func() {
		if err := d.router.Run(runCtx); err != nil {
			log.Error("router stopped", "err", err)
		}
	})
	select {
	case <-d.router.Running():
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// openViews opens the views' store and makes the two views on it.
func (d *Daemon) openViews(presets domain.Presets) error {
	opts := d.cfg.viewsSizing().Apply(badger.DefaultOptions(d.viewsDir()).WithLogger(nil).WithSyncWrites(false))
	var err error
	if d.viewsDB, err = badger.Open(opts); err != nil {
		return fmt.Errorf("open views: %w", err)
	}
	d.Members = projections.NewView("members", presets, d.viewsDB, d.cfg.Logger)
	d.Perms = projections.NewView("permissions", presets, d.viewsDB, d.cfg.Logger)
	d.Perms.EnableCheckCache(d.cfg.CheckCache)
	d.Members.SetClock(d.cfg.Now) // reads drop memberships whose end has come
	d.Perms.SetClock(d.cfg.Now)
	return nil
}

// loadSnapshot loads a view's snapshot and, with a local log, checks it against the log.
func (d *Daemon) loadSnapshot(ctx context.Context, v *projections.View) error {
	if _, err := v.Load(); err != nil {
		return err
	}
	if d.Store == nil {
		return nil
	}
	err := v.CheckAgainstLog(ctx, d.Store)
	if errors.Is(err, eventstore.ErrCorruptLog) {
		return &IntegrityError{Problem: fmt.Sprintf("the log cannot be read: %v", err), Fix: fixRecover}
	}
	return err
}

// loadViews brings both views up to the log. Each loads its snapshot and, in a process with the
// log, catches up from the log directly (faster than one message at a time over JetStream).
// When both stored the same checkpoint (or none), one fold serves both: the members view is
// loaded and caught up, and the permissions view is a copy of it.
func (d *Daemon) loadViews(ctx context.Context) error {
	membersAt, err := d.Members.StoredPosition()
	if err != nil {
		return err
	}
	permsAt, err := d.Perms.StoredPosition()
	if err != nil {
		return err
	}
	if membersAt == permsAt && d.Store != nil {
		if err := d.loadSnapshot(ctx, d.Members); err != nil {
			return err
		}
		if err := d.Members.CatchUp(ctx, d.Store); err != nil {
			return err
		}
		d.Perms.CopyFrom(d.Members, permsAt)
		return nil
	}
	views := []*projections.View{d.Members, d.Perms}
	errs := make([]error, len(views))
	var wg sync.WaitGroup
	for i, v := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = d.loadSnapshot(ctx, v); errs[i] == nil && d.Store != nil {
				errs[i] = v.CatchUp(ctx, d.Store)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *Daemon) goRun(fn func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		fn()
	}()
}

// Close drains and stops everything, flushing the views.
func (d *Daemon) Close() {
	d.closed.Do(func() {
		if d.Service != nil {
			_ = d.Service.Stop()
		}
		if d.router != nil {
			_ = d.router.Close()
		}
		d.cancel()
		d.wg.Wait()
		if d.Perms != nil {
			d.Perms.CloseCheckCache()
		}
		if d.viewsDB != nil {
			_ = d.viewsDB.Close()
		}
		if d.Store != nil {
			_ = d.Store.Close()
		}
		for _, nc := range []*nats.Conn{d.NC, d.relayNC, d.viewsNC} {
			if nc != nil {
				_ = nc.Drain()
				nc.Close()
			}
		}
		if d.NS != nil {
			d.NS.Shutdown()
			d.NS.WaitForShutdown()
		}
		d.lock.release()
	})
}
