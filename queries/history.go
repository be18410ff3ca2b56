package queries

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/projections"
)

// AuditFilter selects events of one organization's trail.
type AuditFilter struct {
	ProjectID, Actor, UserID string
	Types                    []string
	Since, Until             time.Time
}

// touches reports whether an event's data names the project or user.
type touches struct {
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
	AdminID   string `json:"admin_user_id"`
	NewOwner  string `json:"new_owner"`
}

// Match reports whether a record passes the filter.
func (f AuditFilter) Match(r eventstore.Record) bool {
	if f.Actor != "" && r.Actor != f.Actor {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, r.Type) {
		return false
	}
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && r.Time.After(f.Until) {
		return false
	}
	if f.ProjectID != "" || f.UserID != "" {
		var t touches
		_ = json.Unmarshal(r.Data, &t)
		if f.ProjectID != "" && t.ProjectID != f.ProjectID {
			return false
		}
		if f.UserID != "" && t.UserID != f.UserID && t.AdminID != f.UserID {
			return false
		}
	}
	return true
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fail(client.CodeInvalid, "%s %q is not an RFC 3339 time (e.g. 2026-11-22T10:00:00Z)", field, s)
	}
	return t, nil
}

func (q *Queries) audit(ctx context.Context, r client.Audit, _ bool) (uint64, any, error) {
	var err error
	if r.Viewer, err = askerOf(ctx).viewer(r.Viewer); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(checkID("org_id", r.OrgID, true), checkID("project_id", r.ProjectID, false),
		checkID("actor", r.Actor, false), checkID("user_id", r.UserID, false), checkID("viewer", r.Viewer, false)); err != nil {
		return 0, nil, err
	}
	principal, err := parsePrincipal(r.Principal)
	if err != nil {
		return 0, nil, err
	}
	since, err := parseTime("since", r.Since)
	if err != nil {
		return 0, nil, err
	}
	until, err := parseTime("until", r.Until)
	if err != nil {
		return 0, nil, err
	}
	limit, err := pageLimit(r.Limit)
	if err != nil {
		return 0, nil, err
	}
	if err := q.awaitLog(ctx, Consistency{r.MinPosition, r.WaitMS}); err != nil {
		return 0, nil, err
	}
	if err := q.await(ctx, q.cfg.Members, Consistency{r.MinPosition, r.WaitMS}, true); err != nil {
		return 0, nil, err
	}
	aware, err := q.auditAwareness(ctx, r.OrgID, r.ProjectID, r.Viewer)
	if err != nil {
		return 0, nil, err
	}
	types := slices.Clone(r.Types)
	if r.Type != "" {
		types = append(types, r.Type)
	}
	f := AuditFilter{ProjectID: r.ProjectID, Actor: r.Actor, UserID: r.UserID, Types: types, Since: since, Until: until}
	if err := q.awaitAcknowledged(ctx, r.AfterPosition, r.WaitMS); err != nil {
		return 0, nil, err
	}
	head, err := q.cfg.History.Head(ctx)
	if err != nil {
		return 0, nil, err
	}
	if r.AfterPosition > head {
		return 0, nil, fail(client.CodeInvalid, "after_position %d is beyond the log head %d; positions name the past (min_position waits for the future)", r.AfterPosition, head)
	}
	res, err := q.auditPage(ctx, r.OrgID, f, r.AfterPosition, limit, func(rec eventstore.Record) bool { return principal.match(rec) && aware(rec) })
	if err != nil {
		return 0, nil, err
	}
	return head, res, nil
}

// auditPage reads one page of an organization's trail from the history index: it walks the
// shortest posting list of the filter's dimensions (every event, project, user, actor,
// types) from after_position (or since) up to until, keeps the positions the other lists
// hold, and reads only those records, which the filter then checks in full. It stops after
// limit+1 matches.
func (q *Queries) auditPage(ctx context.Context, orgID string, f AuditFilter, after uint64, limit int, keep func(eventstore.Record) bool) (client.AuditPage, error) {
	x := q.cfg.Index
	if err := x.CatchUp(ctx); err != nil {
		return client.AuditPage{}, fail(client.CodeUnavailable, "read the history of %s: %v", orgID, err)
	}
	if !x.Known(orgID) {
		return client.AuditPage{}, fail(client.CodeNotFound, "organization %s not found", orgID)
	}
	start, end := after+1, uint64(math.MaxUint64)
	if !f.Since.IsZero() {
		p, err := x.PositionAt(ctx, f.Since.Add(-time.Nanosecond))
		if err != nil {
			return client.AuditPage{}, fail(client.CodeUnavailable, "find the position of since: %v", err)
		}
		start = max(start, p+1)
	}
	if !f.Until.IsZero() {
		p, err := x.PositionAt(ctx, f.Until)
		if err != nil {
			return client.AuditPage{}, fail(client.CodeUnavailable, "find the position of until: %v", err)
		}
		end = p
	}
	cut := func(key string) []uint64 { return projections.UpTo(projections.From(x.List(orgID, key), start), end) }
	// Each dimension is a union of lists (only types has more than one).
	dims := [][][]uint64{{cut("A")}}
	if f.ProjectID != "" {
		dims = append(dims, [][]uint64{cut("P:" + f.ProjectID)})
	}
	if f.UserID != "" {
		dims = append(dims, [][]uint64{cut("U:" + f.UserID)})
	}
	if f.Actor != "" {
		dims = append(dims, [][]uint64{cut("C:" + f.Actor)})
	}
	if len(f.Types) > 0 {
		var ts [][]uint64
		for _, t := range f.Types {
			ts = append(ts, cut("T:"+t))
		}
		dims = append(dims, ts)
	}
	size := func(d [][]uint64) (n int) {
		for _, l := range d {
			n += len(l)
		}
		return n
	}
	best := 0
	for i, d := range dims {
		if size(d) < size(dims[best]) {
			best = i
		}
	}
	drive := newUnion(dims[best])
	others := append(slices.Clone(dims[:best]), dims[best+1:]...)
	res := client.AuditPage{Events: []client.Event{}}
	matched := 0
	batch := make([]uint64, 0, 64)
	for {
		batch = batch[:0]
		want := min(max(limit+1-matched, 16), 256)
		for len(batch) < want {
			p, ok := drive.next()
			if !ok {
				break
			}
			if inAll(others, p) {
				batch = append(batch, p)
			}
		}
		if len(batch) == 0 {
			return res, nil
		}
		recs, err := x.Records(ctx, batch)
		if err != nil {
			return client.AuditPage{}, fail(client.CodeUnavailable, "read the history of %s: %v", orgID, err)
		}
		for _, rec := range recs {
			if !f.Match(rec) || !keep(rec) {
				continue
			}
			if len(res.Events) == limit {
				res.NextAfterPosition = res.Events[len(res.Events)-1].Position
				return res, nil
			}
			res.Events = append(res.Events, client.Event(rec))
			matched++
		}
	}
}

// inAll reports whether every dimension (a union of posting lists) holds p.
func inAll(dims [][][]uint64, p uint64) bool {
	for _, d := range dims {
		if !slices.ContainsFunc(d, func(l []uint64) bool { return projections.Contains(l, p) }) {
			return false
		}
	}
	return true
}

// union walks the sorted union of a few posting lists.
type union struct{ lists [][]uint64 }

func newUnion(lists [][]uint64) *union { return &union{lists: slices.Clone(lists)} }

func (u *union) next() (uint64, bool) {
	best := -1
	for i, l := range u.lists {
		if len(l) > 0 && (best < 0 || l[0] < u.lists[best][0]) {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	p := u.lists[best][0]
	for i, l := range u.lists {
		if len(l) > 0 && l[0] == p {
			u.lists[i] = l[1:]
		}
	}
	return p, true
}

// awaitAcknowledged waits, as for min_position, for a position beyond the log's head that the
// log has acknowledged: while another organization's large import is chained (eventstore
// staged.go), the commands acknowledged meanwhile are readable only once it is whole. A
// position never written is left to the caller's refusal, at once.
func (q *Queries) awaitAcknowledged(ctx context.Context, pos uint64, waitMS int) error {
	d, ok := q.cfg.History.(projections.Acknowledged)
	if !ok {
		return nil
	}
	if durable, err := d.Durable(ctx); err != nil || pos > durable {
		return nil
	}
	return q.awaitLog(ctx, Consistency{MinPosition: pos, WaitMS: waitMS})
}

// awaitLog waits for the log itself to reach min_position.
func (q *Queries) awaitLog(ctx context.Context, c Consistency) error {
	if c.MinPosition == 0 {
		return nil
	}
	wait := c.wait()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := q.cfg.History.WaitFor(wctx, c.MinPosition); err != nil {
		return fail(client.CodeUnavailable, "the log has not reached min_position %d after %s", c.MinPosition, wait)
	}
	return nil
}

// orgFactsAt folds, from the history index, the organization's events up to pos that decide
// userID's access at projectID (projections.HistoryIndex.Facts): the state answers that
// user's permissions and roles there exactly as the fold of the whole stream would. known
// reports whether the organization has any event in the log.
func (q *Queries) orgFactsAt(ctx context.Context, orgID, userID, projectID string, pos uint64) (o *domain.Org, known bool, err error) {
	x := q.cfg.Index
	if err := x.CatchUp(ctx); err != nil {
		return nil, false, fail(client.CodeUnavailable, "read the history of %s: %v", orgID, err)
	}
	recs, err := x.Facts(ctx, orgID, userID, projectID, pos, false)
	if err != nil {
		return nil, false, fail(client.CodeUnavailable, "read the history of %s: %v", orgID, err)
	}
	return foldRecords(orgID, q.cfg.Presets, recs, x.Event), x.Known(orgID), nil
}

// foldRecords folds records (of one organization, in log order) into a fresh state, decoding
// them with decode (domain.DecodeEvent, or the history index's Event).
func foldRecords(orgID string, presets domain.Presets, recs []eventstore.Record, decode func(eventstore.Record) (domain.Event, error)) *domain.Org {
	o := domain.NewOrg(orgID, presets)
	for _, r := range recs {
		ev, err := decode(r)
		if err != nil {
			continue
		}
		domain.Evolve(o, ev)
	}
	return o
}

// OrgAt folds an organization's whole stream up to and including position (the reference
// the history index is tested against).
func OrgAt(ctx context.Context, h projections.History, presets domain.Presets, orgID string, position uint64) (*domain.Org, error) {
	o := domain.NewOrg(orgID, presets)
	records, err := h.OrgEvents(ctx, orgID)
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		if r.Position > position {
			break
		}
		ev, err := domain.DecodeEvent(r.Type, r.Data)
		if err != nil {
			continue
		}
		domain.Evolve(o, ev)
	}
	return o, nil
}

func (q *Queries) accessAt(ctx context.Context, r client.AccessAt, _ bool) (uint64, any, error) {
	var err error
	if r.UserID, err = askerOf(ctx).subject("user_id", r.UserID); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(validScope(r.OrgID, r.ProjectID, r.TrackID), checkID("user_id", r.UserID, true)); err != nil {
		return 0, nil, err
	}
	if (r.At == "") == (r.Position == 0) {
		return 0, nil, fail(client.CodeInvalid, "give at (RFC 3339) or position, exactly one")
	}
	if err := q.awaitLog(ctx, Consistency{r.MinPosition, r.WaitMS}); err != nil {
		return 0, nil, err
	}
	// Access is decided on the organization as it is now: an account whose grant was revoked
	// no longer reads its past either.
	if err := q.reachable(ctx, q.cfg.Members, r.OrgID); err != nil {
		return 0, nil, err
	}
	// A person's private project they may not see (judged now, like the organization) is an
	// unknown project, which AccessAt answers with the empty result of "no access then".
	hidden := q.hidesProject(ctx, q.cfg.Members, r.OrgID, r.ProjectID)
	pos := r.Position
	if pos != 0 {
		if err := q.awaitAcknowledged(ctx, pos, r.WaitMS); err != nil {
			return 0, nil, err
		}
		head, err := q.cfg.History.Head(ctx)
		if err != nil {
			return 0, nil, fail(client.CodeUnavailable, "read the log head: %v", err)
		}
		if pos > head {
			return 0, nil, fail(client.CodeInvalid, "position %d is beyond the log head %d; positions name the past (min_position waits for the future)", pos, head)
		}
	}
	var asOf time.Time // the instant asked about: at, or the time of the record at position
	if r.At != "" {
		at, err := parseTime("at", r.At)
		if err != nil {
			return 0, nil, err
		}
		// The position from the history index's times: a binary search in memory, no read of the log.
		if pos, err = q.cfg.Index.PositionAt(ctx, at); err != nil {
			return 0, nil, fail(client.CodeUnavailable, "find the position of at: %v", err)
		}
		asOf = at
	}
	o, known, err := q.orgFactsAt(ctx, r.OrgID, r.UserID, r.ProjectID, pos)
	if err != nil {
		return 0, nil, err
	}
	if asOf.IsZero() && !o.NextExpiry().IsZero() {
		if asOf, err = q.timeOfPosition(ctx, r.OrgID, pos); err != nil {
			return 0, nil, err
		}
	}
	o = o.At(asOf) // a membership whose end came before then was gone (domain/expiry.go)
	if !o.Exists() {
		if !known {
			return pos, nil, fail(client.CodeNotFound, "organization %s not found", r.OrgID)
		}
		// The organization came later: nobody had access then.
		return pos, client.AccessAtResult{Position: pos, Permissions: []string{}, Conditional: []string{}, Roles: []string{}}, nil
	}
	if hidden { // as an unknown project: nobody had access there
		return pos, client.AccessAtResult{Position: pos, Permissions: []string{}, Conditional: []string{}, Roles: []string{}}, nil
	}
	allowed, conditional, err := o.Permissions(r.UserID, scopeOf(r.ProjectID, r.TrackID))
	if err != nil {
		if domain.CodeOf(err) == domain.CodeNotFound {
			return pos, client.AccessAtResult{Position: pos, Permissions: []string{}, Conditional: []string{}, Roles: []string{}}, nil
		}
		return 0, nil, err
	}
	return pos, client.AccessAtResult{Position: pos, Permissions: allowed, Conditional: conditional, Roles: o.MemberRolesAt(r.UserID, scopeOf(r.ProjectID, r.TrackID))}, nil
}

// principalFilter is Audit's principal: an account, or an account and a user.
type principalFilter struct {
	set           bool
	account, user string
}

// MaxPrincipalLen bounds Audit's principal filter ("ACCOUNT/USER").
const MaxPrincipalLen = 512

func parsePrincipal(s string) (principalFilter, error) {
	if s == "" {
		return principalFilter{}, nil
	}
	if len(s) > MaxPrincipalLen {
		return principalFilter{}, fail(client.CodeInvalid, "principal is %d characters; the limit MaxPrincipalLen is %d", len(s), MaxPrincipalLen)
	}
	account, user, _ := strings.Cut(s, "/")
	if account == "" {
		return principalFilter{}, fail(client.CodeInvalid, "principal %q must be ACCOUNT or ACCOUNT/USER (e.g. ACME or PEOPLE/alice)", s)
	}
	return principalFilter{set: true, account: account, user: user}, nil
}

// match reads the event envelope's principal {account, user} (the credential the server
// stamped on the command) and compares it with the filter.
func (f principalFilter) match(r eventstore.Record) bool {
	if !f.set {
		return true
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return false
	}
	var env struct {
		Principal struct {
			Account string `json:"account"`
			User    string `json:"user"`
		} `json:"principal"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return false
	}
	return env.Principal.Account == f.account && (f.user == "" || env.Principal.User == f.user)
}

// named lists the users an event names: its actor (not Roster itself) and the users of its data.
type named struct {
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
	AdminID   string `json:"admin_user_id"`
	NewOwner  string `json:"new_owner"`
	PartnerID string `json:"partner_id"`
}

// auditAwareness checks the caller reaches the organization and returns which events its
// viewer may see: all of them, unless the viewer is a labeling company's member, who sees only
// events naming no one outside their company (Dataloop: "They cannot view and are not aware of
// any other users to the project"). It reads the current state: who belongs to the company now.
func (q *Queries) auditAwareness(ctx context.Context, orgID, projectID, viewer string) (func(eventstore.Record) bool, error) {
	who := askerOf(ctx)
	all := func(eventstore.Record) bool { return true }
	if !who.secured() && viewer == "" {
		return all, nil
	}
	var company string
	// people[project] holds the company's users there; people[""] every project's.
	people := map[string]map[string]bool{"": {}}
	err := q.cfg.Members.Read(orgID, func(o *domain.Org, _ uint64) error {
		if who.secured() && !who.reaches(o) {
			return orgNotFound(orgID)
		}
		// A person of a user account reads the log of what they may see: an organization they
		// belong to, or a project they may see (a public one included), nothing else.
		if who.user != "" && o != nil && o.Exists() {
			if !o.MaySee(who.user, projectID) {
				return orgNotFound(orgID)
			}
			// A guest of a project reads the log of that project only.
			if err := who.orgWide(o, projectID); err != nil {
				return err
			}
		}
		if o == nil || !o.Exists() {
			return nil // unknown organization: Audit answers not found from the log
		}
		if company = o.CompanyOf(viewer, projectID); company == "" {
			return nil
		}
		for pid, p := range o.Projects {
			people[pid] = map[string]bool{}
			add := func(mm map[string]*domain.Membership) {
				for _, m := range mm {
					if m.PartnerID == company && m.UserID != "" {
						people[pid][m.UserID] = true
						people[""][m.UserID] = true
					}
				}
			}
			add(p.Members)
			for _, t := range p.Tracks {
				add(t.Members)
			}
		}
		return nil
	})
	if err != nil || company == "" {
		return all, err
	}
	return func(r eventstore.Record) bool {
		var n named
		_ = json.Unmarshal(r.Data, &n)
		if n.PartnerID != "" && n.PartnerID != company {
			return false
		}
		known := people[n.ProjectID]
		for _, u := range []string{r.Actor, n.UserID, n.AdminID, n.NewOwner} {
			if u != "" && u != domain.SystemActor && !known[u] {
				return false
			}
		}
		return true
	}, nil
}

// timeOfPosition is the time of the organization's last record at or before pos, read from the
// history index (the organization's every-event list): one record, not the whole stream.
func (q *Queries) timeOfPosition(ctx context.Context, orgID string, pos uint64) (time.Time, error) {
	x := q.cfg.Index
	if err := x.CatchUp(ctx); err != nil {
		return time.Time{}, fail(client.CodeUnavailable, "read the history of %s: %v", orgID, err)
	}
	l := projections.UpTo(x.List(orgID, "A"), pos)
	if len(l) == 0 {
		return time.Time{}, nil
	}
	recs, err := x.Records(ctx, l[len(l)-1:])
	if err != nil {
		return time.Time{}, fail(client.CodeUnavailable, "read the history of %s: %v", orgID, err)
	}
	return recs[0].Time, nil
}
