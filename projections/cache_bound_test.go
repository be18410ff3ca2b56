package projections_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"

	"roster/domain"
	"roster/projections"
)

// A million Checks of random users keep the decision cache within its memory bound, and the
// answers stay right while the cache evicts.
func TestCheckCacheStaysWithinItsBound(t *testing.T) {
	if testing.Short() {
		t.Skip("a million checks")
	}
	store, presets := history(t)
	v := projections.NewView("permissions", presets, nil, slog.New(slog.DiscardHandler))
	const bound = 1 << 20
	v.EnableCheckCache(bound)
	defer v.CloseCheckCache()
	if err := v.CatchUp(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	peak := int64(0)
	for i := range 1_000_000 {
		user := "u" + strconv.FormatUint(uint64(i)*2654435761%1_000_000_007, 36)
		d, _, _, err := v.Check("acme", user, "project.content.view", domain.Scope{ProjectID: "p1"}, nil)
		if err != nil || d.Decision != "denied" {
			t.Fatalf("check %s: %v %v", user, d.Decision, err)
		}
		if i%100_000 == 0 {
			used, _ := v.CheckCacheBytes()
			peak = max(peak, used)
		}
	}
	used, limit := v.CheckCacheBytes()
	peak = max(peak, used)
	if limit != bound {
		t.Fatalf("bound %d, want %d", limit, bound)
	}
	if peak > bound || used <= 0 {
		t.Fatalf("cache held %d bytes at most (%d at the end); the bound is %d", peak, used, bound)
	}
	if d, _, _, err := v.Check("acme", "bob", "Editing project content", domain.Scope{ProjectID: "p1"}, nil); err != nil || d.Decision != "denied" {
		t.Fatalf("bob: %v %v", d.Decision, err)
	}
	t.Logf("peak %d bytes of %d after a million checks", peak, bound)
}
