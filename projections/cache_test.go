package projections_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"roster/commands"
	"roster/domain"
	"roster/projections"
)

// A cached Check answer is dropped as soon as its organization changes.
func TestCheckCacheFollowsTheLog(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	v := projections.NewView("permissions", presets, nil, slog.New(slog.DiscardHandler))
	v.EnableCheckCache()
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	ask := func() string {
		d, perm, _, err := v.Check("acme", "bob", "Editing project content", domain.Scope{ProjectID: "p1"}, nil)
		if err != nil || perm != "project.content.edit" {
			t.Fatalf("check: %v %q", err, perm)
		}
		return d.Decision
	}
	if ask() != "denied" || ask() != "denied" {
		t.Fatal("viewer edits content")
	}
	svc, _ := commands.New(commands.Config{Presets: presets, Store: store, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if reply, code := svc.Execute(ctx, "ChangeRole", []byte(`{"org_id":"acme","actor":"ana","project_id":"p1","user_id":"bob","roles":["contributor"]}`)); code != "" {
		t.Fatal(string(reply))
	}
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != "allowed" {
		t.Fatalf("after the role change the cache answered %s", got)
	}
}

func BenchmarkViewCheckCached(b *testing.B) {
	store, presets := history(&testing.T{})
	v := projections.NewView("permissions", presets, nil, slog.New(slog.DiscardHandler))
	v.EnableCheckCache()
	if err := v.CatchUp(context.Background(), store); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := v.Check("acme", "bob", "project.content.view", domain.Scope{ProjectID: "p1"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// A cached allow does not outlive the end of the membership behind it, though no event
// was appended since.
func TestCheckCacheDoesNotServeAnAllowPastTheMembershipsEnd(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0).UTC()
	end := start.Add(time.Hour)
	now := start
	v := projections.NewView("permissions", presets, nil, slog.New(slog.DiscardHandler))
	v.EnableCheckCache()
	v.SetClock(func() time.Time { return now })
	svc, _ := commands.New(commands.Config{Presets: presets, Store: store, Now: func() time.Time { return start }})
	body := `{"org_id":"acme","actor":"ana","project_id":"p1","user_id":"bob","roles":["contributor"],"expires_at":"` + end.Format(time.RFC3339) + `"}`
	if reply, code := svc.Execute(ctx, "ChangeRole", []byte(body)); code != "" {
		t.Fatal(string(reply))
	}
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	head := v.Position()
	ask := func() string {
		d, _, _, err := v.Check("acme", "bob", "project.content.edit", domain.Scope{ProjectID: "p1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d.Decision
	}
	if ask() != "allowed" || ask() != "allowed" { // the second answer comes from the cache
		t.Fatal("bob may not edit before his membership ends")
	}
	now = end
	if got := ask(); got != "denied" {
		t.Fatalf("at the membership's end the view answered %s", got)
	}
	if v.Position() != head {
		t.Fatal("an event was appended; the test needs none")
	}
	if got := ask(); got != "denied" {
		t.Fatalf("the second answer at the end was %s", got)
	}
}
