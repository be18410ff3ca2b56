package daemon_test

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"roster/client"
)

// The stream's traffic travels on connections of its own: the relay publishes every event on
// "rosterd-relay", the views' consumers subscribe on "rosterd-views", and the service's connection
// ("rosterd") carries requests and replies, not the stream's bursts queued ahead of them.
func TestStreamTrafficHasItsOwnConnections(t *testing.T) {
	r := newRig(t)
	r.ok(client.CmdCreateOrganization, obj{"org_id": "a", "kind": "team", "preset": "ica", "actor": "tina", "name": "A"})
	r.ok(client.CmdCreateProject, obj{"org_id": "a", "actor": "tina", "project_id": "p", "name": "P"})
	const users = 300
	var csv string
	csv = "email,user_id,name,roles,grants\n"
	for i := range users {
		csv += fmt.Sprintf("u%d@a.test,,U %d,project_viewer,\n", i, i)
	}
	r.ok(client.CmdImportMembers, obj{"org_id": "a", "actor": "tina", "project_id": "p", "csv": csv})
	var members client.MembersPage
	r.query(client.QListMembers, obj{"org_id": "a", "min_position": r.pos, "wait_ms": 30000, "limit": 10}, &members)

	cz, err := r.d.NS.Connz(&server.ConnzOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*server.ConnInfo{}
	for _, c := range cz.Conns {
		byName[c.Name] = c
	}
	svc, relay, views := byName["rosterd"], byName["rosterd-relay"], byName["rosterd-views"]
	if svc == nil || relay == nil || views == nil {
		t.Fatalf("connections %v, want rosterd, rosterd-relay and rosterd-views", keys(byName))
	}
	events := int64(r.pos)
	if relay.OutMsgs < events {
		t.Fatalf("rosterd-relay published %d messages for %d events", relay.OutMsgs, events)
	}
	if views.NumSubs < 2 {
		t.Fatalf("rosterd-views holds %d subscriptions, want the two views' consumers", views.NumSubs)
	}
	// The service's connection sent the replies and a few stream API requests, far fewer than the events.
	if svc.OutMsgs >= events || svc.InMsgs >= events {
		t.Fatalf("the service's connection carried %d out, %d in for %d events", svc.OutMsgs, svc.InMsgs, events)
	}
}

func keys(m map[string]*server.ConnInfo) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
