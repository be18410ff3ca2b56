package queries_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/edge"
	"roster/projections"
	"roster/queries"
)

// pausedLog is a log whose first scan waits until released, so a rebuild is known to be
// running (ordering, not time).
type pausedLog struct {
	eventstore.Store
	started, release chan struct{}
	once             sync.Once
}

func (l *pausedLog) Scan(ctx context.Context, from uint64, fn func(eventstore.Record) error) error {
	// The first scan, whoever reaches it first, says so and waits; later ones go through.
	l.once.Do(func() {
		l.started <- struct{}{}
		<-l.release
	})
	return l.Store.Scan(ctx, from, fn)
}

// A second rebuild while one runs is refused with conflict naming the running one; once it is
// done, the next one runs.
func TestOneRebuildAtATime(t *testing.T) {
	ctx := context.Background()
	presets := domain.MustLoadPresets()
	store := eventstore.NewMemory()
	svc, err := commands.New(commands.Config{Presets: presets, Store: store, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	if reply, code := svc.Execute(ctx, "CreateOrganization", []byte(`{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana","name":"Acme"}`)); code != "" {
		t.Fatal(string(reply))
	}
	logger := slog.New(slog.DiscardHandler)
	members := projections.NewView("members", presets, nil, logger)
	perms := projections.NewView("permissions", presets, nil, logger)
	log := &pausedLog{Store: store, started: make(chan struct{}), release: make(chan struct{})}
	b := queries.NewRebuilder(nil, []*projections.View{members, perms}, log, logger)

	first := make(chan error, 1)
	go func() {
		_, err := b.Run(ctx, queries.RebuildRequest{Views: []string{"members"}})
		first <- err
	}()
	<-log.started
	_, err = b.Run(ctx, queries.RebuildRequest{Views: []string{"permissions"}})
	if code, _ := edge.CodeOf(err); code != client.CodeConflict || !strings.Contains(err.Error(), "rebuild of members") {
		t.Fatalf("second rebuild: %v, want conflict naming the running rebuild of members", err)
	}
	close(log.release)
	if err := <-first; err != nil {
		t.Fatalf("first rebuild: %v", err)
	}
	views, err := b.Run(ctx, queries.RebuildRequest{})
	if err != nil || len(views) != 2 {
		t.Fatalf("rebuild after the first: %v %v", views, err)
	}
}

// A rebuild of every view rebuilds the history index too (it is derived from the log).
func TestRebuildOfEveryViewRebuildsTheHistoryIndex(t *testing.T) {
	ctx := context.Background()
	presets := domain.MustLoadPresets()
	store := eventstore.NewMemory()
	svc, err := commands.New(commands.Config{Presets: presets, Store: store, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana","name":"Acme"}`,
	} {
		if reply, code := svc.Execute(ctx, "CreateOrganization", []byte(body)); code != "" {
			t.Fatal(string(reply))
		}
	}
	if reply, code := svc.Execute(ctx, "AddOrgMember", []byte(`{"org_id":"acme","actor":"ana","user_id":"bob","email":"bob@acme.test","role":"member"}`)); code != "" {
		t.Fatal(string(reply))
	}
	logger := slog.New(slog.DiscardHandler)
	members := projections.NewView("members", presets, nil, logger)
	perms := projections.NewView("permissions", presets, nil, logger)
	index := projections.NewHistoryIndex(projections.StoreHistory{Store: store})
	b := queries.NewRebuilder(nil, []*projections.View{members, perms}, store, logger)
	b.History = index
	if _, err := b.Run(ctx, queries.RebuildRequest{Views: []string{"members"}}); err != nil {
		t.Fatal(err)
	}
	if index.Position() != 0 {
		t.Fatalf("a rebuild of one view rebuilt the index to %d", index.Position())
	}
	if _, err := b.Run(ctx, queries.RebuildRequest{}); err != nil {
		t.Fatal(err)
	}
	if head, _ := store.Head(ctx); index.Position() != head || head == 0 || !index.Known("acme") {
		t.Fatalf("index at %d after a full rebuild, log head %d", index.Position(), head)
	}
}
