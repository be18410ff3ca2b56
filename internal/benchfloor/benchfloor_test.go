package benchfloor_test

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"roster/internal/benchfloor"
)

// Concurrent appends are all stored, each under its key, once the loop has answered them,
// and they share batches (never more syncs than appends).
func TestGroupCommitStoresEveryAppend(t *testing.T) {
	dir := t.TempDir()
	db, err := benchfloor.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := benchfloor.Start(db, []byte("body"), 8)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			done := make(chan error, 1)
			for i := range each {
				key := make([]byte, 9)
				key[0] = 'e'
				binary.BigEndian.PutUint64(key[1:], uint64(w*each+i+1))
				if err := g.Append(key, done); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	g.Close()
	if g.Appends() != workers*each || g.Syncs() == 0 || g.Syncs() > g.Appends() {
		t.Fatalf("appends %d, syncs %d; want %d appends in 1..%d syncs", g.Appends(), g.Syncs(), workers*each, workers*each)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = benchfloor.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if string(v) != "body" {
				t.Errorf("key %x holds %q", it.Item().Key(), v)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != workers*each {
		t.Fatalf("%d keys stored after reopening, want %d", n, workers*each)
	}
}

func TestStartRefusesAnEmptyBatch(t *testing.T) {
	db, err := benchfloor.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := benchfloor.Start(db, nil, 0); err == nil {
		t.Fatal("Start accepted maxBatch 0")
	}
}
