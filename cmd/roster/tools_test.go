package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"roster/internal/syncbuf"
	"strings"
	"testing"
	"time"

	"roster/client"
	"roster/internal/daemon"
)

func startDaemon(t *testing.T) *daemon.Daemon {
	t.Helper()
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func mustRun(t *testing.T, url string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append([]string{"--server", url}, args...), &out, &errb); code != 0 {
		t.Fatalf("roster %v: exit %d: %s", args, code, errb.String())
	}
	return out.String()
}

// roster audit prints the trail in log order with filters, JSON lines with --json, and
// --follow prints events appended later.
func TestAuditCommand(t *testing.T) {
	d := startDaemon(t)
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "acme", "--kind", "team", "--preset", "neptune", "--actor", "ana")
	mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", "bob")
	mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", "cid")
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "other", "--kind", "team", "--preset", "neptune", "--actor", "zed")
	out := mustRun(t, d.URL, "audit", "--org-id", "acme")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "OrganizationCreated") || !strings.Contains(lines[2], "user_id=cid") {
		t.Fatalf("audit:\n%s", out)
	}
	out = mustRun(t, d.URL, "audit", "--org-id", "acme", "--user-id", "bob", "--json")
	var rec client.Event
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rec); err != nil || rec.Type != "OrgMemberAdded" || rec.Position != 2 {
		t.Fatalf("audit --json --user-id bob: %q (%v)", out, err)
	}

	// --follow: start following, append, see exactly the new matching events in order.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buf syncbuf.Buffer
	done := make(chan int)
	go func() {
		done <- runAuditFollow(ctx, d.URL, &buf)
	}()
	for i := range 3 {
		mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", fmt.Sprintf("new%d", i))
		mustRun(t, d.URL, "AddOrgMember", "--org-id", "other", "--actor", "zed", "--user-id", fmt.Sprintf("elsewhere%d", i))
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(buf.String(), "\n") < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"user_id=cid", "user_id=new0", "user_id=new1", "user_id=new2"}
	if len(got) != len(want) {
		t.Fatalf("follow printed:\n%s", buf.String())
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Fatalf("follow line %d: %q, want %s", i, got[i], w)
		}
	}
}

// runAuditFollow follows acme's OrgMemberAdded events after position 2 until ctx ends.
func runAuditFollow(ctx context.Context, url string, out *syncbuf.Buffer) int {
	return runCtx(ctx, []string{"--server", url, "--timeout", "5s", "audit", "--org-id", "acme", "--type", "OrgMemberAdded", "--after", "2", "--follow"},
		env{stdout: out, stderr: &bytes.Buffer{}})
}

// roster rebuild rebuilds every view and reports the same digest the view had.
func TestRebuildCommand(t *testing.T) {
	d := startDaemon(t)
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "acme", "--kind", "team", "--preset", "neptune", "--actor", "ana")
	pos := mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", "bob", "--json")
	var rep struct {
		Position uint64 `json:"position"`
	}
	_ = json.Unmarshal([]byte(pos), &rep)
	if err := d.Members.WaitFor(context.Background(), rep.Position); err != nil {
		t.Fatal(err)
	}
	_, digest, _ := d.Members.Digest()
	out := mustRun(t, d.URL, "rebuild", "members")
	if !strings.Contains(out, "rebuilt members") || !strings.Contains(out, digest[:16]) || strings.Contains(out, "permissions") {
		t.Fatalf("rebuild output %q, digest %s", out, digest)
	}
	var errb bytes.Buffer
	if code := run([]string{"--server", d.URL, "rebuild", "nope"}, &bytes.Buffer{}, &errb); code != exitRefused || !strings.Contains(errb.String(), "invalid") {
		t.Fatalf("rebuild nope: exit %d %s", code, errb.String())
	}
}
