package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"roster/domain"
	"roster/eventstore"
	"roster/projections"
)

// appendEvents appends one event per (type, data) to the organization's stream.
func appendEvents(t *testing.T, store eventstore.Store, org string, evs ...[2]string) {
	t.Helper()
	ctx := context.Background()
	stream := "org-" + org
	v, err := store.StreamVersion(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var recs []eventstore.Record
	for i, e := range evs {
		recs = append(recs, eventstore.Record{ID: fmt.Sprintf("%s-%d-%d", org, v, i), Stream: stream, Type: e[0], Time: time.Unix(1_800_000_000, 0),
			OrgID: org, Actor: "ana", Data: json.RawMessage(e[1])})
	}
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: v, Events: recs}); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryIndexTimelinesAndRebuild(t *testing.T) {
	ctx := context.Background()
	store := eventstore.NewMemory()
	appendEvents(t, store, "acme",
		[2]string{"OrganizationCreated", `{"admin_user_id":"ana","preset":"neptune"}`},     // 1
		[2]string{"OrgMemberAdded", `{"user_id":"bob","role":"member"}`},                   // 2
		[2]string{"WorkgroupCreated", `{"group_id":"g1","name":"G"}`},                      // 3
		[2]string{"WorkgroupMemberAdded", `{"group_id":"g1","user_id":"bob"}`},             // 4
		[2]string{"ProjectCreated", `{"project_id":"p1"}`},                                 // 5
		[2]string{"MemberAdded", `{"project_id":"p1","group_id":"g1","roles":["viewer"]}`}, // 6
		[2]string{"MemberAdded", `{"project_id":"p1","user_id":"cy","roles":["viewer"]}`},  // 7
		[2]string{"SomethingNew", `{"user_id":"bob"}`},                                     // 8
	)
	appendEvents(t, store, "other", [2]string{"OrgMemberAdded", `{"user_id":"bob","role":"member"}`}) // 9
	x := projections.NewHistoryIndex(projections.StoreHistory{Store: store})
	if err := x.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]uint64{
		"u:bob": {2, 4}, "g:g1": {3, 6}, "p:p1": {5}, "u:cy": {7}, "o": {1, 8},
		"A": {1, 2, 3, 4, 5, 6, 7, 8}, "U:bob": {2, 4, 8}, "U:ana": {1}, "P:p1": {5, 6, 7}, "T:MemberAdded": {6, 7}, "C:ana": {1, 2, 3, 4, 5, 6, 7, 8},
	} {
		if got := x.List("acme", key); !slices.Equal(got, want) {
			t.Errorf("acme %s = %v, want %v", key, got, want)
		}
	}
	if got := x.List("other", "u:bob"); !slices.Equal(got, []uint64{9}) {
		t.Errorf("other u:bob = %v, want [9]", got)
	}
	// Bob's facts at p1 as of 6: the organization-wide events, his own, his workgroup's and the project's; not cy's.
	facts, err := x.Facts(ctx, "acme", "bob", "p1", 6, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, r := range facts {
		got = append(got, r.Position)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("facts of bob at p1 as of 6 = %v, want %v", got, want)
	}

	// Appends after the last catch-up are indexed by the next, concurrently with readers;
	// a rebuild gives the same lists.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := x.CatchUp(ctx); err != nil {
					t.Error(err)
					return
				}
				_ = projections.UpTo(x.List("acme", "A"), 100)
				if _, err := x.PositionAt(ctx, time.Unix(1_800_000_000, 0)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 20 {
		appendEvents(t, store, "acme", [2]string{"OrgMemberAdded", fmt.Sprintf(`{"user_id":"n%d","role":"member"}`, i)})
	}
	wg.Wait()
	if err := x.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(x.List("acme", "A"))
	if len(before) != 28 || x.Position() != 29 {
		t.Fatalf("after the appends: %d acme events indexed at position %d, want 28 at 29", len(before), x.Position())
	}
	if err := x.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if after := x.List("acme", "A"); !slices.Equal(before, after) {
		t.Errorf("rebuilt: %v, want %v", after, before)
	}
}

// TestHistoryIndexPositionAt: the index turns a time into the position the log gives, from
// its own times, catching up with what the log gained first.
func TestHistoryIndexPositionAt(t *testing.T) {
	ctx := context.Background()
	store := eventstore.NewMemory()
	base := time.Unix(1_800_000_000, 0).UTC()
	add := func(org string, at time.Time) {
		t.Helper()
		stream := "org-" + org
		v, err := store.StreamVersion(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		r := eventstore.Record{ID: fmt.Sprintf("%s-%d", org, v), Stream: stream, Type: "OrgMemberAdded", Time: at, OrgID: org, Actor: "ana",
			Data: json.RawMessage(fmt.Sprintf(`{"user_id":"u%d"}`, v))}
		if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: v, Events: []eventstore.Record{r}}); err != nil {
			t.Fatal(err)
		}
	}
	// Times that repeat and jump, over two organizations.
	for i, s := range []int{0, 0, 5, 7, 7, 7, 20, 21} {
		add([]string{"acme", "other"}[i%2], base.Add(time.Duration(s)*time.Second))
	}
	x := projections.NewHistoryIndex(projections.StoreHistory{Store: store})
	check := func(when string) {
		t.Helper()
		probes := []time.Time{time.Time{}, time.Unix(-1<<40, 0), base.Add(-time.Nanosecond), base.Add(time.Unix(1<<40, 0).Sub(base)), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
		for s := -1; s <= 40; s++ {
			probes = append(probes, base.Add(time.Duration(s)*time.Second), base.Add(time.Duration(s)*time.Second+time.Nanosecond))
		}
		for _, at := range probes {
			want, err := store.PositionAt(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			got, err := x.PositionAt(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: position at %s = %d, the log's %d", when, at, got, want)
			}
		}
	}
	check("first use") // catches up by itself
	if x.Position() != 8 {
		t.Fatalf("indexed to %d, want 8", x.Position())
	}
	add("acme", base.Add(30*time.Second))
	add("acme", base.Add(40*time.Second))
	check("after appends")
	x.Reset()
	check("after a reset")
}

// TestHistoryIndexSharesPresetEvents: the events carrying a whole preset are decoded once and
// shared by the folds; every other event is decoded afresh for each fold.
func TestHistoryIndexSharesPresetEvents(t *testing.T) {
	ctx := context.Background()
	store := eventstore.NewMemory()
	appendEvents(t, store, "acme",
		[2]string{"OrganizationCreated", `{"admin_user_id":"ana","preset":"neptune"}`},
		[2]string{"OrgMemberAdded", `{"user_id":"bob","role":"member"}`},
	)
	x := projections.NewHistoryIndex(projections.StoreHistory{Store: store})
	recs, err := x.Facts(ctx, "acme", "bob", "", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Fatalf("facts before any catch-up: %d records, want none", len(recs))
	}
	if err := x.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if recs, err = x.Facts(ctx, "acme", "bob", "", 2, false); err != nil || len(recs) != 2 {
		t.Fatalf("facts: %d records, %v; want 2", len(recs), err)
	}
	decode := func(r eventstore.Record) domain.Event {
		t.Helper()
		ev, err := x.Event(r)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	created, added := recs[0], recs[1]
	if a, b := decode(created), decode(created); a != b {
		t.Error("OrganizationCreated decoded twice, want it shared")
	}
	if a, b := decode(added), decode(added); a == b {
		t.Error("OrgMemberAdded shared, want a fresh decoding for each fold")
	}
	// Another record at the same position (a log restored in place of another) is decoded anew.
	first := decode(created)
	other := created
	other.ID = "another"
	if decode(other) == first {
		t.Error("a different record at the same position got the cached event")
	}
	x.Reset()
	if decode(created) == first {
		t.Error("after a reset the cached event is still used")
	}
}
