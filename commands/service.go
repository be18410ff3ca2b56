package commands

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/caller"
	"roster/internal/edge"
	"roster/internal/pace"
)

// DefaultMaxPayload bounds one command request.
const DefaultMaxPayload = 1 << 20

// Config holds the service's dependencies and settings.
type Config struct {
	Presets domain.Presets
	Store   eventstore.Store
	Logger  *slog.Logger
	// Now is the clock; NewID generates ids (UUIDv7 by default).
	Now   func() time.Time
	NewID func() string
	// InviteTTL is how long invitations stay pending (default 7 days).
	InviteTTL time.Duration
	// MaxPayload bounds a request body (default 1 MiB).
	MaxPayload int
	// ExpireEvery is how often pending invitations are checked for expiry (default 1 minute).
	ExpireEvery time.Duration
	// Policy tells who sent a request from its Nats-Request-Info stamp (nil: insecure, every
	// request an anonymous application).
	Policy *caller.Policy
	// NewToken generates the secret of an e-mail invitation (default: 32 random bytes, base64url).
	NewToken func() string
	// OrgQueue bounds one organization's queued commands (MaxOrgQueue when 0).
	OrgQueue int
	// Pacer, if set, makes ImportMembers bulk work (package pace): its decision, encoding and
	// state update keep only the pacer's share of the time while other commands or queries are
	// active, and the other commands mark themselves active from their turn until their append
	// is queued.
	Pacer *pace.Pacer
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Presets == nil {
		errs = append(errs, errors.New("commands: presets are required"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("commands: store is required"))
	}
	if c.InviteTTL < 0 {
		errs = append(errs, errors.New("commands: invite TTL is negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewID == nil {
		c.NewID = NewUUIDv7
	}
	if c.InviteTTL == 0 {
		c.InviteTTL = domain.DefaultInviteTTL
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.ExpireEvery <= 0 {
		c.ExpireEvery = time.Minute
	}
	if c.Policy == nil {
		c.Policy, _ = caller.NewPolicy(false, nil, nil) // cannot fail without accounts
	}
	if c.NewToken == nil {
		c.NewToken = NewInviteToken
	}
}

// NewInviteToken returns a new invitation secret: 32 bytes from crypto/rand, base64url
// without padding (43 characters).
func NewInviteToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewUUIDv7 returns a new UUIDv7 string.
func NewUUIDv7() string {
	return uuid.Must(uuid.NewV7()).String()
}

// Service decides and records commands.
type Service struct {
	cfg Config

	mu    sync.Mutex
	orgs  map[string]*orgEntry
	stats stats
	halt  atomic.Pointer[string] // set by Halt (halt.go)
	// rebuilt keeps the replies replyFromLog rebuilt (each read its organization's whole
	// stream), so that repeats of one restored command do not read it again.
	rebuilt rebuiltReplies

	// beforeDecode, if set, runs at the start of every decode (tests).
	beforeDecode func(name string)
}

// orgEntry is one organization's hot state; mu serializes its commands.
type orgEntry struct {
	mu     sync.Mutex
	state  *domain.Org
	loaded bool
	// inflight holds the commands (by command id) whose events are queued, not yet durable.
	inflight map[string]*pending
}

// New builds a command service.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	return &Service{cfg: cfg, orgs: map[string]*orgEntry{}}, nil
}

// StreamOf is the log stream of an organization.
func StreamOf(orgID string) string { return edge.StreamOf(orgID) }

// Execute runs one command given its name and JSON body and returns the reply body and,
// for refusals, the wire error code ("" on success). The caller is the one ctx carries
// (caller.With); without one, the request is treated as one without a stamp: an anonymous
// application in insecure mode, refused in secured mode.
func (s *Service) Execute(ctx context.Context, name string, body []byte) ([]byte, string) {
	return s.Start(ctx, name, body)()
}

// Start decodes, validates and decides a command and queues its events; the returned function
// waits until they are durable and gives the reply body and, for refusals, the wire code. Only
// the wait blocks for the disk.
func (s *Service) Start(ctx context.Context, name string, body []byte) func() ([]byte, string) {
	wait, err := s.begin(ctx, name, body)
	if err != nil {
		return s.answer(name, nil, err)
	}
	return func() ([]byte, string) {
		reply, err := wait()
		return s.answer(name, reply, err)()
	}
}

// answer turns a reply or an error into the wire reply and code.
func (s *Service) answer(name string, reply []byte, err error) func() ([]byte, string) {
	if err != nil {
		body, code := edge.ErrorBody(err)
		if code == client.CodeUnavailable {
			s.cfg.Logger.Warn("command failed", "command", name, "err", err)
		}
		return func() ([]byte, string) { return body, code }
	}
	return func() ([]byte, string) { return reply, "" }
}

func (s *Service) begin(ctx context.Context, name string, body []byte) (waitFunc, error) {
	who, ok := caller.From(ctx)
	if !ok {
		var err error
		if who, err = s.cfg.Policy.FromHeader(nil); err != nil {
			return nil, err
		}
	}
	cmd, err := s.decode(name, body)
	if err != nil {
		return nil, err
	}
	if err := actorRule(who, cmd); err != nil {
		return nil, err
	}
	return s.lockAndStart(ctx, s.entry(cmd.CommandMeta().OrgID), cmd, s.as(who))
}

// principal is who a command runs as: the decider's view of the caller (Env's Account and
// Operator) and the principal its events record.
type principal struct {
	account  string // "" in insecure mode
	operator bool
	// person marks a user account's caller: an organization they may not see does not exist
	// for their commands (domain.Env.Person).
	person    bool
	principal *eventstore.Principal
}

// as turns an authenticated caller into the principal its command runs as. An anonymous
// caller (insecure mode) has no account and records no principal: the log is written exactly
// as before accounts existed.
func (s *Service) as(who caller.Caller) principal {
	if who.Anonymous {
		return principal{}
	}
	return principal{account: who.Account, operator: who.Kind == caller.Operator, person: who.Kind == caller.User,
		principal: &eventstore.Principal{Account: who.Account, User: who.User}}
}

// actorRule applies SPEC §7's actor rule: in a user account each NATS user is one person, so
// the actor is the authenticated user; an omitted actor is filled in and a different one is
// forbidden. Application and operator accounts speak for their users: the actor is trusted.
func actorRule(who caller.Caller, cmd domain.Command) error {
	if who.Anonymous || who.Kind != caller.User {
		return nil
	}
	meta := cmd.CommandMeta()
	switch {
	case meta.Actor == "":
		meta.Actor = who.User
	case meta.Actor != who.User:
		return refuse(client.CodeForbidden, "%s: actor %q is not the authenticated user %q of user account %s",
			cmd.CommandName(), meta.Actor, who.User, who.Account)
	}
	return nil
}

// decode turns a request into a checked command with its ids filled: the work done before
// the command is queued (bounded by the payload limit and the input limits).
func (s *Service) decode(name string, body []byte) (domain.Command, error) {
	if s.beforeDecode != nil {
		s.beforeDecode(name)
	}
	if len(body) > s.cfg.MaxPayload {
		return nil, refuse(client.CodeInvalid, "request body is %d bytes; the limit is %d", len(body), s.cfg.MaxPayload)
	}
	decode, ok := decoders[name]
	if !ok {
		return nil, refuse(client.CodeInvalid, "unknown command %q; known commands: %s", name, strings.Join(client.CommandNames(), ", "))
	}
	cmd, err := decode(body)
	if err != nil {
		return nil, refuse(client.CodeInvalid, "%s: %v", name, err)
	}
	s.fillIDs(cmd)
	meta := cmd.CommandMeta()
	if !domain.ValidID(meta.OrgID) {
		return nil, refuse(client.CodeInvalid, "%s: %s", name, edge.BadID("org_id", meta.OrgID))
	}
	return cmd, nil
}

// lockAndStart decides and queues a command while holding the organization's lock.
func (s *Service) lockAndStart(ctx context.Context, entry *orgEntry, cmd domain.Command, as principal) (waitFunc, error) {
	entry.mu.Lock()
	defer entry.mu.Unlock()
	return s.start(ctx, entry, cmd, as)
}

// env is what a command of as is decided with.
func (s *Service) env(as principal) domain.Env {
	return domain.Env{Now: s.cfg.Now(), InviteTTL: s.cfg.InviteTTL, NewID: s.cfg.NewID, Account: as.account,
		Operator: as.operator, NewToken: s.cfg.NewToken, RequireInviteToken: s.cfg.Policy.Secured, Person: as.person,
		Yield: runtime.Gosched}
}

// run decides, records and waits for one command.
func (s *Service) run(ctx context.Context, entry *orgEntry, cmd domain.Command, as principal) ([]byte, error) {
	wait, err := s.lockAndStart(ctx, entry, cmd, as)
	if err != nil {
		return nil, err
	}
	return wait()
}

// waitFunc waits for a started command's reply.
type waitFunc func() ([]byte, error)

func ready(reply []byte, err error) (waitFunc, error) {
	if err != nil {
		return nil, err
	}
	return func() ([]byte, error) { return reply, nil }, nil
}

// start decides a command while the organization's lock is held and queues its events; the
// returned wait blocks (without the lock) until they are durable. The state moves on at once,
// so the organization's next command is decided, and its append queued behind this one,
// before this one's fsync: commands of one organization share group commits too. If an
// append fails, the state is reloaded from the log before the next command.
//
// Access comes first (SPEC §7): a command id is looked up only on an organization the caller
// may reach, so a repeat of another account's command gets the not_found of an unknown
// organization from Decide, never that command's first reply.
func (s *Service) start(ctx context.Context, entry *orgEntry, cmd domain.Command, as principal) (waitFunc, error) {
	meta := cmd.CommandMeta()
	stream := StreamOf(meta.OrgID)
	if err := s.load(ctx, entry, meta.OrgID); err != nil {
		return nil, err
	}
	env := s.env(as)
	reachable := entry.state.ReachedBy(cmd, env)
	if meta.CommandID != "" && !meta.DryRun && reachable {
		if p, ok := entry.inflight[meta.CommandID]; ok {
			return p.wait, nil // the same command, still being written: the same reply
		}
		reply, ok, err := s.cfg.Store.CommandReply(ctx, stream, meta.CommandID)
		if err != nil {
			return nil, fmt.Errorf("look up command %s: %w", meta.CommandID, err)
		}
		if ok && len(reply) == 0 {
			reply, err = s.replyFromLog(ctx, stream, meta.CommandID)
		}
		if ok {
			return ready(reply, err)
		}
	}
	var bulk *pace.Bulk
	if bulkCommand(cmd.CommandName()) {
		bulk = s.cfg.Pacer.Bulk()
		env.Yield = func() { pauseBulk(ctx, bulk) }
		// In flight from its decision until its events are durable (pace.Pacer.Hold).
		release := s.cfg.Pacer.Hold()
		wait, err := s.decideAndRecord(ctx, entry, cmd, env, as, bulk)
		if err != nil {
			release()
			return nil, err
		}
		return func() ([]byte, error) {
			defer release()
			return wait()
		}, nil
	}
	return s.decideAndRecord(ctx, entry, cmd, env, as, nil)
}

// decideAndRecord decides cmd on the organization's state and queues its events (start).
func (s *Service) decideAndRecord(ctx context.Context, entry *orgEntry, cmd domain.Command, env domain.Env, as principal, bulk *pace.Bulk) (waitFunc, error) {
	out, err := domain.Decide(entry.state, cmd, env)
	if err != nil {
		return nil, err
	}
	if cmd.CommandMeta().DryRun {
		return ready(s.dryRunReply(ctx, entry.state, out))
	}
	return s.record(ctx, entry, cmd, out, as.principal, bulk)
}

// bulkCommand reports whether the command of that name is bulk work (Config.Pacer): decided
// and recorded at the pacer's pace, and not counted as interactive work.
func bulkCommand(name string) bool { return name == client.CmdImportMembers }

// pauseBulk ends a quantum of a bulk command's work (every domain.YieldRows rows): it waits for
// the pacer, or without one lets other goroutines run. A wait cut short by ctx is no error
// here: the command's append sees ctx.
func pauseBulk(ctx context.Context, bulk *pace.Bulk) {
	if bulk == nil {
		runtime.Gosched()
		return
	}
	_ = bulk.Yield(ctx)
}

// pending is a command whose events are queued and not yet durable.
type pending struct {
	done  chan struct{}
	reply []byte
	err   error
}

func (p *pending) wait() ([]byte, error) {
	<-p.done
	return p.reply, p.err
}

func (s *Service) record(ctx context.Context, entry *orgEntry, cmd domain.Command, out domain.Outcome, who *eventstore.Principal, bulk *pace.Bulk) (waitFunc, error) {
	if err := s.halted(); err != nil {
		return nil, err
	}
	meta := cmd.CommandMeta()
	stream := StreamOf(meta.OrgID)
	now := s.cfg.Now().UTC()
	correlation := meta.CorrelationID
	if correlation == "" {
		correlation = meta.CommandID
	}
	records := make([]eventstore.Record, 0, len(out.Events))
	for i, ev := range out.Events {
		if i > 0 && i%domain.YieldRows == 0 {
			pauseBulk(ctx, bulk) // a bulk command's encoding gives way too (domain.Env.Yield)
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", ev.EventType(), err)
		}
		records = append(records, eventstore.Record{ID: s.cfg.NewID(), Stream: stream, Type: ev.EventType(), Time: now,
			OrgID: meta.OrgID, Actor: meta.Actor, CommandID: meta.CommandID, CorrelationID: correlation, Data: data, Principal: who})
	}
	result := out.Result
	if result == nil {
		result = domain.NoResult{}
	}
	resultJSON, err := json.Marshal(result)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	req := eventstore.AppendRequest{Stream: stream, ExpectedVersion: entry.state.Version, CommandID: meta.CommandID, Events: records,
		Reply:    func(stored []eventstore.Record) ([]byte, error) { return ReplyOf(resultJSON, stored) },
		ReplyArg: resultJSON}
	if len(records) == 0 {
		// Nothing to append; with a command id, the reply is still recorded for repeats.
		head, err := s.cfg.Store.Head(ctx)
		if err != nil {
			return nil, fmt.Errorf("read head: %w", err)
		}
		reply := mustJSON(client.CommandReply{OK: true, Position: head, Events: []client.EventRef{}, Result: resultJSON})
		if meta.CommandID == "" {
			return ready(reply, nil)
		}
		req.Reply = func([]eventstore.Record) ([]byte, error) { return reply, nil }
	}
	appended, err := s.cfg.Store.AppendAsync(ctx, req)
	if err != nil {
		// Refused before anything was queued: the state does not take the events, so the
		// organization's next commands are decided on what the log holds.
		_, err = afterAppend(nil, err)
		return nil, err
	}
	for i, ev := range out.Events {
		if i > 0 && i%domain.YieldRows == 0 {
			pauseBulk(ctx, bulk)
		}
		domain.Evolve(entry.state, ev)
	}
	p := &pending{done: make(chan struct{})}
	if meta.CommandID != "" {
		entry.inflight[meta.CommandID] = p
	}
	return func() ([]byte, error) {
		res, err := appended()
		p.reply, p.err = afterAppend(res.Reply, err)
		close(p.done)
		entry.mu.Lock()
		if meta.CommandID != "" {
			delete(entry.inflight, meta.CommandID)
		}
		if err != nil {
			entry.loaded = false // the state moved on with events the log does not have
		}
		entry.mu.Unlock()
		return p.reply, p.err
	}, nil
}

// ReplyOf is a command's reply from its result (JSON) and its records as stored. An open of
// the log that completes a big append cut short by a crash stores the reply the command would
// have had (AppendReplyOf).
//
// ReplySpan reads the start of this form (the log's checksum pass checks stored replies with it):
// a change of the fields' order here must be made there too, or the pass stops checking replies.
//
// It writes what json.Marshal gives for client.CommandReply{OK, Position, Events, Result} without
// its reflection, and without compacting result again: result is what json.Marshal gave. A
// 10,000-row import's reply is built on the log's committer, where every other append waits.
func ReplyOf(result []byte, stored []eventstore.Record) ([]byte, error) {
	return AppendReplyOf(make([]byte, 0, 64+len(result)+len(stored)*(80)), result, stored)
}

// AppendReplyOf is ReplyOf appended to dst. It is the log's eventstore.BadgerOptions.StagedReply:
// the log gives it a buffer with room for the reply, so that the last slice of a big append
// allocates little on the committer.
func AppendReplyOf(dst, result []byte, stored []eventstore.Record) ([]byte, error) {
	if len(stored) == 0 {
		return nil, errors.New("reply of no records")
	}
	b := append(dst, `{"ok":true,"position":`...)
	b = strconv.AppendUint(b, stored[len(stored)-1].Position, 10)
	b = append(b, `,"events":[`...)
	for i, r := range stored {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, r.ID)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, r.Type)
		b = append(b, `,"position":`...)
		b = strconv.AppendUint(b, r.Position, 10)
		b = append(b, '}')
	}
	b = append(b, ']')
	if len(result) > 0 {
		b = append(b, `,"result":`...)
		b = append(b, result...)
	}
	return append(b, '}'), nil
}

// ReplySpan reads, from the start of a stored command reply, the positions of its first and
// last events (the log's BadgerOptions.ReplySpan: its checksum pass checks that the records
// carrying a command lie between them, and that the reply names that command's records). It
// reads only the reply's first tokens, as ReplyOf writes them: ok, position, then the first
// event's id, type and position. ok is false for anything else (a reply without events, an
// empty one from a restored log, another shape), which the pass does not check.
func ReplySpan(reply []byte) (first, last uint64, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(reply))
	dec.UseNumber()
	next := func() json.Token {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		return t
	}
	number := func() (uint64, bool) {
		n, isNum := next().(json.Number)
		if !isNum {
			return 0, false
		}
		v, err := strconv.ParseUint(string(n), 10, 64)
		return v, err == nil
	}
	key := func(name string) bool { k, isStr := next().(string); return isStr && k == name }
	if next() != json.Delim('{') || !key("ok") || next() != true || !key("position") {
		return 0, 0, false
	}
	if last, ok = number(); !ok {
		return 0, 0, false
	}
	if !key("events") || next() != json.Delim('[') || next() != json.Delim('{') {
		return 0, 0, false
	}
	if !key("id") {
		return 0, 0, false
	}
	if _, isStr := next().(string); !isStr || !key("type") {
		return 0, 0, false
	}
	if _, isStr := next().(string); !isStr || !key("position") {
		return 0, 0, false
	}
	if first, ok = number(); !ok || first > last {
		return 0, 0, false
	}
	return first, last, true
}

// appendJSONString appends s as json.Marshal writes it: plain printable ASCII (ids, event
// types) as it is, anything else through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// replyFromLog rebuilds the reply of a command whose stored reply is empty: a log restored from
// a backup or recovered from the stream keeps its commands' ids but not their replies
// (docs/INTEGRITY.md). The reply names the command's events, read from its organization's
// stream; its result, which only the first reply held, is empty. A command that appended no
// event is answered ok, without a position.
func (s *Service) replyFromLog(ctx context.Context, stream, commandID string) ([]byte, error) {
	key := stream + "\x00" + commandID
	if reply, ok := s.rebuilt.get(key); ok {
		return reply, nil
	}
	reply, err := s.rebuildReply(ctx, stream, commandID)
	if err == nil {
		s.rebuilt.put(key, reply)
	}
	return reply, err
}

// MaxRebuiltReplyBytes bounds the rebuilt replies kept (rebuiltReplies): past it they are all
// dropped, and the next repeats rebuild theirs again.
const MaxRebuiltReplyBytes = 16 << 20

// rebuiltReplies is a bounded map of rebuilt replies by stream and command id.
type rebuiltReplies struct {
	mu    sync.Mutex
	m     map[string][]byte
	bytes int
}

func (r *rebuiltReplies) get(key string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reply, ok := r.m[key]
	return reply, ok
}

func (r *rebuiltReplies) put(key string, reply []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || r.bytes+len(key)+len(reply) > MaxRebuiltReplyBytes {
		r.m, r.bytes = map[string][]byte{}, 0
	}
	if len(key)+len(reply) > MaxRebuiltReplyBytes {
		return
	}
	r.m[key] = reply
	r.bytes += len(key) + len(reply)
}

// rebuildReply reads the organization's stream for the records of commandID.
func (s *Service) rebuildReply(ctx context.Context, stream, commandID string) ([]byte, error) {
	recs, err := s.cfg.Store.ReadStream(ctx, stream, 1)
	if err != nil {
		return nil, fmt.Errorf("read the events of command %s: %w", commandID, err)
	}
	var mine []eventstore.Record
	for _, r := range recs {
		if r.CommandID == commandID {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return []byte(`{"ok":true,"result":{}}`), nil
	}
	return ReplyOf([]byte("{}"), mine)
}

// afterAppend turns an append's outcome into a reply: a duplicate command returns the first
// reply; a version conflict asks the caller to retry.
func afterAppend(reply []byte, err error) ([]byte, error) {
	switch {
	case err == nil:
		return reply, nil
	case errors.Is(err, eventstore.ErrDuplicateCommand) && reply != nil:
		return reply, nil
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		return nil, refuse(client.CodeConflict, "organization changed concurrently; retry the command")
	case errors.Is(err, eventstore.ErrStagedBusy):
		return nil, refuse(client.CodeUnavailable, "%v", eventstore.ErrStagedBusy)
	case errors.Is(err, eventstore.ErrAppendTooBig):
		// Deterministic: a retry fails the same way, so it is not unavailable.
		return nil, refuse(client.CodeInvalid, "the command is too large for this log's memtable (--log-memtable-mib): %v; split it (roster import splits CSVs)", err)
	}
	return nil, fmt.Errorf("append: %w", err)
}

func (s *Service) entry(orgID string) *orgEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.orgs[orgID]
	if !ok {
		e = &orgEntry{inflight: map[string]*pending{}}
		s.orgs[orgID] = e
	}
	return e
}

// forgetIfAbsent drops the entry of an organization that does not exist (or whose state is
// not loaded) when no command of it is in flight, so that naming unknown organizations costs
// no memory that stays. A command that still holds the entry may finish with it: a new entry
// starts from the log, and the append's expected version keeps the two from both writing.
func (s *Service) forgetIfAbsent(orgID string, e *orgEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orgs[orgID] != e {
		return
	}
	// Called with the scheduler's lock held: never wait here for an entry someone is using
	// (a warm-up fold may hold it for long); it is then simply kept.
	if !e.mu.TryLock() {
		return
	}
	defer e.mu.Unlock()
	if len(e.inflight) == 0 && (!e.loaded || e.state == nil || !e.state.Exists()) {
		delete(s.orgs, orgID)
	}
}

// load rebuilds an organization's state from its stream on first use.
func (s *Service) load(ctx context.Context, entry *orgEntry, orgID string) error {
	if entry.loaded {
		return nil
	}
	state, err := LoadOrg(ctx, s.cfg.Store, s.cfg.Presets, orgID)
	if err != nil {
		return s.haltedOver(err)
	}
	entry.state, entry.loaded = state, true
	return nil
}

// LoadOrg folds an organization's stream into its state.
func LoadOrg(ctx context.Context, store eventstore.Store, presets domain.Presets, orgID string) (*domain.Org, error) {
	state := domain.NewOrg(orgID, presets)
	records, err := store.ReadStream(ctx, StreamOf(orgID), 1)
	if err != nil {
		return nil, fmt.Errorf("load organization %s: %w", orgID, err)
	}
	for _, r := range records {
		if err := fold(state, r); err != nil {
			return nil, fmt.Errorf("load organization %s: %w", orgID, err)
		}
	}
	return state, nil
}

// fold applies one record of an organization's stream to its state. A stream read from the
// log starts with the organization's creation and has no second one: a record out of that
// order (a damaged log) is refused as damage rather than folded into a state it cannot apply to.
func fold(state *domain.Org, r eventstore.Record) error {
	ev, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return fmt.Errorf("position %d: %w", r.Position, err)
	}
	_, created := ev.(*domain.OrganizationCreated)
	if first := state.Version == 0; created != first {
		what := "before the organization's creation"
		if created {
			what = "a second creation"
		}
		return fmt.Errorf("%w: position %d: %s is %s", eventstore.ErrCorruptLog, r.Position, r.Type, what)
	}
	domain.Evolve(state, ev)
	return nil
}

// fillIDs gives create commands that omit their id a UUIDv7 (ids a command creates inside
// the domain, invitations and partners' admin invitations, come from the same generator there).
func (s *Service) fillIDs(cmd domain.Command) {
	fill := func(id *string) {
		if *id == "" {
			*id = s.cfg.NewID()
		}
	}
	switch c := cmd.(type) {
	case *domain.CreateOrganization:
		fill(&c.OrgID)
	case *domain.CreateProject:
		fill(&c.ProjectID)
	case *domain.CreateWorkgroup:
		fill(&c.GroupID)
	case *domain.CreateTrack:
		fill(&c.TrackID)
	case *domain.AddPartner:
		fill(&c.PartnerID)
	}
}

func (s *Service) dryRunReply(ctx context.Context, state *domain.Org, out domain.Outcome) ([]byte, error) {
	head, err := s.cfg.Store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("read head: %w", err)
	}
	planned := make([]client.PlannedEvent, 0, len(out.Events))
	for _, ev := range out.Events {
		data, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", ev.EventType(), err)
		}
		planned = append(planned, client.PlannedEvent{Type: ev.EventType(), Data: data})
	}
	result := out.Result
	if result == nil {
		result = domain.NoResult{}
	}
	changes := []client.PermissionChange{}
	for _, c := range domain.PermissionChanges(state, out.Events) {
		changes = append(changes, client.PermissionChange(c))
	}
	return json.Marshal(client.CommandReply{OK: true, DryRun: true, Position: head, Planned: planned,
		Changes: changes, Result: mustJSON(result)})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode reply: %v", err))
	}
	return b
}

// refuse builds a refusal with its wire code.
func refuse(code, format string, args ...any) error { return edge.Refuse(code, format, args...) }

// Warm folds every organization's stream from the log in one pass and installs the states
// not yet loaded, so the first command of an organization after a restart does not fold its
// stream. It runs beside the service (commands that arrive first load their state
// themselves); a state whose stream moved on during the pass is left to load on use.
func (s *Service) Warm(ctx context.Context) error {
	states := map[string]*domain.Org{}
	err := s.cfg.Store.Scan(ctx, 1, func(r eventstore.Record) error {
		if r.OrgID == "" || r.Stream != StreamOf(r.OrgID) {
			return nil
		}
		st := states[r.OrgID]
		if st == nil {
			st = domain.NewOrg(r.OrgID, s.cfg.Presets)
			states[r.OrgID] = st
		}
		if err := fold(st, r); err != nil {
			return fmt.Errorf("warm organization %s: %w", r.OrgID, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("warm organization states: %w", err)
	}
	for id, st := range states {
		entry := s.entry(id)
		entry.mu.Lock()
		if !entry.loaded {
			v, err := s.cfg.Store.StreamVersion(ctx, StreamOf(id))
			if err == nil && v == st.Version {
				entry.state, entry.loaded = st, true
			}
		}
		entry.mu.Unlock()
	}
	return nil
}
