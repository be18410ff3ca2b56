package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"roster/eventstore"
	"roster/projections"
)

// histFixture is a log (Badger) and a views database (Badger), both in temp dirs.
type histFixture struct {
	t     *testing.T
	ctx   context.Context
	store *eventstore.BadgerStore
	db    *badger.DB
}

func newHistFixture(t *testing.T) *histFixture {
	t.Helper()
	store, err := eventstore.OpenBadger(t.TempDir(), eventstore.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	db, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return &histFixture{t: t, ctx: context.Background(), store: store, db: db}
}

// history appends a history of two organizations: members join, a workgroup, projects.
func (f *histFixture) history(org string, members int) {
	f.t.Helper()
	appendEvents(f.t, f.store, org,
		[2]string{"OrganizationCreated", `{"admin_user_id":"ana","preset":"neptune"}`},
		[2]string{"WorkgroupCreated", `{"group_id":"g1","name":"G"}`},
		[2]string{"ProjectCreated", `{"project_id":"p1"}`},
		[2]string{"MemberAdded", `{"project_id":"p1","group_id":"g1","roles":["viewer"]}`})
	for i := range members {
		appendEvents(f.t, f.store, org,
			[2]string{"OrgMemberAdded", fmt.Sprintf(`{"user_id":"m%d","role":"member"}`, i)},
			[2]string{"WorkgroupMemberAdded", fmt.Sprintf(`{"group_id":"g1","user_id":"m%d"}`, i%7)})
	}
}

// index is a history index over the fixture's log with the fixture's store, loaded.
func (f *histFixture) index(chunk int) *projections.HistoryIndex {
	f.t.Helper()
	x := projections.NewHistoryIndex(projections.StoreHistory{Store: f.store})
	x.UseStore(f.db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if chunk > 0 {
		projections.SetHistoryChunk(x, chunk)
	}
	if err := x.Load(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	return x
}

// sameAsFresh fails unless x holds what an index built from the whole log holds.
func (f *histFixture) sameAsFresh(x *projections.HistoryIndex, when string) {
	f.t.Helper()
	fresh := projections.NewHistoryIndex(projections.StoreHistory{Store: f.store})
	if err := fresh.CatchUp(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	if x.Position() != fresh.Position() {
		f.t.Fatalf("%s: index at %d, the log's head %d", when, x.Position(), fresh.Position())
	}
	gl, gp, gt := projections.HistoryContent(x)
	wl, wp, wt := projections.HistoryContent(fresh)
	if !reflect.DeepEqual(gl, wl) || !reflect.DeepEqual(gp, wp) || !reflect.DeepEqual(gt, wt) {
		f.t.Errorf("%s: the index differs from one built from the log", when)
	}
	// And it answers like the log: a time to a position, facts of a user.
	at := time.Unix(1_800_000_000, 0)
	want, _ := f.store.PositionAt(f.ctx, at)
	if got, err := x.PositionAt(f.ctx, at); err != nil || got != want {
		f.t.Errorf("%s: PositionAt = %d, %v; the log's %d", when, got, err, want)
	}
	a, err := x.Facts(f.ctx, "acme", "m3", "p1", x.Position(), true)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := fresh.Facts(f.ctx, "acme", "m3", "p1", x.Position(), true)
	if err != nil {
		f.t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		f.t.Errorf("%s: facts of m3 differ from those of an index built from the log", when)
	}
}

// TestHistoryIndexSavedCopyIsLoaded: a saved index is loaded at the next start and caught up
// from its position: the log is read only after it, and the content is that of an index
// built from the whole log.
func TestHistoryIndexSavedCopyIsLoaded(t *testing.T) {
	f := newHistFixture(t)
	f.history("acme", 300)
	f.history("other", 20)
	first := f.index(1000) // many chunks
	if err := first.CatchUp(f.ctx); err != nil {
		t.Fatal(err)
	}
	head := first.Position()
	if st := first.Stats(); st.Source != projections.SourceLog || st.Read != head {
		t.Fatalf("first start: %+v, want built from the log reading %d records", st, head)
	}
	if err := first.Save(f.ctx); err != nil {
		t.Fatal(err)
	}
	if st := first.Stats(); st.Saved != head || st.Saves != 1 {
		t.Fatalf("after a save: %+v, want saved at %d once", st, head)
	}

	second := f.index(0)
	if err := second.CatchUp(f.ctx); err != nil {
		t.Fatal(err)
	}
	if st := second.Stats(); st.Source != projections.SourceSaved || st.LoadedAt != head || st.Read != 0 || st.Discarded != 0 {
		t.Fatalf("restart: %+v, want loaded at %d with no record read from the log", st, head)
	}
	f.sameAsFresh(second, "loaded")

	// What the log gained since is read, and only that.
	appendEvents(t, f.store, "acme", [2]string{"OrgMemberAdded", `{"user_id":"late","role":"member"}`},
		[2]string{"MemberAdded", `{"project_id":"p1","user_id":"m3","roles":["viewer"]}`})
	if err := second.CatchUp(f.ctx); err != nil {
		t.Fatal(err)
	}
	if st := second.Stats(); st.Read != 2 {
		t.Fatalf("catch-up after the load read %d records, want 2", st.Read)
	}
	f.sameAsFresh(second, "loaded and caught up")

	// A rebuild builds from position 1 and saves: the next start loads that copy.
	if err := second.Rebuild(f.ctx); err != nil {
		t.Fatal(err)
	}
	if st := second.Stats(); st.Saved != head+2 || st.Source != projections.SourceLog {
		t.Fatalf("after a rebuild: %+v, want built from the log and saved at %d", st, head+2)
	}
	third := f.index(0)
	if err := third.CatchUp(f.ctx); err != nil {
		t.Fatal(err)
	}
	if st := third.Stats(); st.LoadedAt != head+2 || st.Read != 0 {
		t.Fatalf("start after the rebuild: %+v, want loaded at %d", st, head+2)
	}
	f.sameAsFresh(third, "loaded after a rebuild")
	// A save replaces the copy: one generation of chunks is left.
	if n := chunkGenerations(t, f.db); n != 1 {
		t.Errorf("%d generations of chunks stored, want 1", n)
	}
}

func chunkGenerations(t *testing.T, db *badger.DB) int {
	t.Helper()
	gens := map[string]bool{}
	_ = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("x/history/c/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := strings.TrimPrefix(string(it.Item().Key()), "x/history/c/")
			gens[k[:strings.IndexByte(k, '/')]] = true
		}
		return nil
	})
	return len(gens)
}

// chunkKeys are the keys of the saved chunks, in order.
func chunkKeys(t *testing.T, db *badger.DB) [][]byte {
	t.Helper()
	var keys [][]byte
	_ = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("x/history/c/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return keys
}

func editValue(t *testing.T, db *badger.DB, key []byte, edit func([]byte) []byte) {
	t.Helper()
	err := db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return txn.Set(key, edit(v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHistoryIndexDamagedCopyIsRebuilt: a saved copy with a flipped byte, a truncated or
// missing chunk, another format or a damaged header is refused (counted, with the reason),
// never served: the index is built from the log and equals one built from the whole log.
func TestHistoryIndexDamagedCopyIsRebuilt(t *testing.T) {
	meta := []byte("x/history/meta")
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, db *badger.DB)
		reason string
	}{
		{"flipped byte in a chunk", func(t *testing.T, db *badger.DB) {
			editValue(t, db, chunkKeys(t, db)[1], func(v []byte) []byte { v[17] ^= 0x40; return v })
		}, "CRC-32C"},
		{"truncated chunk", func(t *testing.T, db *badger.DB) {
			editValue(t, db, chunkKeys(t, db)[2], func(v []byte) []byte { return v[:len(v)-5] })
		}, "truncated"},
		{"missing last chunk", func(t *testing.T, db *badger.DB) {
			keys := chunkKeys(t, db)
			if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(keys[len(keys)-1]) }); err != nil {
				t.Fatal(err)
			}
		}, "missing"},
		{"older format", func(t *testing.T, db *badger.DB) {
			editValue(t, db, meta, func(v []byte) []byte {
				return []byte(strings.Replace(string(v), fmt.Sprintf(`"format":%d`, projections.HistoryIndexFormat), `"format":0`, 1))
			})
		}, "format 0"},
		{"header garbage", func(t *testing.T, db *badger.DB) {
			editValue(t, db, meta, func(v []byte) []byte { return v[:len(v)/2] })
		}, "header does not decode"},
		{"whole checksum", func(t *testing.T, db *badger.DB) {
			editValue(t, db, meta, func(v []byte) []byte {
				var m map[string]any
				dec := json.NewDecoder(strings.NewReader(string(v)))
				dec.UseNumber()
				if err := dec.Decode(&m); err != nil {
					t.Fatal(err)
				}
				m["sha256"] = strings.Repeat("0", 64)
				out, _ := json.Marshal(m)
				return out
			})
		}, "SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHistFixture(t)
			f.history("acme", 200)
			x := f.index(512)
			if err := x.CatchUp(f.ctx); err != nil {
				t.Fatal(err)
			}
			if err := x.Save(f.ctx); err != nil {
				t.Fatal(err)
			}
			if len(chunkKeys(t, f.db)) < 3 {
				t.Fatalf("the copy has %d chunks, want several", len(chunkKeys(t, f.db)))
			}
			tc.damage(t, f.db)
			y := f.index(512)
			if err := y.CatchUp(f.ctx); err != nil {
				t.Fatal(err)
			}
			st := y.Stats()
			if st.Discarded != 1 || !strings.Contains(st.LastDiscard, tc.reason) || st.Source != projections.SourceLog || st.Read != x.Position() {
				t.Fatalf("load of the damaged copy: %+v, want it discarded (%q) and the index built from the log", st, tc.reason)
			}
			f.sameAsFresh(y, tc.name)
			// The next save replaces the damaged copy, which the next start loads.
			if err := y.Save(f.ctx); err != nil {
				t.Fatal(err)
			}
			z := f.index(512)
			if st := z.Stats(); st.Source != projections.SourceSaved || st.Discarded != 0 {
				t.Fatalf("after saving again: %+v, want the new copy loaded", st)
			}
		})
	}
}

// TestHistoryIndexCopyOfAnotherLogIsRefused: a saved copy ahead of the log head, or whose last
// record is not the log's record at its position (the log was restored or replaced), is
// refused and the index is built from the log at hand.
func TestHistoryIndexCopyOfAnotherLogIsRefused(t *testing.T) {
	f := newHistFixture(t)
	f.history("acme", 50)
	x := f.index(0)
	if err := x.CatchUp(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := x.Save(f.ctx); err != nil {
		t.Fatal(err)
	}
	saved := x.Position()

	for _, tc := range []struct {
		name   string
		fill   func(g *histFixture)
		reason string
	}{
		{"ahead of the log", func(g *histFixture) { g.history("acme", 10) }, "beyond the log head"},
		// The same number of events, other ones: the record at the saved position differs.
		{"another log", func(g *histFixture) { g.history("acme", 49); g.history("zed", 0) }, "is not the log's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newHistFixture(t)
			g.db = f.db // the views database of the first log, beside another log
			tc.fill(g)
			y := g.index(0)
			if err := y.CatchUp(g.ctx); err != nil {
				t.Fatal(err)
			}
			st := y.Stats()
			if st.Discarded != 1 || !strings.Contains(st.LastDiscard, tc.reason) || st.Source != projections.SourceLog {
				t.Fatalf("copy at %d beside a log at %d: %+v, want it refused (%q)", saved, y.Position(), st, tc.reason)
			}
			g.sameAsFresh(y, tc.name)
			if !errors.Is(&projections.HistoryCopyError{Reason: st.LastDiscard}, projections.ErrHistoryCopyRefused) {
				t.Error("a refusal does not wrap ErrHistoryCopyRefused")
			}
		})
	}
}
