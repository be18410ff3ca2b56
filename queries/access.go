package queries

import (
	"context"
	"errors"
	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"slices"
	"strconv"
)

// Check, Permissions, WhoCan

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

func (q *Queries) check(ctx context.Context, r checkReq, mayBlock bool) (uint64, any, error) {
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
	if err := q.await(ctx, q.cfg.Permissions, r.Consistency, mayBlock); err != nil {
		return 0, nil, err
	}
	d, perm, pos, err := q.cfg.Permissions.Check(r.OrgID, r.UserID, r.Permission, r.scope(), attrs)
	if err != nil {
		return pos, nil, err
	}
	if !r.Explain {
		return pos, client.CheckResult{Decision: d.Decision, Permission: perm, Via: viasOf(d.Via)}, nil
	}
	if !mayBlock {
		return 0, nil, errWouldBlock
	}
	// Explanations read the organization's events up to the answer's position.
	recs, err := q.cfg.History.OrgEvents(ctx, r.OrgID)
	if err != nil {
		return 0, nil, fail(client.CodeUnavailable, "read the history of %s: %v", r.OrgID, err)
	}
	recs = slices.DeleteFunc(recs, func(rec eventstore.Record) bool { return rec.Position > pos })
	return pos, client.CheckResult{Decision: d.Decision, Permission: perm, Via: buildLineage(recs).explain(r.UserID, d.Via), ExplainedAt: pos}, nil
}

// viasOf is the wire's form of a decision's vias (nil stays nil: the wire says null).
func viasOf(vias []domain.Via) []client.Via {
	if vias == nil {
		return nil
	}
	out := make([]client.Via, len(vias))
	for i, v := range vias {
		out[i] = viaOf(v)
	}
	return out
}

func viaOf(v domain.Via) client.Via {
	return client.Via{Kind: v.Kind, Role: v.Role, GroupID: v.GroupID, Scope: v.Scope, ProjectID: v.ProjectID, TrackID: v.TrackID, Condition: v.Condition}
}

type permissionsReq struct {
	Consistency
	scopeReq
	UserID string `json:"user_id"`
}

func (q *Queries) permissions(ctx context.Context, r permissionsReq, mayBlock bool) (uint64, any, error) {
	if err := errors.Join(r.validate(), checkID("user_id", r.UserID, true)); err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Permissions, r.Consistency, mayBlock, r.OrgID, func(o *domain.Org) (any, error) {
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
	Limit      int    `json:"limit,omitempty"`
	PageToken  string `json:"page_token,omitempty"`
}

func (q *Queries) whoCan(ctx context.Context, r whoCanReq, mayBlock bool) (uint64, any, error) {
	if err := r.validate(); err != nil {
		return 0, nil, err
	}
	if r.Permission == "" {
		return 0, nil, fail(client.CodeInvalid, "permission is required")
	}
	limit, err := listLimit(r.Limit)
	if err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Permissions, r.Consistency, mayBlock, r.OrgID, func(o *domain.Org) (any, error) {
		users, err := o.WhoCan(r.Permission, r.scope())
		if err != nil {
			return nil, err
		}
		users = slices.Clone(users)
		slices.Sort(users)
		page, next, err := pageOf(slices.Compact(users), func(u string) string { return u }, limit, r.PageToken)
		if err != nil {
			return nil, err
		}
		return client.WhoCanResult{Users: page, NextPageToken: next}, nil
	})
}
