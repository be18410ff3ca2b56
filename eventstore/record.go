package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"roster/client"
)

// Record is one stored event. Its JSON form is the wire envelope of API.md.
type Record struct {
	ID            string          `json:"id"`       // UUIDv7, set by the caller
	Position      uint64          `json:"position"` // global, gap-free, starts at 1; set by the store
	Stream        string          `json:"stream"`   // e.g. "org-acme"; set by the caller (all events of one Append share it)
	Version       uint64          `json:"version"`  // 1-based version within the stream; set by the store
	Type          string          `json:"type"`
	Time          time.Time       `json:"time"` // set by the caller; raised by the store so that it never decreases with Position
	OrgID         string          `json:"org_id"`
	Actor         string          `json:"actor"`
	CommandID     string          `json:"command_id,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	Data          json.RawMessage `json:"data"`
	// Principal is the authenticated NATS credential that issued the command (SPEC §7), beside
	// the Actor it spoke for; nil when there was none (insecure mode, Roster's own system
	// commands, records written before principals existed).
	Principal *Principal `json:"principal,omitempty"`
	// PrevHash and Hash link the record into the log's hash chain (chain.go);
	// set by the store.
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// Principal is who sent a command, as the NATS server stamped it: the caller's account and user.
// It is the wire type, so a Record converts to the envelope client.Event.
type Principal = client.Principal

// noPrincipal reports whether p names nobody (nil, or both fields empty): such a principal is
// not stored, so a record has one form whether or not an empty principal was given.
func noPrincipal(p *Principal) bool { return p == nil || (p.Account == "" && p.User == "") }

// AppendRequest is one call to Store.Append.
type AppendRequest struct {
	Stream          string
	ExpectedVersion uint64 // the stream's current version the caller decided on (0 = empty stream)
	CommandID       string // optional idempotency key, scoped to Stream
	// Events holds at least one record, unless CommandID is set and Reply
	// records a no-event result: then only the reply is stored.
	Events []Record
	// Reply, if not nil, is called inside the commit with the records as
	// stored (positions and versions filled) and returns the bytes to store
	// under (Stream, CommandID); they are what a repeat of the command gets.
	// It runs on the store's committer goroutine: keep it short and do not
	// call the store from it.
	Reply func(stored []Record) ([]byte, error)
	// ReplyArg, with BadgerOptions.StagedReply, lets a big append be staged (staged.go): its
	// stored reply is then StagedReply(ReplyArg, stored), which must equal what Reply gives,
	// and an open can build it when it completes the append after a crash.
	ReplyArg []byte
}

// AppendResult is what Append stored.
type AppendResult struct {
	Records []Record // as stored
	Reply   []byte   // what Reply returned (nil if none)
}

var (
	// ErrWrongExpectedVersion reports that the stream's version is not the
	// one the caller expected: someone else appended first.
	ErrWrongExpectedVersion = errors.New("wrong expected version")
	// ErrDuplicateCommand reports that (stream, command id) was appended
	// before; the AppendResult carries the first reply.
	ErrDuplicateCommand = errors.New("duplicate command id")
	// ErrInvalidAppend reports a malformed AppendRequest.
	ErrInvalidAppend = errors.New("invalid append request")
	// ErrClosed reports a call on a closed store.
	ErrClosed = errors.New("event store closed")
	// ErrAppendTooBig reports an append that no write of the store can hold (one record, or
	// its reply with the head, larger than a Badger transaction: 15% of a memtable). It fails
	// alone, nothing written; the same append fails again.
	ErrAppendTooBig = errors.New("append too big for one write of the log")
)

// StoreError is an error of one store operation on one stream.
type StoreError struct {
	Op     string
	Stream string
	Err    error
}

// Error implements error.
func (e *StoreError) Error() string {
	var b strings.Builder
	b.WriteString("eventstore: ")
	b.WriteString(e.Op)
	if e.Stream != "" {
		b.WriteString(" ")
		b.WriteString(e.Stream)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *StoreError) Unwrap() error { return e.Err }

// Store is the append-only log.
type Store interface {
	// Append writes the events in one transaction, checks ExpectedVersion,
	// records the command reply, and returns only after the data is durable
	// (fsync'd). A repeated (Stream, CommandID) returns an error wrapping
	// ErrDuplicateCommand, and the AppendResult carries the stored first
	// Reply and no new records.
	Append(ctx context.Context, req AppendRequest) (AppendResult, error)
	// AppendAsync queues an append and returns at once; wait blocks until the append is
	// durable or refused, with what Append would return. Appends queued one after another
	// by one caller are committed in that order, so a writer may queue a stream's next
	// append (expecting the version the previous one leaves) before the previous one is
	// durable; if the previous one is refused, the next fails its expected version.
	//
	// An error from AppendAsync itself refuses the append before anything of it was queued or
	// written (an invalid request, a context already done, a closed store, the bound on big
	// appends, MaxStaged): no wait follows it, and a writer's state must not count it. Later
	// refusals come from wait.
	AppendAsync(ctx context.Context, req AppendRequest) (wait func() (AppendResult, error), err error)
	// CommandReply returns the reply stored for (stream, commandID), if any.
	CommandReply(ctx context.Context, stream, commandID string) ([]byte, bool, error)
	// Read returns up to limit records with Position >= from, in order
	// (limit <= 0: no limit).
	Read(ctx context.Context, from uint64, limit int) ([]Record, error)
	// Scan calls fn for every record with Position >= from, up to the head
	// at the time Scan starts, in order, streaming (no full slice in memory);
	// fn returning an error stops it and Scan returns that error.
	Scan(ctx context.Context, from uint64, fn func(Record) error) error
	// ReadStream returns the stream's records with Version >= fromVersion,
	// in order.
	ReadStream(ctx context.Context, stream string, fromVersion uint64) ([]Record, error)
	// StreamVersion is the stream's current version (0 if empty).
	StreamVersion(ctx context.Context, stream string) (uint64, error)
	// Head is the last position (0 if empty).
	Head(ctx context.Context) (uint64, error)
	// PositionAt returns the last position whose Time <= t (0 if none).
	PositionAt(ctx context.Context, t time.Time) (uint64, error)
	// WaitFor blocks until Head() >= pos or ctx ends.
	WaitFor(ctx context.Context, pos uint64) error
	Close() error
}

// checkRequest checks the shape of req, independent of the store's state, and returns it
// with its events copied and their data in the stored form (compact JSON, "null" when
// empty). It runs on the caller's goroutine, before the request is queued, so that the
// committer (which every append waits for) does not spend its time on it.
func checkRequest(req AppendRequest) (AppendRequest, error) {
	if err := validateRequest(req); err != nil {
		return req, err
	}
	evs := make([]Record, len(req.Events))
	for i, ev := range req.Events {
		ev.Data = normalizeData(ev.Data)
		evs[i] = ev
	}
	req.Events = evs
	return req, nil
}

// validateRequest checks the shape of req, independent of the store's state.
func validateRequest(req AppendRequest) error {
	var errs []error
	if req.Stream == "" {
		errs = append(errs, errors.New("stream is empty"))
	}
	if strings.IndexByte(req.Stream, 0) >= 0 {
		errs = append(errs, errors.New("stream contains a NUL byte"))
	}
	if len(req.Events) == 0 && (req.CommandID == "" || req.Reply == nil) {
		errs = append(errs, errors.New("no events (allowed only with a command id and a reply)"))
	}
	for i, ev := range req.Events {
		if ev.ID == "" {
			errs = append(errs, fmt.Errorf("event %d: id is empty", i))
		}
		if ev.Type == "" {
			errs = append(errs, fmt.Errorf("event %d: type is empty", i))
		}
		if ev.Stream != "" && ev.Stream != req.Stream {
			errs = append(errs, fmt.Errorf("event %d: stream %q differs from the request's %q", i, ev.Stream, req.Stream))
		}
		// An event of a command's append names that command. An append without a command id
		// may carry one (a restore continuing a big append whose reply an earlier append of the
		// same command stored); the checksum pass then finds a command without its reply.
		if req.CommandID != "" && ev.CommandID != "" && ev.CommandID != req.CommandID {
			errs = append(errs, fmt.Errorf("event %d: command id %q differs from the request's %q", i, ev.CommandID, req.CommandID))
		}
		if len(ev.Data) > 0 && !json.Valid(ev.Data) {
			errs = append(errs, fmt.Errorf("event %d: data is not valid JSON", i))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidAppend, errors.Join(errs...))
	}
	return nil
}

// sequence fills positions, versions, stream, times and hashes of req's
// events as they would be stored after head (whose record has time lastTime
// and hash lastHash, "" for an empty log) on a stream at version current. It
// copies the events; req is not changed. The events' data must already be in
// the stored form (checkRequest).
func sequence(req AppendRequest, head, current uint64, lastTime time.Time, lastHash string) []Record {
	if lastHash == "" {
		lastHash = GenesisHash
	}
	out := make([]Record, len(req.Events))
	var h ChainHasher
	for i, ev := range req.Events {
		ev.Stream = req.Stream
		ev.Position = head + uint64(i) + 1
		ev.Version = current + uint64(i) + 1
		ev.Time = ev.Time.UTC()
		if ev.Time.Before(lastTime) {
			ev.Time = lastTime
		}
		lastTime = ev.Time
		if noPrincipal(ev.Principal) {
			ev.Principal = nil
		} else {
			p := *ev.Principal
			ev.Principal = &p
		}
		ev.PrevHash = lastHash
		ev.Hash = h.Hash(ev, lastHash) // lastHash is always valid hex here
		lastHash = ev.Hash
		out[i] = ev
	}
	return out
}

// normalizeData gives Data the form it has after a JSON round trip, so that
// both stores return identical records.
func normalizeData(d json.RawMessage) json.RawMessage {
	if len(d) == 0 {
		return json.RawMessage("null")
	}
	if compact(d) {
		// What json.Compact returns for it: the same bytes, or an error (not JSON), and then
		// they are kept as they are too.
		return append(json.RawMessage(nil), d...)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, d); err != nil {
		return append(json.RawMessage(nil), d...)
	}
	return json.RawMessage(b.Bytes())
}

// callReply runs req.Reply, if any, turning a panic into an error so that one
// caller's bug cannot take the committer down.
func callReply(req AppendRequest, stored []Record) (reply []byte, err error) {
	if req.Reply == nil {
		return nil, nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("reply func panicked: %v", p)
		}
	}()
	// The callback gets its own copy; it must not alter what is stored.
	cp := make([]Record, len(stored))
	copy(cp, stored)
	reply, err = req.Reply(cp)
	if err != nil {
		return nil, fmt.Errorf("reply func: %w", err)
	}
	if reply == nil {
		reply = []byte{}
	}
	return reply, nil
}

// notifier publishes a monotonically increasing value and lets goroutines
// wait for it to reach a target.
type notifier struct {
	mu sync.Mutex
	v  uint64
	ch chan struct{} // closed when v changes
}

func newNotifier(v uint64) *notifier {
	return &notifier{v: v, ch: make(chan struct{})}
}

func (n *notifier) advance(v uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if v <= n.v {
		return
	}
	n.v = v
	close(n.ch)
	n.ch = make(chan struct{})
}

// set changes the value, also downwards (waiters keep waiting then).
func (n *notifier) set(v uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if v == n.v {
		return
	}
	n.v = v
	close(n.ch)
	n.ch = make(chan struct{})
}

func (n *notifier) value() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.v
}

// wait blocks until the value is >= target, ctx ends or stop is closed
// (stop may be nil).
func (n *notifier) wait(ctx context.Context, target uint64, stop <-chan struct{}) error {
	for {
		n.mu.Lock()
		v, ch := n.v, n.ch
		n.mu.Unlock()
		if v >= target {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return ErrClosed
		}
	}
}

// storedReply is what is kept for a command: the reply, or an empty one when
// the request had no Reply func (the command id alone still deduplicates).
// storedReplyOwned is storedReply for a reply nothing else holds: itself, never nil.
func storedReplyOwned(reply []byte) []byte {
	if reply == nil {
		return []byte{}
	}
	return reply
}

func storedReply(reply []byte) []byte {
	if reply == nil {
		return []byte{}
	}
	return bytes.Clone(reply)
}

func cmdKey(stream, commandID string) string { return stream + "\x00" + commandID }

// compact reports whether d has no whitespace outside its strings: json.Compact would leave
// it as it is. Every event a command records is json.Marshal's output, compact already, and
// compacting a 10,000-row import's events took a tenth of its decision.
func compact(d []byte) bool {
	inString, escaped := false, false
	for _, c := range d {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
