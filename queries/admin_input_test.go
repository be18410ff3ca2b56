package queries

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/edge"
	"roster/internal/natstest"
	"roster/projections"
)

// adminStore is a Badger log holding n records of one organization.
func adminStore(t *testing.T, n int) eventstore.Store {
	t.Helper()
	store, err := eventstore.OpenBadger(t.TempDir(), eventstore.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ctx := context.Background()
	for i := range n {
		rec := eventstore.Record{ID: uuid.Must(uuid.NewV7()).String(), Stream: "org-acme", Type: "ProjectCreated",
			Time: time.Now().UTC(), OrgID: "acme", Actor: "tina", Data: json.RawMessage(fmt.Sprintf(`{"project_id":"p%d"}`, i))}
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "org-acme", ExpectedVersion: uint64(i), Events: []eventstore.Record{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// wantInvalid asserts err is an invalid refusal whose message names every word.
func wantInvalid(t *testing.T, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want invalid naming %v", words)
	}
	code, msg := edge.CodeOf(err)
	if code != client.CodeInvalid {
		t.Fatalf("code %s (%s), want invalid", code, msg)
	}
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not name %q", msg, w)
		}
	}
}

// The operators' requests are decoded like every other: unknown, duplicate and wrong-case keys
// and nesting beyond MaxJSONDepth are refused invalid; an empty body is every field omitted.
func TestAdminRequestsAreDecodedStrictly(t *testing.T) {
	deep := strings.Repeat(`{"from":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	for _, tc := range []struct {
		name, body string
		v          any
		want       []string
	}{
		{"export unknown key", `{"zzz":1}`, &client.Export{}, []string{"zzz"}},
		{"export duplicate key", `{"limit":1,"limit":2}`, &client.Export{}, []string{"limit", "twice"}},
		{"export wrong-case key", `{"Limit":1}`, &client.Export{}, []string{"Limit", "case"}},
		{"verify deep nesting", deep, &client.Verify{}, []string{"MaxJSONDepth", "16"}},
		{"verify trailing data", `{"from":1}{}`, &client.Verify{}, []string{"trailing"}},
		{"rebuild unknown key", `{"view":["members"]}`, &client.Rebuild{}, []string{"view"}},
		{"rebuild duplicate key", `{"views":[],"views":["members"]}`, &client.Rebuild{}, []string{"views", "twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalid(t, decodeAdmin([]byte(tc.body), tc.v), tc.want...)
		})
	}
	for _, body := range []string{"", "  ", "{}"} {
		if err := decodeAdmin([]byte(body), &client.Export{}); err != nil {
			t.Errorf("body %q refused: %v", body, err)
		}
	}
}

// Positions beyond the log head, and an after_position beyond up_to, are refused invalid
// naming the field and the bound; the bounds themselves are answered.
func TestAdminPositionsBeyondTheHeadAreRefused(t *testing.T) {
	ctx := context.Background()
	in := &Integrity{Store: adminStore(t, 51)}
	_, err := in.verify(ctx, []byte(`{"from":999999}`))
	wantInvalid(t, err, "from", "999999", "head 51")
	_, err = in.verify(ctx, []byte(`{"from":52}`))
	wantInvalid(t, err, "from", "head 51")

	_, err = exportOnce(ctx, in, []byte(`{"after_position":50,"up_to":10}`))
	wantInvalid(t, err, "after_position 50", "up_to 10")
	_, err = exportOnce(ctx, in, []byte(`{"after_position":52}`))
	wantInvalid(t, err, "after_position 52", "51")
	_, err = exportOnce(ctx, in, []byte(`{"up_to":52}`))
	wantInvalid(t, err, "up_to 52", "51")

	res, err := exportOnce(ctx, in, []byte(`{"after_position":10,"up_to":10}`))
	if err != nil {
		t.Fatalf("after_position = up_to: %v", err)
	}
	if page := res.(client.ExportPage); len(page.Records) != 0 || page.UpTo != 10 {
		t.Fatalf("after_position = up_to: %+v", page)
	}
	res, err = exportOnce(ctx, in, []byte(`{"after_position":40,"limit":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if page := res.(client.ExportPage); len(page.Records) != 5 || page.Records[0].Position != 41 || page.NextAfterPosition != 45 {
		t.Fatalf("page: %d records, next %d", len(page.Records), page.NextAfterPosition)
	}
}

// Over the wire, roster.admin.Rebuild refuses a request with an unknown or duplicate key
// invalid and rebuilds nothing.
func TestRebuildEndpointDecodesStrictly(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := context.Background()
	svc, err := micro.AddService(nc, micro.Config{Name: "rostertest", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	views := []*projections.View{projections.NewView("members", domain.MustLoadPresets(), nil, logger)}
	b := NewRebuilder(nc, views, eventstore.NewMemory(), logger)
	if err := b.AddEndpoints(ctx, svc); err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{`{"zzz":1}`: "zzz", `{"views":[],"views":["members"]}`: "twice"} {
		msg, err := nc.Request(AdminRebuild, []byte(body), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var rep client.QueryReply
		if err := json.Unmarshal(msg.Data, &rep); err != nil {
			t.Fatalf("reply %s: %v", msg.Data, err)
		}
		if rep.OK || rep.Error == nil || rep.Error.Code != client.CodeInvalid || !strings.Contains(rep.Error.Message, want) {
			t.Fatalf("%s: reply %s, want invalid naming %q", body, msg.Data, want)
		}
	}
}

// One verify runs at a time: a second while the first holds its slot is refused conflict,
// naming the running one, and once the first is done the next is taken. Export pages read at
// once are bounded the same way (MaxConcurrentExports), refused unavailable.
func TestAdminVerifyAndExportAreBounded(t *testing.T) {
	ctx := context.Background()
	_, nc := natstest.StartForTest(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	in := &Integrity{Store: adminStore(t, 5), JS: js, Stream: client.EventStream, Logger: slog.New(slog.DiscardHandler)}
	entered, release := make(chan struct{}), make(chan struct{})
	in.verifyHeld = func() {
		close(entered)
		<-release
	}
	first := make(chan error, 1)
	go func() {
		_, err := in.verify(ctx, []byte(`{"from":2}`))
		first <- err
	}()
	<-entered
	_, err = in.verify(ctx, nil)
	if code, msg := edge.CodeOf(err); code != client.CodeConflict || !strings.Contains(msg, "from position 2") || !strings.Contains(msg, "one verify at a time") {
		t.Fatalf("second verify: %s %q; want conflict naming the running one", code, msg)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first verify: %v", err)
	}
	in.verifyHeld = nil
	res, err := in.verify(ctx, nil)
	if err != nil || !res.(client.VerifyResult).Log.OK {
		t.Fatalf("verify after the first: %+v %v", res, err)
	}

	// Export pages hold their slot until sent (done): as many as allowed, then one more.
	var sending []func()
	for range MaxConcurrentExports {
		_, done, err := in.export(ctx, nil)
		if err != nil {
			t.Fatalf("export within the bound: %v", err)
		}
		sending = append(sending, done)
	}
	_, _, err = in.export(ctx, nil)
	if code, msg := edge.CodeOf(err); code != client.CodeUnavailable || !strings.Contains(msg, "MaxConcurrentExports") {
		t.Fatalf("export over the bound: %s %q", code, msg)
	}
	sending[0]() // one page sent
	_, done, err := in.export(ctx, nil)
	if err != nil {
		t.Fatalf("export once a page was sent: %v", err)
	}
	done()
	for _, done := range sending[1:] {
		done()
	}
	if n := in.exports.Load(); n != 0 {
		t.Fatalf("%d exports counted after all were sent, want 0", n)
	}
}

// exportOnce answers one export page and gives its slot back.
func exportOnce(ctx context.Context, in *Integrity, body []byte) (any, error) {
	res, done, err := in.export(ctx, body)
	if done != nil {
		done()
	}
	return res, err
}
