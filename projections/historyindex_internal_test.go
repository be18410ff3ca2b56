package projections

import (
	"hash/maphash"
	"slices"
	"testing"
)

// TestOrgPostingsHashClash: two keys of one 64-bit hash keep lists of their own (the second
// goes to the clash table), and a key never added has none.
func TestOrgPostingsHashClash(t *testing.T) {
	seed := maphash.MakeSeed()
	o := newOrgPostings()
	o.put(seed, "u:ana", 1)
	// Make "u:bob" hash to u:ana's id, as a clash of the hash would.
	o.byHash[maphash.String(seed, "u:bob")] = o.byHash[maphash.String(seed, "u:ana")]
	o.put(seed, "u:bob", 2)
	o.put(seed, "u:bob", 3)
	o.put(seed, "u:ana", 4)
	o.put(seed, "u:ana", 4) // each position once
	for key, want := range map[string][]uint64{"u:ana": {1, 4}, "u:bob": {2, 3}, "u:cy": nil} {
		if got := o.list(seed, key); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if len(o.clash) != 1 {
		t.Errorf("clash table holds %d keys, want 1", len(o.clash))
	}
	// A key with one position keeps it in the shared array, with no slice of its own.
	o.put(seed, "u:dee", 9)
	if got := o.list(seed, "u:dee"); !slices.Equal(got, []uint64{9}) || len(o.more) != 2 {
		t.Errorf("u:dee = %v with %d keys of several positions, want [9] and 2", got, len(o.more))
	}
}
