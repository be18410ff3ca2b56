package daemon_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"roster/client"
	"roster/eventstore"
)

// statusUntil asks Status until cond holds (or fails after a generous deadline).
func statusUntil(t *testing.T, r *rig, what string, cond func(client.Status) bool) client.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := r.c.Status(context.Background(), client.StatusRequest{})
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status never showed %s: %+v %v", what, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A forged event published into ROSTER_EVENTS by a plain client (insecure mode), even one that
// links to the log's last hash and matches its own, is never applied: the views refuse it (the
// log has no such record), Status shows the alarm and the relay stopped, and the real events
// appended after it still reach the views (they follow the log).
func TestViewsRefuseForgedStreamEvent(t *testing.T) {
	r := newRig(t)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	ctx := context.Background()
	if err := r.d.Relay.WaitPublished(ctx, r.pos); err != nil {
		t.Fatal(err)
	}
	last, err := r.d.Store.Read(ctx, r.pos, 1)
	if err != nil || len(last) != 1 {
		t.Fatalf("read the log head: %v", err)
	}
	forged := eventstore.Record{ID: "forged-1", Position: r.pos + 1, Stream: "org-evil", Version: 1, Type: "OrganizationCreated",
		Time: time.Now().UTC(), OrgID: "evil", Actor: "mallory",
		Data:     json.RawMessage(`{"name":"Evil","kind":"team","preset":"neptune","admin_id":"mallory","admin_role":"admin"}`),
		PrevHash: last[0].Hash}
	forged.Hash, _ = eventstore.HashRecord(forged, forged.PrevHash)
	body, _ := json.Marshal(forged)
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "roster.events.evil.OrganizationCreated", body); err != nil {
		t.Fatal(err)
	}
	st := statusUntil(t, r, "the views' alarm", func(s client.Status) bool {
		return len(s.Projections) == 2 && s.Projections[0].Refused > 0 && s.Projections[1].Refused > 0
	})
	if !strings.Contains(st.Projections[0].Alarm, "no record at position") || len(st.Alarms) == 0 {
		t.Fatalf("alarm: %+v", st)
	}
	if st.DeadLetters == nil || *st.DeadLetters == 0 {
		t.Fatalf("the refused message was not dead-lettered: %+v", st)
	}

	// Real events after the forged one still apply, though the stream cannot carry them.
	r.ok("CreateOrganization", obj{"org_id": "beta", "kind": "team", "preset": "neptune", "actor": "bob"})
	r.ok("AddOrgMember", obj{"org_id": "beta", "actor": "bob", "user_id": "carol", "role": "member"})
	if m := r.members("beta", ""); m["carol"].UserID != "carol" || m["bob"].UserID != "bob" {
		t.Fatalf("beta's members: %v", m)
	}
	_, err = r.c.Query(ctx, "ListMembers", obj{"org_id": "evil", "min_position": r.pos}, &client.MembersPage{})
	if client.CodeOf(err) != client.CodeNotFound {
		t.Fatalf("the forged organization is visible: %v", err)
	}
	st = statusUntil(t, r, "the relay stopped", func(s client.Status) bool { return s.Relay != nil && s.Relay.State == eventstore.RelayStopped })
	if st.Relay.Published != r.pos-2 || !strings.Contains(st.Relay.Reason, "diverges") && !strings.Contains(st.Relay.Reason, "ahead") {
		t.Fatalf("relay: %+v (log head %d)", st.Relay, r.pos)
	}
	for _, p := range st.Projections {
		if p.Lag != 0 || p.Position != r.pos {
			t.Fatalf("view %s at %d lag %d, log head %d", p.Name, p.Position, p.Lag, r.pos)
		}
	}
	relayAlarm := false
	for _, a := range st.Alarms {
		relayAlarm = relayAlarm || strings.HasPrefix(a, "relay stopped")
	}
	if !relayAlarm {
		t.Fatalf("no relay alarm: %v", st.Alarms)
	}

	// roster.admin.Verify: the log is whole, the stream breaks at the forged message.
	raw, err := r.c.Request(ctx, client.AdminVerify, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		OK     bool                `json:"ok"`
		Result client.VerifyResult `json:"result"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil || !rep.OK {
		t.Fatalf("verify: %s %v", raw, err)
	}
	if !rep.Result.Log.OK || rep.Result.Log.Last != r.pos || rep.Result.Stream.OK || rep.Result.Stream.BadPosition != r.pos-1 {
		t.Fatalf("verify: %+v", rep.Result)
	}
}
