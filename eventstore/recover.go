package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrStreamGap reports a stream that is not a complete copy of a log: it does
// not start at sequence 1 or has deleted messages. Recovery refuses it.
var ErrStreamGap = errors.New("stream has a gap")

// ErrStreamInvalid reports a stream message that is not the record it should
// be (bad envelope, id, position, version or hash).
var ErrStreamInvalid = errors.New("stream message invalid")

// recoverFetchWait bounds the wait for one message of the stream.
const recoverFetchWait = 30 * time.Second

// RecoverFromStream rebuilds a log in dir (empty or absent, else ErrNotEmpty)
// from the JetStream stream (cfg.Stream, default ROSTER_EVENTS). It checks that
// the stream is gap-free from sequence 1, and that each message's envelope has
// position = sequence, Nats-Msg-Id = event id, the next version of its stream,
// and links into the hash chain; anything else stops the recovery with an error
// (the partial dir is left for inspection: delete it before trying again). It
// returns the report of the recovered chain.
//
// Envelopes published before the log had a hash chain (no hash, no
// prev_hash) are accepted as a prefix of the stream: their hashes are
// computed as they are imported. After the first hashed envelope, every one
// must carry its hashes.
//
// Command replies are not in the stream: after recovery a repeated command id
// is still recognised (its events carry it) but its stored reply is empty (the
// commands rebuild one from its events).
func RecoverFromStream(ctx context.Context, js jetstream.JetStream, cfg RelayConfig, dir string, opts BadgerOptions) (Report, error) {
	cfg = cfg.withDefaults()
	if err := checkEmptyDir(dir); err != nil {
		return Report{}, fmt.Errorf("recover: %w", err)
	}
	st, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return Report{}, fmt.Errorf("recover: stream %s: %w", cfg.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("recover: stream %s info: %w", cfg.Stream, err)
	}
	state := info.State
	if state.LastSeq == 0 {
		return Report{}, fmt.Errorf("recover: %w: stream %s is empty, nothing to recover", ErrStreamGap, cfg.Stream)
	}
	if state.FirstSeq != 1 || state.Msgs != state.LastSeq || state.NumDeleted > 0 {
		return Report{}, fmt.Errorf("recover: %w: stream %s holds %d messages in sequences %d..%d (%d deleted); it must hold 1..%d",
			ErrStreamGap, cfg.Stream, state.Msgs, state.FirstSeq, state.LastSeq, state.NumDeleted, state.LastSeq)
	}
	s, err := OpenBadger(dir, opts)
	if err != nil {
		return Report{}, fmt.Errorf("recover: %w", err)
	}
	defer s.Close()
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return Report{}, fmt.Errorf("recover: consumer: %w", err)
	}
	imp := newImporter(s)
	imp.legacy = true
	for seq := uint64(1); seq <= state.LastSeq; seq++ {
		fctx, cancel := context.WithTimeout(ctx, recoverFetchWait)
		msg, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			return imp.v.Report(), fmt.Errorf("recover: read sequence %d: %w", seq, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return imp.v.Report(), fmt.Errorf("recover: sequence %d metadata: %w", seq, err)
		}
		if md.Sequence.Stream != seq {
			return imp.v.Report(), fmt.Errorf("recover: %w: expected sequence %d, got %d", ErrStreamGap, seq, md.Sequence.Stream)
		}
		var rec Record
		if err := json.Unmarshal(msg.Data(), &rec); err != nil {
			return imp.v.Report(), fmt.Errorf("recover: %w: sequence %d: envelope: %v", ErrStreamInvalid, seq, err)
		}
		if rec.Position != seq {
			return imp.v.Report(), fmt.Errorf("recover: %w: sequence %d holds position %d", ErrStreamInvalid, seq, rec.Position)
		}
		if id := msg.Headers().Get(jetstream.MsgIDHeader); id != rec.ID {
			return imp.v.Report(), fmt.Errorf("recover: %w: sequence %d has message id %q but event id %q", ErrStreamInvalid, seq, id, rec.ID)
		}
		if err := imp.add(ctx, rec); err != nil {
			return imp.v.Report(), fmt.Errorf("recover: %w: %w", ErrStreamInvalid, err)
		}
	}
	if err := imp.flush(ctx); err != nil {
		return imp.v.Report(), fmt.Errorf("recover: %w: %w", ErrStreamInvalid, err)
	}
	rep, err := VerifyStore(ctx, s, 1)
	if err != nil || !rep.OK() {
		return rep, fmt.Errorf("recover: recovered log does not verify: %v %s", err, rep.Reason)
	}
	return rep, s.Close()
}

// HeadOf reads, best effort, the head key of the log in dir without opening it as a store (a
// log that fails its checks still tells how far it was written): Badger read-only, its
// write-ahead logs replayed in memory. ok is false when it cannot be read.
func HeadOf(dir string) (head uint64, ok bool) {
	db, err := openBadgerDB(badger.DefaultOptions(dir).WithReadOnly(true).WithLogger(nil))
	if err != nil {
		return 0, false
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(headKey())
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) (err error) {
			head, err = decodeHead(v)
			return err
		})
	})
	return head, err == nil
}
