package eventstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Badger keeps a value of ValueThreshold bytes or more in its value log and the key's
// entry in the LSM tree points to it. A read of such a value whose checksum fails
// (VerifyValueChecksum) or that lies beyond the end of its file is logged by Badger and
// answered with an empty value and no error (Item.yieldItemValue, Badger 4.9). Every read
// of the log goes through itemValue, which turns that into ErrCorruptLog: a value that
// points into the value log is never empty.

// corruptRecord is errCorrupt: a stored record that does not decode. It is damage to the
// log (errors.Is(err, ErrCorruptLog)).
type corruptRecord struct{}

func (corruptRecord) Error() string { return "corrupt stored record" }
func (corruptRecord) Unwrap() error { return ErrCorruptLog }

// keyName names a key of the log in an error.
func keyName(k []byte) string {
	if len(k) == 9 && k[0] == prefixEvent {
		return fmt.Sprintf("the record at position %d", binary.BigEndian.Uint64(k[1:]))
	}
	return fmt.Sprintf("the key %q", k)
}

// itemValue is item.Value, except that a value Badger could not read from its value log
// (checksum mismatch, missing, cut short) is an error wrapping ErrCorruptLog naming the key.
func itemValue(item *badger.Item, fn func([]byte) error) error {
	return item.Value(func(v []byte) error {
		if len(v) == 0 && item.ValueSize() > 0 {
			return fmt.Errorf("%w: the value of %s cannot be read from the value log (checksum mismatch or missing)",
				ErrCorruptLog, keyName(item.KeyCopy(nil)))
		}
		return fn(v)
	})
}

// OnCorrupt registers fn, called once with the first read of the log that meets damage
// (an error wrapping ErrCorruptLog: a record or value that cannot be read or decoded), on
// the reader's goroutine, before that reader gets its error. If damage was met before
// OnCorrupt is called, fn is called at once. rosterd raises its store alarm with it.
func (s *BadgerStore) OnCorrupt(fn func(error)) {
	s.corruptFn.Store(&fn)
	if e := s.corruptErr.Load(); e != nil {
		s.fireCorrupt(*e)
	}
}

// noteCorrupt passes err on, first telling the OnCorrupt handler when it is damage.
func (s *BadgerStore) noteCorrupt(err error) error {
	if err == nil || !errors.Is(err, ErrCorruptLog) {
		return err
	}
	s.corruptErr.CompareAndSwap(nil, &err)
	s.fireCorrupt(*s.corruptErr.Load())
	return err
}

func (s *BadgerStore) fireCorrupt(err error) {
	if fn := s.corruptFn.Load(); fn != nil && s.corruptFired.CompareAndSwap(false, true) {
		(*fn)(err)
	}
}

// ValuePassChunk is how many keys the value pass reads in one read transaction, and
// ValuePassPause the pause between two chunks: the pass runs beside the service on a
// machine it shares, so it gives way (a log of a million keys takes about 2,000 chunks).
const (
	ValuePassChunk = 512
	ValuePassPause = 2 * time.Millisecond
)

// VerifyValues reads the value of every key of the log (records, stream indexes, stored
// replies, ...) in chunks of ValuePassChunk keys, each in its own read transaction, pausing
// ValuePassPause between chunks, and decodes every record. Badger checks each value it reads
// from the value log against its checksum. The first value that cannot be read or a record
// that does not decode is an error wrapping ErrCorruptLog naming it (and is reported to the
// OnCorrupt handler). It stops when ctx ends (returning ctx's error).
func (s *BadgerStore) VerifyValues(ctx context.Context) error {
	if err := s.noteCorrupt(s.verifyValues(ctx)); err != nil {
		return &StoreError{Op: "verify values", Err: err}
	}
	return nil
}

func (s *BadgerStore) verifyValues(ctx context.Context) error {
	var next []byte // first key of the next chunk; nil: the start
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var done bool
		var err error
		next, done, err = s.verifyValueChunk(next)
		if err != nil || done {
			return err
		}
		t := time.NewTimer(ValuePassPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// verifyValueChunk checks up to ValuePassChunk keys from from and returns the key to
// continue at.
func (s *BadgerStore) verifyValueChunk(from []byte) (next []byte, done bool, err error) {
	release, err := s.readGuard()
	if err != nil {
		return nil, false, err
	}
	defer release()
	// Records up to the head readers see are whole: their appends' tails, which store the
	// command replies, are committed (a staged append's slices are not, until it is whole).
	whole := s.head.value()
	spans := map[string]replySpan{} // the stored replies' spans read in this chunk, by command key
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		n := 0
		for it.Seek(from); it.Valid(); it.Next() {
			item := it.Item()
			if n == ValuePassChunk {
				next = item.KeyCopy(nil)
				return nil
			}
			n++
			k := item.Key()
			if err := itemValue(item, func(v []byte) error {
				if len(k) == 9 && k[0] == prefixEvent {
					pos := binary.BigEndian.Uint64(k[1:])
					var r Record
					if err := decodeRecordAt(v, pos, &r); err != nil {
						return &DamageError{Position: pos, Err: fmt.Errorf("%s: %w", keyName(k), err)}
					}
					if r.Position <= whole {
						if err := checkIndexed(txn, r); err != nil {
							return &DamageError{Position: pos, Err: err}
						}
						if r.CommandID != "" {
							if err := s.checkCommandKept(txn, r, spans); err != nil {
								return &DamageError{Position: pos, Err: err}
							}
						}
					}
				}
				if len(k) > 1 && k[0] == prefixCommand {
					return s.checkReplyNamesItsRecords(txn, k, v, whole)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		done = true
		return nil
	})
	return next, done, err
}

// DamageError is damage the checksum pass found at a record: its position, and what is wrong.
type DamageError struct {
	Position uint64
	Err      error
}

func (e *DamageError) Error() string { return e.Err.Error() }
func (e *DamageError) Unwrap() error { return e.Err }

// checkIndexed checks that the stream index names the record at its stream and version: a
// stream key deleted or repointed would make an organization's load miss the record or read
// another in its place, and a version key lowered with it would let the next append take the
// record's version again.
func checkIndexed(txn *badger.Txn, r Record) error {
	item, err := txn.Get(streamKey(r.Stream, r.Version))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%w: record %d is %s version %d, which the stream index does not hold", ErrCorruptLog, r.Position, r.Stream, r.Version)
	}
	if err != nil {
		return fmt.Errorf("read stream %s at version %d: %w", r.Stream, r.Version, err)
	}
	return itemValue(item, func(v []byte) error {
		if len(v) != 8 || binary.BigEndian.Uint64(v) != r.Position {
			return fmt.Errorf("%w: record %d is %s version %d, but the stream index names another record for it", ErrCorruptLog, r.Position, r.Stream, r.Version)
		}
		return nil
	})
}

// replySpan is a stored reply's first and last event positions (BadgerOptions.ReplySpan); ok
// is false for a reply the pass does not check.
type replySpan struct {
	first, last uint64
	ok          bool
}

// checkCommandKept checks that the command a record carries has its stored reply: without it
// a repeat of the command id would be decided and appended again (a deleted key, a log
// restored in part). The recovery from the stream stores it again (an empty reply). With
// BadgerOptions.ReplySpan it also checks that the record lies between the reply's first and
// last events: one outside them is of another append with the same command id (the command
// applied twice, its first reply lost) or the reply is another command's. spans caches the
// replies read (a big append's reply is read once per chunk, not once per record).
func (s *BadgerStore) checkCommandKept(txn *badger.Txn, r Record, spans map[string]replySpan) error {
	ck := commandKey(r.Stream, r.CommandID)
	span, seen := spans[string(ck)]
	if !seen {
		item, err := txn.Get(ck)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: record %d carries command %s of stream %s, whose stored reply is missing: a repeat of it would be applied again",
				ErrCorruptLog, r.Position, r.CommandID, r.Stream)
		}
		if err != nil {
			return fmt.Errorf("read the reply of command %s of stream %s: %w", r.CommandID, r.Stream, err)
		}
		if s.replySpan != nil {
			if err := itemValue(item, func(v []byte) error {
				span.first, span.last, span.ok = s.replySpan(v)
				return nil
			}); err != nil {
				return fmt.Errorf("read the reply of command %s of stream %s: %w", r.CommandID, r.Stream, err)
			}
		}
		spans[string(ck)] = span
	}
	if span.ok && (r.Position < span.first || r.Position > span.last) {
		return fmt.Errorf("%w: record %d carries command %s of stream %s, but that command's stored reply names positions %d to %d: the command was applied twice, or the reply is another's",
			ErrCorruptLog, r.Position, r.CommandID, r.Stream, span.first, span.last)
	}
	return nil
}

// checkReplyNamesItsRecords checks, with BadgerOptions.ReplySpan, that a stored reply (key k,
// value v) names records of its own command: its first and last events must be records of its
// stream that carry its command id. A reply copied or moved to another command's key would
// otherwise answer that command's first request as if it had been applied.
func (s *BadgerStore) checkReplyNamesItsRecords(txn *badger.Txn, k, v []byte, whole uint64) error {
	if s.replySpan == nil || len(v) == 0 {
		return nil
	}
	first, last, ok := s.replySpan(v)
	if !ok || last > whole {
		return nil
	}
	end := bytes.IndexByte(k[1:], 0)
	if end < 0 {
		return fmt.Errorf("%w: command key %q has no stream", ErrCorruptLog, k)
	}
	stream, id := string(k[1:1+end]), string(k[2+end:])
	for _, pos := range []uint64{first, last} {
		r, err := recordAt(txn, pos)
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return &DamageError{Position: pos, Err: err}
		}
		if err != nil || r.Stream != stream || r.CommandID != id {
			return &DamageError{Position: pos, Err: fmt.Errorf("%w: the stored reply of command %s of stream %s names record %d, which is not one of that command's",
				ErrCorruptLog, id, stream, pos)}
		}
	}
	return nil
}
