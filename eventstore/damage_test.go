package eventstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"roster/internal/syncbuf"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// Damage to a stopped log's keys (a data dir edited, restored in part, or copied from
// elsewhere) is refused where it is met, never served as if whole. docs/INTEGRITY.md lists
// what each check finds.

// A stream's version key deleted or raised (damage to the data dir) is refused at open,
// naming the stream: without the key the next append would start the stream over at version
// 1, and with a raised one the stream would seem to end at a record it does not hold.
func TestVersionKeyDamageIsRefused(t *testing.T) {
	for name, damage := range map[string]func(txn *badger.Txn) error{
		"deleted": func(txn *badger.Txn) error { return txn.Delete(versionKey("org-b")) },
		"raised":  func(txn *badger.Txn) error { return txn.Set(versionKey("org-b"), u64(9)) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenBadger(dir, BadgerOptions{StagedReply: testReply})
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 2)})
			mustAppend(t, s, AppendRequest{Stream: "org-b", Events: events(t, 3)})
			mustAppend(t, s, AppendRequest{Stream: "org-c", Events: events(t, 1)})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			reopened, err := OpenBadger(dir, BadgerOptions{StagedReply: testReply})
			if err != nil {
				t.Fatalf("open of the whole log: %v", err)
			}
			if err := reopened.db.Update(damage); err != nil {
				t.Fatal(err)
			}
			if err := reopened.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = OpenBadger(dir, BadgerOptions{StagedReply: testReply})
			if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), "org-b") {
				t.Fatalf("open: %v; want ErrCorruptLog naming org-b", err)
			}
		})
	}
}

// Records moved between keys (damage to the data dir) are never served in the place of the
// ones lost there: a record read at a position must be that position's, and a record the
// stream index names must be of that stream and version. Each record's hash is its own, so
// the hash chain alone does not see a move before the verified marker.
func TestMovedRecordsAreRefusedOnRead(t *testing.T) {
	ctx := testCtx(t)
	valueOf := func(t *testing.T, txn *badger.Txn, key []byte) []byte {
		t.Helper()
		item, err := txn.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for name, tc := range map[string]struct {
		damage func(t *testing.T, txn *badger.Txn) error
		read   func(s *BadgerStore) error
	}{
		"two records swapped": {
			damage: func(t *testing.T, txn *badger.Txn) error {
				a, b := valueOf(t, txn, eventKey(2)), valueOf(t, txn, eventKey(3))
				if err := txn.Set(eventKey(2), b); err != nil {
					return err
				}
				return txn.Set(eventKey(3), a)
			},
			read: func(s *BadgerStore) error { _, err := s.Read(ctx, 1, 10); return err },
		},
		"a stream key repointed to another stream's record": {
			damage: func(t *testing.T, txn *badger.Txn) error {
				return txn.Set(streamKey("org-a", 1), u64(4)) // org-b's first record: the same version
			},
			read: func(s *BadgerStore) error { _, err := s.ReadStream(ctx, "org-a", 1); return err },
		},
		"a stream key repointed within the stream": {
			damage: func(t *testing.T, txn *badger.Txn) error {
				return txn.Set(streamKey("org-a", 2), u64(3))
			},
			read: func(s *BadgerStore) error { _, err := s.ReadStream(ctx, "org-a", 1); return err },
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := OpenBadger(t.TempDir(), BadgerOptions{StagedReply: testReply})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 3)})
			mustAppend(t, s, AppendRequest{Stream: "org-b", Events: events(t, 2)})
			if err := tc.read(s); err != nil {
				t.Fatalf("read of the whole log: %v", err)
			}
			if err := s.db.Update(func(txn *badger.Txn) error { return tc.damage(t, txn) }); err != nil {
				t.Fatal(err)
			}
			if err := tc.read(s); !errors.Is(err, ErrCorruptLog) {
				t.Fatalf("read after the damage: %v; want ErrCorruptLog", err)
			}
		})
	}
}

// A head key lowered below committed records (damage to the data dir) is refused at open, and
// the records beyond it stay on disk: taking them for an append cut short before its commit
// deleted acknowledged records.
func TestLoweredHeadKeyIsRefused(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	s, err := OpenBadger(dir, BadgerOptions{StagedReply: testReply})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 4)})
	mustAppend(t, s, AppendRequest{Stream: "org-b", Events: events(t, 4)})
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(headKey(), u64(6)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenBadger(dir, BadgerOptions{StagedReply: testReply})
	if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), "head key") {
		t.Fatalf("open: %v; want ErrCorruptLog naming the head key", err)
	}
	// The records are all still there: put the head key back and the log opens whole.
	editClosedLog(t, dir, func(txn *badger.Txn) error { return txn.Set(headKey(), u64(8)) })
	s, err = OpenBadger(dir, BadgerOptions{StagedReply: testReply})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if recs, err := s.Read(ctx, 1, 100); err != nil || len(recs) != 8 {
		t.Fatalf("read: %d records, %v; want 8", len(recs), err)
	}
}

// A record deleted from the middle of the log (damage to the data dir) is reported at its
// position by the chain check, with the records before it counted good, and a scan hands on
// the whole records before it before its error.
func TestMissingRecordIsReportedWhereItIs(t *testing.T) {
	ctx := testCtx(t)
	s, err := OpenBadger(t.TempDir(), BadgerOptions{StagedReply: testReply})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 5)})
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(eventKey(3)) }); err != nil {
		t.Fatal(err)
	}
	rep, _ := s.Verify(ctx, 1)
	if rep.OK() || rep.BadPosition != 3 || rep.Checked != 2 {
		t.Fatalf("verify: bad at %d after %d good (%s); want bad at 3 after 2", rep.BadPosition, rep.Checked, rep.Reason)
	}
	var seen []uint64
	err = s.Scan(ctx, 1, func(r Record) error { seen = append(seen, r.Position); return nil })
	if !errors.Is(err, ErrCorruptLog) || len(seen) != 2 || seen[1] != 2 {
		t.Fatalf("scan: %v after %v; want ErrCorruptLog after 1 and 2", err, seen)
	}
}

// testSpan reads testReply's replies (" id@position" per record) as BadgerOptions.ReplySpan.
func testSpan(reply []byte) (first, last uint64, ok bool) {
	for _, f := range strings.Fields(string(reply)) {
		_, p, found := strings.Cut(f, "@")
		if !found {
			continue
		}
		var pos uint64
		if _, err := fmt.Sscan(p, &pos); err != nil {
			return 0, 0, false
		}
		if !ok {
			first, ok = pos, true
		}
		last = pos
	}
	return first, last, ok
}

// A command's stored reply and the records that carry its id must agree (the checksum pass,
// with BadgerOptions.ReplySpan): a reply deleted and the command applied again (the first
// records then lie outside the new reply), a reply copied to another command id (which would
// answer that command as applied), or replies swapped between commands are damage.
func TestValuePassChecksRepliesAgainstTheirRecords(t *testing.T) {
	withID := func(t *testing.T, id string, n int) AppendRequest {
		evs := events(t, n)
		for i := range evs {
			evs[i].CommandID = id
		}
		return AppendRequest{CommandID: id, Events: evs, ReplyArg: []byte(id),
			Reply: func(stored []Record) ([]byte, error) { return testReply(nil, []byte(id), stored) }}
	}
	copyValue := func(txn *badger.Txn, from, to []byte) error {
		item, err := txn.Get(from)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return txn.Set(to, v)
	}
	for name, tc := range map[string]struct {
		damage func(t *testing.T, s *BadgerStore) error
		want   string
	}{
		"applied twice": {
			damage: func(t *testing.T, s *BadgerStore) error {
				if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(commandKey("org-a", "a1")) }); err != nil {
					return err
				}
				req := withID(t, "a1", 1)
				req.Stream, req.ExpectedVersion = "org-a", 2
				_, err := s.Append(testCtx(t), req)
				return err
			},
			want: "applied twice",
		},
		"a reply copied to another command": {
			damage: func(t *testing.T, s *BadgerStore) error {
				return s.db.Update(func(txn *badger.Txn) error {
					return copyValue(txn, commandKey("org-a", "a1"), commandKey("org-a", "never-sent"))
				})
			},
			want: "never-sent",
		},
		"replies swapped": {
			damage: func(t *testing.T, s *BadgerStore) error {
				return s.db.Update(func(txn *badger.Txn) error {
					a, _ := txn.Get(commandKey("org-a", "a1"))
					av, err := a.ValueCopy(nil)
					if err != nil {
						return err
					}
					if err := copyValue(txn, commandKey("org-b", "b1"), commandKey("org-a", "a1")); err != nil {
						return err
					}
					return txn.Set(commandKey("org-b", "b1"), av)
				})
			},
			want: "not one of that command's",
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			s, err := OpenBadger(t.TempDir(), BadgerOptions{StagedReply: testReply, ReplySpan: testSpan})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			a1 := withID(t, "a1", 2)
			a1.Stream = "org-a"
			mustAppend(t, s, a1)
			b1 := withID(t, "b1", 2)
			b1.Stream = "org-b"
			mustAppend(t, s, b1)
			big := withID(t, "big", BigAppend) // a staged append: its reply names all its records
			big.Stream, big.ExpectedVersion = "org-b", 2
			mustAppend(t, s, big)
			if err := s.VerifyValues(ctx); err != nil {
				t.Fatalf("pass over a whole log: %v", err)
			}
			if err := tc.damage(t, s); err != nil {
				t.Fatal(err)
			}
			if err := s.VerifyValues(ctx); !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("pass: %v; want ErrCorruptLog saying %q", err, tc.want)
			}
		})
	}
}

// A log whose big append was chained with another stream's record between its slices backs up
// and restores whole: the restore takes the append's later run as the same command's (its
// reply stored once), where it refused it as a duplicate command id and left the log in part.
func TestRestoreOfAnInterleavedBigAppend(t *testing.T) {
	ctx := testCtx(t)
	var s *BadgerStore
	slicesDone := 0
	hooks := testHooks{afterSlice: func() error {
		if slicesDone++; slicesDone == 1 { // between the first and second slices
			small := queued(t)(s.AppendAsync(ctx, AppendRequest{Stream: "org-small", ExpectedVersion: 1, CommandID: "small-2",
				Events: withCommand(events(t, 1), "small-2")}))
			go func() { _, _ = small() }()
		}
		return nil
	}}
	s = openTestBadger(t, t.TempDir(), BadgerOptions{StagedReply: testReply, ReplySpan: testSpan}, hooks)
	mustAppend(t, s, AppendRequest{Stream: "org-small", CommandID: "small-1", Events: withCommand(events(t, 1), "small-1")})
	req := stagedRequest(t, "org-big", "import-1", 4*StageSlice)
	req.Events = withCommand(req.Events, "import-1")
	mustAppend(t, s, req)
	if v, _ := s.StreamVersion(ctx, "org-small"); v != 2 {
		t.Fatalf("org-small at version %d; want 2", v)
	}
	var backup bytes.Buffer
	if _, err := Backup(ctx, s, &backup, 0); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Restore(ctx, &backup, dir, BadgerOptions{StagedReply: testReply}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	restored, err := OpenBadger(dir, BadgerOptions{StagedReply: testReply, ReplySpan: testSpan})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	all := assertLogConsistent(t, restored) // the checksum pass included
	if len(all) != 2+4*StageSlice {
		t.Fatalf("restored %d records", len(all))
	}
	if _, ok, _ := restored.CommandReply(ctx, "org-big", "import-1"); !ok {
		t.Fatal("the import's command id is not known after the restore: a repeat would apply it again")
	}
}

func withCommand(evs []Record, id string) []Record {
	for i := range evs {
		evs[i].CommandID = id
	}
	return evs
}

// A restore that fails part way leaves the dir empty: a log restored in part would start, and
// answer the repeat of a command it holds in part as applied.
func TestFailedRestoreLeavesNothing(t *testing.T) {
	ctx := testCtx(t)
	s, err := OpenBadger(t.TempDir(), BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 5 {
		mustAppend(t, s, AppendRequest{Stream: "org-a", ExpectedVersion: uint64(i), Events: events(t, 1)})
	}
	var backup bytes.Buffer
	if _, err := Backup(ctx, s, &backup, 0); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(backup.String(), "\n")
	lines[4] = strings.Replace(lines[4], `"actor":`, `"actor":"eve","was":`, 1) // position 4 altered
	dir := t.TempDir()
	if _, err := Restore(ctx, strings.NewReader(strings.Join(lines, "\n")), dir, BadgerOptions{}); !errors.Is(err, ErrBackupInvalid) {
		t.Fatalf("restore of an altered backup: %v; want ErrBackupInvalid", err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("the failed restore left %d entries in its dir (%v)", len(ents), err)
	}
}

// A restore stopped part way (killed, a power cut) leaves its marker: every open refuses the
// dir, naming the unfinished restore, where it used to open the part restored as a whole log.
func TestUnfinishedRestoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := writeRestoring(dir); err != nil {
		t.Fatal(err)
	}
	s, err := openBadger(dir, BadgerOptions{}, testHooks{}) // what Restore opens
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 3)}) // part of a backup
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBadger(dir, BadgerOptions{}); !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), restoringFile) {
		t.Fatalf("open of a dir a restore did not finish: %v; want ErrCorruptLog naming %s", err, restoringFile)
	}
}

// A log without its format key was taken for format 1 and migrated: every record rewritten with
// a new hash chain, so that a record changed along with the key's deletion came out with valid
// hashes. Now a log whose records carry the chain must hold it: if it does, only the key was lost
// and it is written again; if not, the open is refused, naming the record.
func TestMissingFormatKey(t *testing.T) {
	ctx := testCtx(t)
	build := func(t *testing.T) (string, []Record) {
		t.Helper()
		dir := t.TempDir()
		s := openBadgerAt(t, dir)
		mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 3)})
		mustAppend(t, s, AppendRequest{Stream: "org-b", Events: events(t, 2)})
		recs, err := s.Read(ctx, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		return dir, recs
	}
	damage := func(t *testing.T, dir string, f func(txn *badger.Txn) error) {
		t.Helper()
		editClosedLog(t, dir, func(txn *badger.Txn) error {
			if err := txn.Delete(formatKey()); err != nil {
				return err
			}
			return f(txn)
		})
	}

	t.Run("only the key lost: written again, nothing rewritten", func(t *testing.T) {
		dir, before := build(t)
		damage(t, dir, func(*badger.Txn) error { return nil })
		var logs syncbuf.Buffer
		s, err := OpenBadger(dir, BadgerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer s.Close()
		if v := storedFormat(t, s); v != FormatVersion {
			t.Fatalf("format %d after the open; want %d", v, FormatVersion)
		}
		after, err := s.Read(ctx, 1, 0)
		if err != nil || len(after) != len(before) {
			t.Fatalf("read %d records (%v); want %d", len(after), err, len(before))
		}
		for i := range after {
			if after[i].Hash != before[i].Hash {
				t.Fatalf("record %d rewritten: hash %.12s, was %.12s", i+1, after[i].Hash, before[i].Hash)
			}
		}
		if !strings.Contains(logs.String(), "no format key") || strings.Contains(logs.String(), "migrated") {
			t.Fatalf("open logged %q; want the key written again, no migration", logs.String())
		}
	})

	t.Run("a record rewritten in format 1 in a log with a verified marker: refused", func(t *testing.T) {
		dir, before := build(t)
		s := openBadgerAt(t, dir)
		if _, _, err := s.VerifySinceMarker(ctx); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		damage(t, dir, func(txn *badger.Txn) error {
			r := before[len(before)-1]
			r.Actor = "mallory" // a migration would chain the changed record as if it had always been so
			return txn.Set(eventKey(r.Position), encodeV1(t, r))
		})
		_, err := OpenBadger(dir, BadgerOptions{})
		if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), fmt.Sprintf("record %d is of format 1", len(before))) {
			t.Fatalf("open: %v; want ErrCorruptLog naming record %d", err, len(before))
		}
	})

	t.Run("a record changed with it: refused", func(t *testing.T) {
		dir, before := build(t)
		damage(t, dir, func(txn *badger.Txn) error {
			r := before[2]
			r.Type = "OwnerAdded" // the change the migration would have hidden
			return txn.Set(eventKey(3), encodeRecord(r))
		})
		_, err := OpenBadger(dir, BadgerOptions{})
		if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), "record 3") {
			t.Fatalf("open: %v; want ErrCorruptLog naming record 3", err)
		}
	})
}

// A migration from format 1 stopped part way (its first records rewritten with the chain, the
// rest still of format 1, no format key yet) goes on from where it stopped, and gives the chain a
// migration in one go gives.
func TestInterruptedV1MigrationResumes(t *testing.T) {
	ctx := testCtx(t)
	straight := openBadgerAt(t, copyDir(t, filepath.Join("testdata", "v1log")))
	want, err := straight.Read(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := copyDir(t, filepath.Join("testdata", "v1log"))
	editClosedLog(t, dir, func(txn *badger.Txn) error { // what the first chunk of a migration writes
		for _, r := range want[:10] {
			if err := txn.Set(eventKey(r.Position), encodeRecord(r)); err != nil {
				return err
			}
		}
		return nil
	})
	s := openBadgerAt(t, dir)
	got, err := s.Read(ctx, 1, 0)
	if err != nil || len(got) != len(want) {
		t.Fatalf("read %d records (%v); want %d", len(got), err, len(want))
	}
	for i := range got {
		if got[i].Hash != want[i].Hash {
			t.Fatalf("record %d: hash %.12s; a migration in one go gives %.12s", i+1, got[i].Hash, want[i].Hash)
		}
	}
}

// encodeV1 gives a record's stored form in codec 1 (format 1: no flags, no hashes).
func encodeV1(t *testing.T, r Record) []byte {
	t.Helper()
	b := []byte{codecV1}
	b = binary.AppendUvarint(b, r.Position)
	b = binary.AppendUvarint(b, r.Version)
	b = binary.AppendVarint(b, r.Time.UnixNano())
	for _, s := range []string{r.ID, r.Stream, r.Type, r.OrgID, r.Actor, r.CommandID, r.CorrelationID} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	b = append(b, r.Data...)
	var back Record
	if err := decodeRecord(b, &back); err != nil || back.Actor != r.Actor || back.Hash != "" {
		t.Fatalf("codec 1 encoding does not decode: %v %+v", err, back)
	}
	return b
}

// editClosedLog edits the keys of a stopped store's log in dir with Badger alone, as damage to
// the data dir (or a repair by hand) would.
func editClosedLog(t *testing.T, dir string, edit func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
