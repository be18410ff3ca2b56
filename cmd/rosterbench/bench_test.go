package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/commands"
	"roster/internal/daemon"
)

// TestRunTiny runs the whole benchmark on a tiny configuration and checks that it produces
// every figure, as a positive number, on stdout and in the --out file.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts rosterd several times")
	}
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	args := []string{"--json", "-q", "--out", out, "--dir", t.TempDir(),
		"--orgs", "5", "--users", "60", "--projects", "10", "--memberships", "100",
		"--clients", "8", "--conns", "2", "--phase", "300ms", "--single", "200ms", "--rest", "2s", "--rounds", "1", "--fresh", "10",
		"--mem-memberships", "500", "--ready-events", "1000"}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string][]byte{"stdout": stdout.Bytes(), "--out file": file} {
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s is not one JSON object: %v\n%s", name, err, raw)
		}
		for _, k := range []string{"commands_per_s", "command_p99_ms", "check_per_s", "check_p50_us", "check_inprocess_ns",
			"freshness_p99_ms", "rebuild_events_per_s", "bytes_per_membership", "ready_s", "floor_echo_per_s",
			"floor_append_per_s", "ready_warm_s", "check_ratio_to_echo", "commands_ratio_to_append",
			"rosterd_rss_mib", "rosterd_rss_rest_max_mib", "rosterd_hwm_mib", "noisy_command_p99_ratio", "noisy_check_p99_ratio", "noisy_import_s", "noisy_visible_max_ms"} {
			v, ok := got[k].(float64)
			if !ok || !(v > 0) {
				t.Errorf("%s: %q = %v, want a number > 0", name, k, got[k])
			}
		}
	}
}

func TestTableHasEveryFigure(t *testing.T) {
	r := newReport(DefaultConfig())
	for _, k := range []string{"commands_per_s", "command_p99_ms", "check_per_s", "check_p50_us", "check_inprocess_ns",
		"freshness_p99_ms", "rebuild_events_per_s", "bytes_per_membership", "ready_s", "floor_echo_per_s", "floor_append_per_s"} {
		r.add(k, 1)
	}
	r.finish()
	var b bytes.Buffer
	r.Table(&b)
	for _, s := range []string{"commands/s", "Check/s", "in process", "freshness", "rebuild", "memory", "ready"} {
		if !bytes.Contains(b.Bytes(), []byte(s)) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}

func TestPlanIsValid(t *testing.T) {
	g, err := newGenerator()
	if err != nil {
		t.Fatal(err)
	}
	sh := shapeFor(100, 10_000, 2_000, 50_000)
	for i := 0; i < len(presetMix); i++ {
		p := planOrg(i, sh)
		if _, err := g.records(p); err != nil {
			t.Fatalf("org %d (%s): %v", i, p.Preset, err)
		}
		if p.Memberships < sh.Memberships {
			t.Errorf("org %d has %d memberships, want at least %d", i, p.Memberships, sh.Memberships)
		}
	}
}

// A 10,000-row import (the row limit) is taken at rosterd's default log memtable and at one far
// smaller: an append larger than a Badger transaction (15% of a memtable) is written in slices
// under the head key (eventstore addSliced), so the memtable bounds memory, not the import.
func TestImportFitsSmallMemtables(t *testing.T) {
	if testing.Short() {
		t.Skip("imports the row limit twice")
	}
	ctx := context.Background()
	var csv strings.Builder
	csv.WriteString("email,user_id,name,roles,grants\n")
	for i := range commands.MaxImportRows {
		fmt.Fprintf(&csv, "guest%d@example.test,,Guest %d,project_viewer,\n", i, i)
	}
	importIntoMemtable := func(memtable int64) error {
		cfg := rosterdMemory(daemon.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
		if memtable > 0 {
			cfg.LogMemTable = memtable
		}
		d, err := daemon.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		nc, err := nats.Connect(d.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c := client.New(nc).WithTimeout(2 * time.Minute)
		meta := client.Meta{OrgID: "big", Actor: "ann"}
		if _, err := c.CreateOrganization(ctx, client.CreateOrganization{Meta: meta, Name: "Big", Kind: "team", Preset: "ica",
			ActorEmail: "ann@example.test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateProject(ctx, client.CreateProject{Meta: meta, ProjectID: "p", Name: "P"}); err != nil {
			t.Fatal(err)
		}
		_, err = c.ImportMembers(ctx, client.ImportMembers{Meta: meta, ProjectID: "p", CSV: csv.String()})
		return err
	}
	if err := importIntoMemtable(0); err != nil {
		t.Fatalf("a %d-row import at the default log memtable (%d MiB): %v", commands.MaxImportRows, daemon.DefaultLogMemTableMiB, err)
	}
	// 8 MiB: a transaction holds 1.2 MiB, a fraction of the import's records.
	if err := importIntoMemtable(8 << 20); err != nil {
		t.Fatalf("a %d-row import at an 8 MiB log memtable: %v", commands.MaxImportRows, err)
	}
}
