package domain

// Role room: DefineRole, SetRolePermissions, DeleteRole (custom roles).

import (
	"slices"
	"strings"
)

func (d *decider) roleCommand(role, projectID string) error {
	if !d.o.preset.CustomRoles {
		return invalidf("preset %s has built-in roles only; custom roles need preset aunsight or custom", d.o.PresetID)
	}
	return checkIDs(map[string]string{"role": role}, map[string]string{"project_id": projectID})
}

// roleManager finds where the actor may manage roles: the organization (the role may be
// organization-wide), or one project (the role then belongs to that project: Aunsight's
// delegated team managers manage their project's roles and nothing wider). A project is the
// one named, or else the only project where the actor holds the right.
func (d *decider) roleManager(cmd, projectID string) (string, error) {
	orgErr := d.authorize(cmd, Scope{}, false)
	if orgErr == nil {
		if projectID != "" {
			if _, err := d.project(projectID, false); err != nil {
				return "", err
			}
		}
		return projectID, nil
	}
	if projectID != "" {
		if _, err := d.project(projectID, false); err != nil {
			return "", err
		}
		if err := d.authorize(cmd, Scope{ProjectID: projectID}, false); err != nil {
			return "", err
		}
		return projectID, nil
	}
	var found []string
	for _, pid := range sortedKeys(d.o.Projects) {
		if d.o.Projects[pid].Status == StatusActive && d.authorize(cmd, Scope{ProjectID: pid}, false) == nil {
			found = append(found, pid)
		}
	}
	switch len(found) {
	case 0:
		return "", orgErr
	case 1:
		return found[0], nil
	}
	return "", invalidf("%s manages roles in several projects (%s); give project_id", d.actor, strings.Join(found, ", "))
}

// mayManageRole checks the actor's right over an existing custom role: a project's role in
// that project, an organization-wide role in the organization.
func (d *decider) mayManageRole(cmd string, r *Role) error {
	if r.ProjectID == "" {
		return d.authorize(cmd, Scope{}, false)
	}
	if _, err := d.project(r.ProjectID, false); err != nil {
		return err
	}
	return d.authorize(cmd, Scope{ProjectID: r.ProjectID}, false)
}

func (d *decider) defineRole(c *DefineRole) (Outcome, error) {
	if err := d.roleCommand(c.Role, c.ProjectID); err != nil {
		return Outcome{}, err
	}
	owner, err := d.roleManager(CmdDefineRole, c.ProjectID)
	if err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Role(c.Role); ok {
		return Outcome{}, conflictf("role %s already exists in organization %s", c.Role, d.o.ID)
	}
	scope := c.Scope
	if scope == "" {
		scope = ScopeProject
	}
	if scopeDepth(scope) < 0 || (scope == ScopeTrack && !d.o.preset.Tracks) {
		return Outcome{}, invalidf("scope %q must be org or project", c.Scope)
	}
	if owner != "" && scope == ScopeOrg {
		return Outcome{}, invalidf("a role of project %s applies in that project; its scope is project, not org", owner)
	}
	if owner != "" && d.authorize(CmdDefineRole, Scope{}, false) != nil && c.ProjectID == "" {
		// Chosen for the actor: say so in the result.
		c.ProjectID = owner
	}
	if c.Category != "" && !slices.Contains(d.o.preset.Categories, c.Category) {
		return Outcome{}, invalidf("category %q is not a category of preset %s", c.Category, d.o.PresetID)
	}
	ev := &RoleDefined{Role: c.Role, Label: firstNonEmpty(c.Label, c.Role), Description: c.Description, Scope: scope,
		Category: c.Category, ProjectID: owner}
	result := DefineRoleResult{Role: c.Role, ProjectID: owner}
	return Outcome{Events: []Event{ev}, Result: result}, nil
}

func (d *decider) customRole(id string) (*Role, error) {
	r, ok := d.o.CustomRoles[id]
	if !ok {
		if _, builtin := d.o.Role(id); builtin {
			return nil, preconditionf("role %s is built into preset %s and cannot be changed", id, d.o.PresetID)
		}
		return nil, notFoundf("role %s not found in organization %s", id, d.o.ID)
	}
	return r, nil
}

func (d *decider) setRolePermissions(c *SetRolePermissions) (Outcome, error) {
	if err := d.roleCommand(c.Role, c.ProjectID); err != nil {
		return Outcome{}, err
	}
	r, err := d.customRole(c.Role)
	if err != nil {
		return Outcome{}, err
	}
	if err := d.mayManageRole(CmdSetRolePermissions, r); err != nil {
		return Outcome{}, err
	}
	perms := []string{}
	for _, ref := range c.Permissions {
		p, ok := d.o.resolvePermission(ref)
		if !ok {
			return Outcome{}, invalidf("permission %q is not in preset %s; the Catalog query lists them", ref, d.o.PresetID)
		}
		if p.GrantOnly {
			return Outcome{}, invalidf("permission %s is given only as a direct grant", p.ID)
		}
		if !slices.Contains(perms, p.ID) {
			perms = append(perms, p.ID)
		}
	}
	return one(&RolePermissionsSet{Role: r.ID, Permissions: perms, Previous: slices.Clone(r.Permissions)}), nil
}

func (d *decider) deleteRole(c *DeleteRole) (Outcome, error) {
	if err := d.roleCommand(c.Role, c.ProjectID); err != nil {
		return Outcome{}, err
	}
	r, err := d.customRole(c.Role)
	if err != nil {
		return Outcome{}, err
	}
	if err := d.mayManageRole(CmdDeleteRole, r); err != nil {
		return Outcome{}, err
	}
	if n := d.o.holders(r.ID); n > 0 {
		return Outcome{}, preconditionf("role %s is held by %d member(s) or pending invitation(s); reassign them first", r.ID, n)
	}
	return one(&RoleDeleted{Role: r.ID}), nil
}

func (o *Org) holders(role string) int {
	n := 0
	for _, m := range o.Members {
		if m.Role == role {
			n++
		}
	}
	count := func(mm map[string]*Membership) {
		for _, m := range mm {
			if slices.Contains(m.Roles, role) {
				n++
			}
		}
	}
	for _, p := range o.Projects {
		if p.Status == StatusDeleted {
			continue
		}
		count(p.Members)
		for _, t := range p.Tracks {
			count(t.Members)
		}
	}
	for _, inv := range o.Invitations {
		if inv.Status == InvitePending && slices.Contains(inv.Roles, role) {
			n++
		}
	}
	return n
}
