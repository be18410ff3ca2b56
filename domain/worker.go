package domain

// Organization roles that limit the project roles their holders may hold (preset field
// project_roles; Dataloop: "they can be ORG-Workers, added as annotators to the project").

import (
	"slices"
	"strings"
)

// projectRoleLimit returns the project roles the user's organization role allows, and that role;
// nil when it allows any.
func (o *Org) projectRoleLimit(userID string) ([]string, *Role) {
	m, ok := o.Members[userID]
	if !ok {
		return nil, nil
	}
	r, ok := o.Role(m.Role)
	if !ok || len(r.ProjectRoles) == 0 {
		return nil, nil
	}
	return r.ProjectRoles, r
}

// mayHold checks that the user's organization role allows every one of roles in projects.
func (o *Org) mayHold(userID string, roles []string) error {
	allowed, r := o.projectRoleLimit(userID)
	if r == nil {
		return nil
	}
	for _, id := range roles {
		if !slices.Contains(allowed, id) {
			return preconditionf("user %s is %s in organization %s and is given only %s in projects, not %s", userID, r.Label, o.ID, strings.Join(allowed, ", "), id)
		}
	}
	return nil
}

// projectRoleViolation checks every project and track role the user holds, directly or through
// a workgroup, against their organization role's limit.
func (o *Org) projectRoleViolation(userID string) error {
	if _, r := o.projectRoleLimit(userID); r == nil {
		return nil
	}
	keys := []string{Principal{UserID: userID}.Key()}
	for _, g := range o.groupsOf(userID) {
		keys = append(keys, Principal{GroupID: g}.Key())
	}
	check := func(mm map[string]*Membership) error {
		for _, k := range keys {
			if m, ok := mm[k]; ok {
				if err := o.mayHold(userID, m.Roles); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, pid := range sortedKeys(o.Projects) {
		p := o.Projects[pid]
		if p.Status == StatusDeleted {
			continue
		}
		if err := check(p.Members); err != nil {
			return err
		}
		for _, tid := range sortedKeys(p.Tracks) {
			if err := check(p.Tracks[tid].Members); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasProjectRoleLimits reports whether any organization role of the preset limits project roles.
func (p *Preset) hasProjectRoleLimits() bool {
	for _, r := range p.Roles {
		if len(r.ProjectRoles) > 0 {
			return true
		}
	}
	return false
}

// checkProjectRoleLimits applies evs to a copy of the state and refuses them if a user they touch
// (the users named, and the members of the workgroups named) would hold a project role their
// organization role does not allow.
func (d *decider) checkProjectRoleLimits(evs []Event, users, groups []string) error {
	if !d.o.preset.hasProjectRoleLimits() {
		return nil
	}
	c := d.o.cloneFor(touchedBy(evs))
	for _, ev := range evs {
		Evolve(c, ev)
	}
	for _, g := range groups {
		if wg, ok := c.Workgroups[g]; ok {
			users = append(users, sortedKeys(wg.Members)...)
		}
	}
	for _, u := range users {
		if err := c.projectRoleViolation(u); err != nil {
			return err
		}
	}
	return nil
}

// nonEmpty is s as a list, empty when s is.
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
