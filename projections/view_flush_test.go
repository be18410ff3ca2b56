package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

// Flush encodes the changed organizations without holding the view's lock: while it encodes,
// an Apply takes the write lock and a Check of another organization is answered after it.
// (Encoding under the read lock made a waiting Apply hold back every Check behind it for as
// long as a large organization took to encode.) The snapshot written is the state as of the
// copy, and a restart from it matches the view.
func TestFlushEncodesOutsideTheLock(t *testing.T) {
	ctx := context.Background()
	presets, store, run := commandLog(t)
	for _, org := range []string{"acme", "globex"} {
		run("CreateOrganization", fmt.Sprintf(`{"org_id":%q,"kind":"team","preset":"neptune","actor":"ana"}`, org))
		run("AddOrgMember", fmt.Sprintf(`{"org_id":%q,"actor":"ana","user_id":"bob"}`, org))
		run("CreateProject", fmt.Sprintf(`{"org_id":%q,"actor":"ana","project_id":"p1"}`, org))
	}
	db, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := NewView("permissions", presets, db, nil)
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	flushedAt := v.Position()
	run("AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"carl"}`)
	next, err := store.Read(ctx, flushedAt+1, 1)
	if err != nil || len(next) != 1 {
		t.Fatalf("read the next record: %v", err)
	}

	order := make(chan string, 2)
	v.flushing = func() {
		// With the lock held here, this Apply would wait for it and the Check behind it too.
		if err := v.Apply(next[0]); err != nil {
			t.Error(err)
		}
		order <- "apply"
		if _, _, _, err := v.Check("globex", "bob", "project.content.view", domain.Scope{ProjectID: "p1"}, nil); err != nil {
			t.Error(err)
		}
		order <- "check"
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	if a, b := <-order, <-order; a != "apply" || b != "check" {
		t.Fatalf("order %s, %s", a, b)
	}
	// The record applied during the flush is not in the checkpoint: it stays to be written.
	if v.persisted != flushedAt || !v.dirty["acme"] {
		t.Fatalf("persisted %d (want %d), acme dirty %v", v.persisted, flushedAt, v.dirty["acme"])
	}
	v.flushing = nil
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	warm := NewView("permissions", presets, db, nil)
	if _, err := warm.Load(); err != nil {
		t.Fatal(err)
	}
	p1, d1, _ := v.Digest()
	p2, d2, _ := warm.Digest()
	if p1 != p2 || d1 != d2 {
		t.Fatalf("reloaded %d %s, view %d %s", p2, d2, p1, d1)
	}
}

// commandLog is a memory log the write side appends to, at a fixed clock: run executes a
// command and fails the test if it is refused.
func commandLog(t *testing.T) (domain.Presets, eventstore.Store, func(name, body string)) {
	t.Helper()
	presets := domain.MustLoadPresets()
	store := eventstore.NewMemory()
	svc, err := commands.New(commands.Config{Presets: presets, Store: store, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return presets, store, func(name, body string) {
		t.Helper()
		if reply, code := svc.Execute(context.Background(), name, []byte(body)); code != "" {
			t.Fatalf("%s: %s", name, reply)
		}
	}
}
