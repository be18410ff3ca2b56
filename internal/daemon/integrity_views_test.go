package daemon_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"roster/internal/syncbuf"
	"strings"
	"testing"

	"roster/client"
	"roster/domain"
	"roster/projections"

	"github.com/dgraph-io/badger/v4"
)

// A views directory copied from another instance (another history) is moved aside and the
// views are rebuilt from the log: rosterd starts, answers what a fresh build answers, and
// its log says what happened. Before, the start failed on a poison event that did not link.
func TestFaultViewsFromAnotherHistory(t *testing.T) {
	dir, recs := populated(t)

	// What a fresh build of this log answers.
	r := start(t, dir)
	r.pos = uint64(len(recs))
	want := map[string]map[string]client.Member{}
	for i := range 3 {
		org := fmt.Sprintf("org%d", i)
		want[org] = r.members(org, "")
	}
	r.stop()

	// Another instance: a shorter history of its own (its views stand inside this log).
	other := newRig(t)
	other.ok("CreateOrganization", obj{"org_id": "org0", "kind": "team", "preset": "neptune", "actor": "ana"})
	other.ok("AddOrgMember", obj{"org_id": "org0", "actor": "ana", "user_id": "intruder", "role": "member"})
	other.members("org0", "")
	other.stop()
	if err := os.RemoveAll(filepath.Join(dir, "views")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(other.dir, "views"), filepath.Join(dir, "views")); err != nil {
		t.Fatal(err)
	}

	r, logs := startLogging(t, dir, uint64(len(recs)))
	assertMembersAre(t, r, want, "the foreign views were replaced")
	if !strings.Contains(logs.String(), "views directory is from another history") || !strings.Contains(logs.String(), "moved_to") {
		t.Fatalf("the log does not say the views were moved aside:\n%s", logs.String())
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "views.foreign-*"))
	if len(aside) != 1 {
		t.Fatalf("foreign views not moved aside: %v", aside)
	}
	rep := r.ok("AddOrgMember", obj{"org_id": "org0", "actor": "ana", "user_id": "late", "role": "member"})
	if rep.Position != uint64(len(recs))+1 {
		t.Fatalf("write at %d, want %d", rep.Position, len(recs)+1)
	}
}

// editSnapshots rewrites the views' stored organization snapshots of a stopped rosterd with
// edit (key and value in, the entries to write out).
func editSnapshots(t *testing.T, dir string, edit func(key, val []byte) map[string][]byte) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "views")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]byte{}
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("v/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if !strings.Contains(string(it.Item().Key()), "/org/") {
				continue
			}
			val, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			for k, v := range edit(it.Item().KeyCopy(nil), val) {
				out[k] = v
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("nothing edited")
	}
	if err := db.Update(func(txn *badger.Txn) error {
		for k, v := range out {
			if err := txn.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A snapshot edited so that it still decodes is damage, not state: one whose key lost its
// case (a lenient decoder dropped the members it held), one stored under another
// organization's key, one of an organization the log does not have. rosterd moves the views
// aside and rebuilds them from the log; it never answers from the edited snapshot.
func TestFaultViewsSnapshotEdited(t *testing.T) {
	for name, edit := range map[string]func(key, val []byte) map[string][]byte{
		"a key's case changed": func(key, val []byte) map[string][]byte {
			if !strings.HasSuffix(string(key), "/org1") {
				return nil
			}
			return map[string][]byte{string(key): bytes.Replace(val, []byte(`"members":`), []byte(`"Members":`), 1)}
		},
		"stored under another organization": func(key, val []byte) map[string][]byte {
			if !strings.HasSuffix(string(key), "/org1") {
				return nil
			}
			return map[string][]byte{strings.Replace(string(key), "/org1", "/org2", 1): val}
		},
		"the position it was last changed at raised": func(key, val []byte) map[string][]byte {
			// The view would skip org1's events up to there: frozen, serving its old state.
			if !strings.HasSuffix(string(key), "/org1") {
				return nil
			}
			return map[string][]byte{string(key): regexp.MustCompile(`"position":[0-9]+`).ReplaceAll(val, []byte(`"position":99`))}
		},
		"an organization the log does not have": func(key, val []byte) map[string][]byte {
			if !strings.HasSuffix(string(key), "/org1") {
				return nil
			}
			return map[string][]byte{strings.Replace(string(key), "/org1", "/ghost", 1): bytes.Replace(val, []byte(`"org_id":"org1"`), []byte(`"org_id":"ghost"`), 1)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir, recs := populated(t)
			r := start(t, dir)
			r.pos = uint64(len(recs))
			want := map[string]map[string]client.Member{}
			for _, org := range []string{"org1", "org2"} {
				want[org] = r.members(org, "")
			}
			r.stop()
			editSnapshots(t, dir, edit)

			r, logs := startLogging(t, dir, uint64(len(recs)))
			assertMembersAre(t, r, want, "the edit")
			// And the view goes on applying the organization's events.
			r.ok("AddOrgMember", obj{"org_id": "org1", "actor": "ana", "user_id": "late", "role": "member"})
			if _, ok := r.members("org1", "")["late"]; !ok {
				t.Fatal("org1's next event was not applied")
			}
			for _, v := range []*projections.View{r.d.Members, r.d.Perms} {
				_ = v.Read("ghost", func(o *domain.Org, _ uint64) error {
					if o != nil {
						t.Error("a view holds an organization the log does not have")
					}
					return nil
				})
			}
			if !strings.Contains(logs.String(), "snapshot is damaged") || !strings.Contains(logs.String(), "moved_to") {
				t.Fatalf("the log does not say the views were moved aside:\n%s", logs.String())
			}
			if aside, _ := filepath.Glob(filepath.Join(dir, "views.damaged-*")); len(aside) != 1 {
				t.Fatalf("damaged views not moved aside: %v", aside)
			}
		})
	}
}

// startLogging starts rosterd on dir with its log captured, the rig at position pos.
func startLogging(t *testing.T, dir string, pos uint64) (*rig, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	cfg := testConfig(dir)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	r := startCfg(t, cfg)
	r.pos = pos
	return r, logs
}

// assertMembersAre requires each organization of want to have exactly its members.
func assertMembersAre(t *testing.T, r *rig, want map[string]map[string]client.Member, after string) {
	t.Helper()
	for org, w := range want {
		if got := r.members(org, ""); !reflect.DeepEqual(got, w) {
			t.Fatalf("%s after %s: %v, want %v", org, after, got, w)
		}
	}
}

// editMeta rewrites the views' checkpoints (v/<view>/meta) of a stopped rosterd with edit.
func editMeta(t *testing.T, dir string, edit func(val []byte) []byte) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "views")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	if err := db.Update(func(txn *badger.Txn) error {
		for _, view := range []string{"members", "permissions"} {
			key := []byte("v/" + view + "/meta")
			item, err := txn.Get(key)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			val, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := txn.Set(key, edit(val)); err != nil {
				return err
			}
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A views checkpoint edited so that the views would skip events (raised, with its hash deleted
// or a second "position" after the first), or so that it does not decode, is damage: the views
// are moved aside and rebuilt from the log, and serve every event. Before, the first two were
// served (the raised views skipped the events in between for good) and the third stopped the
// start.
func TestFaultViewsCheckpointEdited(t *testing.T) {
	for name, edit := range map[string]func(val []byte, head uint64) []byte{
		"raised with its hash deleted": func(val []byte, head uint64) []byte {
			val = regexp.MustCompile(`"position":[0-9]+`).ReplaceAll(val, fmt.Appendf(nil, `"position":%d`, head))
			return regexp.MustCompile(`,"hash":"[0-9a-f]*"`).ReplaceAll(val, nil)
		},
		"a second position, raised": func(val []byte, head uint64) []byte {
			return bytes.Replace(val, []byte("}"), fmt.Appendf(nil, `,"position":%d}`, head), 1)
		},
		"cut short": func(val []byte, _ uint64) []byte { return val[:len(val)/2] },
	} {
		t.Run(name, func(t *testing.T) {
			dir, recs := populated(t)
			r := start(t, dir)
			r.pos = uint64(len(recs))
			r.members("org1", "") // the views have applied the log
			r.stop()
			old := filepath.Join(t.TempDir(), "views")
			if err := os.CopyFS(old, os.DirFS(filepath.Join(dir, "views"))); err != nil {
				t.Fatal(err)
			}

			r = start(t, dir)
			r.pos = uint64(len(recs))
			head := r.ok("AddOrgMember", obj{"org_id": "org1", "actor": "ana", "user_id": "late", "role": "member"}).Position
			r.pos = head
			want := map[string]map[string]client.Member{"org1": r.members("org1", ""), "org2": r.members("org2", "")}
			if _, ok := want["org1"]["late"]; !ok {
				t.Fatal("the new member is not served before the edit")
			}
			r.stop()
			if err := os.RemoveAll(filepath.Join(dir, "views")); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(filepath.Join(dir, "views"), os.DirFS(old)); err != nil { // the views from before the new member
				t.Fatal(err)
			}
			editMeta(t, dir, func(val []byte) []byte { return edit(val, head) })

			r, logs := startLogging(t, dir, head)
			assertMembersAre(t, r, want, "the edit")
			if !strings.Contains(logs.String(), "moved_to") {
				t.Fatalf("the log does not say the views were moved aside:\n%s", logs.String())
			}
		})
	}
}
