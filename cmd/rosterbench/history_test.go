package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// TestHistoryTiny runs the history figures on a tiny log and checks that every query has its
// wall and CPU times and allocations, and that --only picks queries.
func TestHistoryTiny(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runHistory(context.Background(), []string{"--sizes", "200", "--requests", "3", "--json", "--dir", t.TempDir()}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var figs []historyFigure
	if err := json.Unmarshal(stdout.Bytes(), &figs); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	queries := map[string]bool{}
	for _, f := range figs {
		if f.Query == "index build" {
			continue
		}
		queries[f.Query] = true
		if f.P50MS <= 0 || f.P99MS < f.P50MS || f.CPUP50MS <= 0 || f.AllocsPerReq <= 0 {
			t.Errorf("%s: %+v, want positive figures", f.Query, f)
		}
	}
	for _, q := range []string{"AccessAt position", "AccessAt at (head)", "Check explain", "Audit user, limit 10", "ListMembers q"} {
		if !queries[q] {
			t.Errorf("no figure for %s", q)
		}
	}
	stdout.Reset()
	err = runHistory(context.Background(), []string{"--sizes", "200", "--requests", "3", "--json", "--only", "Check", "--dir", t.TempDir()}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	figs = nil
	if err := json.Unmarshal(stdout.Bytes(), &figs); err != nil {
		t.Fatal(err)
	}
	if len(figs) != 2 || figs[1].Query != "Check explain" {
		t.Errorf("--only Check: %+v, want the index build and Check explain", figs)
	}
}
