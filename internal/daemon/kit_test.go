package daemon_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/daemon"
)

// rig is a running rosterd (embedded NATS on a random loopback port, Badger in a temp dir) and a client.
type rig struct {
	t   *testing.T
	d   *daemon.Daemon
	c   *client.Client
	nc  *nats.Conn
	dir string
	pos uint64 // position of the last accepted command
}

func start(t *testing.T, dir string) *rig {
	t.Helper()
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: dir, Listen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler), FlushEvery: 20 * time.Millisecond})
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
	r.watch()
	return r
}

func newRig(t *testing.T) *rig { return start(t, t.TempDir()) }

func (r *rig) stop() {
	r.nc.Close()
	r.d.Close()
}

type obj = map[string]any

// ok submits a command that must be accepted.
func (r *rig) ok(name string, req obj) *client.CommandReply {
	r.t.Helper()
	rep, err := r.c.Command(context.Background(), name, req)
	if err != nil {
		r.t.Fatalf("%s %v: %v", name, req, err)
	}
	if rep.Position > r.pos {
		r.pos = rep.Position
	}
	return rep
}

// refused submits a command that must be refused with code.
func (r *rig) refused(name string, req obj, code string) {
	r.t.Helper()
	_, err := r.c.Command(context.Background(), name, req)
	if got := client.CodeOf(err); got != code {
		r.t.Fatalf("%s %v: got %v, want code %s", name, req, err, code)
	}
}

// query asks a query at the last command's position (read-your-writes) and decodes the result.
func (r *rig) query(name string, req obj, out any) {
	r.t.Helper()
	req["min_position"] = r.pos
	if _, err := r.c.Query(context.Background(), name, req, out); err != nil {
		r.t.Fatalf("%s %v: %v", name, req, err)
	}
}

func (r *rig) check(org, project, user, perm string) string {
	r.t.Helper()
	var res client.CheckResult
	req := obj{"org_id": org, "user_id": user, "permission": perm}
	if project != "" {
		req["project_id"] = project
	}
	r.query("Check", req, &res)
	return res.Decision
}

func (r *rig) members(org, project string) map[string]client.Member {
	r.t.Helper()
	var page client.MembersPage
	req := obj{"org_id": org}
	if project != "" {
		req["project_id"] = project
	}
	r.query("ListMembers", req, &page)
	out := map[string]client.Member{}
	for _, m := range page.Members {
		key := m.UserID
		if key == "" {
			key = m.Email
		}
		out[key] = m
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
