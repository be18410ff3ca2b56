package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/commands"
	"roster/internal/daemon"
)

// startWith is start with the given limits.
func startWith(t *testing.T, cfg daemon.Config) *rig {
	t.Helper()
	cfg.DataDir, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	cfg.Logger, cfg.FlushEvery = slog.New(slog.DiscardHandler), 20*time.Millisecond
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start rosterd: %v", err)
	}
	nc, err := nats.Connect(d.URL)
	if err != nil {
		d.Close()
		t.Fatalf("connect: %v", err)
	}
	r := &rig{t: t, d: d, c: client.New(nc), nc: nc, dir: cfg.DataDir}
	t.Cleanup(r.stop)
	return r
}

// collect subscribes to reply.> and returns the replies as they come.
func collect(t *testing.T, nc *nats.Conn) chan *nats.Msg {
	t.Helper()
	replies := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe("reply.>", replies)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return replies
}

func next(t *testing.T, replies chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-replies:
		return m
	case <-time.After(time.Minute):
		t.Fatal("no reply")
		return nil
	}
}

// codeOf is a reply's error code ("" when it is ok).
func codeOf(m *nats.Msg) string {
	var rep struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &rep); err != nil || rep.Error == nil {
		return ""
	}
	return rep.Error.Code
}

// While every waiter slot holds a query waiting for a far min_position, a plain Check is
// answered and one more waiter is refused unavailable naming the limit at once; the waiters
// themselves are still waiting (none has answered before those two).
func TestWaitersAreBounded(t *testing.T) {
	const limit = 8
	r := startWith(t, daemon.Config{MaxWaiters: limit})
	r.ok(client.CmdCreateOrganization, obj{"org_id": "a", "kind": "team", "preset": "ica", "actor": "tina", "name": "A"})
	r.check("a", "", "tina", "org.members.manage") // the views hold the organization
	replies := collect(t, r.nc)
	far := r.pos + 1_000_000
	send := func(reply string, req obj) {
		if err := r.nc.PublishRequest(client.QueryPrefix+client.QCheck, reply, mustJSON(t, req)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range limit {
		send(fmt.Sprintf("reply.wait.%d", i), obj{"org_id": "a", "user_id": "tina", "permission": "org.members.manage", "min_position": far, "wait_ms": 30000})
	}
	send("reply.plain", obj{"org_id": "a", "user_id": "tina", "permission": "org.members.manage"})
	send("reply.extra", obj{"org_id": "a", "user_id": "tina", "permission": "org.members.manage", "min_position": far, "wait_ms": 30000})
	got := map[string]*nats.Msg{}
	for len(got) < 2 {
		m := next(t, replies)
		if strings.HasPrefix(m.Subject, "reply.wait.") {
			t.Fatalf("a waiter answered before the plain Check and the extra waiter: %s", m.Data)
		}
		got[m.Subject] = m
	}
	var plain client.QueryReply
	if err := json.Unmarshal(got["reply.plain"].Data, &plain); err != nil || !plain.OK {
		t.Fatalf("plain Check: %s", got["reply.plain"].Data)
	}
	extra := got["reply.extra"]
	if codeOf(extra) != client.CodeUnavailable || !strings.Contains(string(extra.Data), fmt.Sprintf("the limit is %d", limit)) {
		t.Fatalf("extra waiter: %s", extra.Data)
	}
}

// A full per-organization queue answers unavailable naming the limit at once, while the
// organization's earlier commands are still being decided.
func TestFullOrganizationQueueIsRefused(t *testing.T) {
	const limit = 2
	r := startWith(t, daemon.Config{OrgQueue: limit})
	r.ok(client.CmdCreateOrganization, obj{"org_id": "a", "kind": "team", "preset": "ica", "actor": "tina", "name": "A"})
	r.ok(client.CmdCreateProject, obj{"org_id": "a", "actor": "tina", "project_id": "p", "name": "P"})
	replies := collect(t, r.nc)
	var csv strings.Builder
	csv.WriteString("email,user_id,name,roles,grants\n")
	for i := range commands.MaxImportRows {
		fmt.Fprintf(&csv, "u%d@a.test,,,project_viewer,\n", i)
	}
	send := func(reply, name string, req obj) {
		if err := r.nc.PublishRequest(client.CommandPrefix+name, reply, mustJSON(t, req)); err != nil {
			t.Fatal(err)
		}
	}
	send("reply.import", client.CmdImportMembers, obj{"org_id": "a", "actor": "tina", "project_id": "p", "csv": csv.String()})
	const small = 6
	for i := range small {
		send(fmt.Sprintf("reply.small.%d", i), client.CmdRenameProject, obj{"org_id": "a", "actor": "tina", "project_id": "p", "name": fmt.Sprintf("P%d", i)})
	}
	refused, accepted := 0, 0
	for range small + 1 {
		m := next(t, replies)
		switch code := codeOf(m); code {
		case "":
			accepted++
		case client.CodeUnavailable:
			if !strings.Contains(string(m.Data), fmt.Sprintf("the per-organization limit is %d", limit)) {
				t.Fatalf("%s: %s", m.Subject, m.Data)
			}
			refused++
		default:
			t.Fatalf("%s: %s %s", m.Subject, code, m.Data)
		}
	}
	if refused == 0 || accepted+refused != small+1 {
		t.Fatalf("accepted %d, refused %d of %d", accepted, refused, small+1)
	}
}

// `nats micro stats roster` reports the commands' own figures: requests, errors by code and
// processing time from arrival to reply.
func TestMicroStatsReportCommandFigures(t *testing.T) {
	r := newRig(t)
	r.ok(client.CmdCreateOrganization, obj{"org_id": "a", "kind": "team", "preset": "ica", "actor": "tina", "name": "A"})
	r.refused(client.CmdCreateProject, obj{"org_id": "nowhere", "actor": "tina", "project_id": "p", "name": "P"}, client.CodeNotFound)
	subject, err := micro.ControlSubject(micro.StatsVerb, "roster", "")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := r.nc.Request(subject, nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var st micro.Stats
	if err := json.Unmarshal(msg.Data, &st); err != nil {
		t.Fatal(err)
	}
	for _, e := range st.Endpoints {
		if e.Name != "commands" {
			continue
		}
		var figures commands.Stats
		if err := json.Unmarshal(e.Data, &figures); err != nil {
			t.Fatalf("commands data %s: %v", e.Data, err)
		}
		if figures.Requests != 2 || figures.Errors != 1 || figures.ErrorsByCode[client.CodeNotFound] != 1 || figures.ProcessingTime <= 0 {
			t.Fatalf("commands figures %+v", figures)
		}
		return
	}
	t.Fatalf("no commands endpoint in %s", msg.Data)
}

// 10,000 invitations with names of the maximum length are listed in pages, each within the
// max payload, every invitation once; a page token from elsewhere is refused.
func TestLongInvitationListsArePaged(t *testing.T) {
	r := newRig(t)
	// The imports and the 30 s waits below outlast the client's default 10 s on a loaded machine.
	r.c = r.c.WithTimeout(2 * time.Minute)
	r.ok(client.CmdCreateOrganization, obj{"org_id": "a", "kind": "team", "preset": "ica", "actor": "tina", "name": "A"})
	r.ok(client.CmdCreateProject, obj{"org_id": "a", "actor": "tina", "project_id": "p", "name": "P"})
	const total, chunk = 10_000, 2_500
	long := strings.Repeat("n", commands.MaxNameLen-6)
	for start := 0; start < total; start += chunk {
		var csv strings.Builder
		csv.WriteString("email,user_id,name,roles,grants\n")
		for i := start; i < start+chunk; i++ {
			fmt.Fprintf(&csv, "u%d@a.test,,%s%06d,project_viewer,\n", i, long, i)
		}
		r.ok(client.CmdImportMembers, obj{"org_id": "a", "actor": "tina", "project_id": "p", "csv": csv.String()})
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		var page client.InvitationsList
		req := obj{"org_id": "a", "wait_ms": 30000}
		if token != "" {
			req["page_token"] = token
		}
		r.query(client.QListInvitations, req, &page)
		pages++
		for _, inv := range page.Invitations {
			if seen[inv.InvitationID] {
				t.Fatalf("invitation %s on two pages", inv.InvitationID)
			}
			if len(inv.Name) != commands.MaxNameLen {
				t.Fatalf("name of %d bytes", len(inv.Name))
			}
			seen[inv.InvitationID] = true
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	if len(seen) != total || pages != total/1000 {
		t.Fatalf("%d invitations on %d pages, want %d on %d", len(seen), pages, total, total/1000)
	}
	var small client.InvitationsList
	r.query(client.QListInvitations, obj{"org_id": "a", "limit": 7}, &small)
	if len(small.Invitations) != 7 || small.NextPageToken == "" {
		t.Fatalf("limit 7: %d rows, next %q", len(small.Invitations), small.NextPageToken)
	}
	_, err := r.c.Query(context.Background(), client.QListInvitations, obj{"org_id": "a", "page_token": "bm9wZQ"}, &small)
	if client.CodeOf(err) != client.CodeInvalid {
		t.Fatalf("foreign page token: %v", err)
	}
}

// Positions that name the past are refused beyond the log head: AccessAt position (2^64-1
// included) and Audit after_position.
func TestPositionsBeyondTheHeadAreRefused(t *testing.T) {
	r := newRig(t)
	r.ok(client.CmdCreateOrganization, obj{"org_id": "a", "kind": "team", "preset": "ica", "actor": "tina", "name": "A"})
	for _, c := range []struct {
		name string
		req  obj
	}{
		{client.QAccessAt, obj{"org_id": "a", "user_id": "tina", "position": uint64(1<<64 - 1)}},
		{client.QAccessAt, obj{"org_id": "a", "user_id": "tina", "position": r.pos + 1}},
		{client.QAudit, obj{"org_id": "a", "after_position": r.pos + 1}},
	} {
		_, err := r.c.Query(context.Background(), c.name, c.req, nil)
		if client.CodeOf(err) != client.CodeInvalid || !strings.Contains(err.Error(), "beyond the log head") {
			t.Fatalf("%s %v: %v", c.name, c.req, err)
		}
	}
	var res client.AccessAtResult
	r.query(client.QAccessAt, obj{"org_id": "a", "user_id": "tina", "position": r.pos}, &res)
	if res.Position != r.pos {
		t.Fatalf("AccessAt at the head: %+v", res)
	}
}
