package domain

import "slices"

// Which projects a user sees in the organization's project list (ListProjects).

// MayListProject reports whether the organization's project list shows the project to the user.
// A project the user is a member of (directly, through a workgroup, on one of its tracks, or as an
// organization admin who owns every project) is always shown; where the preset names no listing
// permission, that is the whole rule (ListProjects as before). Where the preset names a permission
// for listing (Aunsight: "To view projects, users must have a role that grants
// AU-ORG:view-any-project"), the organization's other projects are shown to holders of that
// permission at the project. Deleted projects are never shown; archived ones are (the caller
// filters them if it wants to).
func (o *Org) MayListProject(userID, projectID string) bool {
	if !o.Exists() {
		return false
	}
	p, ok := o.Projects[projectID]
	if !ok || p.Status == StatusDeleted {
		return false
	}
	if len(o.MemberRolesAt(userID, Scope{ProjectID: projectID})) > 0 {
		return true
	}
	if o.preset.ListProjects == "" {
		return false
	}
	if o.isMemberOf(userID, p) {
		return true
	}
	perm, ok := o.preset.permByID[o.preset.ListProjects]
	if !ok {
		return false
	}
	return o.decide(userID, perm, Scope{ProjectID: projectID}, p, nil, true).Decision == Allowed
}

// VisibleProjects lists, sorted, the projects MayListProject shows the user; archived projects
// only when includeArchived.
func (o *Org) VisibleProjects(userID string, includeArchived bool) []string {
	out := []string{}
	for id, p := range o.Projects {
		if p.Status == StatusArchived && !includeArchived {
			continue
		}
		if o.MayListProject(userID, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// isMemberOf reports a membership of the user on the project or one of its tracks, directly or
// through a workgroup, even one holding no role (Aunsight adds members first, roles later).
func (o *Org) isMemberOf(userID string, p *Project) bool {
	keys := []string{Principal{UserID: userID}.Key()}
	for _, g := range o.groupsOf(userID) {
		keys = append(keys, Principal{GroupID: g}.Key())
	}
	has := func(mm map[string]*Membership) bool {
		for _, k := range keys {
			if _, ok := mm[k]; ok {
				return true
			}
		}
		return false
	}
	if has(p.Members) {
		return true
	}
	for _, t := range p.Tracks {
		if has(t.Members) {
			return true
		}
	}
	return false
}
