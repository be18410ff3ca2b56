package commands_test

import (
	"context"
	"testing"
	"time"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

// A membership's end is recorded once (MembershipExpired by Roster), also by a service that
// restarted on the same log and warmed its states instead of loading them on use.
func TestMembershipExpiredAppendedOnceAcrossARestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	end := clk.Now().Add(time.Hour)
	open := func() (*eventstore.BadgerStore, *commands.Service) {
		store, err := eventstore.OpenBadger(dir, eventstore.BadgerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return store, svc
	}
	countExpired := func(store eventstore.Store) int {
		recs, err := store.Read(ctx, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Type == domain.EvMembershipExpired {
				n++
				if r.Actor != domain.SystemActor {
					t.Fatalf("MembershipExpired by %s", r.Actor)
				}
			}
		}
		return n
	}

	store, svc := open()
	run(t, svc, "CreateOrganization", `{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana"}`)
	run(t, svc, "AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"bob"}`)
	run(t, svc, "CreateProject", `{"org_id":"acme","actor":"ana","project_id":"p1"}`)
	if rep, code := run(t, svc, "AddMember", `{"org_id":"acme","actor":"ana","project_id":"p1","user_id":"bob","roles":["viewer"],"expires_at":"`+end.Format(time.RFC3339)+`"}`); code != "" {
		t.Fatalf("add: %+v", rep)
	}
	svc.ExpireMembershipsNow(ctx)
	if n := countExpired(store); n != 0 {
		t.Fatalf("%d MembershipExpired before the end", n)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	clk.advance(time.Hour) // at the end, after a restart
	store, svc = open()
	if err := svc.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	svc.ExpireMembershipsNow(ctx)
	svc.ExpireMembershipsNow(ctx)
	if n := countExpired(store); n != 1 {
		t.Fatalf("%d MembershipExpired after two passes, want 1", n)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, svc = open() // and once more: the state folded from the log has nothing due
	defer store.Close()
	if err := svc.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	svc.ExpireMembershipsNow(ctx)
	run(t, svc, "RenameProject", `{"org_id":"acme","actor":"ana","project_id":"p1","name":"P one"}`)
	if n := countExpired(store); n != 1 {
		t.Fatalf("%d MembershipExpired after a second restart, want 1", n)
	}
}
