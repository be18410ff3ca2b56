package queries

import (
	"context"
	"errors"
	"roster/client"
	"roster/domain"
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

func (q *Queries) check(ctx context.Context, r client.Check, mayBlock bool) (uint64, any, error) {
	var err error
	if r.UserID, err = askerOf(ctx).subject("user_id", r.UserID); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(validScope(r.OrgID, r.ProjectID, r.TrackID), checkID("user_id", r.UserID, true)); err != nil {
		return 0, nil, err
	}
	if r.Permission == "" {
		return 0, nil, fail(client.CodeInvalid, "permission is required")
	}
	attrs, err := contextAttributes(r.Context)
	if err != nil {
		return 0, nil, err
	}
	if err := q.await(ctx, q.cfg.Permissions, Consistency{r.MinPosition, r.WaitMS}, mayBlock); err != nil {
		return 0, nil, err
	}
	if err := q.reachable(ctx, q.cfg.Permissions, r.OrgID); err != nil {
		return 0, nil, err
	}
	// A person's private project they may not see is an unknown project (docs/SECURITY.md).
	if q.hidesProject(ctx, q.cfg.Permissions, r.OrgID, r.ProjectID) {
		return 0, nil, projectNotFound(r.OrgID, r.ProjectID)
	}
	d, perm, pos, err := q.cfg.Permissions.Check(r.OrgID, r.UserID, r.Permission, scopeOf(r.ProjectID, r.TrackID), attrs)
	if err != nil {
		return pos, nil, err
	}
	if !r.Explain {
		return pos, client.CheckResult{Decision: d.Decision, Permission: perm, Via: viasOf(d.Via)}, nil
	}
	if !mayBlock {
		return 0, nil, errWouldBlock
	}
	vias, err := q.explainVias(ctx, r.OrgID, r.UserID, r.ProjectID, pos, d.Via)
	if err != nil {
		return 0, nil, err
	}
	return pos, client.CheckResult{Decision: d.Decision, Permission: perm, Via: vias, ExplainedAt: pos}, nil
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

func (q *Queries) permissions(ctx context.Context, r client.Permissions, mayBlock bool) (uint64, any, error) {
	var err error
	if r.UserID, err = askerOf(ctx).subject("user_id", r.UserID); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(validScope(r.OrgID, r.ProjectID, r.TrackID), checkID("user_id", r.UserID, true)); err != nil {
		return 0, nil, err
	}
	who := askerOf(ctx)
	return q.readOrg(ctx, q.cfg.Permissions, Consistency{r.MinPosition, r.WaitMS}, mayBlock, r.OrgID, func(o *domain.Org) (any, error) {
		// A person's private project they may not see is an unknown project.
		if err := who.seesProject(o, r.ProjectID); err != nil {
			return nil, err
		}
		allowed, conditional, err := o.Permissions(r.UserID, scopeOf(r.ProjectID, r.TrackID))
		if err != nil {
			return nil, err
		}
		return client.PermissionsResult{Permissions: allowed, Conditional: conditional, Roles: o.MemberRolesAt(r.UserID, scopeOf(r.ProjectID, r.TrackID))}, nil
	})
}

func (q *Queries) whoCan(ctx context.Context, r client.WhoCan, mayBlock bool) (uint64, any, error) {
	var err error
	who := askerOf(ctx)
	if r.Viewer, err = who.viewer(r.Viewer); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(validScope(r.OrgID, r.ProjectID, r.TrackID), checkID("viewer", r.Viewer, false)); err != nil {
		return 0, nil, err
	}
	if r.Permission == "" {
		return 0, nil, fail(client.CodeInvalid, "permission is required")
	}
	limit, err := listLimit(r.Limit)
	if err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Permissions, Consistency{r.MinPosition, r.WaitMS}, mayBlock, r.OrgID, func(o *domain.Org) (any, error) {
		if _, known := o.Projects[r.ProjectID]; known {
			// In a user account a private project the person may not see does not exist for them.
			if err := who.seesProject(o, r.ProjectID); err != nil {
				return nil, err
			}
		}
		users, err := o.WhoCan(r.Permission, scopeOf(r.ProjectID, r.TrackID))
		if err != nil {
			return nil, err
		}
		// A labeling company's member learns only of their own company's people.
		users = slices.Clone(o.AwareOf(o.CompanyOf(r.Viewer, r.ProjectID), users, r.ProjectID))
		slices.Sort(users)
		page, next, err := pageOf(slices.Compact(users), func(u string) string { return u }, limit, r.PageToken)
		if err != nil {
			return nil, err
		}
		return client.WhoCanResult{Users: page, NextPageToken: next}, nil
	})
}
