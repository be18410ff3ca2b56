package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// codecVersion starts every stored record. Records are stored in a compact binary form
// (reading the log is the hot path of rebuilds, restarts and time travel); their JSON
// form is the wire envelope, made when they are published or returned.
//
// Version 1 (before the hash chain) is still read: a log of that format is
// migrated on open (format.go). Version 2 adds PrevHash and Hash (32 bytes each)
// after the strings, behind a flag byte: bit 0 says they are present, bit 1 that
// the principal's account and user (two strings) follow them. A record without
// a principal is stored exactly as before principals existed.
const (
	codecV1      = 1
	codecVersion = 2
)

// Bits of codec 2's flag byte.
const (
	flagHashes    = 1 << 0
	flagPrincipal = 1 << 1
)

// errCorrupt is a stored record that does not decode: damage (it wraps ErrCorruptLog).
var errCorrupt error = corruptRecord{}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendHash appends a hex hash as 32 raw bytes (zeros if it is not one).
func appendHash(b []byte, h string) []byte {
	var raw [sha256.Size]byte
	if d, err := hex.DecodeString(h); err == nil && len(d) == sha256.Size {
		copy(raw[:], d)
	}
	return append(b, raw[:]...)
}

// encodeRecord gives a record's stored form.
func encodeRecord(r Record) []byte {
	b := make([]byte, 0, 64+len(r.ID)+len(r.Stream)+len(r.Type)+len(r.OrgID)+len(r.Actor)+len(r.CommandID)+len(r.CorrelationID)+len(r.Data))
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, r.Position)
	b = binary.AppendUvarint(b, r.Version)
	b = binary.AppendVarint(b, r.Time.UnixNano())
	for _, s := range []string{r.ID, r.Stream, r.Type, r.OrgID, r.Actor, r.CommandID, r.CorrelationID} {
		b = appendString(b, s)
	}
	var flags byte
	if r.Hash != "" || r.PrevHash != "" {
		flags |= flagHashes
	}
	if !noPrincipal(r.Principal) {
		flags |= flagPrincipal
	}
	b = append(b, flags)
	if flags&flagHashes != 0 {
		b = appendHash(b, r.PrevHash)
		b = appendHash(b, r.Hash)
	}
	if flags&flagPrincipal != 0 {
		b = appendString(b, r.Principal.Account)
		b = appendString(b, r.Principal.User)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	return append(b, r.Data...)
}

// decodeRecord reads a stored record; it copies, so b may be reused afterwards.
func decodeRecord(b []byte, r *Record) error {
	if len(b) == 0 || (b[0] != codecVersion && b[0] != codecV1) {
		return fmt.Errorf("%w: unknown format", errCorrupt)
	}
	ver := b[0]
	b = b[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	var ok bool
	if r.Position, ok = next(); !ok {
		return errCorrupt
	}
	if r.Version, ok = next(); !ok {
		return errCorrupt
	}
	t, n := binary.Varint(b)
	if n <= 0 {
		return errCorrupt
	}
	b = b[n:]
	r.Time = time.Unix(0, t).UTC()
	str := func() (string, bool) {
		l, ok := next()
		if !ok || l > uint64(len(b)) {
			return "", false
		}
		s := string(b[:l])
		b = b[l:]
		return s, true
	}
	for _, f := range []*string{&r.ID, &r.Stream, &r.Type, &r.OrgID, &r.Actor, &r.CommandID, &r.CorrelationID} {
		if *f, ok = str(); !ok {
			return errCorrupt
		}
	}
	r.PrevHash, r.Hash, r.Principal = "", "", nil
	if ver == codecVersion {
		if len(b) < 1 {
			return errCorrupt
		}
		flags := b[0]
		b = b[1:]
		if flags&^(flagHashes|flagPrincipal) != 0 {
			return errCorrupt
		}
		if flags&flagHashes != 0 {
			if len(b) < 2*sha256.Size {
				return errCorrupt
			}
			r.PrevHash = hex.EncodeToString(b[:sha256.Size])
			r.Hash = hex.EncodeToString(b[sha256.Size : 2*sha256.Size])
			b = b[2*sha256.Size:]
		}
		if flags&flagPrincipal != 0 {
			var p Principal
			if p.Account, ok = str(); !ok {
				return errCorrupt
			}
			if p.User, ok = str(); !ok {
				return errCorrupt
			}
			r.Principal = &p
		}
	}
	l, ok := next()
	if !ok || l != uint64(len(b)) {
		return errCorrupt
	}
	r.Data = append([]byte(nil), b...)
	return nil
}
