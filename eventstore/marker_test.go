package eventstore

import (
	"encoding/json"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

func setRaw(t *testing.T, s *BadgerStore, k, v []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
		t.Fatal(err)
	}
}

func wantMarker(t *testing.T, s *BadgerStore, pos uint64) {
	t.Helper()
	m, err := s.VerifiedMarker()
	if err != nil {
		t.Fatal(err)
	}
	if rec := mustRead(t, s, pos, 1)[0]; m.Position != pos || m.Hash != rec.Hash {
		t.Fatalf("marker %+v, want position %d hash %s", m, pos, short(rec.Hash))
	}
}

// The verified marker advances with every append; a start verifies only the
// chain after it (plus that its record still has its hash), and moves it to
// the head when that passes.
func TestVerifiedMarker(t *testing.T) {
	dir := t.TempDir()
	s := openBadgerAt(t, dir)
	appendRecords(t, s, 30)
	wantMarker(t, s, 30) // advanced by the committer

	// A marker left at 10 (records 11.. not verified since): an edit at 17 is caught.
	ten := mustRead(t, s, 10, 1)[0]
	setRaw(t, s, markerKey(), markerValue(10, ten.Hash))
	orig := mustRead(t, s, 17, 1)[0]
	forged := orig
	forged.Data = json.RawMessage(`{"i":999}`)
	setRaw(t, s, eventKey(17), encodeRecord(forged))
	rep, _, err := s.VerifySinceMarker(testCtx(t))
	if err != nil || rep.BadPosition != 17 || rep.From != 11 || rep.Checked != 6 || !strings.Contains(rep.Reason, "altered") {
		t.Fatalf("verify since marker: %+v %v", rep, err)
	}
	if m, _ := s.VerifiedMarker(); m.Position != 10 {
		t.Fatalf("a failed verification moved the marker to %d", m.Position)
	}

	// Put the record back: it verifies from 11 to 30 and the marker moves to the head.
	setRaw(t, s, eventKey(17), encodeRecord(orig))
	rep, _, err = s.VerifySinceMarker(testCtx(t))
	if err != nil || !rep.OK() || rep.From != 11 || rep.Checked != 20 || rep.Last != 30 {
		t.Fatalf("verify since marker: %+v %v", rep, err)
	}
	wantMarker(t, s, 30)

	// The marker's own record edited (rehashed so that it looks whole): caught.
	last := mustRead(t, s, 30, 1)[0]
	edited := last
	edited.Data = json.RawMessage(`{"i":-1}`)
	edited.Hash, _ = HashRecord(edited, edited.PrevHash)
	setRaw(t, s, eventKey(30), encodeRecord(edited))
	if rep, _, _ := s.VerifySinceMarker(testCtx(t)); rep.BadPosition != 30 || !strings.Contains(rep.Reason, "verified before") {
		t.Fatalf("edited marker record: %+v", rep)
	}
	setRaw(t, s, eventKey(30), encodeRecord(last))

	// A marker ahead of the head: records were lost.
	setRaw(t, s, markerKey(), markerValue(40, last.Hash))
	if rep, _, _ := s.VerifySinceMarker(testCtx(t)); rep.BadPosition != 31 || !strings.Contains(rep.Reason, "lost") {
		t.Fatalf("marker ahead of the head: %+v", rep)
	}
	setRaw(t, s, markerKey(), markerValue(30, last.Hash))

	// No marker (a log migrated or restored by older code): the whole chain, then the marker.
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(markerKey()) }); err != nil {
		t.Fatal(err)
	}
	if rep, _, err := s.VerifySinceMarker(testCtx(t)); err != nil || !rep.OK() || rep.From != 1 || rep.Checked != 30 {
		t.Fatalf("verify without a marker: %+v %v", rep, err)
	}
	wantMarker(t, s, 30)

	// Documented limit: an edit before the marker is not seen by the start-up
	// check; the full verification (roster verify) names it.
	five := mustRead(t, s, 5, 1)[0]
	five.Data = json.RawMessage(`{"i":555}`)
	setRaw(t, s, eventKey(5), encodeRecord(five))
	if rep, _, err := s.VerifySinceMarker(testCtx(t)); err != nil || !rep.OK() || rep.Checked != 0 {
		t.Fatalf("verify since marker: %+v %v", rep, err)
	}
	if rep, _ := s.Verify(testCtx(t), 1); rep.BadPosition != 5 {
		t.Fatalf("full verify: %+v", rep)
	}

	// Appends move it on, and it survives a reopen.
	appendRecords(t, s, 3)
	_ = s.Close()
	s2 := openBadgerAt(t, dir)
	wantMarker(t, s2, 33)
}
