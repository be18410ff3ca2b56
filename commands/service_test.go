package commands_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func run(t *testing.T, svc *commands.Service, name, body string) (client.CommandReply, string) {
	t.Helper()
	raw, code := svc.Execute(context.Background(), name, []byte(body))
	var rep client.CommandReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("%s reply %s: %v", name, raw, err)
	}
	return rep, code
}

// Invitations expire after the configured time: accepting is refused, and Roster appends
// InvitationExpired for them.
func TestInvitationsExpire(t *testing.T) {
	store := eventstore.NewMemory()
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	svc, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store, Now: clk.Now, InviteTTL: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	run(t, svc, "CreateOrganization", `{"org_id":"acme","kind":"team","preset":"ica","actor":"tina"}`)
	run(t, svc, "CreateProject", `{"org_id":"acme","actor":"tina","project_id":"p1"}`)
	if rep, code := run(t, svc, "InviteMember", `{"org_id":"acme","actor":"tina","project_id":"p1","email":"x@lab.test","roles":["project_viewer"],"invitation_id":"inv1"}`); code != "" {
		t.Fatalf("invite: %+v", rep)
	}
	clk.advance(47 * time.Hour)
	svc.ExpireNow(context.Background())
	if head, _ := store.Head(context.Background()); head != 4 {
		t.Fatalf("expired too early: head %d", head)
	}
	clk.advance(2 * time.Hour)
	if _, code := run(t, svc, "AcceptInvite", `{"org_id":"acme","actor":"x","invitation_id":"inv1","actor_email":"x@lab.test"}`); code != client.CodePreconditionFailed {
		t.Fatalf("accepting an expired invitation: %s", code)
	}
	svc.ExpireNow(context.Background())
	recs, _ := store.Read(context.Background(), 1, 0)
	last := recs[len(recs)-1]
	if last.Type != domain.EvInvitationExpired || last.Actor != domain.SystemActor {
		t.Fatalf("last event %s by %s, want InvitationExpired by %s", last.Type, last.Actor, domain.SystemActor)
	}
	svc.ExpireNow(context.Background())
	if again, _ := store.Read(context.Background(), 1, 0); len(again) != len(recs) {
		t.Fatal("an invitation expired twice")
	}
}

// Commands of one organization are serialized, so concurrent commands never collide on the
// stream version; each gets its own reply.
func TestConcurrentCommandsOfOneOrganization(t *testing.T) {
	store := eventstore.NewMemory()
	svc, _ := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store})
	run(t, svc, "CreateOrganization", `{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana"}`)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"org_id": "acme", "actor": "ana", "user_id": "u" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
			if raw, code := svc.Execute(context.Background(), "AddOrgMember", body); code != "" {
				t.Errorf("add: %s", raw)
			}
		}()
	}
	wg.Wait()
	if head, _ := store.Head(context.Background()); head != 51 {
		t.Fatalf("head %d, want 51", head)
	}
}

// failingStore refuses one chosen append, as a disk or commit failure would.
type failingStore struct {
	eventstore.Store
	calls, failAt int
}

func (f *failingStore) AppendAsync(ctx context.Context, req eventstore.AppendRequest) (func() (eventstore.AppendResult, error), error) {
	f.calls++
	if f.calls == f.failAt {
		return func() (eventstore.AppendResult, error) {
			return eventstore.AppendResult{}, &eventstore.StoreError{Op: "append", Stream: req.Stream, Err: eventstore.ErrClosed}
		}, nil
	}
	return f.Store.AppendAsync(ctx, req)
}

// The state moves on before an append is durable; when the append fails, the command gets
// unavailable and the next command is decided from the log again, not from the lost events.
func TestFailedAppendReloadsTheState(t *testing.T) {
	store := &failingStore{Store: eventstore.NewMemory(), failAt: 2}
	svc, _ := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store})
	run(t, svc, "CreateOrganization", `{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana"}`)
	if _, code := run(t, svc, "AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"bob"}`); code != client.CodeUnavailable {
		t.Fatalf("failed append answered %q", code)
	}
	// Had the state kept bob, this would be a conflict.
	if rep, code := run(t, svc, "AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"bob"}`); code != "" {
		t.Fatalf("retry after the failure: %+v", rep)
	}
	recs, _ := store.Read(context.Background(), 1, 0)
	if len(recs) != 2 || recs[1].Type != domain.EvOrgMemberAdded || recs[1].Version != 2 {
		t.Fatalf("log after the failure: %+v", recs)
	}
}
