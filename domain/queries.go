package domain

import "slices"

// MemberRolesAt lists the roles a user holds at a scope as a member: directly, through a
// workgroup, on one of the project's tracks, inherited from the project, or as an
// organization admin who owns every project. Public visibility and plain organization
// roles do not make someone a member. Sorted; empty when they are not a member.
func (o *Org) MemberRolesAt(userID string, s Scope) []string { return o.rolesAt(userID, s, true) }

// rolesAt lists role ids a user holds at a scope, sorted: every route, or (members) only those
// that make the user a member. Unlike membership, "every route" leaves out a user's track roles
// when asked at project scope.
func (o *Org) rolesAt(userID string, s Scope, members bool) []string {
	p, err := o.checkScope(s)
	if err != nil || (p != nil && p.Status == StatusDeleted) {
		return []string{}
	}
	seen := map[string]bool{}
	out := []string{}
	for _, h := range o.holdings(userID, s, p) {
		if h.role == nil || seen[h.role.ID] {
			continue
		}
		switch {
		case !members && s.level() == ScopeProject && h.via.Scope == ScopeTrack:
			continue
		case members && h.via.Kind == ViaPublic:
			continue
		case members && h.via.Scope == ScopeOrg && h.via.Kind != ViaOrgAdmin && s.level() != ScopeOrg:
			continue
		}
		seen[h.role.ID] = true
		out = append(out, h.role.ID)
	}
	slices.Sort(out)
	return out
}

// Owners lists the users who own a project: holders of the preset's owner role directly
// or through a workgroup. Organization admins who own every project are not listed here.
func (o *Org) Owners(p *Project) []string {
	out := []string{}
	if o.preset == nil || o.preset.OwnerRole == "" {
		return out
	}
	for _, m := range p.Members {
		if !slices.Contains(m.Roles, o.preset.OwnerRole) {
			continue
		}
		if m.UserID != "" {
			out = append(out, m.UserID)
		} else if g, ok := o.Workgroups[m.GroupID]; ok {
			for u := range g.Members {
				out = append(out, u)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// OrgAdmins lists the members holding the preset's organization admin role.
func (o *Org) OrgAdmins() []string {
	out := []string{}
	for id, m := range o.Members {
		if m.Role == o.preset.OrgAdminRole {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// AdminsOwnProjects reports whether the preset's organization admins own every project.
func (o *Org) AdminsOwnProjects() bool { return o.adminsOwnProjects() }

// ResolvePermission returns the id of a permission given by id, label or alias.
func (o *Org) ResolvePermission(ref string) (string, bool) {
	p, ok := o.resolvePermission(ref)
	if !ok {
		return "", false
	}
	return p.ID, true
}
