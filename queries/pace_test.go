package queries_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/internal/natstest"
	"roster/internal/pace"
	"roster/queries"
)

// TestQueriesAreInteractive: a query answered over NATS tells the pacer (Config.Pacer) that
// interactive work wants the processors, so that bulk work gives way to it.
func TestQueriesAreInteractive(t *testing.T) {
	p := pace.New(pace.Config{Quiet: time.Hour}) // seen once, contended for the rest of the test
	q := newQueriesWith(t, func(c *queries.Config) { c.Pacer = p })
	_, nc := natstest.StartForTest(t)
	svc, err := micro.AddService(nc, micro.Config{Name: "rostertest", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := q.AddEndpoints(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if p.Contended() {
		t.Fatal("contended before any query")
	}
	msg, err := nc.Request(client.QueryPrefix+"Check", []byte(`{"org_id":"nobody","user_id":"u","permission":"project.read","project_id":"p"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), `"ok"`) {
		t.Fatalf("Check: %s", msg.Data)
	}
	if !p.Contended() {
		t.Fatal("a Check over NATS did not count as interactive work")
	}
}
