package eventstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// The verified marker: the position and hash of the last record whose chain is
// known good, under the key "m" (8-byte big-endian position, then the hash as
// 32 raw bytes). It is written after a successful verification
// (VerifySinceMarker) and advanced by the committer with every append (each
// append chains on the verified head and knows its records' hashes). A start
// then verifies only the records after the marker: a record before it that is
// damaged on disk is still caught by Badger's block checksums when it is read,
// by the background checksum pass, and by a full VerifyStore (roster verify).
const prefixMarker = 'm'

func markerKey() []byte { return []byte{prefixMarker} }

func markerValue(pos uint64, hash string) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 40), pos)
	h, err := hex.DecodeString(hash)
	if err != nil || len(h) != 32 {
		return v // a record without a hash: no anchor, only the position
	}
	return append(v, h...)
}

// Marker is the verified marker (Position 0: none).
type Marker struct {
	Position uint64
	Hash     string
}

// VerifiedMarker reads the verified marker.
func (s *BadgerStore) VerifiedMarker() (Marker, error) {
	release, err := s.readGuard()
	if err != nil {
		return Marker{}, &StoreError{Op: "read marker", Err: err}
	}
	defer release()
	var m Marker
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		m, err = readMarker(txn)
		return err
	})
	if err != nil {
		return Marker{}, &StoreError{Op: "read marker", Err: err}
	}
	return m, nil
}

func readMarker(txn *badger.Txn) (Marker, error) {
	var m Marker
	item, err := txn.Get(markerKey())
	if errors.Is(err, badger.ErrKeyNotFound) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	err = itemValue(item, func(v []byte) error {
		if len(v) != 8 && len(v) != 40 {
			return fmt.Errorf("%w: verified marker has %d bytes", ErrCorruptLog, len(v))
		}
		m.Position = binary.BigEndian.Uint64(v)
		if len(v) == 40 {
			m.Hash = hex.EncodeToString(v[8:])
		}
		return nil
	})
	return m, err
}

// setMarker writes the verified marker unless it is already at or past pos.
func (s *BadgerStore) setMarker(m Marker) error {
	release, err := s.readGuard()
	if err != nil {
		return &StoreError{Op: "write marker", Err: err}
	}
	defer release()
	if err := s.db.Update(func(txn *badger.Txn) error {
		cur, err := readMarker(txn)
		if err != nil || cur.Position >= m.Position {
			return err
		}
		return txn.Set(markerKey(), markerValue(m.Position, m.Hash))
	}); err != nil {
		return &StoreError{Op: "write marker", Err: err}
	}
	if err := s.db.Sync(); err != nil {
		return &StoreError{Op: "write marker", Err: fmt.Errorf("sync: %w", err)}
	}
	return nil
}

// CheckMarker holds the log against its verified marker without moving it (an offline check):
// the head must not be behind the marker, and the record at the marker must still have the
// marker's hash. The Report names the first bad position and why; it is OK (zero) when the log
// agrees or has no marker. The error is for a log that could not be read.
func (s *BadgerStore) CheckMarker(ctx context.Context) (Report, error) {
	m, err := s.VerifiedMarker()
	if err != nil {
		return Report{}, err
	}
	head, err := s.Head(ctx)
	if err != nil {
		return Report{}, err
	}
	return s.checkMarker(ctx, m, head)
}

// checkMarker is CheckMarker for the marker m and the head.
func (s *BadgerStore) checkMarker(ctx context.Context, m Marker, head uint64) (Report, error) {
	if m.Position == 0 {
		return Report{}, nil
	}
	if m.Position > head {
		return Report{From: m.Position, BadPosition: head + 1,
			Reason: fmt.Sprintf("log head is %d but position %d was verified before (records lost)", head, m.Position)}, nil
	}
	recs, err := s.Read(ctx, m.Position, 1)
	if err != nil || len(recs) != 1 {
		return Report{From: m.Position, BadPosition: m.Position, Reason: fmt.Sprintf("unreadable: %v", err)}, err
	}
	if m.Hash != "" && recs[0].Hash != m.Hash {
		return Report{From: m.Position, BadPosition: m.Position,
			Reason: fmt.Sprintf("hash %s differs from the %s verified before: the record was altered", short(recs[0].Hash), short(m.Hash))}, nil
	}
	return Report{}, nil
}

// VerifySinceMarker checks the hash chain from the verified marker to the
// head: the record at the marker must still have the marker's hash, the
// records after it must link to it and match their hashes, and the head must
// not be behind the marker. When it passes, the marker is moved to the head.
// The Report names the first bad position (BadPosition) and why; its Last and
// LastHash are the head's. The error is for a log that could not be read.
// Called before any append (at start); a full check is VerifyStore from 1.
func (s *BadgerStore) VerifySinceMarker(ctx context.Context) (Report, Marker, error) {
	m, err := s.VerifiedMarker()
	if err != nil {
		return Report{}, m, err
	}
	head, err := s.Head(ctx)
	if err != nil {
		return Report{}, m, err
	}
	if rep, err := s.checkMarker(ctx, m, head); err != nil || !rep.OK() {
		return rep, m, err
	}
	from := uint64(1)
	if m.Position > 0 {
		from = m.Position + 1
		if m.Hash == "" { // no anchor: verify the marker's record with the rest
			from = m.Position
		}
	}
	rep := Report{From: from, Last: m.Position, LastHash: m.Hash}
	if from <= head {
		if rep, err = VerifyStore(ctx, s, from); err != nil || !rep.OK() {
			return rep, m, err
		}
	}
	if head > 0 && rep.Last == head && rep.LastHash != "" {
		if err := s.setMarker(Marker{Position: head, Hash: rep.LastHash}); err != nil {
			return rep, m, err
		}
	}
	return rep, m, nil
}
