package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"roster/eventstore"
)

// rosterd's memory defaults reach Badger: the log and the views are opened with the sizes of
// the README's flags table, not Badger's own (64 MiB memtables ×5, 256 MiB block caches, 4
// compactors), which took rosterd past 650 MiB at rosterbench's default load.
func TestMemoryDefaultsReachBadger(t *testing.T) {
	cfg := WithMemoryDefaults(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	logOpts := d.Store.(*eventstore.BadgerStore).BadgerOptions()
	if logOpts.MemTableSize != DefaultLogMemTableMiB<<20 || logOpts.NumMemtables != DefaultLogMemtables ||
		logOpts.BlockCacheSize != DefaultLogCacheMiB<<20 || logOpts.NumCompactors != DefaultCompactors {
		t.Fatalf("log opened with memtable %d ×%d, block cache %d, %d compactors", logOpts.MemTableSize, logOpts.NumMemtables,
			logOpts.BlockCacheSize, logOpts.NumCompactors)
	}
	if DefaultLogValueThreshold > 0 && logOpts.ValueThreshold != DefaultLogValueThreshold {
		t.Fatalf("log opened with value threshold %d, want %d", logOpts.ValueThreshold, DefaultLogValueThreshold)
	}
	viewsOpts := d.viewsDB.Opts()
	if viewsOpts.MemTableSize != DefaultViewsMemTableMiB<<20 || viewsOpts.NumMemtables != DefaultViewsMemtables ||
		viewsOpts.BlockCacheSize != DefaultViewsCacheMiB<<20 || viewsOpts.NumCompactors != DefaultCompactors ||
		viewsOpts.BaseTableSize != viewsBaseTableSize {
		t.Fatalf("views opened with memtable %d ×%d, block cache %d, %d compactors", viewsOpts.MemTableSize, viewsOpts.NumMemtables,
			viewsOpts.BlockCacheSize, viewsOpts.NumCompactors)
	}
}

// The profiling endpoint serves heap profiles on loopback and refuses any other address.
func TestPprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", "192.0.2.1:6060", ":6060"} {
		cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Pprof: addr}
		cfg.Defaults()
		var nl *NonLoopbackPprofError
		if err := cfg.Validate(); !errors.As(err, &nl) {
			t.Fatalf("--pprof %s: %v", addr, err)
		}
	}
	d, err := Start(context.Background(), Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Pprof: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	resp, err := http.Get("http://" + d.PprofAddr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "HeapAlloc") {
		t.Fatalf("heap profile: %s %.200s", resp.Status, body)
	}
}

// The sizing options are bounded for library users too (rosterd names its flags first): a
// negative flush interval once panicked a ticker, a billion memtables took the heap.
func TestSizingBoundsRefused(t *testing.T) {
	for name, tweak := range map[string]func(*Config){
		"flush interval":  func(c *Config) { c.FlushEvery = -time.Second },
		"long flush":      func(c *Config) { c.FlushEvery = 2 * time.Hour },
		"log memtables":   func(c *Config) { c.LogMemtables = 1_000_000_000 },
		"compactors":      func(c *Config) { c.Compactors = 100_000 },
		"log cache":       func(c *Config) { c.LogCache = 1 << 50 },
		"views memtable":  func(c *Config) { c.ViewsMemTable = 1 << 40 },
		"org queue":       func(c *Config) { c.OrgQueue = 1 << 30 },
		"value threshold": func(c *Config) { c.LogValueThreshold = 2 << 20 },
	} {
		cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}
		tweak(&cfg)
		cfg.Defaults()
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
