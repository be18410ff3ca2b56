package projections_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"roster/domain"
	"roster/eventstore"
	"roster/internal/natstest"
	"roster/projections"
)

func envelope(t *testing.T, pos uint64, typ string, data any) []byte {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(eventstore.Record{ID: "id-" + typ, Position: pos, Stream: "org-acme", Version: pos, Type: typ,
		Time: time.Unix(0, 0).UTC(), OrgID: "acme", Actor: "ana", Data: raw})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Poison events on the stream (malformed JSON, unknown type, a position that disagrees with
// the stream sequence) go to the dead-letter subject; the views keep going.
func TestPoisonEventsAreDeadLetteredAndViewsKeepGoing(t *testing.T) {
	_, nc := natstest.StartForTest(t)
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eventstore.EnsureStream(ctx, js, eventstore.RelayConfig{}); err != nil {
		t.Fatal(err)
	}
	dead := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(projections.DeadLetterPrefix+">", dead)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	presets := domain.MustLoadPresets()
	view := projections.NewView("members", presets, nil, slog.New(slog.DiscardHandler))
	var counter projections.DeadLetterCounter
	router, err := projections.NewRouter(projections.RouterConfig{NC: nc, JS: js, Views: []*projections.View{view},
		Logger: slog.New(slog.DiscardHandler)}, &counter)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = router.Run(runCtx) }()
	defer router.Close()
	<-router.Running()

	publish := func(subject string, body []byte) {
		t.Helper()
		if _, err := js.Publish(ctx, subject, body); err != nil {
			t.Fatal(err)
		}
	}
	publish("roster.events.acme.OrganizationCreated", envelope(t, 1, domain.EvOrganizationCreated,
		domain.OrganizationCreated{Name: "Acme", Kind: "team", Preset: "neptune", AdminID: "ana", AdminRole: "admin"}))
	publish("roster.events.acme.Garbage", []byte(`{"id": "x", "position": 2, "type": `))
	publish("roster.events.acme.FutureThing", envelope(t, 3, "FutureThing", map[string]string{"x": "y"}))
	publish("roster.events.acme.OrgMemberAdded", envelope(t, 99, domain.EvOrgMemberAdded, domain.OrgMemberAdded{UserID: "eve", Role: "admin"}))
	publish("roster.events.acme.OrgMemberAdded", envelope(t, 5, domain.EvOrgMemberAdded, domain.OrgMemberAdded{UserID: "bob", Role: "member"}))

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := view.WaitFor(wctx, 5); err != nil {
		t.Fatalf("view stuck at %d: %v", view.Position(), err)
	}
	_ = view.Read("acme", func(o *domain.Org, _ uint64) error {
		if o.Members["bob"] == nil || o.Members["eve"] != nil {
			t.Errorf("members after poison: %v", o.Members)
		}
		return nil
	})
	got := map[string]bool{}
	for range 3 {
		select {
		case m := <-dead:
			got[m.Header.Get(projections.MetaPosition)] = true
			if m.Subject != projections.DeadLetterPrefix+"members" {
				t.Errorf("dead letter on %s", m.Subject)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("dead letters: got %v, want positions 2, 3, 4", got)
		}
	}
	if !got["2"] || !got["3"] || !got["4"] || counter.Load() != 3 {
		t.Fatalf("dead letters %v (counted %d), want positions 2, 3 and 4", got, counter.Load())
	}
}
