package eventstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// FormatVersion is the log's stored format, kept under the key "f".
//
//	1  records in codec 1, no hash chain (no "f" key)
//	2  records in codec 2, with PrevHash and Hash (the hash chain)
//	3  codec 2 records may carry a principal (flag bit 1); a format 2 log is a
//	   format 3 log as it stands, so its migration only writes the new version
//	4  the log may hold a staged append (keys T and S, staged.go), which only this
//	   format's open completes: an older Roster would serve its first slices as if
//	   they were the whole append. A format 2 or 3 log is a format 4 log as it
//	   stands (it holds no staged append); its migration only writes the version
//
// A log of an older format is migrated when it is opened; a log of a newer
// format is refused (ErrUnknownFormat). A change of the format must add a
// version here, a migration in migrate, and a fixture under testdata.
const FormatVersion = 4

const prefixFormat = 'f'

func formatKey() []byte { return []byte{prefixFormat} }

var (
	// ErrUnknownFormat reports a log written by a newer Roster.
	ErrUnknownFormat = errors.New("unknown log format")
	// ErrCorruptLog reports a log that cannot be read as written: a checksum
	// mismatch in a table or the value log, a record that does not decode, a
	// missing position. The damaged data is never served.
	ErrCorruptLog = errors.New("log is corrupt")
)

// migrateChunk is how many records one migration transaction rewrites.
const migrateChunk = 512

// migrate brings the log to FormatVersion. The v1 -> v2 migration rewrites
// every record with its PrevHash and Hash, in order, a chunk per transaction,
// and writes the format key last: a migration cut short runs again on the next
// open (records already rewritten decode and hash the same).
func migrate(db *badger.DB, log *slog.Logger) error {
	var ver uint64
	fresh := false
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			// No format key: a log of format 1, or a new log with no record at all.
			ver = 1
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEvent}})
			defer it.Close()
			it.Rewind()
			fresh = !it.Valid()
			return nil
		}
		if err != nil {
			return err
		}
		return itemValue(item, func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: format key has %d bytes", ErrCorruptLog, len(v))
			}
			ver = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("read format: %w", err)
	}
	switch {
	case ver == FormatVersion:
		return nil
	case fresh:
		// A new log is written in the current format from its first record on.
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(formatKey(), u64(FormatVersion)) }); err != nil {
			return fmt.Errorf("write format: %w", err)
		}
		return nil
	case ver > FormatVersion:
		return fmt.Errorf("%w: the log has format %d, this Roster reads up to %d", ErrUnknownFormat, ver, FormatVersion)
	case ver == 2 || ver == 3:
		// Records without a principal are stored and hashed as in format 2, and a log of
		// either holds no staged append: nothing to rewrite.
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(formatKey(), u64(FormatVersion)) }); err != nil {
			return fmt.Errorf("write format: %w", err)
		}
		log.Info("eventstore: log migrated", "from_format", ver, "to_format", FormatVersion, "records", 0)
		return nil
	}
	// No format key and records: format 1 only if the log reads as one (migratedPrefix).
	next, prev, whole, err := migratedPrefix(db)
	if err != nil {
		return err
	}
	if whole {
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(formatKey(), u64(FormatVersion)) }); err != nil {
			return fmt.Errorf("write format: %w", err)
		}
		log.Warn("eventstore: the log had no format key; its records carry the hash chain and it holds, so the key is written again",
			"format", FormatVersion, "records", next-1)
		return nil
	}
	start := time.Now()
	var n uint64
	for {
		var batch []Record
		err := db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEvent}})
			defer it.Close()
			for it.Seek(eventKey(next)); it.Valid() && len(batch) < migrateChunk; it.Next() {
				pos := binary.BigEndian.Uint64(it.Item().Key()[1:])
				if pos != next+uint64(len(batch)) {
					return fmt.Errorf("%w: position %d where %d was expected", ErrCorruptLog, pos, next+uint64(len(batch)))
				}
				var r Record
				if err := itemValue(it.Item(), func(v []byte) error { return decodeRecord(v, &r) }); err != nil {
					return fmt.Errorf("%w: decode record %d: %w", ErrCorruptLog, pos, err)
				}
				batch = append(batch, r)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate from format %d: %w", ver, err)
		}
		if len(batch) == 0 {
			break
		}
		wb := db.NewWriteBatch()
		for i := range batch {
			r := &batch[i]
			r.PrevHash = prev
			r.Hash, _ = HashRecord(*r, prev)
			prev = r.Hash
			if err := wb.Set(eventKey(r.Position), encodeRecord(*r)); err != nil {
				wb.Cancel()
				return fmt.Errorf("migrate record %d: %w", r.Position, err)
			}
		}
		if err := wb.Flush(); err != nil {
			return fmt.Errorf("migrate records %d..: %w", next, err)
		}
		next += uint64(len(batch))
		n += uint64(len(batch))
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(formatKey(), u64(FormatVersion)) }); err != nil {
		return fmt.Errorf("write format: %w", err)
	}
	if err := db.Sync(); err != nil {
		return fmt.Errorf("sync after migration: %w", err)
	}
	log.Info("eventstore: log migrated", "from_format", ver, "to_format", FormatVersion, "records", n, "took", time.Since(start))
	return nil
}

// migratedPrefix reads a log without a format key before it is migrated from format 1. Such a
// log holds records of codec 1 (no hash chain), after at most a prefix that a migration cut short
// already rewrote in codec 2 with its chain. A log whose format key was lost or deleted holds codec
// 2 records only: migrating it would rewrite their chain over whatever was changed in them. So a
// codec 2 record must come before every codec 1 record, and its chain must hold; next is the first
// position left to rewrite and prev the hash it follows. whole reports a log of codec 2 records
// only, whose chain holds: its format key alone was lost (or a migration stopped just before
// writing it), and writing the key again is the repair. Anything else is ErrCorruptLog.
func migratedPrefix(db *badger.DB) (next uint64, prev string, whole bool, err error) {
	chain := NewChainVerifier(1, GenesisHash)
	v1 := false
	err = db.View(func(txn *badger.Txn) error {
		// The verified marker is written only once the chain has been verified, after a migration
		// has ended: a log that has one was chained throughout, and a record of codec 1 in it was
		// rewritten into the form a migration would chain again.
		_, err := txn.Get(markerKey())
		marked := err == nil
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEvent}})
		defer it.Close()
		want := uint64(1)
		for it.Rewind(); it.Valid(); it.Next() {
			pos := binary.BigEndian.Uint64(it.Item().Key()[1:])
			if pos != want {
				return fmt.Errorf("%w: position %d where %d was expected", ErrCorruptLog, pos, want)
			}
			want++
			var r Record
			var codec byte
			if err := itemValue(it.Item(), func(v []byte) error {
				if len(v) > 0 {
					codec = v[0]
				}
				return decodeRecord(v, &r)
			}); err != nil {
				return fmt.Errorf("%w: decode record %d: %w", ErrCorruptLog, pos, err)
			}
			if codec == codecV1 {
				if marked {
					return fmt.Errorf("%w: the log has no format key, and record %d is of format 1 in a log with a verified marker, which only a chained log has: migrating would chain it again", ErrCorruptLog, pos)
				}
				v1 = true
				continue
			}
			if v1 {
				return fmt.Errorf("%w: the log has no format key, and record %d carries the hash chain after records of format 1 that do not: no migration writes that", ErrCorruptLog, pos)
			}
			if err := chain.Add(r); err != nil {
				return fmt.Errorf("%w: the log has no format key, and record %d does not hold the chain, which migrating would hide: %w", ErrCorruptLog, pos, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, "", false, fmt.Errorf("read the log before migrating it: %w", err)
	}
	rep := chain.Report()
	if rep.Checked == 0 {
		return 1, GenesisHash, !v1, nil
	}
	return rep.Last + 1, rep.LastHash, !v1, nil
}

// openBadgerDB opens Badger, turning a panic on a damaged directory into an
// error wrapping ErrCorruptLog.
func openBadgerDB(opts badger.Options) (db *badger.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: badger panicked on open: %v", ErrCorruptLog, p)
		}
	}()
	db, err = badger.Open(opts)
	if err != nil && !errors.Is(err, os.ErrPermission) && !strings.Contains(err.Error(), "directory lock") {
		// Not a lock held by another process nor a permission: the files
		// themselves are wrong (Badger's errors are not typed).
		err = fmt.Errorf("%w: %w", ErrCorruptLog, err)
	}
	return db, err
}

// OpenBadgerDir opens a Badger directory other than the log (the views) with
// the same protection: a panic on open is an error, never a crash.
func OpenBadgerDir(opts badger.Options) (*badger.DB, error) { return openBadgerDB(opts) }

// VerifyChecksums checks the checksum of every block of every table of the
// log (it reads them all).
func (s *BadgerStore) VerifyChecksums() error {
	release, err := s.readGuard()
	if err != nil {
		return &StoreError{Op: "verify checksums", Err: err}
	}
	defer release()
	if err := verifyDBChecksums(s.db); err != nil {
		return &StoreError{Op: "verify checksums", Err: fmt.Errorf("%w: %w", ErrCorruptLog, err)}
	}
	return nil
}

// Verify checks the log's hash chain from position from to the head (see
// VerifyStore).
func (s *BadgerStore) Verify(ctx context.Context, from uint64) (Report, error) {
	return VerifyStore(ctx, s, from)
}

// GC limits.
const (
	// DefaultGCInterval is how often RunValueLogGC runs a pass by default.
	DefaultGCInterval = 10 * time.Minute
	// gcDiscardRatio: a value-log file is rewritten when at least half of it is garbage.
	gcDiscardRatio = 0.5
	// MaxGCRewritesPerPass bounds one pass: at most this many value-log files are rewritten.
	MaxGCRewritesPerPass = 16
)

// RunValueLogGC runs Badger's value-log GC on db every interval (<= 0:
// DefaultGCInterval) until ctx ends: one pass at a time, each rewriting at most
// MaxGCRewritesPerPass files, stopping early when ctx ends. The log and the
// views both use it.
func RunValueLogGC(ctx context.Context, db *badger.DB, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = DefaultGCInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := ValueLogGCPass(ctx, db); err != nil {
			log.Warn("value-log GC failed", "err", err)
		} else if n > 0 {
			log.Info("value-log GC", "files_rewritten", n)
		}
	}
}

// ValueLogGCPass runs one bounded GC pass and returns how many files it rewrote.
func ValueLogGCPass(ctx context.Context, db *badger.DB) (int, error) {
	n := 0
	for n < MaxGCRewritesPerPass && ctx.Err() == nil {
		err := db.RunValueLogGC(gcDiscardRatio)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("value-log GC: %w", err)
		}
		n++
	}
	return n, nil
}

// RunGC runs RunValueLogGC on the log's Badger until ctx ends.
func (s *BadgerStore) RunGC(ctx context.Context, interval time.Duration) {
	RunValueLogGC(ctx, s.db, interval, s.log)
}

// verifyDBChecksums runs Badger's VerifyChecksum, turning its panic on a bad
// block (Badger 4.9 dereferences the nil block while wrapping the error) into
// an error.
func verifyDBChecksums(db *badger.DB) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("a table block failed its checksum (Badger crashed while reporting which: %v)", p)
		}
	}()
	return db.VerifyChecksum()
}
