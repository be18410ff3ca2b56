package daemon_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"roster/client"
	"roster/projections"
)

// historyAnswers asks AccessAt for every member at a few positions and Audit by user.
func historyAnswers(r *rig, head uint64) []string {
	r.t.Helper()
	var out []string
	for _, pos := range []uint64{2, head / 2, head} {
		for _, user := range []string{"ana", "m1", "m7", "m13"} {
			var res client.AccessAtResult
			r.query(client.QAccessAt, obj{"org_id": "acme", "user_id": user, "position": pos}, &res)
			out = append(out, fmt.Sprintf("%s@%d %v", user, pos, res))
		}
	}
	var page client.AuditPage
	r.query(client.QAudit, obj{"org_id": "acme", "user_id": "m7"}, &page)
	for _, e := range page.Events {
		out = append(out, fmt.Sprintf("audit %d %s", e.Position, e.Type))
	}
	return out
}

// TestHistoryIndexSurvivesRestart: the history index saved at a clean shutdown answers the
// first as-of queries after the restart without reading the log (loaded at the head), a
// damaged saved copy is refused and the index built from the log answers the same, and
// roster rebuild saves the index it builds.
func TestHistoryIndexSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	for i := range 20 {
		r.ok("AddOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": fmt.Sprintf("m%d", i), "role": "member"})
	}
	r.ok("ChangeOrgRole", obj{"org_id": "acme", "actor": "ana", "user_id": "m7", "role": "admin"})
	head := r.pos
	want := historyAnswers(r, head)
	if st := r.d.Rebuilder.History.Stats(); st.Source != projections.SourceLog || st.Read != head {
		t.Fatalf("first start: %+v, want built from the log (%d records)", st, head)
	}
	r.stop()
	if got := savedHistoryPosition(t, dir); got != head {
		t.Fatalf("after a clean shutdown the saved index covers %d, want %d", got, head)
	}

	// Restart: the first queries are answered from the loaded copy, reading no record.
	r = start(t, dir)
	r.pos = head
	got := historyAnswers(r, head)
	if st := r.d.Rebuilder.History.Stats(); st.Source != projections.SourceSaved || st.LoadedAt != head || st.Read != 0 {
		t.Fatalf("after the restart: %+v, want loaded at %d with no record read from the log", st, head)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("answers from the loaded index:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Events after the load are read, and only they.
	r.ok("RemoveOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "m13"})
	var res client.AccessAtResult
	r.query(client.QAccessAt, obj{"org_id": "acme", "user_id": "m13", "position": r.pos}, &res)
	if len(res.Roles) != 0 {
		t.Fatalf("m13 after removal: %v", res)
	}
	if st := r.d.Rebuilder.History.Stats(); st.Read != 1 {
		t.Fatalf("after one more event: %+v, want 1 record read", st)
	}
	head = r.pos
	want = historyAnswers(r, head)
	r.stop()

	// A damaged saved copy is refused at start; the index is built from the log.
	damageSavedHistory(t, dir)
	r = start(t, dir)
	r.pos = head
	got = historyAnswers(r, head)
	st := r.d.Rebuilder.History.Stats()
	if st.Discarded != 1 || !strings.Contains(st.LastDiscard, "CRC-32C") || st.Source != projections.SourceLog || st.Read != head {
		t.Fatalf("start with a damaged copy: %+v, want it discarded and the index built from the log", st)
	}
	// Operators see it in Status.
	var status client.Status
	r.query(client.QStatus, obj{}, &status)
	if h := status.HistoryIndex; h == nil || h.Discarded != 1 || h.Source != projections.SourceLog || h.Position != head || h.Lag != 0 {
		t.Fatalf("Status history_index after a damaged copy: %+v", h)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("answers after discarding the copy:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// roster rebuild builds the index again and saves it.
	saves := st.Saves
	if _, err := r.d.Rebuilder.Run(context.Background(), client.Rebuild{}); err != nil {
		t.Fatal(err)
	}
	if st := r.d.Rebuilder.History.Stats(); st.Saves != saves+1 || st.Saved != head || st.Read != 2*head {
		t.Fatalf("after roster rebuild: %+v, want the index read again from position 1 and saved at %d", st, head)
	}
}

// savedHistoryPosition opens the stopped daemon's views database and reads the saved index's
// position from its header.
func savedHistoryPosition(t *testing.T, dir string) uint64 {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "views")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var meta struct {
		Position uint64 `json:"position"`
	}
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte("x/history/meta"))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return jsonUnmarshal(b, &meta) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return meta.Position
}

// damageSavedHistory flips one byte of the stopped daemon's saved history index.
func damageSavedHistory(t *testing.T, dir string) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "views")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("x/history/c/")})
		it.Rewind()
		if !it.Valid() {
			it.Close()
			return fmt.Errorf("no saved chunk")
		}
		key := it.Item().KeyCopy(nil)
		v, err := it.Item().ValueCopy(nil)
		it.Close()
		if err != nil {
			return err
		}
		v[len(v)/2] ^= 0x01
		return txn.Set(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}
