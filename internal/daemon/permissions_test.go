package daemon_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
)

// In the example file every user is confined to Roster's subjects and their own reply prefix:
// inside the user account PEOPLE, bob can neither read alice's requests (and answer them in
// Roster's place) nor her replies, nor write into her inbox.
func TestExampleSecureConfigKeepsUsersOfOneAccountApart(t *testing.T) {
	d := startSecured(t, filepath.Join("..", "..", "docs", "nats-secure.conf"), nil)
	alice := connectAs(t, d, nats.UserInfo("alice", "alice-change-me"), nats.CustomInboxPrefix("_INBOX_alice"))
	violations := make(chan error, 16)
	bob := connectAs(t, d, nats.UserInfo("bob", "bob-change-me"), nats.CustomInboxPrefix("_INBOX_bob"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	refused := func(what, subject string) {
		t.Helper()
		select {
		case err := <-violations:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") || !strings.Contains(err.Error(), subject) {
				t.Fatalf("%s %s: %v", what, subject, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s %s was not refused", what, subject)
		}
	}
	for _, subject := range []string{"roster.query.>", "roster.cmd.>", "_INBOX.>", "_INBOX_alice.>", "roster.>", ">"} {
		if _, err := bob.QueueSubscribe(subject, "roster", func(m *nats.Msg) {
			_ = m.Respond([]byte(`{"ok":true,"position":1,"result":{"decision":"allowed"}}`))
		}); err != nil {
			t.Fatal(err)
		}
		if err := bob.Flush(); err != nil {
			t.Fatal(err)
		}
		refused("subscribe", subject)
	}
	if err := bob.Publish("_INBOX_alice.x", []byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := bob.Flush(); err != nil {
		t.Fatal(err)
	}
	refused("publish", "_INBOX_alice.x")
	// bob's own requests still work.
	status(t, bob)

	// Every one of alice's Checks is answered by Roster: allowed through her ownership (a via),
	// never a forged answer without one.
	cmdOK(t, alice, "CreateOrganization", map[string]any{"org_id": "alices", "kind": "team", "preset": "dataloop", "name": "A"})
	pos := cmdOK(t, alice, "CreateProject", map[string]any{"org_id": "alices", "project_id": "p", "name": "P"}).Position
	for i := range 20 {
		rep := ask(t, alice, "roster.query.Check", map[string]any{"org_id": "alices", "project_id": "p", "user_id": "alice",
			"permission": "Delete a Project", "min_position": pos, "wait_ms": 10000})
		var qr client.QueryReply
		if err := json.Unmarshal([]byte(rep.Body), &qr); err != nil || !qr.OK {
			t.Fatalf("Check %d: %s", i, rep.Body)
		}
		var res client.CheckResult
		if err := json.Unmarshal(qr.Result, &res); err != nil || res.Decision != "allowed" || len(res.Via) == 0 {
			t.Fatalf("Check %d: %s", i, fmt.Sprint(string(qr.Result)))
		}
	}
}
