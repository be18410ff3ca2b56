package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"roster/client"
)

// RelayConfig configures the Relay and EnsureStream.
type RelayConfig struct {
	Stream   string // JetStream stream name, default "ROSTER_EVENTS"
	Subjects string // default "roster.events.>"
	Window   int    // max in-flight async publishes, default 256
	Replicas int    // default 1
	Logger   *slog.Logger
}

const (
	// DefaultStreamName is the JetStream stream the log is copied to.
	DefaultStreamName = client.EventStream
	// SubjectPrefix starts every event subject.
	SubjectPrefix = client.EventPrefix

	defaultWindow = 256

	relayMinBackoff = 50 * time.Millisecond
	relayMaxBackoff = 2 * time.Second
	relayAckTimeout = 10 * time.Second

	// DuplicateWindow is the stream's duplicate window (README "Limits"): how long JetStream
	// remembers a message id. The copy does not rest on it: every publish names the sequence
	// and the message id it must follow (publish), so a record the stream holds is never
	// stored twice, whenever it is sent again (TestRelayRepublishAfterDuplicateWindowIsRefused);
	// at most the window turns the refusal of a repeat into a duplicate's answer. It is the
	// relay's ack wait. JetStream's default of two minutes kept an entry per event of the last
	// two minutes in memory (about 100 bytes each), and a start within two minutes of a
	// republished log read every one of those messages back (2 to 3 s for 1,000,000 events).
	DuplicateWindow = relayAckTimeout
)

// withDefaults fills the zero fields.
func (c RelayConfig) withDefaults() RelayConfig {
	if c.Stream == "" {
		c.Stream = DefaultStreamName
	}
	if c.Subjects == "" {
		c.Subjects = SubjectPrefix + ">"
	}
	if c.Window == 0 {
		c.Window = defaultWindow
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem of the configuration (after defaults).
func (c RelayConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if strings.ContainsAny(c.Stream, " \t\r\n.*>") {
		errs = append(errs, fmt.Errorf("relay: stream name %q has a forbidden character", c.Stream))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("relay: window %d is negative", c.Window))
	}
	if c.Replicas < 0 {
		errs = append(errs, fmt.Errorf("relay: replicas %d is negative", c.Replicas))
	}
	return errors.Join(errs...)
}

// Subject is the subject a record is published on:
// "roster.events.<org_id>.<type>". Characters that cannot appear in a subject
// token are replaced with '_', and an empty token becomes "_".
func Subject(r Record) string {
	return SubjectPrefix + subjectToken(r.OrgID) + "." + subjectToken(r.Type)
}

func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	if !strings.ContainsAny(s, ". *>\t\r\n") {
		return s
	}
	return strings.Map(func(c rune) rune {
		switch c {
		case '.', ' ', '*', '>', '\t', '\r', '\n':
			return '_'
		}
		return c
	}, s)
}

// EnsureStream creates the stream, or updates it to cfg: file storage,
// limits retention, no max age, the default duplicates window.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg RelayConfig) (jetstream.Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	st, err := js.CreateOrUpdateStream(ctx, streamConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", cfg.Stream, err)
	}
	return st, nil
}

func streamConfig(cfg RelayConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Roster event log, copied from the Badger log by the relay; sequence = log position",
		Subjects:    []string{cfg.Subjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    cfg.Replicas,
		MaxAge:      0,
		Duplicates:  DuplicateWindow,
	}
}

// Relay copies the log to the JetStream stream, in position order, so that
// the stream sequence equals the log position.
type Relay struct {
	store     Store
	js        jetstream.JetStream
	cfg       RelayConfig
	log       *slog.Logger
	published *notifier

	mu    sync.Mutex
	state RelayState
}

// Relay states (RelayState.State).
const (
	RelayStarting = "starting"
	RelayRunning  = "running"
	// RelayRetrying: a transient failure (NATS down, a timed-out ack); it starts over.
	RelayRetrying = "retrying"
	// RelayStopped: the stream is ahead of the log or diverges from it. The relay publishes
	// nothing, re-checks every RelayStoppedRecheck quietly and runs again once the stream is
	// a prefix of the log (the operator removed the foreign messages or deleted the stream).
	RelayStopped = "stopped"
)

// RelayStoppedRecheck is how often a stopped relay checks whether the stream was mended.
const RelayStoppedRecheck = 5 * time.Second

// RelayState is what the relay is doing, for Status.
type RelayState struct {
	State     string
	Reason    string // why it is stopped or retrying
	Since     time.Time
	Published uint64
}

// State returns the relay's state.
func (r *Relay) State() RelayState {
	r.mu.Lock()
	st := r.state
	r.mu.Unlock()
	if st.State == "" {
		st.State = RelayStarting
	}
	st.Published = r.Published()
	return st
}

// setState records a new state and reports whether it changed (state or reason).
func (r *Relay) setState(state, reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.State == state && r.state.Reason == reason {
		return false
	}
	r.state = RelayState{State: state, Reason: reason, Since: time.Now().UTC()}
	return true
}

// NewRelay returns a relay of store to js; Run starts it.
func NewRelay(store Store, js jetstream.JetStream, cfg RelayConfig) *Relay {
	cfg = cfg.withDefaults()
	return &Relay{store: store, js: js, cfg: cfg, log: cfg.Logger, published: newNotifier(0)}
}

// Published is the last position known to be in the stream.
func (r *Relay) Published() uint64 { return r.published.value() }

// WaitPublished blocks until Published() >= pos or ctx ends.
func (r *Relay) WaitPublished(ctx context.Context, pos uint64) error {
	if err := r.published.wait(ctx, pos, nil); err != nil {
		return fmt.Errorf("wait for position %d in stream %s: %w", pos, r.cfg.Stream, err)
	}
	return nil
}

// errStreamAhead means the stream has more messages than the log: it is not
// this log's copy (or the log lost data). The relay never publishes over it.
var errStreamAhead = errors.New("stream is ahead of the log")

// errStreamDiverged means the stream's last message is not the log's record
// at that position.
var errStreamDiverged = errors.New("stream diverges from the log")

// Run publishes until ctx ends, then returns nil. A transient error (NATS
// down, a failed ack) is logged and, after a backoff, the relay starts over
// from the stream's last sequence. A stream ahead of the log or diverging
// from it stops the relay (State RelayStopped, logged once as an error): it
// re-checks quietly every RelayStoppedRecheck and resumes when the stream was
// mended. Only a closed store ends Run with an error.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.cfg.Validate(); err != nil {
		return err
	}
	backoff := relayMinBackoff
	for {
		before := r.Published()
		err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrClosed) {
			r.setState(RelayStopped, err.Error())
			return fmt.Errorf("relay to %s: %w", r.cfg.Stream, err)
		}
		wait := backoff
		switch {
		case errors.Is(err, errStreamAhead), errors.Is(err, errStreamDiverged):
			if r.setState(RelayStopped, err.Error()) {
				r.log.Error("eventstore relay stopped: the stream is not a copy of the log; not publishing until it is mended",
					"stream", r.cfg.Stream, "err", err, "recheck", RelayStoppedRecheck)
			}
			wait = RelayStoppedRecheck
		default:
			r.setState(RelayRetrying, err.Error())
			r.log.Warn("eventstore relay: restarting", "stream", r.cfg.Stream, "err", err, "backoff", backoff)
		}
		if r.Published() > before {
			backoff = relayMinBackoff
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, relayMaxBackoff)
	}
}

type inflight struct {
	pos uint64
	id  string
	fut jetstream.PubAckFuture
}

// session syncs with the stream's last sequence and publishes from there
// until an error.
func (r *Relay) session(ctx context.Context) error {
	last, prevID, err := r.resync(ctx)
	if err != nil {
		return err
	}
	r.published.set(last)
	if r.setState(RelayRunning, "") {
		r.log.Info("eventstore relay running", "stream", r.cfg.Stream, "from", last+1)
	}
	next := last + 1

	var (
		buf     []Record   // read from the log, not yet published
		window  []inflight // published, not yet acknowledged, in order
		ackWait = time.NewTimer(relayAckTimeout)
	)
	defer ackWait.Stop()
	for {
		// Fill the window.
		for len(window) < r.cfg.Window {
			if len(buf) == 0 {
				head, err := r.store.Head(ctx)
				if err != nil {
					return fmt.Errorf("log head: %w", err)
				}
				if next > head {
					break
				}
				buf, err = r.store.Read(ctx, next, r.cfg.Window)
				if err != nil {
					return fmt.Errorf("read log from %d: %w", next, err)
				}
				if len(buf) == 0 {
					break
				}
			}
			rec := buf[0]
			buf = buf[1:]
			if rec.Position != next {
				return fmt.Errorf("log returned position %d where %d was expected", rec.Position, next)
			}
			fut, err := r.publish(rec, prevID)
			if err != nil {
				return fmt.Errorf("publish position %d: %w", rec.Position, err)
			}
			window = append(window, inflight{pos: rec.Position, id: rec.ID, fut: fut})
			prevID = rec.ID
			next++
		}

		if len(window) == 0 {
			if err := r.store.WaitFor(ctx, next); err != nil {
				return fmt.Errorf("wait for log position %d: %w", next, err)
			}
			continue
		}

		// Wait for the oldest ack.
		head := window[0]
		ackWait.Reset(relayAckTimeout)
		select {
		case ack := <-head.fut.Ok():
			if ack.Sequence != head.pos {
				return fmt.Errorf("position %d (id %s) acked as sequence %d (duplicate=%t)", head.pos, head.id, ack.Sequence, ack.Duplicate)
			}
			r.published.set(head.pos)
			window[0] = inflight{}
			window = window[1:]
		case err := <-head.fut.Err():
			return fmt.Errorf("publish position %d: %w", head.pos, err)
		case <-ackWait.C:
			return fmt.Errorf("publish position %d: no ack after %s", head.pos, relayAckTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// publish sends rec with the headers that make the stream a faithful copy:
// its id for deduplication, and the expected last sequence (position - 1)
// and last message id (prevID, the previous record's id; "" when unknown).
// The sequence alone is not enough with a window in flight: if a foreign
// message took sequence p, the record at p is rejected but the one at p+1
// would find its expected sequence and be stored; the message id stops it.
func (r *Relay) publish(rec Record, prevID string) (jetstream.PubAckFuture, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	msg := &nats.Msg{Subject: Subject(rec), Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, rec.ID)
	msg.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(rec.Position-1, 10))
	if prevID != "" {
		msg.Header.Set(jetstream.ExpectedLastMsgIDHeader, prevID)
	}
	return r.js.PublishMsgAsync(msg)
}

// resync returns the stream's last sequence and the id of the message there
// ("" if none or deleted), creating the stream if it does not exist, and
// checks that the stream is a prefix of the log.
func (r *Relay) resync(ctx context.Context) (last uint64, lastID string, err error) {
	st, err := r.js.Stream(ctx, r.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = EnsureStream(ctx, r.js, r.cfg)
	}
	if err != nil {
		return 0, "", fmt.Errorf("stream %s: %w", r.cfg.Stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("stream %s info: %w", r.cfg.Stream, err)
	}
	last = info.State.LastSeq
	head, err := r.store.Head(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("log head: %w", err)
	}
	if last > head {
		return 0, "", fmt.Errorf("%w: stream %s last sequence %d, log head %d", errStreamAhead, r.cfg.Stream, last, head)
	}
	if last == 0 {
		return 0, "", nil
	}
	msg, err := st.GetMsg(ctx, last)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		// Deleted from the stream: nothing to compare with.
		return last, "", nil
	case err != nil:
		return 0, "", fmt.Errorf("stream %s message %d: %w", r.cfg.Stream, last, err)
	}
	recs, err := r.store.Read(ctx, last, 1)
	if err != nil {
		return 0, "", fmt.Errorf("read log at %d: %w", last, err)
	}
	if len(recs) != 1 || recs[0].Position != last {
		return 0, "", fmt.Errorf("read log at %d: record missing", last)
	}
	if got := msg.Header.Get(jetstream.MsgIDHeader); got != recs[0].ID {
		return 0, "", fmt.Errorf("%w: stream %s sequence %d has id %q, log position %d has id %q",
			errStreamDiverged, r.cfg.Stream, last, got, last, recs[0].ID)
	}
	// The same id with other content (an envelope rewritten under the real
	// id) shows in the hash; envelopes published before the chain have none.
	var env struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(msg.Data, &env); err == nil && env.Hash != "" && env.Hash != recs[0].Hash {
		return 0, "", fmt.Errorf("%w: stream %s sequence %d has hash %s, log position %d has hash %s",
			errStreamDiverged, r.cfg.Stream, last, short(env.Hash), last, short(recs[0].Hash))
	}
	return last, recs[0].ID, nil
}
