package domain

import (
	"slices"
	"strings"
)

// Decisions a check can answer.
const (
	Allowed     = "allowed"
	Denied      = "denied"
	Conditional = "conditional"
)

// Kinds of Via: how a user came to hold a permission (SPEC §2.7).
const (
	ViaDirect    = "direct"
	ViaWorkgroup = "workgroup"
	ViaOrgAdmin  = "org_admin"
	ViaInherited = "inherited"
	ViaPublic    = "public"
	ViaGrant     = "grant"
)

// Scope is where a question is asked: the organization, a project, or a track of it.
type Scope struct {
	ProjectID string
	TrackID   string
}

func (s Scope) level() string {
	switch {
	case s.TrackID != "":
		return ScopeTrack
	case s.ProjectID != "":
		return ScopeProject
	}
	return ScopeOrg
}

// Via is one membership that grants a permission.
type Via struct {
	Kind    string `json:"kind"`
	Role    string `json:"role,omitempty"`
	GroupID string `json:"group_id,omitempty"`
	// Scope is where the membership sits: org, project or track.
	Scope     string `json:"scope,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	TrackID   string `json:"track_id,omitempty"`
	// Condition, on a conditional grant, names the resource attribute it depends on.
	Condition string `json:"condition,omitempty"`
}

// Decision is a check's answer with the memberships behind it.
type Decision struct {
	Decision string `json:"decision"`
	Via      []Via  `json:"via"`
}

// holding is one role or direct grant a user holds at a scope, and how.
type holding struct {
	role  *Role
	grant string
	via   Via
}

// resolvePermission finds a permission of the organization: catalog first, then
// (for open presets) any name a custom role uses.
func (o *Org) resolvePermission(ref string) (*Permission, bool) {
	if p, ok := o.preset.Permission(ref); ok {
		return p, true
	}
	if o.preset.OpenPermissions && validPermissionName(ref) {
		return &Permission{ID: ref, Label: ref, Scope: ScopeOrg}, true
	}
	return nil, false
}

// validPermissionName accepts ids such as dataset.delete or AU-ORG:view-any-project.
func validPermissionName(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '-', c == '.', c == ':', c == '/':
		default:
			return false
		}
	}
	return true
}

// checkScope verifies that the scope exists.
func (o *Org) checkScope(s Scope) (*Project, error) {
	if s.ProjectID == "" {
		if s.TrackID != "" {
			return nil, invalidf("track_id %s needs a project_id", s.TrackID)
		}
		return nil, nil
	}
	p, ok := o.Projects[s.ProjectID]
	if !ok {
		return nil, notFoundf("project %s not found in organization %s", s.ProjectID, o.ID)
	}
	if s.TrackID != "" {
		if _, ok := p.Tracks[s.TrackID]; !ok {
			return nil, notFoundf("track %s not found in project %s", s.TrackID, s.ProjectID)
		}
	}
	return p, nil
}

// holdings lists every role and grant the user holds at the scope (SPEC §2.7: the union).
func (o *Org) holdings(userID string, s Scope, p *Project) []holding {
	var out []holding
	level := s.level()
	if m, ok := o.Members[userID]; ok {
		if r, ok := o.Role(m.Role); ok {
			switch {
			case level == ScopeOrg:
				out = append(out, holding{role: r, via: Via{Kind: ViaDirect, Role: r.ID, Scope: ScopeOrg}})
			case r.OwnsProjects:
				out = append(out, holding{role: r, via: Via{Kind: ViaOrgAdmin, Role: r.ID, Scope: ScopeOrg}})
				if owner, ok := o.preset.roleByID[o.preset.OwnerRole]; ok && owner.ID != r.ID {
					out = append(out, holding{role: owner, via: Via{Kind: ViaOrgAdmin, Role: owner.ID, Scope: ScopeOrg}})
				}
			default:
				out = append(out, holding{role: r, via: Via{Kind: ViaInherited, Role: r.ID, Scope: ScopeOrg}})
			}
		}
	}
	if p == nil {
		return out
	}
	groups := o.groupsOf(userID)
	fromProject := o.membershipHoldings(userID, groups, p.Members, ScopeProject, p.ID, "")
	if level == ScopeTrack {
		for _, h := range fromProject {
			if h.via.Kind != ViaGrant {
				h.via.Kind = ViaInherited
			}
			out = append(out, h)
		}
		out = append(out, o.membershipHoldings(userID, groups, p.Tracks[s.TrackID].Members, ScopeTrack, p.ID, s.TrackID)...)
	} else {
		out = append(out, fromProject...)
		for _, t := range sortedTracks(p) {
			out = append(out, o.membershipHoldings(userID, groups, t.Members, ScopeTrack, p.ID, t.ID)...)
		}
	}
	if p.Visibility == Public {
		if r, ok := o.preset.roleByID[o.preset.PublicRole]; ok {
			out = append(out, holding{role: r, via: Via{Kind: ViaPublic, Role: r.ID, Scope: ScopeProject, ProjectID: p.ID}})
		}
	}
	return out
}

func (o *Org) membershipHoldings(userID string, groups []string, mm map[string]*Membership, scope, projectID, trackID string) []holding {
	var out []holding
	add := func(m *Membership, kind string) {
		for _, rid := range m.Roles {
			if r, ok := o.Role(rid); ok {
				out = append(out, holding{role: r, via: Via{Kind: kind, Role: r.ID, GroupID: m.GroupID, Scope: scope, ProjectID: projectID, TrackID: trackID}})
			}
		}
		for _, g := range m.Grants {
			out = append(out, holding{grant: g, via: Via{Kind: ViaGrant, GroupID: m.GroupID, Scope: scope, ProjectID: projectID, TrackID: trackID}})
		}
	}
	if m, ok := mm[Principal{UserID: userID}.Key()]; ok {
		add(m, ViaDirect)
	}
	for _, g := range groups {
		if m, ok := mm[Principal{GroupID: g}.Key()]; ok {
			add(m, ViaWorkgroup)
		}
	}
	return out
}

// groupsOf lists the workgroups a user is in, sorted (an index kept by Evolve; do not modify).
func (o *Org) groupsOf(userID string) []string {
	return o.userGroups[userID]
}

func sortedTracks(p *Project) []*Track {
	out := make([]*Track, 0, len(p.Tracks))
	for _, t := range p.Tracks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Track) int { return compareStrings(a.ID, b.ID) })
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Check answers whether the user may do perm at the scope. attrs carries the
// resource attributes conditional grants read (created_by, task_type).
func (o *Org) Check(userID, permRef string, s Scope, attrs map[string]string) (Decision, error) {
	if !o.Exists() {
		return Decision{}, notFoundf("organization %s not found", o.ID)
	}
	perm, ok := o.resolvePermission(permRef)
	if !ok {
		return Decision{}, invalidf("permission %q is not in preset %s; the Catalog query lists them", permRef, o.PresetID)
	}
	p, err := o.checkScope(s)
	if err != nil {
		return Decision{}, err
	}
	return o.decide(userID, perm, s, p, attrs, false), nil
}

func (o *Org) decide(userID string, perm *Permission, s Scope, p *Project, attrs map[string]string, ignoreArchived bool) Decision {
	denied := Decision{Decision: Denied, Via: []Via{}}
	if scopeDepth(perm.Scope) > scopeDepth(s.level()) {
		return denied
	}
	if p != nil {
		if p.Status == StatusDeleted {
			return denied
		}
		if p.Status == StatusArchived && !perm.View && !ignoreArchived {
			return denied
		}
	}
	var allowed, conditional []Via
	for _, h := range o.holdings(userID, s, p) {
		if h.role == nil {
			if h.grant == perm.ID {
				allowed = append(allowed, h.via)
			}
			continue
		}
		if !slices.Contains(h.role.Permissions, perm.ID) {
			continue
		}
		cond, isCond := o.preset.Condition(h.role.ID, perm.ID)
		if !isCond || h.role.Custom {
			allowed = append(allowed, h.via)
			continue
		}
		got, present := attrs[cond.Attribute]
		switch {
		case !present || got == "":
			v := h.via
			v.Condition = cond.Attribute
			conditional = append(conditional, v)
		case cond.Equals == "$user" && got == userID, cond.Equals != "$user" && strings.EqualFold(got, cond.Equals):
			allowed = append(allowed, h.via)
		}
	}
	switch {
	case len(allowed) > 0:
		return Decision{Decision: Allowed, Via: allowed}
	case len(conditional) > 0:
		return Decision{Decision: Conditional, Via: conditional}
	}
	return denied
}

// Permissions lists every permission the user holds unconditionally at the scope, in catalog order;
// conditional lists those that depend on resource attributes.
func (o *Org) Permissions(userID string, s Scope) (allowed, conditional []string, err error) {
	if !o.Exists() {
		return nil, nil, notFoundf("organization %s not found", o.ID)
	}
	p, err := o.checkScope(s)
	if err != nil {
		return nil, nil, err
	}
	allowed, conditional = []string{}, []string{}
	for _, perm := range o.permissionUniverse() {
		switch o.decide(userID, perm, s, p, nil, false).Decision {
		case Allowed:
			allowed = append(allowed, perm.ID)
		case Conditional:
			conditional = append(conditional, perm.ID)
		}
	}
	return allowed, conditional, nil
}

// permissionUniverse is the catalog plus, for open presets, every name a custom role uses.
func (o *Org) permissionUniverse() []*Permission {
	out := make([]*Permission, 0, len(o.preset.Permissions))
	seen := map[string]bool{}
	for i := range o.preset.Permissions {
		out = append(out, &o.preset.Permissions[i])
		seen[o.preset.Permissions[i].ID] = true
	}
	for _, r := range o.Roles() {
		if !r.Custom {
			continue
		}
		for _, pid := range r.Permissions {
			if !seen[pid] {
				seen[pid] = true
				if perm, ok := o.resolvePermission(pid); ok {
					out = append(out, perm)
				}
			}
		}
	}
	return out
}

// Catalog is the organization's permissions and roles.
func (o *Org) Catalog() ([]*Permission, []*Role) {
	return o.permissionUniverse(), o.Roles()
}

// Candidates lists every user who could hold something in the organization: its members,
// project and track members, members of workgroups, and invitees who accepted.
func (o *Org) Candidates() []string {
	seen := map[string]bool{}
	for id := range o.Members {
		seen[id] = true
	}
	for _, g := range o.Workgroups {
		for u := range g.Members {
			seen[u] = true
		}
	}
	for _, p := range o.Projects {
		for _, m := range p.Members {
			if m.UserID != "" {
				seen[m.UserID] = true
			}
		}
		for _, t := range p.Tracks {
			for _, m := range t.Members {
				if m.UserID != "" {
					seen[m.UserID] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for u := range seen {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// WhoCan lists the known users who may do perm at the scope (conditional grants excluded).
func (o *Org) WhoCan(permRef string, s Scope) ([]string, error) {
	if !o.Exists() {
		return nil, notFoundf("organization %s not found", o.ID)
	}
	perm, ok := o.resolvePermission(permRef)
	if !ok {
		return nil, invalidf("permission %q is not in preset %s; the Catalog query lists them", permRef, o.PresetID)
	}
	p, err := o.checkScope(s)
	if err != nil {
		return nil, err
	}
	users := []string{}
	for _, u := range o.Candidates() {
		if o.decide(u, perm, s, p, nil, false).Decision == Allowed {
			users = append(users, u)
		}
	}
	return users, nil
}

// RolesAt lists the ids of the roles a user holds at a scope, by any route (organization
// roles flowing down and public visibility included), sorted.
func (o *Org) RolesAt(userID string, s Scope) []string { return o.rolesAt(userID, s, false) }
