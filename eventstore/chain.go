package eventstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// The hash chain. Every record carries PrevHash, the Hash of the record
// before it (GenesisHash for position 1), and Hash, the SHA-256 of the
// record's canonical encoding followed by the 32 bytes of PrevHash. Changing,
// removing, inserting or reordering any record breaks the chain at that
// position and at none before it. Both are lowercase hex (64 characters).
//
// Canonical encoding (docs/INTEGRITY.md), all integers big-endian:
//
//	"roster.event.v1"
//	position uint64, version uint64, time int64 (Unix nanoseconds, UTC)
//	then, each as uint32 length + bytes: id, stream, type, org_id, actor,
//	command_id, correlation_id, data (compact JSON, as stored)
//	then, only when the record has a principal: principal.account and
//	principal.user, each as uint32 length + bytes
//
// A record without a principal (every record written before principals
// existed) hashes exactly as it always did; the fields after data are
// unambiguous because every field before them has a fixed size or a length.
const canonicalTag = "roster.event.v1"

// GenesisHash is the PrevHash of the record at position 1.
var GenesisHash = hex.EncodeToString(make([]byte, sha256.Size))

// ErrChainBroken reports a record whose hashes do not link to its predecessor
// or do not match its content.
var ErrChainBroken = errors.New("hash chain broken")

func canonical(r Record) []byte {
	return appendCanonical(make([]byte, 0, 64+len(r.ID)+len(r.Stream)+len(r.Type)+len(r.OrgID)+len(r.Actor)+len(r.CommandID)+len(r.CorrelationID)+len(r.Data)), r)
}

// appendCanonical appends r's canonical encoding to b.
func appendCanonical(b []byte, r Record) []byte {
	b = append(b, canonicalTag...)
	b = binary.BigEndian.AppendUint64(b, r.Position)
	b = binary.BigEndian.AppendUint64(b, r.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	for _, s := range []string{r.ID, r.Stream, r.Type, r.OrgID, r.Actor, r.CommandID, r.CorrelationID} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Data)))
	b = append(b, r.Data...)
	if !noPrincipal(r.Principal) {
		for _, s := range []string{r.Principal.Account, r.Principal.User} {
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

// HashRecord computes r's hash from its content and prevHash (hex); it ignores
// r.Hash and r.PrevHash.
func HashRecord(r Record, prevHash string) (string, error) {
	prev, err := hex.DecodeString(prevHash)
	if err != nil || len(prev) != sha256.Size {
		return "", fmt.Errorf("previous hash %q is not 64 hex characters", prevHash)
	}
	h := sha256.New()
	h.Write(canonical(r))
	h.Write(prev)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ChainHasher hashes records one after another, as HashRecord does, reusing its buffer: the
// committer hashes every record it appends (10,000 for a big import) in a row, a verifier and
// a view every record they check. Not safe for concurrent use.
type ChainHasher struct {
	buf []byte
	sum [sha256.Size]byte
}

// Hash returns what HashRecord(r, prev) returns, "" when prev is not 64 hex characters.
func (c *ChainHasher) Hash(r Record, prev string) string {
	if !c.sum256(r, prev) {
		return ""
	}
	return hex.EncodeToString(c.sum[:])
}

// Matches reports whether hash is what Hash(r, prev) returns, without building that string:
// a view and a verifier check every record they read, and the hex string of each was
// a tenth of a rebuild's work.
func (c *ChainHasher) Matches(r Record, prev, hash string) bool {
	if len(hash) != 2*sha256.Size || !c.sum256(r, prev) {
		return false
	}
	const digits = "0123456789abcdef" // Hash writes lower case: nothing else matches
	for i, b := range c.sum {
		if hash[2*i] != digits[b>>4] || hash[2*i+1] != digits[b&0x0f] {
			return false
		}
	}
	return true
}

// sum256 sets c.sum to the hash of r linked to prev; false when prev is not 64 hex characters.
func (c *ChainHasher) sum256(r Record, prev string) bool {
	if len(prev) != 2*sha256.Size {
		return false
	}
	c.buf = appendCanonical(c.buf[:0], r)
	n := len(c.buf)
	c.buf = append(c.buf, prev...)
	if _, err := hex.Decode(c.buf[n:], c.buf[n:]); err != nil {
		return false
	}
	c.sum = sha256.Sum256(c.buf[:n+sha256.Size])
	return true
}

// Report is the outcome of a verification.
type Report struct {
	From     uint64 // first position checked
	Checked  uint64 // records checked
	Last     uint64 // last position checked (0: none)
	LastHash string // hash of the last record checked
	// BadPosition is the first position that failed (0: none failed), and
	// Reason says why.
	BadPosition uint64
	Reason      string
}

// OK reports whether nothing failed.
func (r Report) OK() bool { return r.BadPosition == 0 }

// ChainVerifier checks records one at a time, in order. Its zero value
// expects to start at position 1; Start sets another starting point.
type ChainVerifier struct {
	rep      Report
	next     uint64
	prevHash string
	started  bool
	hasher   ChainHasher
}

// NewChainVerifier expects the record at position from whose PrevHash is
// prevHash ("" accepts whatever the first record claims; for position 1 it
// must be GenesisHash).
func NewChainVerifier(from uint64, prevHash string) *ChainVerifier {
	if from == 0 {
		from = 1
	}
	if from == 1 {
		prevHash = GenesisHash
	}
	return &ChainVerifier{rep: Report{From: from}, next: from, prevHash: prevHash, started: true}
}

// Add checks the next record. It returns an error wrapping ErrChainBroken at
// the first bad record (and every call after it); the Report names it.
func (v *ChainVerifier) Add(r Record) error {
	if !v.started {
		*v = *NewChainVerifier(1, "")
	}
	if v.rep.BadPosition != 0 {
		return fmt.Errorf("%w at position %d: %s", ErrChainBroken, v.rep.BadPosition, v.rep.Reason)
	}
	fail := func(pos uint64, format string, args ...any) error {
		v.rep.BadPosition = pos
		v.rep.Reason = fmt.Sprintf(format, args...)
		return fmt.Errorf("%w at position %d: %s", ErrChainBroken, pos, v.rep.Reason)
	}
	if r.Position != v.next {
		return fail(v.next, "expected position %d, found %d (gap or reorder)", v.next, r.Position)
	}
	if r.Hash == "" {
		return fail(r.Position, "record has no hash")
	}
	if v.prevHash != "" && r.PrevHash != v.prevHash {
		return fail(r.Position, "prev_hash %s does not match the hash %s of position %d", short(r.PrevHash), short(v.prevHash), r.Position-1)
	}
	if !v.hasher.Matches(r, r.PrevHash, r.Hash) {
		want := v.hasher.Hash(r, r.PrevHash)
		if want == "" {
			return fail(r.Position, "previous hash %q is not 64 hex characters", r.PrevHash)
		}
		return fail(r.Position, "content does not match its hash (stored %s, computed %s): the record was altered", short(r.Hash), short(want))
	}
	v.prevHash = r.Hash
	v.next++
	v.rep.Checked++
	v.rep.Last = r.Position
	v.rep.LastHash = r.Hash
	return nil
}

// Report returns what was checked so far.
func (v *ChainVerifier) Report() Report { return v.rep }

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return `""`
	}
	return h
}

// VerifyRecords checks a sequence of records (for instance the envelopes of an
// Audit reply, decoded) offline: positions consecutive, each linked to the one
// before and matching its own hash. The first record's PrevHash is taken on
// trust unless it is at position 1 (compare Report.LastHash, or the first
// record's PrevHash, with a trusted copy to anchor it). A pure function.
func VerifyRecords(recs []Record) (Report, error) {
	if len(recs) == 0 {
		return Report{}, nil
	}
	v := NewChainVerifier(recs[0].Position, "")
	for _, r := range recs {
		if err := v.Add(r); err != nil {
			return v.Report(), err
		}
	}
	return v.Report(), nil
}

// VerifyStore checks the chain of s from position from to its head at the
// start, and that no position is missing. A broken chain is reported in the
// Report with a nil error; the error is for a log that could not be read
// (which is itself a finding: a corrupt table, a missing record).
func VerifyStore(ctx context.Context, s Store, from uint64) (Report, error) {
	if from == 0 {
		from = 1
	}
	head, err := s.Head(ctx)
	if err != nil {
		return Report{From: from}, fmt.Errorf("verify: %w", err)
	}
	prev := ""
	if from > 1 && from <= head {
		recs, err := s.Read(ctx, from-1, 1)
		if err != nil {
			return Report{From: from, BadPosition: from - 1, Reason: err.Error()}, fmt.Errorf("verify: read position %d: %w", from-1, err)
		}
		if len(recs) == 1 {
			prev = recs[0].Hash
		}
	}
	v := NewChainVerifier(from, prev)
	errStop := errors.New("stop")
	err = s.Scan(ctx, from, func(r Record) error {
		if err := v.Add(r); err != nil {
			return errStop
		}
		return nil
	})
	rep := v.Report()
	if err != nil && !errors.Is(err, errStop) {
		if rep.BadPosition == 0 {
			rep.BadPosition = rep.Last + 1
			if rep.Last == 0 {
				rep.BadPosition = from
			}
			rep.Reason = "unreadable: " + err.Error()
		}
		return rep, fmt.Errorf("verify: %w", err)
	}
	if rep.OK() && from <= head && rep.Last != head {
		end := rep.Last + 1
		if rep.Last == 0 {
			end = from
		}
		rep.BadPosition = end
		rep.Reason = fmt.Sprintf("log head is %d but the records end at %d (missing records)", head, rep.Last)
	}
	return rep, nil
}
