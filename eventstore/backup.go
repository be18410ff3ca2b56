package eventstore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Backup format (docs/INTEGRITY.md): JSON lines. The first line is a header
//
//	{"format":"roster-log-backup","version":1,"up_to":N,"head_hash":"…"}
//
// and every further line is one record's envelope (with prev_hash and hash),
// positions 1..N in order. The hash chain makes the file tamper-evident: the
// header's head_hash is the hash of record N.
const (
	backupFormat  = "roster-log-backup"
	backupVersion = 1
	// MaxBackupLine is the longest line Restore reads (one record's envelope).
	MaxBackupLine = 16 << 20
)

// ErrNotEmpty reports a restore or recovery into a log that already has data.
var ErrNotEmpty = errors.New("target log is not empty")

// ErrBackupInvalid reports a backup file that is malformed or whose chain does not verify.
var ErrBackupInvalid = errors.New("invalid backup")

type backupHeader struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	UpTo     uint64 `json:"up_to"`
	HeadHash string `json:"head_hash"`
}

// Backup writes positions 1..upTo of s (upTo 0: the head when Backup starts)
// to w. Records are immutable once durable, so the copy is consistent while
// appends go on. It returns the last position written.
func Backup(ctx context.Context, s Store, w io.Writer, upTo uint64) (uint64, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if upTo == 0 || upTo > head {
		if upTo > head {
			return 0, fmt.Errorf("backup: position %d is beyond the log head %d", upTo, head)
		}
		upTo = head
	}
	headHash := ""
	if upTo > 0 {
		recs, err := s.Read(ctx, upTo, 1)
		if err != nil || len(recs) != 1 {
			return 0, fmt.Errorf("backup: read position %d: %w", upTo, err)
		}
		headHash = recs[0].Hash
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(backupHeader{Format: backupFormat, Version: backupVersion, UpTo: upTo, HeadHash: headHash}); err != nil {
		return 0, fmt.Errorf("backup: write header: %w", err)
	}
	errDone := errors.New("done")
	v := NewChainVerifier(1, "")
	err = s.Scan(ctx, 1, func(r Record) error {
		if r.Position > upTo {
			return errDone
		}
		if err := v.Add(r); err != nil {
			return fmt.Errorf("log chain: %w", err)
		}
		return enc.Encode(r)
	})
	if err != nil && !errors.Is(err, errDone) {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if v.Report().Last != upTo {
		return 0, fmt.Errorf("backup: wrote up to %d, wanted %d", v.Report().Last, upTo)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return upTo, nil
}

// Restore fills the empty (or absent) log dir from a Backup stream, checking
// positions, stream versions and the hash chain; it refuses a dir that holds
// any file (ErrNotEmpty). It returns the restored head. A restore that fails
// empties the dir again: a log restored in part would start, and answer the
// repeat of a command it holds in part as applied.
func Restore(ctx context.Context, r io.Reader, dir string, opts BadgerOptions) (head uint64, err error) {
	if err := checkEmptyDir(dir); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, emptyDir(dir))
		}
	}()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxBackupLine)
	if !sc.Scan() {
		return 0, fmt.Errorf("restore: %w: no header (%v)", ErrBackupInvalid, sc.Err())
	}
	var h backupHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Format != backupFormat {
		return 0, fmt.Errorf("restore: %w: bad header", ErrBackupInvalid)
	}
	if h.Version != backupVersion {
		return 0, fmt.Errorf("restore: %w: backup version %d, this Roster reads %d", ErrBackupInvalid, h.Version, backupVersion)
	}
	// The marker says a restore is under way until it is whole: a restore stopped part way
	// (killed, a power cut) leaves a dir that every open refuses (OpenBadger), never a log that
	// starts and holds part of the backup.
	if err := writeRestoring(dir); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	s, err := openBadger(dir, opts, testHooks{})
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer s.Close() // before the deferred emptying (deferred calls run last first)
	imp := newImporter(s)
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return 0, fmt.Errorf("restore: %w: line %d: %v", ErrBackupInvalid, imp.v.Report().Last+2, err)
		}
		if err := imp.add(ctx, rec); err != nil {
			return 0, fmt.Errorf("restore: %w: %w", ErrBackupInvalid, err)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("restore: read: %w", err)
	}
	if err := imp.flush(ctx); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	rep := imp.v.Report()
	if rep.Last != h.UpTo || rep.LastHash != h.HeadHash {
		return 0, fmt.Errorf("restore: %w: header says up to %d (hash %s), file holds up to %d (hash %s)",
			ErrBackupInvalid, h.UpTo, short(h.HeadHash), rep.Last, short(rep.LastHash))
	}
	if err := s.Close(); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, restoringFile)); err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	return rep.Last, syncDir(dir)
}

// restoringFile marks a log dir that a restore is filling (Restore, OpenBadger).
const restoringFile = "RESTORE-INCOMPLETE"

// writeRestoring creates dir if need be and the restore's marker in it, durably.
func writeRestoring(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, restoringFile))
	if err != nil {
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes dir's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// emptyDir removes what a failed restore wrote into dir (which was empty or absent before it).
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("empty %s after the failed restore: %w", dir, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("empty %s after the failed restore: %w", dir, err)
		}
	}
	return nil
}

func checkEmptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%w: %s holds %d files", ErrNotEmpty, dir, len(ents))
	}
	return nil
}

// importer appends verified records to an empty store, grouping consecutive
// records of one stream and one command id into one append (as they were
// written), and checks that the store stores each exactly as given (same
// position, version, time and hash).
type importer struct {
	s       Store
	v       *ChainVerifier
	pending []Record
	// legacy accepts records without hashes (envelopes the relay published
	// before the log had a chain) as a prefix: their hashes are computed
	// here. Once a hashed record is seen, a record without is refused.
	legacy   bool
	hashed   bool
	prevHash string
	Legacy   uint64 // records accepted without hashes
	// lastCmd is, per stream, the command id of the last records appended: a big append was
	// chained in slices with other streams' records between them, so one command's records
	// may come in several runs; the runs after the first continue it (appended without the
	// command id, whose reply the first run stored).
	lastCmd map[string]string
}

func newImporter(s Store) *importer {
	return &importer{s: s, v: NewChainVerifier(1, ""), lastCmd: map[string]string{}}
}

func (im *importer) add(ctx context.Context, r Record) error {
	if r.Hash == "" && r.PrevHash == "" && im.legacy && !im.hashed {
		if im.prevHash == "" {
			im.prevHash = GenesisHash
		}
		r.PrevHash = im.prevHash
		r.Hash, _ = HashRecord(r, r.PrevHash)
		im.Legacy++
	} else if r.Hash != "" {
		im.hashed = true
	}
	if err := im.v.Add(r); err != nil {
		return err
	}
	im.prevHash = r.Hash
	if n := len(im.pending); n > 0 {
		last := im.pending[n-1]
		if last.Stream != r.Stream || last.CommandID != r.CommandID || r.CommandID == "" {
			if err := im.flush(ctx); err != nil {
				return err
			}
		}
	}
	im.pending = append(im.pending, r)
	return nil
}

func (im *importer) flush(ctx context.Context) error {
	if len(im.pending) == 0 {
		return nil
	}
	first := im.pending[0]
	if first.Version == 0 {
		return fmt.Errorf("position %d: version 0", first.Position)
	}
	cur, err := im.s.StreamVersion(ctx, first.Stream)
	if err != nil {
		return err
	}
	if cur != first.Version-1 {
		return fmt.Errorf("position %d: stream %s version %d, but the stream is at %d", first.Position, first.Stream, first.Version, cur)
	}
	evs := make([]Record, len(im.pending))
	copy(evs, im.pending)
	commandID := first.CommandID
	if commandID != "" && im.lastCmd[first.Stream] == commandID {
		commandID = "" // a later run of the same command: its reply is stored already
	}
	res, err := im.s.Append(ctx, AppendRequest{Stream: first.Stream, ExpectedVersion: cur, CommandID: commandID, Events: evs})
	if err != nil {
		return fmt.Errorf("position %d: %w", first.Position, err)
	}
	for i, got := range res.Records {
		want := im.pending[i]
		if got.Position != want.Position || got.Version != want.Version || got.Hash != want.Hash {
			return fmt.Errorf("position %d stored as position %d version %d hash %s (want version %d hash %s)",
				want.Position, got.Position, got.Version, short(got.Hash), want.Version, short(want.Hash))
		}
	}
	im.lastCmd[first.Stream] = first.CommandID
	im.pending = im.pending[:0]
	return nil
}
