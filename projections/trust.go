package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	jsonv2 "github.com/go-json-experiment/json"

	"roster/eventstore"
)

// ErrRefused marks a stream message the view will not apply: it does not link to the last
// event the view applied, or it is not the log's record at its position. It wraps ErrPoison
// (never retried, dead-lettered); unlike other poison the view does not advance past it.
var ErrRefused = fmt.Errorf("%w: refused", ErrPoison)

// LocalLog is the log in the same process (roles all and writer+reader): the views check
// every stream message against it and, after a refusal, follow it directly.
type LocalLog interface {
	Log
	Read(ctx context.Context, from uint64, limit int) ([]eventstore.Record, error)
	WaitFor(ctx context.Context, pos uint64) error
}

// Alarm is what a view last refused.
type Alarm struct {
	// Refused counts the refused messages (each distinct one once).
	Refused  uint64
	Position uint64
	Reason   string
	At       time.Time
}

type alarmState struct {
	Alarm
	lastKey string // the last refused message, so a redelivery is not counted (or dead-lettered) again
	once    sync.Once
}

// Alarm returns the view's alarm (Refused 0: none).
func (v *View) Alarm() Alarm {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.alarm.Alarm
}

// refuse records a refusal; it reports whether this message was refused before (a redelivery).
func (v *View) refuse(pos uint64, key, reason string) (again bool) {
	v.mu.Lock()
	if v.alarm.lastKey == key {
		v.mu.Unlock()
		return true
	}
	v.alarm.lastKey = key
	v.alarm.Refused++
	v.alarm.Position, v.alarm.Reason, v.alarm.At = pos, reason, time.Now().UTC()
	v.mu.Unlock()
	v.alarm.once.Do(func() { close(v.refused) })
	v.log.Error("view refused a stream message: not applied", "position", pos, "reason", reason)
	return false
}

// linkLocked says why r cannot follow the view's last applied record ("" when it can).
// Before the chain (no hash on either side) there is nothing to check.
func (v *View) linkLocked(r eventstore.Record) string {
	if r.Hash == "" {
		if v.hash != "" {
			return "the record has no hash after a chained one"
		}
		return ""
	}
	if v.hash != "" && r.Position != v.position+1 {
		return fmt.Sprintf("expected position %d, found %d", v.position+1, r.Position)
	}
	want := v.hash
	if v.position == 0 {
		want = eventstore.GenesisHash
	}
	if want != "" && r.PrevHash != want {
		return fmt.Sprintf("prev_hash %.12s does not link to the hash %.12s of position %d", r.PrevHash, want, v.position)
	}
	if !v.hasher.Matches(r, r.PrevHash, r.Hash) {
		return fmt.Sprintf("content does not match its hash %.12s", r.Hash)
	}
	return ""
}

// TrustedHandler applies a stream message only if it links to the last event the view applied
// and, with a local log, it is the log's record at its position (id and hash); what it applies
// is then the log's record. Anything else is refused: alarmed, dead-lettered once, never
// applied, and the view does not advance past it (the subscriber re-reads from the view's
// position after a pause). Without a local log and before the chain (no hashes yet), a message
// that does not decode is poison as before: dead-lettered and skipped.
func TrustedHandler(v *View, local LocalLog) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		seq, err := strconv.ParseUint(msg.Metadata.Get(MetaPosition), 10, 64)
		if err != nil || seq == 0 {
			return fmt.Errorf("%w: message without a stream position", ErrPoison)
		}
		if seq <= v.Position() {
			return nil // applied already (from the log, or a redelivery)
		}
		var env eventstore.Record
		decodeErr := jsonv2.Unmarshal(msg.Payload, &env)
		refuse := func(reason string) error {
			if v.refuse(seq, msg.UUID+"/"+strconv.FormatUint(seq, 10)+"/"+env.Hash, reason) {
				return nil // refused before: already dead-lettered
			}
			return fmt.Errorf("%w: stream sequence %d: %s", ErrRefused, seq, reason)
		}
		if local != nil {
			return v.applyFromLog(msg.Context(), local, seq, env, decodeErr, refuse)
		}
		v.mu.RLock()
		chained := v.hash != ""
		v.mu.RUnlock()
		switch {
		case decodeErr != nil && chained:
			return refuse(fmt.Sprintf("malformed envelope: %v", decodeErr))
		case decodeErr != nil:
			return v.Skip(seq, fmt.Errorf("%w: position %d: malformed envelope: %v", ErrPoison, seq, decodeErr))
		case env.Position != seq && chained:
			return refuse(fmt.Sprintf("envelope position %d at stream sequence %d", env.Position, seq))
		case env.Position != seq:
			return v.Skip(seq, fmt.Errorf("%w: envelope position %d at stream sequence %d", ErrPoison, env.Position, seq))
		}
		return v.applyLinked(env, refuse)
	}
}

// applyLinked applies r if it links to the view's last record.
func (v *View) applyLinked(r eventstore.Record, refuse func(string) error) error {
	v.mu.Lock()
	if r.Position <= v.position {
		v.mu.Unlock()
		return nil
	}
	if reason := v.linkLocked(r); reason != "" {
		v.mu.Unlock()
		return refuse(reason)
	}
	if r.Position != v.position+1 {
		v.log.Warn("gap in the event sequence", "expected", v.position+1, "got", r.Position)
	}
	err := v.applyLocked(r)
	v.position, v.hash = r.Position, r.Hash
	close(v.applied)
	v.applied = make(chan struct{})
	v.mu.Unlock()
	return err
}

// applyFromLog checks a stream message against the local log's record at seq and applies the
// log's record.
func (v *View) applyFromLog(ctx context.Context, local LocalLog, seq uint64, env eventstore.Record, decodeErr error, refuse func(string) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	recs, err := local.Read(ctx, seq, 1)
	if err != nil {
		return fmt.Errorf("read the log at %d: %w", seq, err) // retried, then dead-lettered
	}
	switch {
	case len(recs) != 1 || recs[0].Position != seq:
		return refuse(fmt.Sprintf("the log has no record at position %d (the stream is ahead of the log)", seq))
	case decodeErr != nil:
		return refuse(fmt.Sprintf("malformed envelope: %v", decodeErr))
	case env.Position != seq:
		return refuse(fmt.Sprintf("envelope position %d at stream sequence %d", env.Position, seq))
	}
	if reason := notLogRecord(env.ID, env.Hash, recs[0]); reason != "" {
		return refuse(reason)
	}
	return v.applyLinked(recs[0], refuse)
}

// notLogRecord says why a record known by its id and hash is not the log's record rec at
// the same position ("" when it is). A hash of "" (a copy made before the chain) is not
// compared. The views check stream messages with it, the history index its saved copy.
func notLogRecord(id, hash string, rec eventstore.Record) string {
	switch {
	case id != rec.ID:
		return fmt.Sprintf("id %q is not the log's %q at position %d", id, rec.ID, rec.Position)
	case hash != "" && hash != rec.Hash:
		return fmt.Sprintf("hash %.12s is not the log's %.12s at position %d", hash, rec.Hash, rec.Position)
	}
	return ""
}

// NotLogCheckpoint says why a view's stored checkpoint, the hash it recorded for its
// position, is not the log's record rec at that position ("" when it is, or when the
// checkpoint has no hash: written before the chain). rosterd checks it at start: views
// folded from another history are rebuilt from the log.
func NotLogCheckpoint(hash string, rec eventstore.Record) string {
	return notLogRecord(rec.ID, hash, rec)
}

// FollowLog waits for the view's first refusal, then keeps it up to the local log directly
// (CatchUp after every append) until ctx ends: a stream that holds a forged or foreign message
// no longer carries the real events (the relay stops), and the view still applies them.
func (v *View) FollowLog(ctx context.Context, local LocalLog) {
	select {
	case <-ctx.Done():
		return
	case <-v.refused:
	}
	v.log.Warn("following the log directly after a refused stream message")
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := v.CatchUp(ctx, local); err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrRefused) {
				v.refuse(v.Position()+1, "log/"+err.Error(), err.Error())
			} else {
				v.log.Warn("follow the log", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if err := local.WaitFor(ctx, v.Position()+1); err != nil {
			return
		}
	}
}
