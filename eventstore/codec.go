package eventstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// codecVersion starts every stored record. Records are stored in a compact binary form
// (reading the log is the hot path of rebuilds, restarts and time travel); their JSON
// form is the wire envelope, made when they are published or returned.
const codecVersion = 1

var errCorrupt = errors.New("corrupt stored record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
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
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	return append(b, r.Data...)
}

// decodeRecord reads a stored record; it copies, so b may be reused afterwards.
func decodeRecord(b []byte, r *Record) error {
	if len(b) == 0 || b[0] != codecVersion {
		return fmt.Errorf("%w: unknown format", errCorrupt)
	}
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
	l, ok := next()
	if !ok || l != uint64(len(b)) {
		return errCorrupt
	}
	r.Data = append([]byte(nil), b...)
	return nil
}
