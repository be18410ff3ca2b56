package eventstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// vlogLog writes a log whose records live in the value log (threshold 64 bytes, as rosterd
// runs it): 200 records in 000001.vlog, then, after a reopen (Badger starts a new value-log
// file at every open), 20 more in 000002.vlog. It returns the dir, closed.
func vlogLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	opts := BadgerOptions{ValueThreshold: 64}
	s := openTestBadger(t, dir, opts, testHooks{})
	appendRecords(t, s, 200)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestBadger(t, dir, opts, testHooks{})
	appendRecords(t, s, 20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// flip writes 0xff over 4 bytes of file at off (the damage of the report:
// printf '\xff\xff\xff\xff' | dd of=000001.vlog bs=1 seek=3000 conv=notrunc).
func flip(t *testing.T, file string, off int64) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, off); err != nil {
		t.Fatal(err)
	}
}

func TestValuePassIntactLog(t *testing.T) {
	dir := vlogLog(t)
	s := openTestBadger(t, dir, BadgerOptions{ValueThreshold: 64}, testHooks{})
	var fired atomic.Bool
	s.OnCorrupt(func(error) { fired.Store(true) })
	if err := s.VerifyValues(testCtx(t)); err != nil {
		t.Fatalf("VerifyValues on an intact log: %v", err)
	}
	if recs, err := s.Read(testCtx(t), 1, 0); err != nil || len(recs) != 220 {
		t.Fatalf("read: %d records, %v", len(recs), err)
	}
	if fired.Load() {
		t.Fatal("OnCorrupt fired on an intact log")
	}
}

// Damage in a value-log file: Badger answers the damaged value empty, without an error; the
// store turns it into ErrCorruptLog naming the record, on the first read as in the value
// pass, and reports it to the OnCorrupt handler (once), registered before or after.
func TestValueLogDamageDetected(t *testing.T) {
	dir := vlogLog(t)
	flip(t, filepath.Join(dir, "000001.vlog"), 3000)
	s := openTestBadger(t, dir, BadgerOptions{ValueThreshold: 64}, testHooks{})
	var fired atomic.Int32
	var first atomic.Pointer[error]
	s.OnCorrupt(func(err error) { fired.Add(1); first.CompareAndSwap(nil, &err) })

	_, err := s.Read(testCtx(t), 1, 0)
	if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), "the record at position") {
		t.Fatalf("read of a damaged value log: %v (want ErrCorruptLog naming the record)", err)
	}
	if fired.Load() != 1 || !errors.Is(*first.Load(), ErrCorruptLog) {
		t.Fatalf("OnCorrupt fired %d times", fired.Load())
	}
	err = s.VerifyValues(testCtx(t))
	if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), "cannot be read from the value log") {
		t.Fatalf("VerifyValues: %v (want ErrCorruptLog)", err)
	}
	if fired.Load() != 1 {
		t.Fatalf("OnCorrupt fired %d times, want once", fired.Load())
	}

	// A second store on the same damage: the value pass finds it before any read, and a
	// handler registered afterwards hears of it at once.
	_ = s.Close()
	s2 := openTestBadger(t, dir, BadgerOptions{ValueThreshold: 64}, testHooks{})
	if err := s2.VerifyValues(testCtx(t)); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("VerifyValues: %v", err)
	}
	var late atomic.Bool
	s2.OnCorrupt(func(error) { late.Store(true) })
	if !late.Load() {
		t.Fatal("a handler registered after the damage was met was not told")
	}
}

func TestValuePassStops(t *testing.T) {
	dir := vlogLog(t)
	s := openTestBadger(t, dir, BadgerOptions{ValueThreshold: 64}, testHooks{})
	ctx, cancel := contextWithCancel(t)
	cancel()
	if err := s.VerifyValues(ctx); !errors.Is(err, ctx.Err()) {
		t.Fatalf("VerifyValues after cancel: %v", err)
	}
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(testCtx(t))
}

// BenchmarkReadValueLog reads 1,000 records kept in the value log, with Badger's value
// checksums verified (as the log runs) and without, to weigh what the verification costs.
func BenchmarkReadValueLog(b *testing.B) {
	for _, verify := range []bool{true, false} {
		b.Run(fmt.Sprintf("verify=%v", verify), func(b *testing.B) {
			dir := b.TempDir()
			hooks := testHooks{tune: func(o badger.Options) badger.Options { return o.WithVerifyValueChecksum(verify) }}
			s := openTestBadger(b, dir, BadgerOptions{ValueThreshold: 64}, hooks)
			for i := range 1000 {
				ev := newEvent(b, "MemberAdded", map[string]int{"i": i})
				ev.OrgID = "acme"
				mustAppend(b, s, AppendRequest{Stream: "org-acme", ExpectedVersion: uint64(i), Events: []Record{ev}})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if recs, err := s.Read(context.Background(), 1, 0); err != nil || len(recs) != 1000 {
					b.Fatal(len(recs), err)
				}
			}
		})
	}
}

// A command's stored reply deleted (damage to the data dir) is found by the checksum pass:
// without it a repeat of the command id would be decided and appended again, while the log's
// records say the command was applied.
func TestValuePassFindsACommandWithoutItsReply(t *testing.T) {
	ctx := testCtx(t)
	s, err := OpenBadger(t.TempDir(), BadgerOptions{StagedReply: testReply})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	withID := func(id string, n int) []Record {
		evs := events(t, n)
		for i := range evs {
			evs[i].CommandID = id
		}
		return evs
	}
	mustAppend(t, s, AppendRequest{Stream: "org-a", CommandID: "add-1", Events: withID("add-1", 2)})
	mustAppend(t, s, AppendRequest{Stream: "org-b", CommandID: "add-2", Events: withID("add-2", 1)})
	if err := s.VerifyValues(ctx); err != nil {
		t.Fatalf("pass over a whole log: %v", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(commandKey("org-b", "add-2")) }); err != nil {
		t.Fatal(err)
	}
	err = s.VerifyValues(ctx)
	if !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), "add-2") {
		t.Fatalf("pass: %v; want ErrCorruptLog naming command add-2", err)
	}
}

// A stream key deleted in the middle of a stream, or repointed, is found by the checksum pass:
// an organization's load would miss the record or read another in its place.
func TestValuePassFindsARecordTheStreamIndexLacks(t *testing.T) {
	for name, damage := range map[string]func(txn *badger.Txn) error{
		"deleted":   func(txn *badger.Txn) error { return txn.Delete(streamKey("org-a", 2)) },
		"repointed": func(txn *badger.Txn) error { return txn.Set(streamKey("org-a", 2), u64(3)) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			s, err := OpenBadger(t.TempDir(), BadgerOptions{StagedReply: testReply})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			mustAppend(t, s, AppendRequest{Stream: "org-a", Events: events(t, 3)})
			if err := s.VerifyValues(ctx); err != nil {
				t.Fatalf("pass over a whole log: %v", err)
			}
			if err := s.db.Update(damage); err != nil {
				t.Fatal(err)
			}
			if err := s.VerifyValues(ctx); !errors.Is(err, ErrCorruptLog) || !strings.Contains(err.Error(), "record 2") {
				t.Fatalf("pass: %v; want ErrCorruptLog naming record 2", err)
			}
		})
	}
}
