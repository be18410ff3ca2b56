package projections_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/projections"
)

// BenchmarkRebuild reports events/s of rebuilding one view from a Badger log.
func BenchmarkRebuild(b *testing.B) {
	presets := domain.MustLoadPresets()
	store, err := eventstore.OpenBadger(b.TempDir(), eventstore.BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	svc, _ := commands.New(commands.Config{Presets: presets, Store: store, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	ctx := context.Background()
	exec := func(name, body string) {
		if reply, code := svc.Execute(ctx, name, []byte(body)); code != "" {
			b.Fatalf("%s: %s", name, reply)
		}
	}
	for o := range 10 {
		org := fmt.Sprintf("o%d", o)
		exec("CreateOrganization", fmt.Sprintf(`{"org_id":%q,"kind":"team","preset":"neptune","actor":"ana"}`, org))
		exec("CreateProject", fmt.Sprintf(`{"org_id":%q,"actor":"ana","project_id":"p1"}`, org))
		for u := range 300 {
			exec("AddOrgMember", fmt.Sprintf(`{"org_id":%q,"actor":"ana","user_id":"u%d"}`, org, u))
			exec("AddMember", fmt.Sprintf(`{"org_id":%q,"actor":"ana","project_id":"p1","user_id":"u%d","roles":["viewer"]}`, org, u))
		}
	}
	head, _ := store.Head(ctx)
	b.ResetTimer()
	for b.Loop() {
		v := projections.NewView("members", presets, nil, slog.New(slog.DiscardHandler))
		if err := projections.Rebuild(ctx, v, store, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(head)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkScanOnly(b *testing.B) {
	store, err := eventstore.OpenBadger(b.TempDir(), eventstore.BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	for i := range 60 {
		evs := make([]eventstore.Record, 100)
		for j := range evs {
			evs[j] = eventstore.Record{ID: fmt.Sprintf("e%d-%d", i, j), Type: "OrgMemberAdded", OrgID: "o", Actor: "a", Time: time.Unix(1, 0), Data: []byte(`{"user_id":"u1","role":"member"}`)}
		}
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "s", ExpectedVersion: uint64(i * 100), Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	n := 0
	for b.Loop() {
		_ = store.Scan(ctx, 1, func(eventstore.Record) error { n++; return nil })
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
