package eventstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"

	"roster/client"
)

// CheckTables opens the index of every .sst table in a Badger directory on the
// caller's goroutine and reports the first that cannot be opened (truncated,
// garbled index) as an error wrapping ErrCorruptLog. badger.Open opens tables
// on goroutines of its own, where such a table is a panic that takes the
// process down; this check runs first so that a damaged directory is an error.
// It reads the files only. Only the tables the MANIFEST lists are checked: a table file it does
// not list is a flush or compaction that a kill cut short (even an empty file), which Badger
// deletes when it opens.
func CheckTables(dir string) error {
	ssts, err := listedTables(dir)
	if err != nil {
		return err
	}
	for _, f := range ssts {
		if err := checkTable(f); err != nil {
			return fmt.Errorf("%w: table %s: %w", ErrCorruptLog, filepath.Base(f), err)
		}
	}
	return nil
}

// listedTables lists the .sst files of a Badger directory that its MANIFEST lists (every .sst
// file when there is no MANIFEST). A MANIFEST that cannot be read is an error wrapping
// ErrCorruptLog, as it is for badger.Open.
func listedTables(dir string) ([]string, error) {
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		return nil, fmt.Errorf("list tables in %s: %w", dir, err)
	}
	fp, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if errors.Is(err, os.ErrNotExist) {
		return ssts, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the MANIFEST of %s: %w", dir, err)
	}
	defer fp.Close()
	m, _, err := badger.ReplayManifestFile(fp, 0, badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		return nil, fmt.Errorf("%w: the MANIFEST of %s: %w", ErrCorruptLog, dir, err)
	}
	listed := ssts[:0]
	for _, f := range ssts {
		if id, ok := table.ParseFileID(filepath.Base(f)); ok {
			if _, in := m.Tables[id]; in {
				listed = append(listed, f)
			}
		}
	}
	return listed, nil
}

func checkTable(fname string) (err error) {
	mf, err := z.OpenMmapFile(fname, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unreadable (%v)", p)
		}
		_ = mf.Close(-1)
	}()
	// Opening reads the index and the first and last blocks (checksummed).
	// Both of Roster's Badger dirs use Badger's default options: Snappy
	// compression and 4 KB blocks.
	_, err = table.OpenTable(mf, table.Options{ReadOnly: true, ChkMode: options.OnBlockRead, BlockSize: 4 << 10,
		Compression: options.Snappy, BloomFalsePositive: 0.01})
	return err
}

// VerifyTableChecksums checks every block of every .sst table in dir against
// its checksum, one table at a time, on the caller's goroutine, and stops when
// ctx ends (returning ctx's error). A failing table is an error wrapping
// ErrCorruptLog naming it. A table that Badger removes meanwhile (compaction)
// is skipped, and so is one the MANIFEST does not list yet (a table being written). It reads
// the files only, so it may run beside the open store.
func VerifyTableChecksums(ctx context.Context, dir string) error {
	ssts, err := listedTables(dir)
	if err != nil {
		return err
	}
	for _, f := range ssts {
		if err := ctx.Err(); err != nil {
			return err
		}
		before, statErr := os.Stat(f)
		if errors.Is(statErr, os.ErrNotExist) {
			continue
		}
		if err := verifyTable(f); err != nil {
			// A table Badger removed meanwhile (a compaction truncates it, then deletes it) is
			// not damage: it is skipped if it is gone or changed size since it was opened.
			if after, err2 := os.Stat(f); errors.Is(err, os.ErrNotExist) || errors.Is(err2, os.ErrNotExist) ||
				(statErr == nil && err2 == nil && after.Size() != before.Size()) {
				continue
			}
			return fmt.Errorf("%w: table %s failed its checksums: %w", ErrCorruptLog, filepath.Base(f), err)
		}
	}
	return nil
}

func verifyTable(fname string) (err error) {
	mf, err := z.OpenMmapFile(fname, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	// The table is mapped: a read of a page that a truncation removed (a compaction deleting the
	// table meanwhile) faults (SIGBUS), which would stop the process. It panics instead, and
	// the panic is this table's error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unreadable (%v)", p)
		}
	}()
	t, err := table.OpenTable(mf, table.Options{ReadOnly: true, ChkMode: options.OnBlockRead, BlockSize: 4 << 10,
		Compression: options.Snappy, BloomFalsePositive: 0.01})
	if err != nil {
		_ = mf.Close(-1)
		return err
	}
	defer func() { _ = t.Close(-1) }()
	return t.VerifyChecksum()
}

// VerifyKeys runs the checksum pass over the whole log now (VerifyChecksumsContext) and
// reports it over 1..head: OK, or the damage found, at its record when it has one. The error
// is a pass that could not run (a read that failed, ctx ended), not damage.
func (s *BadgerStore) VerifyKeys(ctx context.Context) (client.ChainReport, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return client.ChainReport{}, err
	}
	err = s.VerifyChecksumsContext(ctx)
	if err == nil {
		return client.ChainReport{OK: true, From: 1, Last: head, Checked: head}, nil
	}
	if ctx.Err() != nil || !errors.Is(err, ErrCorruptLog) {
		return client.ChainReport{}, err
	}
	rep := client.ChainReport{From: 1, Reason: err.Error()}
	if d := (*DamageError)(nil); errors.As(err, &d) {
		rep.BadPosition, rep.Checked = d.Position, d.Position-1
	}
	return rep, nil
}

// VerifyChecksumsContext is the background checksum pass over the log: VerifyTableChecksums
// on the log's directory, then VerifyValues (every value, those in the value log checked by
// Badger against their checksums). It stops when ctx ends; damage found is an error wrapping
// ErrCorruptLog (and reported to the OnCorrupt handler).
func (s *BadgerStore) VerifyChecksumsContext(ctx context.Context) error {
	if s.db.Opts().InMemory {
		return nil
	}
	if err := VerifyTableChecksums(ctx, s.db.Opts().Dir); err != nil {
		return &StoreError{Op: "verify checksums", Err: s.noteCorrupt(err)}
	}
	return s.VerifyValues(ctx)
}
