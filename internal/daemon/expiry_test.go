package daemon_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/domain"
	"roster/internal/daemon"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func startAt(t *testing.T, dir string, clk *testClock) *rig {
	t.Helper()
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), FlushEvery: 20 * time.Millisecond, Now: clk.Now})
	if err != nil {
		t.Fatalf("start rosterd: %v", err)
	}
	nc, err := nats.Connect(d.URL)
	if err != nil {
		d.Close()
		t.Fatalf("connect: %v", err)
	}
	r := &rig{t: t, d: d, c: client.New(nc), nc: nc, dir: dir}
	t.Cleanup(r.stop)
	return r
}

func countType(t *testing.T, r *rig, typ string) int {
	t.Helper()
	recs, err := r.d.Store.Read(context.Background(), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range recs {
		if rec.Type == typ {
			n++
		}
	}
	return n
}

// Time-bound access over NATS: Check answers as if the membership were gone from its end on,
// before anything is appended; ExtendMembership moves the end; ListMembers shows it; AccessAt
// honours it; MembershipExpired is appended once, across a restart.
func TestTimeBoundMembershipEndToEnd(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	clk := &testClock{now: t0}
	dir := t.TempDir()
	r := startAt(t, dir, clk)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	r.ok("AddOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "bob"})
	r.ok("CreateProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1"})
	r.ok("AddMember", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "bob", "roles": strs{"viewer"},
		"expires_at": t0.Add(time.Hour).Format(time.RFC3339)})
	if got := r.check("acme", "p1", "bob", "project.content.view"); got != "allowed" {
		t.Fatalf("before the end: %s", got)
	}
	if m := r.members("acme", "p1")["bob"]; m.ExpiresAt != "2027-01-04T10:00:00Z" {
		t.Fatalf("ListMembers shows expires_at %q", m.ExpiresAt)
	}

	// Extend by the typed client; a date in the past is refused.
	end := t0.Add(2 * time.Hour)
	rep, err := r.c.ExtendMembership(ctx, client.ExtendMembership{Meta: client.Meta{OrgID: "acme", Actor: "ana"}, ProjectID: "p1", UserID: "bob",
		ExpiresAt: end.Format(time.RFC3339)})
	if err != nil {
		t.Fatal(err)
	}
	r.pos = rep.Position
	r.refused("ExtendMembership", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "bob", "expires_at": t0.Add(-time.Hour).Format(time.RFC3339)}, client.CodeInvalid)
	if m := r.members("acme", "p1")["bob"]; m.ExpiresAt != "2027-01-04T11:00:00Z" {
		t.Fatalf("after ExtendMembership ListMembers shows %q", m.ExpiresAt)
	}
	clk.set(t0.Add(90 * time.Minute))
	if got := r.check("acme", "p1", "bob", "project.content.view"); got != "allowed" {
		t.Fatalf("between the old and the new end: %s", got)
	}

	// At the end: denied at once, nothing appended.
	clk.set(end)
	head, _ := r.d.Store.Head(ctx)
	if got := r.check("acme", "p1", "bob", "project.content.view"); got != "denied" {
		t.Fatalf("at the end: %s", got)
	}
	if _, ok := r.members("acme", "p1")["bob"]; ok {
		t.Fatal("ListMembers still lists bob at the end")
	}
	if now, _ := r.d.Store.Head(ctx); now != head || countType(t, r, domain.EvMembershipExpired) != 0 {
		t.Fatal("something was appended at the end; the answer must not need it")
	}

	// AccessAt before and after the end.
	var before, after client.AccessAtResult
	r.query("AccessAt", obj{"org_id": "acme", "project_id": "p1", "user_id": "bob", "at": t0.Add(time.Minute).Format(time.RFC3339)}, &before)
	r.query("AccessAt", obj{"org_id": "acme", "project_id": "p1", "user_id": "bob", "at": end.Add(time.Minute).Format(time.RFC3339)}, &after)
	if !slices.Contains(before.Permissions, "project.content.view") || slices.Contains(after.Permissions, "project.content.view") {
		t.Fatalf("AccessAt before %v, after %v", before.Permissions, after.Permissions)
	}

	// The next command records the end once; a restart does not record it again.
	r.ok("RenameProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "name": "P one"})
	if n := countType(t, r, domain.EvMembershipExpired); n != 1 {
		t.Fatalf("%d MembershipExpired, want 1", n)
	}
	r.stop()
	r = startAt(t, dir, clk)
	r.ok("RenameProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "name": "P two"})
	if n := countType(t, r, domain.EvMembershipExpired); n != 1 {
		t.Fatalf("%d MembershipExpired after a restart, want 1", n)
	}
	if got := r.check("acme", "p1", "bob", "project.content.view"); got != "denied" {
		t.Fatalf("after the restart: %s", got)
	}
}
