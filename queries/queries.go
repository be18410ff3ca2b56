package queries

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"roster/client"
	"roster/domain"
	"roster/internal/caller"
	"roster/internal/edge"
	"roster/internal/pace"
	"roster/projections"
)

// Query names of API.md.
const (
	QCheck           = client.QCheck
	QPermissions     = client.QPermissions
	QWhoCan          = client.QWhoCan
	QListMembers     = client.QListMembers
	QListProjects    = client.QListProjects
	QGetProject      = client.QGetProject
	QListInvitations = client.QListInvitations
	QCatalog         = client.QCatalog
	QAudit           = client.QAudit
	QAccessAt        = client.QAccessAt
	QStatus          = client.QStatus
)

// QueryNames lists every query.
func QueryNames() []string { return client.QueryNames() }

// Defaults of the read-your-writes wait.
const (
	DefaultWait = 2 * time.Second
	MaxWait     = 30 * time.Second
	MaxBody     = 1 << 20
)

// Config wires the query side.
type Config struct {
	// Members answers ListMembers, ListProjects, GetProject, ListInvitations and Catalog;
	// Permissions answers Check, Permissions and WhoCan.
	Members, Permissions *projections.View
	// History serves Audit, AccessAt, Check explanations and the head for Status.
	History projections.History
	// Index answers the as-of questions from posting lists over History; nil builds one
	// over History (in memory, caught up from the log on use).
	Index   *projections.HistoryIndex
	Presets domain.Presets
	Now     func() time.Time
	Logger  *slog.Logger
	// DeadLetters counts events sent to the dead-letter subject (for Status).
	DeadLetters func() uint64
	// Relay reports the relay's state (for Status), in a process that has the log.
	Relay func() client.RelayStatus
	// Alarm reports a damage found in the log after start ("" none; status.go).
	Alarm func() string
	// Policy reads the caller of each request from the server's stamp; nil answers every
	// request as an anonymous caller of the insecure mode.
	Policy *caller.Policy
	// MaxWaiters bounds the queries waiting at once (DefaultMaxWaiters when 0).
	MaxWaiters int
	// MaxPayload is the connection's max payload: a larger reply becomes an error naming it
	// (0: not checked).
	MaxPayload int64
	// Pacer, if set, is told of every query answered on the subscription's goroutine, so that
	// bulk work (an import) gives way to it (package pace).
	Pacer *pace.Pacer
}

// Queries answers roster.query.<Query>.
type Queries struct {
	cfg   Config
	table map[string]query
}

// answerFunc decodes one query's request and answers it; with mayBlock false it returns
// errWouldBlock instead of waiting for min_position or reading the log.
type answerFunc func(ctx context.Context, body []byte, mayBlock bool) (uint64, any, error)

// query is one row of the query table.
type query struct {
	answer answerFunc
	// blocks: the query always reads the log, so it is never tried on the subscription's
	// goroutine.
	blocks bool
}

// NewQueries builds the query side.
func NewQueries(cfg Config) (*Queries, error) {
	var errs []error
	if cfg.Members == nil || cfg.Permissions == nil {
		errs = append(errs, errors.New("queries: the members and permissions views are required"))
	}
	if cfg.History == nil {
		errs = append(errs, errors.New("queries: a history (the log or the stream) is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Index == nil {
		cfg.Index = projections.NewHistoryIndex(cfg.History)
	}
	cfg.Members.EnableMemberIndex()
	q := &Queries{cfg: cfg}
	q.table = map[string]query{
		QCheck:           {answer: decoded(q.check)},
		QPermissions:     {answer: decoded(q.permissions)},
		QWhoCan:          {answer: decoded(q.whoCan)},
		QListMembers:     {answer: decoded(q.listMembers)},
		QListProjects:    {answer: decoded(q.listProjects)},
		QGetProject:      {answer: decoded(q.getProject)},
		QListInvitations: {answer: decoded(q.listInvitations)},
		QCatalog:         {answer: decoded(q.catalog)},
		QAudit:           {answer: decoded(q.audit), blocks: true},
		QAccessAt:        {answer: decoded(q.accessAt), blocks: true},
		QStatus:          {answer: decoded(q.status), blocks: true},
	}
	return q, nil
}

func fail(code, format string, args ...any) error { return edge.Refuse(code, format, args...) }

// errWouldBlock stops a query asked with mayBlock false before it waits or reads the log.
var errWouldBlock = errors.New("query would block")

// Consistency carries the read-your-writes fields every query accepts (MinPosition and
// WaitMS of each client request).
type Consistency struct {
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// Blocks reports whether a query always reads the log (and so is never worth trying on the
// subscription's goroutine); unknown names do not.
func (q *Queries) Blocks(name string) bool { return q.table[name].blocks }

// Execute answers one query by name, waiting and reading the log as it needs; code is "" on
// success.
func (q *Queries) Execute(ctx context.Context, name string, body []byte) ([]byte, string) {
	reply, code, _ := q.Answer(ctx, name, body, true)
	return reply, code
}

// Answer answers one query by name; code is "" on success. With mayBlock false it answers
// only what the views hold at once: a query that would wait for min_position or read the
// log is left unanswered (answered false) to be asked again with mayBlock true.
func (q *Queries) Answer(ctx context.Context, name string, body []byte, mayBlock bool) (reply []byte, code string, answered bool) {
	pos, result, err := q.execute(ctx, name, body, mayBlock)
	if errors.Is(err, errWouldBlock) {
		return nil, "", false
	}
	if err != nil {
		body, code := edge.ErrorBody(err)
		return body, code, true
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return client.ErrorReply(client.CodeUnavailable, "encode result: "+err.Error()), client.CodeUnavailable, true
	}
	// The envelope is written around the result directly: marshalling a json.RawMessage
	// would scan the whole result once more.
	out := make([]byte, 0, len(raw)+48)
	out = append(out, `{"ok":true,"position":`...)
	out = strconv.AppendUint(out, pos, 10)
	out = append(out, `,"result":`...)
	out = append(out, raw...)
	out = append(out, '}')
	return out, "", true
}

func (q *Queries) execute(ctx context.Context, name string, body []byte, mayBlock bool) (uint64, any, error) {
	if len(body) > MaxBody {
		return 0, nil, fail(client.CodeInvalid, "request body is %d bytes; the limit is %d", len(body), MaxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	qu, ok := q.table[name]
	if !ok {
		return 0, nil, fail(client.CodeInvalid, "unknown query %q; known queries: %s", name, strings.Join(QueryNames(), ", "))
	}
	if qu.blocks && !mayBlock {
		return 0, nil, errWouldBlock
	}
	return qu.answer(ctx, body, mayBlock)
}

// decoded makes an answerFunc that decodes the request (the client's type of the same name)
// strictly, checks its wait_ms (checkWaitMS), then answers it.
func decoded[R any](answer func(context.Context, R, bool) (uint64, any, error)) answerFunc {
	waitField, hasWait := reflect.TypeFor[R]().FieldByName("WaitMS")
	hasWait = hasWait && waitField.Type.Kind() == reflect.Int && len(waitField.Index) == 1
	return func(ctx context.Context, body []byte, mayBlock bool) (uint64, any, error) {
		var req R
		if err := edge.DecodeStrict(body, &req); err != nil {
			return 0, nil, fail(client.CodeInvalid, "%v", err)
		}
		if hasWait {
			if err := checkWaitMS(reflect.ValueOf(&req).Elem().FieldByIndex(waitField.Index).Int()); err != nil {
				return 0, nil, err
			}
		}
		return answer(ctx, req, mayBlock)
	}
}

// checkWaitMS refuses a wait_ms outside 0 (the default, DefaultWait) to MaxWait in
// milliseconds (README "Limits").
func checkWaitMS(ms int64) error {
	if ms < 0 || ms > MaxWait.Milliseconds() {
		return fail(client.CodeInvalid, "wait_ms %d is out of range: 0 (the default, %d) to %d milliseconds (MaxWait)", ms, DefaultWait.Milliseconds(), MaxWait.Milliseconds())
	}
	return nil
}

// wait is how long a query waits for min_position: DefaultWait when WaitMS is 0, else WaitMS
// milliseconds, never more than MaxWait (WaitMS was checked when decoded: checkWaitMS).
func (c Consistency) wait() time.Duration {
	if c.WaitMS <= 0 || int64(c.WaitMS) > MaxWait.Milliseconds() {
		return DefaultWait
	}
	return time.Duration(c.WaitMS) * time.Millisecond
}

// await waits until v has applied the request's min_position (read-your-writes).
func (q *Queries) await(ctx context.Context, v *projections.View, c Consistency, mayBlock bool) error {
	if c.MinPosition == 0 || v.Position() >= c.MinPosition {
		return nil
	}
	if !mayBlock {
		return errWouldBlock
	}
	wait := c.wait()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := v.WaitFor(wctx, c.MinPosition); err != nil {
		return fail(client.CodeUnavailable, "view %s is at position %d, not yet at min_position %d after %s; retry", v.Name(), v.Position(), c.MinPosition, wait)
	}
	return nil
}

func checkID(field, v string, required bool) error { return edge.CheckID(field, v, required) }

// validScope checks a request's organization (required) and its optional project and track.
func validScope(orgID, projectID, trackID string) error {
	return errors.Join(checkID("org_id", orgID, true), checkID("project_id", projectID, false), checkID("track_id", trackID, false))
}

// scopeOf is the domain's scope of a request's optional project and track.
func scopeOf(projectID, trackID string) domain.Scope {
	return domain.Scope{ProjectID: projectID, TrackID: trackID}
}

// readOrg waits for consistency and runs fn on the organization's state from v; an
// organization the caller may not reach is not found (tenancy.go).
func (q *Queries) readOrg(ctx context.Context, v *projections.View, c Consistency, mayBlock bool, orgID string, fn func(o *domain.Org) (any, error)) (uint64, any, error) {
	if err := q.await(ctx, v, c, mayBlock); err != nil {
		return 0, nil, err
	}
	who := askerOf(ctx)
	var pos uint64
	var out any
	err := v.Read(orgID, func(o *domain.Org, position uint64) error {
		pos = position
		if !who.reaches(o) {
			return orgNotFound(orgID)
		}
		var err error
		out, err = fn(o)
		return err
	})
	return pos, out, err
}

// eachOrg waits for consistency, then runs fn over every organization of v (only orgID's when
// given, which must exist) under the read lock; it returns the view's position. Only the
// organizations the caller may reach are visited; an orgID it may not reach is not found.
func (q *Queries) eachOrg(ctx context.Context, v *projections.View, c Consistency, mayBlock bool, orgID string, fn func(id string, o *domain.Org)) (uint64, error) {
	if err := q.await(ctx, v, c, mayBlock); err != nil {
		return 0, err
	}
	who := askerOf(ctx)
	var pos uint64
	err := v.ReadAll(func(orgs map[string]*domain.Org, position uint64) error {
		pos = position
		if orgID != "" {
			o := orgs[orgID]
			if !who.reaches(o) {
				return orgNotFound(orgID)
			}
			fn(orgID, o)
			return nil
		}
		for id, o := range orgs {
			if who.reaches(o) {
				fn(id, o)
			}
		}
		return nil
	})
	return pos, err
}

// pageLimit is a request's limit: DefaultLimit when unset (0); a negative limit or one over
// MaxLimit is refused (README "Limits").
func pageLimit(n int) (int, error) {
	switch {
	case n < 0 || n > MaxLimit:
		return 0, fail(client.CodeInvalid, "limit %d is out of range: 0 (the default) to %d rows per page (MaxLimit); ask for the next page with the page token", n, MaxLimit)
	case n == 0:
		return DefaultLimit, nil
	}
	return n, nil
}

// Paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Index is the history index the as-of queries read (roster rebuild rebuilds it too).
func (q *Queries) Index() *projections.HistoryIndex { return q.cfg.Index }
