package projections_test

import (
	"context"
	"log/slog"
	"testing"

	"roster/projections"
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
	q, err := projections.NewQueries(projections.Config{Members: members, Permissions: perms, History: projections.StoreHistory{Store: store}, Presets: presets})
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
