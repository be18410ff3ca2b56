package daemon_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"roster/client"
)

// A views directory copied from another instance (another history) is moved aside and the
// views are rebuilt from the log: rosterd starts, answers what a fresh build answers, and
// its log says what happened. Before, the start failed on a poison event that did not link.
func TestFaultViewsFromAnotherHistory(t *testing.T) {
	dir, recs := populated(t)

	// What a fresh build of this log answers.
	r := start(t, dir)
	r.pos = uint64(len(recs))
	want := map[string]map[string]client.Member{}
	for i := range 3 {
		org := fmt.Sprintf("org%d", i)
		want[org] = r.members(org, "")
	}
	r.stop()

	// Another instance: a shorter history of its own (its views stand inside this log).
	other := newRig(t)
	other.ok("CreateOrganization", obj{"org_id": "org0", "kind": "team", "preset": "neptune", "actor": "ana"})
	other.ok("AddOrgMember", obj{"org_id": "org0", "actor": "ana", "user_id": "intruder", "role": "member"})
	other.members("org0", "")
	other.stop()
	if err := os.RemoveAll(filepath.Join(dir, "views")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(other.dir, "views"), filepath.Join(dir, "views")); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	cfg := testConfig(dir)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	r = startCfg(t, cfg)
	r.pos = uint64(len(recs))
	for org, w := range want {
		if got := r.members(org, ""); !reflect.DeepEqual(got, w) {
			t.Fatalf("%s after the foreign views were replaced: %v, want %v", org, got, w)
		}
	}
	if !strings.Contains(logs.String(), "views directory is from another history") || !strings.Contains(logs.String(), "moved_to") {
		t.Fatalf("the log does not say the views were moved aside:\n%s", logs.String())
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "views.foreign-*"))
	if len(aside) != 1 {
		t.Fatalf("foreign views not moved aside: %v", aside)
	}
	rep := r.ok("AddOrgMember", obj{"org_id": "org0", "actor": "ana", "user_id": "late", "role": "member"})
	if rep.Position != uint64(len(recs))+1 {
		t.Fatalf("write at %d, want %d", rep.Position, len(recs)+1)
	}
}
