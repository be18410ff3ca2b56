package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
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
		"--clients", "8", "--conns", "2", "--phase", "300ms", "--single", "200ms", "--rounds", "1", "--fresh", "10",
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
			"floor_append_per_s", "ready_warm_s", "check_ratio_to_echo", "commands_ratio_to_append"} {
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
