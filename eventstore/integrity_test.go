package eventstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/nats-io/nats.go/jetstream"

	"roster/internal/natstest"
)

func openBadgerAt(t *testing.T, dir string) *BadgerStore {
	t.Helper()
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The v1 fixture is migrated on open: every record gets its hashes and the chain verifies.
func TestV1FixtureMigratesToChain(t *testing.T) {
	dir := copyDir(t, filepath.Join("testdata", "v1log"))
	s := openBadgerAt(t, dir)
	ctx := testCtx(t)
	rep, err := s.Verify(ctx, 1)
	if err != nil || !rep.OK() || rep.Checked != 45 {
		t.Fatalf("verify migrated fixture: %+v %v", rep, err)
	}
	// Appends continue the chain, and a reopen does not migrate again.
	appendRecords(t, s, 3)
	_ = s.Close()
	s2 := openBadgerAt(t, dir)
	if rep, err := s2.Verify(ctx, 1); err != nil || !rep.OK() || rep.Checked != 48 {
		t.Fatalf("verify after reopen: %+v %v", rep, err)
	}
}

// A log of a newer format is refused with ErrUnknownFormat.
func TestNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	s := openBadgerAt(t, dir)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(formatKey(), u64(FormatVersion+1)) }); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := OpenBadger(dir, BadgerOptions{}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("open newer format: %v", err)
	}
}

// Both stores chain their records the same way; the envelopes verify offline,
// and a changed envelope is pinpointed.
func TestChainOnAppendAndOfflineVerify(t *testing.T) {
	mem := NewMemory()
	bs := openRelayStore(t)
	for _, s := range []Store{mem, bs} {
		appendRecords(t, s, 20)
	}
	ctx := testCtx(t)
	a, b := mustRead(t, mem, 1, 0), mustRead(t, bs, 1, 0)
	if a[0].PrevHash != GenesisHash || a[19].Hash == "" {
		t.Fatalf("record hashes: %+v", a[0])
	}
	for _, s := range []Store{mem, bs} {
		if rep, err := VerifyStore(ctx, s, 1); err != nil || !rep.OK() || rep.Checked != 20 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		if rep, err := VerifyStore(ctx, s, 11); err != nil || !rep.OK() || rep.Checked != 10 {
			t.Fatalf("verify from 11: %+v %v", rep, err)
		}
	}
	_ = b
	// Offline: the envelopes of positions 5..20 as JSON, then one changed.
	var envs []Record
	for _, r := range a[4:] {
		raw, _ := json.Marshal(r)
		if !bytes.Contains(raw, []byte(`"prev_hash":"`)) || !bytes.Contains(raw, []byte(`"hash":"`)) {
			t.Fatalf("envelope lacks hashes: %s", raw)
		}
		var back Record
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, back)
	}
	if rep, err := VerifyRecords(envs); err != nil || !rep.OK() || rep.Last != 20 {
		t.Fatalf("offline verify: %+v %v", rep, err)
	}
	envs[7].Actor = "mallory" // position 12
	rep, err := VerifyRecords(envs)
	if !errors.Is(err, ErrChainBroken) || rep.BadPosition != 12 || !strings.Contains(rep.Reason, "altered") {
		t.Fatalf("tampered envelope: %+v %v", rep, err)
	}
	envs[7] = a[11]
	envs = append(envs[:3], envs[4:]...) // drop position 8
	if rep, _ := VerifyRecords(envs); rep.BadPosition != 8 {
		t.Fatalf("dropped envelope: %+v", rep)
	}
}

// One event edited in place inside the Badger log: Verify pinpoints its position.
func TestEditInPlacePinpointed(t *testing.T) {
	dir := t.TempDir()
	s := openBadgerAt(t, dir)
	appendRecords(t, s, 30)
	recs := mustRead(t, s, 17, 1)
	forged := recs[0]
	forged.Data = json.RawMessage(`{"i":999}`)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(eventKey(17), encodeRecord(forged)) }); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s2 := openBadgerAt(t, dir)
	rep, err := s2.Verify(testCtx(t), 1)
	if err != nil || rep.BadPosition != 17 || rep.Checked != 16 || !strings.Contains(rep.Reason, "altered") {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	// Recomputing its hash does not help: the next record no longer links.
	forged.Hash, _ = HashRecord(forged, forged.PrevHash)
	if err := s2.db.Update(func(txn *badger.Txn) error { return txn.Set(eventKey(17), encodeRecord(forged)) }); err != nil {
		t.Fatal(err)
	}
	if rep, _ := s2.Verify(testCtx(t), 1); rep.BadPosition != 18 || !strings.Contains(rep.Reason, "prev_hash") {
		t.Fatalf("verify after rehash: %+v", rep)
	}
}

// Bytes garbled inside the log's .sst: open or VerifyChecksums or Verify
// reports ErrCorruptLog; the damaged records are never returned.
func TestGarbledTableDetected(t *testing.T) {
	dir, ssts := closedLogWithTables(t)
	b, err := os.ReadFile(ssts[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 4; i < len(b)/4+512 && i < len(b); i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(ssts[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Logf("open refused: %v", err)
		return
	}
	defer s2.Close()
	errSum := s2.VerifyChecksums()
	if !errors.Is(errSum, ErrCorruptLog) {
		t.Fatalf("VerifyChecksums: %v", errSum)
	}
	if rep, err := s2.Verify(testCtx(t), 1); err == nil && rep.OK() {
		t.Fatalf("verify passed a garbled table: %+v", rep)
	}
}

// Backup under concurrent appends, restore into a new dir: every event equal, chain verifies.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	s := openRelayStore(t)
	appendRecords(t, s, 100)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev := newEvent(t, "Load", map[string]int{"i": i})
			if _, err := s.Append(ctx, AppendRequest{Stream: "load", ExpectedVersion: uint64(i), Events: []Record{ev}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var buf bytes.Buffer
	upTo, err := Backup(ctx, s, &buf, 90)
	close(stop)
	wg.Wait()
	if err != nil || upTo != 90 {
		t.Fatalf("backup: %d %v", upTo, err)
	}
	var full bytes.Buffer
	head, err := Backup(ctx, s, &full, 0)
	if err != nil || head < 100 {
		t.Fatalf("full backup: %d %v", head, err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want uint64
	}{{"up to 90", buf.Bytes(), 90}, {"full", full.Bytes(), head}} {
		dir := filepath.Join(t.TempDir(), "log")
		got, err := Restore(ctx, bytes.NewReader(tc.data), dir, BadgerOptions{})
		if err != nil || got != tc.want {
			t.Fatalf("%s: restore: %d %v", tc.name, got, err)
		}
		r := openBadgerAt(t, dir)
		assertRecords(t, mustRead(t, r, 1, 0), mustRead(t, s, 1, int(tc.want)))
		if rep, err := r.Verify(ctx, 1); err != nil || !rep.OK() || rep.Last != tc.want {
			t.Fatalf("%s: verify restored: %+v %v", tc.name, rep, err)
		}
		// A restore never writes over a log.
		if _, err := Restore(ctx, bytes.NewReader(tc.data), dir, BadgerOptions{}); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("restore into a full dir: %v", err)
		}
	}
	// A tampered backup is refused.
	bad := bytes.Replace(buf.Bytes(), []byte(`"i":42`), []byte(`"i":43`), 1)
	if _, err := Restore(ctx, bytes.NewReader(bad), t.TempDir(), BadgerOptions{}); !errors.Is(err, ErrBackupInvalid) {
		t.Fatalf("tampered backup: %v", err)
	}
}

// The log is deleted; it is recovered from the stream, every event back once;
// a stream with a gap is refused.
func TestRecoverFromStream(t *testing.T) {
	_, nc := natstest.StartForTest(t)
	js := newJS(t, nc)
	s := openRelayStore(t)
	ctx := testCtx(t)
	for i := range 40 {
		ev := newEvent(t, "Cmd", map[string]int{"i": i})
		ev2 := newEvent(t, "Cmd2", map[string]int{"i": i})
		ev.CommandID, ev2.CommandID = "c"+string(rune('0'+i)), "c"+string(rune('0'+i))
		mustAppend(t, s, AppendRequest{Stream: "org-" + string(rune('a'+i%3)), ExpectedVersion: uint64(2 * (i / 3)),
			CommandID: "c" + string(rune('0'+i)), Events: []Record{ev, ev2}})
	}
	rl, stop := startRelay(t, s, js, RelayConfig{})
	waitPublished(t, rl, 80)
	stop()
	dir := filepath.Join(t.TempDir(), "log")
	rep, err := RecoverFromStream(ctx, js, RelayConfig{}, dir, BadgerOptions{})
	if err != nil || rep.Last != 80 {
		t.Fatalf("recover: %+v %v", rep, err)
	}
	r := openBadgerAt(t, dir)
	assertRecords(t, mustRead(t, r, 1, 0), mustRead(t, s, 1, 0))
	if _, ok, _ := r.CommandReply(ctx, "org-a", "c0"); !ok {
		t.Fatal("command id not recognised after recovery")
	}
	if _, err := RecoverFromStream(ctx, js, RelayConfig{}, dir, BadgerOptions{}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("recover into a full dir: %v", err)
	}
	st, err := js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(ctx, 33); err != nil {
		t.Fatal(err)
	}
	if _, err := RecoverFromStream(ctx, js, RelayConfig{}, filepath.Join(t.TempDir(), "log"), BadgerOptions{}); !errors.Is(err, ErrStreamGap) {
		t.Fatalf("recover from a stream with a gap: %v", err)
	}
}

// CheckTables passes intact tables and reports a truncated one as an error,
// where badger.Open would panic on a goroutine of its own.
func TestCheckTablesTruncated(t *testing.T) {
	dir, ssts := closedLogWithTables(t)
	if err := CheckTables(dir); err != nil {
		t.Fatalf("intact tables: %v", err)
	}
	fi, err := os.Stat(ssts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(ssts[0], fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := CheckTables(dir); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("truncated table: %v", err)
	}
}

// Value-log GC: a pass is bounded and returns; the scheduled loop stops with its context.
func TestValueLogGCBoundedAndStops(t *testing.T) {
	s := openRelayStore(t)
	appendRecords(t, s, 50)
	n, err := ValueLogGCPass(testCtx(t), s.db)
	if err != nil || n > MaxGCRewritesPerPass {
		t.Fatalf("gc pass: %d %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.RunGC(ctx, time.Millisecond)
		close(done)
	}()
	cancel()
	<-done // returns once ctx ends; a hang fails the test by its deadline
}

// A stream whose first envelopes were published before the chain (no hashes)
// is recovered: their hashes are computed; a hashless envelope after a hashed
// one is refused.
func TestRecoverLegacyEnvelopes(t *testing.T) {
	_, nc := natstest.StartForTest(t)
	js := newJS(t, nc)
	ctx := testCtx(t)
	if _, err := EnsureStream(ctx, js, RelayConfig{}); err != nil {
		t.Fatal(err)
	}
	src := NewMemory()
	appendRecords(t, src, 12)
	recs := mustRead(t, src, 1, 0)
	publish := func(r Record) {
		t.Helper()
		raw, _ := json.Marshal(r)
		if _, err := js.Publish(ctx, Subject(r), raw, jetstream.WithMsgID(r.ID)); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range recs {
		if i < 8 { // the relay of the old code published these
			r.Hash, r.PrevHash = "", ""
		}
		publish(r)
	}
	dir := filepath.Join(t.TempDir(), "log")
	rep, err := RecoverFromStream(ctx, js, RelayConfig{}, dir, BadgerOptions{})
	if err != nil || rep.Last != 12 {
		t.Fatalf("recover: %+v %v", rep, err)
	}
	assertRecords(t, mustRead(t, openBadgerAt(t, dir), 1, 0), recs)

	bad := recs[11]
	next := newEvent(t, "Late", nil)
	next.Position, next.Stream, next.Version, next.Time = 13, bad.Stream, bad.Version+1, bad.Time
	publish(next) // no hashes after hashed envelopes
	if _, err := RecoverFromStream(ctx, js, RelayConfig{}, filepath.Join(t.TempDir(), "log"), BadgerOptions{}); !errors.Is(err, ErrStreamInvalid) {
		t.Fatalf("hashless envelope after the chain: %v", err)
	}
}

// A new log is written in the current format from the start: nothing is migrated.
func TestNewLogStartsInTheCurrentFormat(t *testing.T) {
	var logs bytes.Buffer
	s, err := OpenBadger(t.TempDir(), BadgerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ver := storedFormat(t, s); ver != FormatVersion || strings.Contains(logs.String(), "migrated") {
		t.Fatalf("format %d, logs %q", ver, logs.String())
	}
}

// A table file the MANIFEST does not list (a flush a kill cut short: empty, or half written) is
// not damage: Badger deletes it when it opens. The checks pass over it, the store opens and
// reads every record, and the leftover is gone; a listed table cut short is still refused.
func TestTableOutsideTheManifestIsNoDamage(t *testing.T) {
	dir, ssts := closedLogWithTables(t)
	empty, half := filepath.Join(dir, "000900.sst"), filepath.Join(dir, "000901.sst")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ssts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(half, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckTables(dir); err != nil {
		t.Fatalf("tables outside the MANIFEST: %v", err)
	}
	if err := VerifyTableChecksums(context.Background(), dir); err != nil {
		t.Fatalf("checksums with tables outside the MANIFEST: %v", err)
	}
	s := openBadgerAt(t, dir)
	recs, err := s.Read(context.Background(), 1, 1000)
	if err != nil || len(recs) != 200 {
		t.Fatalf("after reopening: %d records, %v", len(recs), err)
	}
	_ = s.Close()
	for _, f := range []string{empty, half} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind: %v", filepath.Base(f), err)
		}
	}
	if err := os.Truncate(ssts[0], int64(len(b)/2)); err != nil {
		t.Fatal(err)
	}
	if err := CheckTables(dir); !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("a listed table cut short: %v", err)
	}
}

// closedLogWithTables writes 200 records to a log in a temp dir and closes it; it returns the
// dir and its table files.
func closedLogWithTables(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	s := openBadgerAt(t, dir)
	appendRecords(t, s, 200)
	_ = s.Close()
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no .sst written")
	}
	return dir, ssts
}

// storedFormat reads the log's format key.
func storedFormat(t *testing.T, s *BadgerStore) uint64 {
	t.Helper()
	var ver uint64
	if err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey())
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { ver = binary.BigEndian.Uint64(v); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return ver
}
