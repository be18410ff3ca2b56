package queries

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/projections"
)

type auditReq struct {
	Consistency
	OrgID         string   `json:"org_id"`
	ProjectID     string   `json:"project_id,omitempty"`
	Actor         string   `json:"actor,omitempty"`
	UserID        string   `json:"user_id,omitempty"`
	Types         []string `json:"types,omitempty"`
	Type          string   `json:"type,omitempty"`
	Since         string   `json:"since,omitempty"`
	Until         string   `json:"until,omitempty"`
	AfterPosition uint64   `json:"after_position,omitempty"`
	Limit         int      `json:"limit,omitempty"`
}

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

func (q *Queries) audit(ctx context.Context, r auditReq, _ bool) (uint64, any, error) {
	if err := errors.Join(checkID("org_id", r.OrgID, true), checkID("project_id", r.ProjectID, false),
		checkID("actor", r.Actor, false), checkID("user_id", r.UserID, false)); err != nil {
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
	if err := q.awaitLog(ctx, r.Consistency); err != nil {
		return 0, nil, err
	}
	types := slices.Clone(r.Types)
	if r.Type != "" {
		types = append(types, r.Type)
	}
	f := AuditFilter{ProjectID: r.ProjectID, Actor: r.Actor, UserID: r.UserID, Types: types, Since: since, Until: until}
	head, err := q.cfg.History.Head(ctx)
	if err != nil {
		return 0, nil, err
	}
	if r.AfterPosition > head {
		return 0, nil, fail(client.CodeInvalid, "after_position %d is beyond the log head %d; positions name the past (min_position waits for the future)", r.AfterPosition, head)
	}
	records, err := q.cfg.History.OrgEvents(ctx, r.OrgID)
	if err != nil {
		return 0, nil, err
	}
	if len(records) == 0 {
		return 0, nil, fail(client.CodeNotFound, "organization %s not found", r.OrgID)
	}
	res := client.AuditPage{Events: []client.Event{}}
	for _, rec := range records {
		if rec.Position <= r.AfterPosition || !f.Match(rec) {
			continue
		}
		if len(res.Events) == limit {
			res.NextAfterPosition = res.Events[len(res.Events)-1].Position
			break
		}
		res.Events = append(res.Events, client.Event(rec))
	}
	return head, res, nil
}

// awaitLog waits for the log itself to reach min_position.
func (q *Queries) awaitLog(ctx context.Context, c Consistency) error {
	if c.MinPosition == 0 {
		return nil
	}
	wait := DefaultWait
	if c.WaitMS > 0 {
		wait = min(time.Duration(c.WaitMS)*time.Millisecond, MaxWait)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := q.cfg.History.WaitFor(wctx, c.MinPosition); err != nil {
		return fail(client.CodeUnavailable, "the log has not reached min_position %d after %s", c.MinPosition, wait)
	}
	return nil
}

type accessAtReq struct {
	Consistency
	scopeReq
	UserID   string `json:"user_id"`
	At       string `json:"at,omitempty"`
	Position uint64 `json:"position,omitempty"`
}

// OrgAt folds an organization's stream up to and including position.
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

func (q *Queries) accessAt(ctx context.Context, r accessAtReq, _ bool) (uint64, any, error) {
	if err := errors.Join(r.validate(), checkID("user_id", r.UserID, true)); err != nil {
		return 0, nil, err
	}
	if (r.At == "") == (r.Position == 0) {
		return 0, nil, fail(client.CodeInvalid, "give at (RFC 3339) or position, exactly one")
	}
	if err := q.awaitLog(ctx, r.Consistency); err != nil {
		return 0, nil, err
	}
	pos := r.Position
	if pos != 0 {
		head, err := q.cfg.History.Head(ctx)
		if err != nil {
			return 0, nil, fail(client.CodeUnavailable, "read the log head: %v", err)
		}
		if pos > head {
			return 0, nil, fail(client.CodeInvalid, "position %d is beyond the log head %d; positions name the past (min_position waits for the future)", pos, head)
		}
	}
	if r.At != "" {
		at, err := parseTime("at", r.At)
		if err != nil {
			return 0, nil, err
		}
		if pos, err = q.cfg.History.PositionAt(ctx, at); err != nil {
			return 0, nil, err
		}
	}
	o, err := OrgAt(ctx, q.cfg.History, q.cfg.Presets, r.OrgID, pos)
	if err != nil {
		return 0, nil, err
	}
	if !o.Exists() {
		if head, err := q.cfg.History.OrgEvents(ctx, r.OrgID); err != nil || len(head) == 0 {
			return pos, nil, fail(client.CodeNotFound, "organization %s not found", r.OrgID)
		}
		// The organization came later: nobody had access then.
		return pos, client.AccessAtResult{Position: pos, Permissions: []string{}, Conditional: []string{}, Roles: []string{}}, nil
	}
	allowed, conditional, err := o.Permissions(r.UserID, r.scope())
	if err != nil {
		if domain.CodeOf(err) == domain.CodeNotFound {
			return pos, client.AccessAtResult{Position: pos, Permissions: []string{}, Conditional: []string{}, Roles: []string{}}, nil
		}
		return 0, nil, err
	}
	return pos, client.AccessAtResult{Position: pos, Permissions: allowed, Conditional: conditional, Roles: o.MemberRolesAt(r.UserID, r.scope())}, nil
}
