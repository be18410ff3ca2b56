package queries_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/projections"
	"roster/queries"
)

// BenchmarkQueryCheck is the query side's own cost of one Check request: decode, answer, encode.
func BenchmarkQueryCheck(b *testing.B) {
	store, presets := history(&testing.T{})
	quiet := slog.New(slog.DiscardHandler)
	members := projections.NewView("members", presets, nil, quiet)
	perms := projections.NewView("permissions", presets, nil, quiet)
	perms.EnableCheckCache()
	for _, v := range []*projections.View{members, perms} {
		if err := v.CatchUp(context.Background(), store); err != nil {
			b.Fatal(err)
		}
	}
	q, err := queries.NewQueries(queries.Config{Members: members, Permissions: perms, History: projections.StoreHistory{Store: store}, Presets: presets})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.view","min_position":3}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, code := q.Execute(ctx, "Check", body); code != "" {
			b.Fatal(code)
		}
	}
}

// history runs a few commands through the write side into a memory log.
func history(t *testing.T) (eventstore.Store, domain.Presets) {
	t.Helper()
	presets := domain.MustLoadPresets()
	store := eventstore.NewMemory()
	svc, err := commands.New(commands.Config{Presets: presets, Store: store, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, body string }{
		{"CreateOrganization", `{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana"}`},
		{"AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"bob"}`},
		{"CreateProject", `{"org_id":"acme","actor":"ana","project_id":"p1"}`},
		{"AddMember", `{"org_id":"acme","actor":"ana","project_id":"p1","user_id":"bob","roles":["viewer"]}`},
		{"CreateOrganization", `{"org_id":"dl","kind":"team","preset":"dataloop","actor":"olga"}`},
	} {
		if reply, code := svc.Execute(context.Background(), c.name, []byte(c.body)); code != "" {
			t.Fatalf("%s: %s", c.name, reply)
		}
	}
	return store, presets
}
