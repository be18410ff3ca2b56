package projections_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"roster/domain"
	"roster/eventstore"
	"roster/projections"
)

// history runs a few commands through the write side into a memory log.
func history(t *testing.T) (eventstore.Store, domain.Presets) {
	t.Helper()
	presets, store, run := projections.CommandLog(t)
	for _, c := range []struct{ name, body string }{
		{"CreateOrganization", `{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana"}`},
		{"AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"bob"}`},
		{"CreateProject", `{"org_id":"acme","actor":"ana","project_id":"p1"}`},
		{"AddMember", `{"org_id":"acme","actor":"ana","project_id":"p1","user_id":"bob","roles":["viewer"]}`},
		{"CreateOrganization", `{"org_id":"dl","kind":"team","preset":"dataloop","actor":"olga"}`},
	} {
		run(c.name, c.body)
	}
	return store, presets
}

func openDB(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// A view stores its snapshot and checkpoint together; it restarts from them, and a snapshot of
// another format version is dropped and rebuilt from the log at start.
func TestViewSnapshotAndFormatVersion(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	dir := t.TempDir()

	db := openDB(t, dir)
	v := projections.NewView("members", presets, db, quiet)
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	pos, digest, _ := v.Digest()
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	// Restart: the snapshot comes back at its checkpoint, with nothing to catch up.
	db = openDB(t, dir)
	warm := projections.NewView("members", presets, db, quiet)
	if stale, err := warm.Load(); err != nil || stale {
		t.Fatalf("load: stale=%v err=%v", stale, err)
	}
	if p, d, _ := warm.Digest(); p != pos || d != digest {
		t.Fatalf("reloaded at %d %s, stored at %d %s", p, d, pos, digest)
	}
	// Another format version: dropped, then rebuilt from the log to the same digest.
	meta, _ := json.Marshal(map[string]any{"format": projections.FormatVersion - 1, "position": pos})
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("v/members/meta"), meta) }); err != nil {
		t.Fatal(err)
	}
	old := projections.NewView("members", presets, db, quiet)
	if stale, err := old.Load(); err != nil || !stale || old.Position() != 0 {
		t.Fatalf("old format: stale=%v position=%d err=%v", stale, old.Position(), err)
	}
	if err := old.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	if p, d, _ := old.Digest(); p != pos || d != digest {
		t.Fatalf("rebuilt at %d %s, want %d %s", p, d, pos, digest)
	}
	_ = db.Close()
}

// Applying the same record twice changes nothing: at-least-once delivery, exactly-once effects.
func TestViewAppliesEachPositionOnce(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	v := projections.NewView("members", presets, nil, slog.New(slog.DiscardHandler))
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	_, before, _ := v.Digest()
	recs, _ := store.Read(ctx, 1, 0)
	for _, r := range recs {
		if err := v.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, after, _ := v.Digest(); after != before {
		t.Fatal("re-delivered records changed the view")
	}
}

// A flush cut short can leave an organization's snapshot ahead of the checkpoint; catching up
// from the checkpoint must not apply those events twice.
func TestSnapshotAheadOfCheckpointIsNotAppliedTwice(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	db := openDB(t, dir)
	defer db.Close()
	v := projections.NewView("members", presets, db, quiet)
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	head, digest, _ := v.Digest()
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	// The checkpoint says 2: as if the snapshots were written and the checkpoint was not.
	meta, _ := json.Marshal(map[string]any{"format": projections.FormatVersion, "position": 2})
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("v/members/meta"), meta) }); err != nil {
		t.Fatal(err)
	}
	again := projections.NewView("members", presets, db, quiet)
	if _, err := again.Load(); err != nil {
		t.Fatal(err)
	}
	if err := again.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	if p, d, _ := again.Digest(); p != head || d != digest {
		t.Fatalf("after catching up from an old checkpoint: %d %s, want %d %s", p, d, head, digest)
	}
}

// At start one fold can serve both views: the copy answers like the original, is independent
// of it, and writes at its next flush only what changed after its own stored checkpoint.
func TestViewCopyFrom(t *testing.T) {
	store, presets := history(t)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	db := openDB(t, t.TempDir())
	defer db.Close()
	src := projections.NewView("members", presets, nil, quiet)
	if err := src.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	cp := projections.NewView("permissions", presets, db, quiet)
	cp.EnableCheckCache()
	cp.CopyFrom(src, 0)
	pos, want, _ := src.Digest()
	if p, got, _ := cp.Digest(); p != pos || got != want {
		t.Fatalf("copy at %d %s, source at %d %s", p, got, pos, want)
	}
	if err := cp.Flush(); err != nil {
		t.Fatal(err)
	}
	reloaded := projections.NewView("permissions", presets, db, quiet)
	if _, err := reloaded.Load(); err != nil {
		t.Fatal(err)
	}
	if p, got, _ := reloaded.Digest(); p != pos || got != want {
		t.Fatalf("the copy's snapshot reloads at %d %s, want %d %s", p, got, pos, want)
	}
	// The copy is deep: changing the source leaves it alone.
	_ = src.Read("acme", func(o *domain.Org, _ uint64) error {
		delete(o.Members, "bob")
		return nil
	})
	if _, got, _ := cp.Digest(); got != want {
		t.Fatal("the copy shares state with its source")
	}
}
