package projections

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/edge"
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
func QueryNames() []string {
	return []string{QCheck, QPermissions, QWhoCan, QListMembers, QListProjects, QGetProject, QListInvitations, QCatalog, QAudit, QAccessAt, QStatus}
}

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
	Members, Permissions *View
	// History serves Audit, AccessAt, Check explanations and the head for Status.
	History History
	Presets domain.Presets
	Now     func() time.Time
	Logger  *slog.Logger
	// DeadLetters counts events sent to the dead-letter subject (for Status).
	DeadLetters func() uint64
}

// Queries answers roster.query.<Query>.
type Queries struct {
	cfg Config
}

// NewQueries builds the query side.
func NewQueries(cfg Config) (*Queries, error) {
	var errs []error
	if cfg.Members == nil || cfg.Permissions == nil {
		errs = append(errs, errors.New("projections: the members and permissions views are required"))
	}
	if cfg.History == nil {
		errs = append(errs, errors.New("projections: a history (the log or the stream) is required"))
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
	return &Queries{cfg: cfg}, nil
}

func fail(code, format string, args ...any) error { return edge.Refuse(code, format, args...) }

func codeOf(err error) (string, string) { return edge.CodeOf(err) }

// errWouldBlock stops a query answered on the subscription's own goroutine before it waits
// or reads the log; the query is then answered again on a goroutine of its own.
var errWouldBlock = errors.New("query would block")

type inlineKey struct{}

// inline reports whether the query runs on the subscription's goroutine and must not block.
func inline(ctx context.Context) bool { return ctx.Value(inlineKey{}) != nil }

// Consistency carries the read-your-writes fields every query accepts.
type Consistency struct {
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// Execute answers one query by name; code is "" on success.
func (q *Queries) Execute(ctx context.Context, name string, body []byte) ([]byte, string) {
	pos, result, err := q.execute(ctx, name, body)
	if errors.Is(err, errWouldBlock) {
		return nil, errWouldBlock.Error()
	}
	if err != nil {
		code, msg := codeOf(err)
		return client.ErrorReply(code, msg), code
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return client.ErrorReply(client.CodeUnavailable, "encode result: "+err.Error()), client.CodeUnavailable
	}
	// The envelope is written around the result directly: marshalling a json.RawMessage
	// would scan the whole result once more.
	out := make([]byte, 0, len(raw)+48)
	out = append(out, `{"ok":true,"position":`...)
	out = strconv.AppendUint(out, pos, 10)
	out = append(out, `,"result":`...)
	out = append(out, raw...)
	out = append(out, '}')
	return out, ""
}

func (q *Queries) execute(ctx context.Context, name string, body []byte) (uint64, any, error) {
	if len(body) > MaxBody {
		return 0, nil, fail(client.CodeInvalid, "request body is %d bytes; the limit is %d", len(body), MaxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	switch name {
	case QCheck:
		return runQuery(ctx, q, body, q.check)
	case QPermissions:
		return runQuery(ctx, q, body, q.permissions)
	case QWhoCan:
		return runQuery(ctx, q, body, q.whoCan)
	case QListMembers:
		return runQuery(ctx, q, body, q.listMembers)
	case QListProjects:
		return runQuery(ctx, q, body, q.listProjects)
	case QGetProject:
		return runQuery(ctx, q, body, q.getProject)
	case QListInvitations:
		return runQuery(ctx, q, body, q.listInvitations)
	case QCatalog:
		return runQuery(ctx, q, body, q.catalog)
	case QAudit:
		return runQuery(ctx, q, body, q.audit)
	case QAccessAt:
		return runQuery(ctx, q, body, q.accessAt)
	case QStatus:
		return runQuery(ctx, q, body, q.status)
	}
	return 0, nil, fail(client.CodeInvalid, "unknown query %q; known queries: %s", name, strings.Join(QueryNames(), ", "))
}

// request is implemented by every query's request type.
type request interface {
	consistency() Consistency
}

func (c Consistency) consistency() Consistency { return c }

// runQuery decodes the request strictly and runs the answer.
func runQuery[R request](ctx context.Context, q *Queries, body []byte, answer func(context.Context, R) (uint64, any, error)) (uint64, any, error) {
	var req R
	if err := edge.DecodeStrict(body, &req); err != nil {
		return 0, nil, fail(client.CodeInvalid, "%v", err)
	}
	return answer(ctx, req)
}

// await waits until v has applied the request's min_position (read-your-writes).
func (q *Queries) await(ctx context.Context, v *View, c Consistency) error {
	if c.MinPosition == 0 || v.Position() >= c.MinPosition {
		return nil
	}
	if inline(ctx) {
		return errWouldBlock
	}
	wait := DefaultWait
	if c.WaitMS > 0 {
		wait = min(time.Duration(c.WaitMS)*time.Millisecond, MaxWait)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := v.WaitFor(wctx, c.MinPosition); err != nil {
		return fail(client.CodeUnavailable, "view %s is at position %d, not yet at min_position %d after %s; retry", v.Name(), v.Position(), c.MinPosition, wait)
	}
	return nil
}

func checkID(field, v string, required bool) error { return edge.CheckID(field, v, required) }

// scopeReq names an organization and an optional project and track.
type scopeReq struct {
	OrgID     string `json:"org_id"`
	ProjectID string `json:"project_id,omitempty"`
	TrackID   string `json:"track_id,omitempty"`
}

func (s scopeReq) validate() error {
	return errors.Join(checkID("org_id", s.OrgID, true), checkID("project_id", s.ProjectID, false), checkID("track_id", s.TrackID, false))
}

func (s scopeReq) scope() domain.Scope {
	return domain.Scope{ProjectID: s.ProjectID, TrackID: s.TrackID}
}

// readOrg waits for consistency and runs fn on the organization's state from v.
func (q *Queries) readOrg(ctx context.Context, v *View, c Consistency, orgID string, fn func(o *domain.Org) (any, error)) (uint64, any, error) {
	if err := q.await(ctx, v, c); err != nil {
		return 0, nil, err
	}
	var pos uint64
	var out any
	err := v.Read(orgID, func(o *domain.Org, position uint64) error {
		pos = position
		if o == nil || !o.Exists() {
			return fail(client.CodeNotFound, "organization %s not found", orgID)
		}
		var err error
		out, err = fn(o)
		return err
	})
	return pos, out, err
}

// eachOrg waits for consistency, then runs fn over every organization of v (only orgID's when
// given, which must exist) under the read lock; it returns the view's position.
func (q *Queries) eachOrg(ctx context.Context, v *View, c Consistency, orgID string, fn func(id string, o *domain.Org)) (uint64, error) {
	if err := q.await(ctx, v, c); err != nil {
		return 0, err
	}
	var pos uint64
	err := v.ReadAll(func(orgs map[string]*domain.Org, position uint64) error {
		pos = position
		if orgID != "" {
			o, ok := orgs[orgID]
			if !ok || !o.Exists() {
				return fail(client.CodeNotFound, "organization %s not found", orgID)
			}
			fn(orgID, o)
			return nil
		}
		for id, o := range orgs {
			if o.Exists() {
				fn(id, o)
			}
		}
		return nil
	})
	return pos, err
}

// ---- Check, Permissions, WhoCan ----

// contextAttributes turns Check's context into the resource attributes conditions read:
// strings as they are, numbers and booleans in their JSON form; nested values are refused.
func contextAttributes(c map[string]any) (map[string]string, error) {
	if len(c) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(c))
	for k, v := range c {
		switch x := v.(type) {
		case nil:
		case string:
			out[k] = x
		case bool:
			out[k] = strconv.FormatBool(x)
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return nil, fail(client.CodeInvalid, "context.%s must be a string, number or boolean (e.g. {\"created_by\": \"u1\", \"task_type\": \"qa\"})", k)
		}
	}
	return out, nil
}

type checkReq struct {
	Consistency
	scopeReq
	UserID     string         `json:"user_id"`
	Permission string         `json:"permission"`
	Context    map[string]any `json:"context,omitempty"`
	Explain    bool           `json:"explain,omitempty"`
}

type checkResult struct {
	Decision   string `json:"decision"`
	Permission string `json:"permission"`
	Via        any    `json:"via"`
	Position   uint64 `json:"explained_at,omitempty"`
}

func (q *Queries) check(ctx context.Context, r checkReq) (uint64, any, error) {
	if err := errors.Join(r.validate(), checkID("user_id", r.UserID, true)); err != nil {
		return 0, nil, err
	}
	if r.Permission == "" {
		return 0, nil, fail(client.CodeInvalid, "permission is required")
	}
	attrs, err := contextAttributes(r.Context)
	if err != nil {
		return 0, nil, err
	}
	if err := q.await(ctx, q.cfg.Permissions, r.Consistency); err != nil {
		return 0, nil, err
	}
	d, perm, pos, err := q.cfg.Permissions.Check(r.OrgID, r.UserID, r.Permission, r.scope(), attrs)
	out := checkResult{Decision: d.Decision, Permission: perm, Via: d.Via}
	if err != nil || !r.Explain {
		return pos, out, err
	}
	if inline(ctx) {
		return 0, nil, errWouldBlock
	}
	// Explanations read the organization's events up to the answer's position.
	res := out
	recs, err := q.cfg.History.OrgEvents(ctx, r.OrgID)
	if err != nil {
		return 0, nil, fail(client.CodeUnavailable, "read the history of %s: %v", r.OrgID, err)
	}
	recs = slices.DeleteFunc(recs, func(rec eventstore.Record) bool { return rec.Position > pos })
	res.Via = buildLineage(recs).explain(r.UserID, res.Via.([]domain.Via))
	res.Position = pos
	return pos, res, nil
}

type permissionsReq struct {
	Consistency
	scopeReq
	UserID string `json:"user_id"`
}

func (q *Queries) permissions(ctx context.Context, r permissionsReq) (uint64, any, error) {
	if err := errors.Join(r.validate(), checkID("user_id", r.UserID, true)); err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Permissions, r.Consistency, r.OrgID, func(o *domain.Org) (any, error) {
		allowed, conditional, err := o.Permissions(r.UserID, r.scope())
		if err != nil {
			return nil, err
		}
		return client.PermissionsResult{Permissions: allowed, Conditional: conditional, Roles: o.MemberRolesAt(r.UserID, r.scope())}, nil
	})
}

type whoCanReq struct {
	Consistency
	scopeReq
	Permission string `json:"permission"`
}

func (q *Queries) whoCan(ctx context.Context, r whoCanReq) (uint64, any, error) {
	if err := r.validate(); err != nil {
		return 0, nil, err
	}
	if r.Permission == "" {
		return 0, nil, fail(client.CodeInvalid, "permission is required")
	}
	return q.readOrg(ctx, q.cfg.Permissions, r.Consistency, r.OrgID, func(o *domain.Org) (any, error) {
		users, err := o.WhoCan(r.Permission, r.scope())
		if err != nil {
			return nil, err
		}
		return client.WhoCanResult{Users: users}, nil
	})
}

// ---- ListMembers ----

type listMembersReq struct {
	Consistency
	scopeReq
	Viewer    string `json:"viewer,omitempty"`
	Q         string `json:"q,omitempty"`
	Role      string `json:"role,omitempty"`
	Status    string `json:"status,omitempty"`
	Limit     int    `json:"limit,omitempty"`
	PageToken string `json:"page_token,omitempty"`
}

// MemberEntry is one row of ListMembers (the wire's client.Member) with its sort key.
type MemberEntry struct {
	client.Member
	key string
}

// Member statuses beyond the invitation statuses.
const (
	MemberActive = "active"
)

// pageLimit is a request's limit: the default when unset, at most MaxLimit.
func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fail(client.CodeInvalid, "limit must be positive")
	case n == 0:
		return DefaultLimit, nil
	}
	return min(n, MaxLimit), nil
}

// Paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

func (q *Queries) listMembers(ctx context.Context, r listMembersReq) (uint64, any, error) {
	if err := errors.Join(r.validate(), checkID("viewer", r.Viewer, false)); err != nil {
		return 0, nil, err
	}
	limit, err := pageLimit(r.Limit)
	if err != nil {
		return 0, nil, err
	}
	after := ""
	if r.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(r.PageToken)
		if err != nil || len(b) < 3 || (b[0] != '1' && b[0] != '2') || b[1] != ':' {
			return 0, nil, fail(client.CodeInvalid, "page_token is not one this service issued; pass next_page_token from the previous page")
		}
		after = string(b)
	}
	return q.readOrg(ctx, q.cfg.Members, r.Consistency, r.OrgID, func(o *domain.Org) (any, error) {
		entries, err := memberEntries(o, r.scope(), q.cfg.Now())
		if err != nil {
			return nil, err
		}
		if r.Viewer != "" && r.ProjectID != "" {
			if partner := viewerPartner(o, r.ProjectID, r.Viewer); partner != "" {
				entries = slices.DeleteFunc(entries, func(e MemberEntry) bool { return e.PartnerID != partner })
			}
		}
		roleID := r.Role
		if roleID != "" {
			if role, ok := o.Role(roleID); ok {
				roleID = role.ID
			}
		}
		needle := strings.ToLower(strings.TrimSpace(r.Q))
		page := []MemberEntry{}
		next := ""
		for _, e := range entries {
			if e.key <= after {
				continue
			}
			if needle != "" && !matchesSearch(o, e, needle) {
				continue
			}
			if roleID != "" && !slices.Contains(e.Roles, roleID) {
				continue
			}
			if r.Status != "" && e.Status != r.Status && !(r.Status == MemberActive && e.Status == domain.InviteAccepted) {
				continue
			}
			if len(page) == limit {
				next = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].key))
				break
			}
			page = append(page, e)
		}
		members := make([]client.Member, len(page))
		for i, e := range page {
			members[i] = e.Member
		}
		return client.MembersPage{Members: members, NextPageToken: next}, nil
	})
}

// matchesSearch is ListMembers' q: a substring, case-insensitively, of the name, the e-mail,
// the user or group id, or a role's id or label (Dataloop: "search by name, email, or role").
func matchesSearch(o *domain.Org, e MemberEntry, needle string) bool {
	hay := []string{e.Name, e.Email, e.UserID, e.GroupID}
	for _, id := range e.Roles {
		hay = append(hay, id)
		if r, ok := o.Role(id); ok {
			hay = append(hay, r.Label)
		}
	}
	for _, h := range hay {
		if strings.Contains(strings.ToLower(h), needle) {
			return true
		}
	}
	return false
}

func viewerPartner(o *domain.Org, projectID, viewer string) string {
	p, ok := o.Projects[projectID]
	if !ok {
		return ""
	}
	if m, ok := p.Members[domain.Principal{UserID: viewer}.Key()]; ok {
		return m.PartnerID
	}
	return ""
}

// memberEntries lists the members and open invitations of a scope, sorted by a stable key.
// A member who joined by invitation is "accepted", one added directly "active"; invitations
// not accepted show as pending, rejected or expired (from the moment they expire).
func memberEntries(o *domain.Org, s domain.Scope, now time.Time) ([]MemberEntry, error) {
	var out []MemberEntry
	status := func(invitation string) string {
		if invitation != "" {
			return domain.InviteAccepted
		}
		return MemberActive
	}
	if s.ProjectID == "" {
		for id, m := range o.Members {
			out = append(out, MemberEntry{Member: client.Member{UserID: id, Email: m.Email, Name: m.Name, Roles: []string{m.Role},
				Grants: []string{}, Status: status(m.InvitationID), InvitationID: m.InvitationID}, key: "1:" + id})
		}
	} else {
		p, ok := o.Projects[s.ProjectID]
		if !ok {
			return nil, fail(client.CodeNotFound, "project %s not found in organization %s", s.ProjectID, o.ID)
		}
		mm := p.Members
		if s.TrackID != "" {
			t, ok := p.Tracks[s.TrackID]
			if !ok {
				return nil, fail(client.CodeNotFound, "track %s not found in project %s", s.TrackID, s.ProjectID)
			}
			mm = t.Members
		}
		for key, m := range mm {
			e := MemberEntry{Member: client.Member{UserID: m.UserID, GroupID: m.GroupID, Email: m.Email, Name: m.Name,
				Roles: nonNil(m.Roles), Grants: nonNil(m.Grants), PartnerID: m.PartnerID, Guest: m.Guest,
				Status: status(m.InvitationID), InvitationID: m.InvitationID}, key: "1:" + key}
			if g, ok := o.Workgroups[m.GroupID]; ok && m.GroupID != "" {
				e.Members = sortedKeysOf(g.Members)
			}
			out = append(out, e)
		}
	}
	for id, inv := range o.Invitations {
		if inv.ProjectID != s.ProjectID || inv.TrackID != s.TrackID {
			continue
		}
		st := invitationStatus(inv, now)
		switch st {
		case domain.InviteAccepted, domain.InviteRevoked:
			continue
		}
		out = append(out, MemberEntry{Member: client.Member{UserID: inv.UserID, Email: inv.Email, Name: inv.Name, Roles: nonNil(inv.Roles),
			Grants: nonNil(inv.Grants), Status: st, PartnerID: inv.PartnerID, InvitationID: id}, key: "2:" + id})
	}
	slices.SortFunc(out, func(a, b MemberEntry) int { return strings.Compare(a.key, b.key) })
	return out, nil
}

// invitationStatus is an invitation's status at now: pending ones past their expiry are expired.
func invitationStatus(inv *domain.Invitation, now time.Time) string {
	if inv.Status == domain.InvitePending && !now.Before(inv.ExpiresAt) {
		return domain.InviteExpired
	}
	return inv.Status
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ---- ListProjects, GetProject ----

type listProjectsReq struct {
	Consistency
	UserID          string `json:"user_id"`
	OrgID           string `json:"org_id,omitempty"`
	IncludeArchived bool   `json:"include_archived,omitempty"`
}

// ProjectEntry is one row of ListProjects.
type ProjectEntry = client.ProjectEntry

func (q *Queries) listProjects(ctx context.Context, r listProjectsReq) (uint64, any, error) {
	if err := errors.Join(checkID("user_id", r.UserID, true), checkID("org_id", r.OrgID, false)); err != nil {
		return 0, nil, err
	}
	out := []ProjectEntry{}
	pos, err := q.eachOrg(ctx, q.cfg.Members, r.Consistency, r.OrgID, func(orgID string, o *domain.Org) {
		for pid, p := range o.Projects {
			if p.Status == domain.StatusDeleted || (p.Status == domain.StatusArchived && !r.IncludeArchived) {
				continue
			}
			roles := o.MemberRolesAt(r.UserID, domain.Scope{ProjectID: pid})
			if len(roles) == 0 {
				continue
			}
			out = append(out, ProjectEntry{OrgID: orgID, ProjectID: pid, Name: p.Name, Status: p.Status, Visibility: p.Visibility, Roles: roles})
		}
	})
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(out, func(a, b ProjectEntry) int {
		return strings.Compare(a.OrgID+"\x00"+a.ProjectID, b.OrgID+"\x00"+b.ProjectID)
	})
	return pos, client.ProjectsList{Projects: out}, nil
}

type getProjectReq struct {
	Consistency
	OrgID     string `json:"org_id"`
	ProjectID string `json:"project_id"`
}

func (q *Queries) getProject(ctx context.Context, r getProjectReq) (uint64, any, error) {
	if err := errors.Join(checkID("org_id", r.OrgID, true), checkID("project_id", r.ProjectID, true)); err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Members, r.Consistency, r.OrgID, func(o *domain.Org) (any, error) {
		p, ok := o.Projects[r.ProjectID]
		if !ok {
			return nil, fail(client.CodeNotFound, "project %s not found in organization %s", r.ProjectID, r.OrgID)
		}
		tracks := []client.TrackEntry{}
		for _, tid := range sortedKeysOf(p.Tracks) {
			t := p.Tracks[tid]
			tracks = append(tracks, client.TrackEntry{TrackID: t.ID, Name: t.Name, Compute: t.Compute, NotebookEnv: t.NotebookEnv, Members: len(t.Members)})
		}
		partners := []client.PartnerEntry{}
		for _, id := range sortedKeysOf(p.Partners) {
			pa := p.Partners[id]
			partners = append(partners, client.PartnerEntry{PartnerID: pa.ID, Name: pa.Name, AdminEmail: pa.AdminEmail})
		}
		res := client.Project{OrgID: o.ID, ProjectID: p.ID, Name: p.Name, Status: p.Status, Visibility: p.Visibility,
			CreatedBy: p.CreatedBy, Owners: o.Owners(p), Tracks: tracks, Partners: partners, Members: len(p.Members)}
		if o.AdminsOwnProjects() {
			res.AdminOwners = o.OrgAdmins()
		}
		return res, nil
	})
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ---- ListInvitations ----

type listInvitationsReq struct {
	Consistency
	OrgID     string `json:"org_id,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	Email     string `json:"email,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	Status    string `json:"status,omitempty"`
}

// InvitationEntry is one row of ListInvitations.
type InvitationEntry struct {
	OrgID string `json:"org_id"`
	domain.Invitation
}

func (q *Queries) listInvitations(ctx context.Context, r listInvitationsReq) (uint64, any, error) {
	if err := errors.Join(checkID("org_id", r.OrgID, false), checkID("project_id", r.ProjectID, false), checkID("user_id", r.UserID, false)); err != nil {
		return 0, nil, err
	}
	if r.OrgID == "" && r.Email == "" && r.UserID == "" {
		return 0, nil, fail(client.CodeInvalid, "give org_id, email or user_id")
	}
	now := q.cfg.Now()
	out := []InvitationEntry{}
	pos, err := q.eachOrg(ctx, q.cfg.Members, r.Consistency, r.OrgID, func(orgID string, o *domain.Org) {
		for _, inv := range o.Invitations {
			e := InvitationEntry{OrgID: orgID, Invitation: *inv}
			e.Status = invitationStatus(inv, now)
			switch {
			case r.ProjectID != "" && e.ProjectID != r.ProjectID,
				r.Email != "" && !strings.EqualFold(e.Email, r.Email),
				r.UserID != "" && e.UserID != r.UserID,
				r.Status != "" && e.Status != r.Status:
				continue
			}
			e.Roles, e.Grants = nonNil(e.Roles), nonNil(e.Grants)
			out = append(out, e)
		}
	})
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(out, func(a, b InvitationEntry) int { return strings.Compare(a.OrgID+"\x00"+a.ID, b.OrgID+"\x00"+b.ID) })
	res := client.InvitationsList{Invitations: make([]client.Invitation, len(out))}
	for i, e := range out {
		res.Invitations[i] = client.Invitation{OrgID: e.OrgID, InvitationID: e.ID, ProjectID: e.ProjectID, TrackID: e.TrackID, Email: e.Email,
			UserID: e.UserID, Name: e.Name, Roles: e.Roles, Grants: e.Grants, PartnerID: e.PartnerID, InvitedBy: e.InvitedBy,
			Status: e.Status, ExpiresAt: e.ExpiresAt, AnsweredBy: e.AnsweredBy}
	}
	return pos, res, nil
}

// ---- Catalog ----

type catalogReq struct {
	Consistency
	OrgID string `json:"org_id"`
}

func (q *Queries) catalog(ctx context.Context, r catalogReq) (uint64, any, error) {
	if err := checkID("org_id", r.OrgID, true); err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Members, r.Consistency, r.OrgID, func(o *domain.Org) (any, error) {
		perms, roles := o.Catalog()
		pre := o.Preset()
		conditions := pre.Conditions
		if conditions == nil {
			conditions = []domain.Condition{}
		}
		res := client.CatalogResult{Preset: pre.ID, Label: pre.Label, Kind: o.Kind, Categories: nonNil(pre.Categories),
			Permissions: make([]client.Permission, len(perms)), Roles: make([]client.Role, len(roles)), Conditions: make([]client.Condition, len(conditions))}
		for i, p := range perms {
			res.Permissions[i] = client.Permission{ID: p.ID, Label: p.Label, Scope: p.Scope, View: p.View, GrantOnly: p.GrantOnly}
		}
		for i, r := range roles {
			res.Roles[i] = client.Role{ID: r.ID, Label: r.Label, Description: r.Description, Scope: r.Scope, Category: r.Category,
				Permissions: r.Permissions, OwnsProjects: r.OwnsProjects, Custom: r.Custom, ProjectID: r.ProjectID}
		}
		for i, c := range conditions {
			res.Conditions[i] = client.Condition(c)
		}
		return res, nil
	})
}

// ---- Status ----

type statusReq struct {
	Consistency
	// Digests adds each view's state digest (a hash of every organization's state).
	Digests bool `json:"digests,omitempty"`
}

// ProjectionStatus is one view's progress.
type ProjectionStatus = client.ProjectionStatus

func (q *Queries) status(ctx context.Context, r statusReq) (uint64, any, error) {
	for _, v := range []*View{q.cfg.Members, q.cfg.Permissions} {
		if err := q.await(ctx, v, r.Consistency); err != nil {
			return 0, nil, err
		}
	}
	head, err := q.cfg.History.Head(ctx)
	if err != nil {
		return 0, nil, fail(client.CodeUnavailable, "read the log head: %v", err)
	}
	views := []ProjectionStatus{}
	for _, v := range []*View{q.cfg.Members, q.cfg.Permissions} {
		st := ProjectionStatus{Name: v.Name(), Position: v.Position()}
		if r.Digests {
			if st.Position, st.Digest, err = v.Digest(); err != nil {
				return 0, nil, err
			}
		}
		if head > st.Position {
			st.Lag = head - st.Position
		}
		views = append(views, st)
	}
	res := client.Status{Head: head, Projections: views}
	if q.cfg.DeadLetters != nil {
		dead := q.cfg.DeadLetters()
		res.DeadLetters = &dead
	}
	return q.cfg.Members.Position(), res, nil
}

// ---- NATS ----

// AddEndpoints registers roster.query.* on the micro service.
func (q *Queries) AddEndpoints(ctx context.Context, svc micro.Service) error {
	sem := make(chan struct{}, 1024)
	answer := func(rctx context.Context, req micro.Request) bool {
		name := strings.TrimPrefix(req.Subject(), client.QueryPrefix)
		body, code := q.Execute(rctx, name, req.Data())
		switch code {
		case errWouldBlock.Error():
			return false
		case "":
			_ = req.Respond(body)
		default:
			_ = req.Error(strconv.Itoa(client.StatusOf(code)), code, body)
		}
		return true
	}
	// Questions the views can answer at once are answered on the subscription's goroutine (a
	// goroutine per request costs a fifth of the throughput); one that must wait for
	// min_position or read the log goes to a goroutine of its own.
	inlineCtx := context.WithValue(ctx, inlineKey{}, true)
	handler := micro.HandlerFunc(func(req micro.Request) {
		name := strings.TrimPrefix(req.Subject(), client.QueryPrefix)
		if name != QAudit && name != QAccessAt && name != QStatus && answer(inlineCtx, req) {
			return
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, MaxWait+5*time.Second)
			defer cancel()
			answer(rctx, req)
		}()
	})
	return svc.AddEndpoint("queries", handler, micro.WithEndpointSubject(client.QueryPrefix+"*"),
		micro.WithEndpointMetadata(map[string]string{"description": "roster.query.<Query>: ask a question (API.md)"}))
}
