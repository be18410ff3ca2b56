package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

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
