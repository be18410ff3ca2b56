package eventstore

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// BackupWriter writes a backup in Backup's format from records obtained elsewhere (roster
// backup pages through a running rosterd): the header first, then each record, checking the
// hash chain as it goes; Close checks the last record is the header's.
type BackupWriter struct {
	bw       *bufio.Writer
	enc      *json.Encoder
	v        *ChainVerifier
	upTo     uint64
	headHash string
}

// NewBackupWriter writes the header for positions 1..upTo ending in headHash.
func NewBackupWriter(w io.Writer, upTo uint64, headHash string) (*BackupWriter, error) {
	bw := bufio.NewWriter(w)
	b := &BackupWriter{bw: bw, enc: json.NewEncoder(bw), v: NewChainVerifier(1, ""), upTo: upTo, headHash: headHash}
	if err := b.enc.Encode(backupHeader{Format: backupFormat, Version: backupVersion, UpTo: upTo, HeadHash: headHash}); err != nil {
		return nil, fmt.Errorf("write backup header: %w", err)
	}
	return b, nil
}

// Add writes the next record (positions from 1, in order, linked).
func (b *BackupWriter) Add(r Record) error {
	if r.Position > b.upTo {
		return fmt.Errorf("record %d is beyond the backup's end %d", r.Position, b.upTo)
	}
	if err := b.v.Add(r); err != nil {
		return fmt.Errorf("backup chain: %w", err)
	}
	if err := b.enc.Encode(r); err != nil {
		return fmt.Errorf("write record %d: %w", r.Position, err)
	}
	return nil
}

// Close flushes, and fails unless every position up to the end was written with the header's hash.
func (b *BackupWriter) Close() error {
	rep := b.v.Report()
	if rep.Last != b.upTo || (b.upTo > 0 && rep.LastHash != b.headHash) {
		return fmt.Errorf("backup holds up to %d (hash %s), the header says %d (hash %s)", rep.Last, short(rep.LastHash), b.upTo, short(b.headHash))
	}
	if err := b.bw.Flush(); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	return nil
}
