package queries

import (
	"context"
	"roster/client"
	"roster/domain"
)

// Catalog

func (q *Queries) catalog(ctx context.Context, r client.Catalog, mayBlock bool) (uint64, any, error) {
	if err := checkID("org_id", r.OrgID, true); err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Members, Consistency{r.MinPosition, r.WaitMS}, mayBlock, r.OrgID, func(o *domain.Org) (any, error) {
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
