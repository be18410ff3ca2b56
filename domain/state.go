package domain

import (
	"slices"
	"sort"
	"time"
)

// Project statuses.
const (
	StatusActive   = "active"
	StatusArchived = "archived"
	StatusDeleted  = "deleted"
)

// Invitation statuses.
const (
	InvitePending  = "pending"
	InviteAccepted = "accepted"
	InviteRejected = "rejected"
	InviteRevoked  = "revoked"
	InviteExpired  = "expired"
)

// Organization kinds and project visibilities.
const (
	KindTeam       = "team"
	KindIndividual = "individual"
	Private        = "private"
	Public         = "public"
)

// OrgMember is a user of the organization with one organization role.
type OrgMember struct {
	UserID string `json:"user_id"`
	Email  string `json:"email,omitempty"`
	Name   string `json:"name,omitempty"`
	Role   string `json:"role"`
	// InvitationID is set when the member joined by accepting an invitation.
	InvitationID string `json:"invitation_id,omitempty"`
	// ExpiresAt, when set, is the instant the membership ends (expiry.go).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Workgroup is an organization-level group of users.
type Workgroup struct {
	ID      string          `json:"group_id"`
	Name    string          `json:"name"`
	Members map[string]bool `json:"members"`
	// Expires holds the end of the time-bound memberships: user → instant (expiry.go).
	Expires map[string]time.Time `json:"expires,omitempty"`
}

// Membership is a principal's place on a project or track.
type Membership struct {
	Principal
	Email     string   `json:"email,omitempty"`
	Name      string   `json:"name,omitempty"`
	Roles     []string `json:"roles"`
	Grants    []string `json:"grants,omitempty"`
	PartnerID string   `json:"partner_id,omitempty"`
	// Guest marks a member from outside the organization (e-mail invitation).
	Guest bool `json:"guest,omitempty"`
	// InvitationID is set when the membership came from an accepted invitation.
	InvitationID string `json:"invitation_id,omitempty"`
	// ExpiresAt, when set, is the instant the membership ends (expiry.go).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Track is a sub-scope of a project with its own members.
type Track struct {
	ID          string                 `json:"track_id"`
	Name        string                 `json:"name"`
	Compute     string                 `json:"compute,omitempty"`
	NotebookEnv string                 `json:"notebook_env,omitempty"`
	Members     map[string]*Membership `json:"members"`
}

// Partner is an outside company inside one project.
type Partner struct {
	ID         string `json:"partner_id"`
	Name       string `json:"name"`
	AdminEmail string `json:"admin_email"`
}

// Project is a scope inside an organization.
type Project struct {
	ID         string                 `json:"project_id"`
	Name       string                 `json:"name"`
	Visibility string                 `json:"visibility"`
	Status     string                 `json:"status"`
	CreatedBy  string                 `json:"created_by"`
	Members    map[string]*Membership `json:"members"`
	Tracks     map[string]*Track      `json:"tracks"`
	Partners   map[string]*Partner    `json:"partners"`
}

// Invitation is a pending (or closed) membership offer.
type Invitation struct {
	ID         string    `json:"invitation_id"`
	ProjectID  string    `json:"project_id,omitempty"`
	TrackID    string    `json:"track_id,omitempty"`
	Email      string    `json:"email,omitempty"`
	UserID     string    `json:"user_id,omitempty"`
	Name       string    `json:"name,omitempty"`
	Roles      []string  `json:"roles"`
	Grants     []string  `json:"grants,omitempty"`
	PartnerID  string    `json:"partner_id,omitempty"`
	InvitedBy  string    `json:"invited_by"`
	Status     string    `json:"status"`
	ExpiresAt  time.Time `json:"expires_at"`
	AnsweredBy string    `json:"answered_by,omitempty"`
	// TokenSHA256 is the hex SHA-256 of the invitation's token (e-mail invitations).
	TokenSHA256 string `json:"token_sha256,omitempty"`
	// MembershipExpiresAt, when set, is when the membership the invitation creates ends.
	MembershipExpiresAt time.Time `json:"membership_expires_at,omitzero"`
}

// Org is one organization's whole state: the consistency boundary of every rule.
type Org struct {
	ID          string                 `json:"org_id"`
	Name        string                 `json:"name"`
	Kind        string                 `json:"kind"`
	PresetID    string                 `json:"preset"`
	Version     uint64                 `json:"version"`
	Members     map[string]*OrgMember  `json:"members"`
	Workgroups  map[string]*Workgroup  `json:"workgroups"`
	Projects    map[string]*Project    `json:"projects"`
	Invitations map[string]*Invitation `json:"invitations"`
	// CustomRoles are roles defined by DefineRole.
	CustomRoles map[string]*Role `json:"custom_roles"`
	// OwnerAccount is the NATS account that created the organization; Accounts are the
	// accounts it granted access to, sorted (SPEC §7, tenancy.go).
	OwnerAccount string   `json:"owner_account,omitempty"`
	Accounts     []string `json:"accounts,omitempty"`
	// PresetVersion is the version of the preset the log names (LegacyPresetVersion for an
	// organization whose log records none); PresetDefinition is that preset, nil when legacy.
	// Snapshots keep both, so a view answers by the recorded rules (preset_record.go).
	PresetVersion    string  `json:"preset_version,omitempty"`
	PresetDefinition *Preset `json:"preset_definition,omitempty"`

	preset  *Preset
	presets Presets
	// userGroups indexes Workgroups by member: user → sorted group ids.
	userGroups map[string][]string
	// expiring indexes the time-bound memberships (expiry.go).
	expiring expiryIndex
}

// NewOrg is the empty state of an organization stream, before OrganizationCreated.
func NewOrg(id string, presets Presets) *Org {
	return &Org{ID: id, presets: presets}
}

// Exists reports whether the organization was created.
func (o *Org) Exists() bool { return o.preset != nil }

// Preset is the organization's policy preset (nil before creation).
func (o *Org) Preset() *Preset { return o.preset }

// Role resolves a role of this organization: built-in or custom, by id, label or alias.
func (o *Org) Role(ref string) (*Role, bool) {
	if r, ok := o.CustomRoles[ref]; ok {
		return r, true
	}
	if o.preset == nil {
		return nil, false
	}
	if r, ok := o.preset.Role(ref); ok {
		return r, true
	}
	for _, r := range o.CustomRoles {
		if sameWords(r.Label, ref) {
			return r, true
		}
	}
	return nil, false
}

// Roles lists every role of the organization, built-in first, then custom by id.
func (o *Org) Roles() []*Role {
	var out []*Role
	if o.preset != nil {
		for i := range o.preset.Roles {
			out = append(out, &o.preset.Roles[i])
		}
	}
	ids := make([]string, 0, len(o.CustomRoles))
	for id := range o.CustomRoles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out = append(out, o.CustomRoles[id])
	}
	return out
}

func (p *Project) members(trackID string) map[string]*Membership {
	if trackID == "" {
		return p.Members
	}
	if t, ok := p.Tracks[trackID]; ok {
		return t.Members
	}
	return nil
}

func membershipMap(o *Org, t Target) map[string]*Membership {
	p, ok := o.Projects[t.ProjectID]
	if !ok {
		return nil
	}
	return p.members(t.TrackID)
}

// Evolve applies one event to the state. It is the only place state changes.
func Evolve(o *Org, ev Event) {
	o.Version++
	switch e := ev.(type) {
	case *OrganizationCreated:
		o.Name, o.Kind, o.PresetID = e.Name, e.Kind, e.Preset
		o.usePreset(e.Preset, e.PresetVersion, e.PresetDefinition)
		o.Members = map[string]*OrgMember{e.AdminID: {UserID: e.AdminID, Email: e.AdminEmail, Name: e.AdminName, Role: e.AdminRole}}
		o.Workgroups = map[string]*Workgroup{}
		o.Projects = map[string]*Project{}
		o.Invitations = map[string]*Invitation{}
		o.CustomRoles = map[string]*Role{}
		o.userGroups = map[string][]string{}
		o.OwnerAccount = e.Account
	case *OrgMemberAdded:
		o.Members[e.UserID] = &OrgMember{UserID: e.UserID, Email: e.Email, Name: e.Name, Role: e.Role, InvitationID: e.InvitationID, ExpiresAt: e.ExpiresAt}
		o.expiring.set(orgKey(e.UserID), e.ExpiresAt)
	case *OrgRoleChanged:
		if m, ok := o.Members[e.UserID]; ok {
			m.Role = e.Role
		}
	case *OrgMemberRemoved:
		delete(o.Members, e.UserID)
		o.expiring.set(orgKey(e.UserID), time.Time{})
	case *WorkgroupCreated:
		o.Workgroups[e.GroupID] = &Workgroup{ID: e.GroupID, Name: e.Name, Members: map[string]bool{}}
	case *WorkgroupMemberAdded:
		if g, ok := o.Workgroups[e.GroupID]; ok {
			setWorkgroupExpiry(o, g, e.UserID, e.ExpiresAt)
		}
		if g, ok := o.Workgroups[e.GroupID]; ok && !g.Members[e.UserID] {
			g.Members[e.UserID] = true
			gs := append(slices.Clone(o.userGroups[e.UserID]), e.GroupID) // never grow a slice a copy may share
			slices.Sort(gs)
			o.userGroups[e.UserID] = gs
		}
	case *WorkgroupMemberRemoved:
		if g, ok := o.Workgroups[e.GroupID]; ok {
			setWorkgroupExpiry(o, g, e.UserID, time.Time{})
			delete(g.Members, e.UserID)
			gs := slices.DeleteFunc(slices.Clone(o.userGroups[e.UserID]), func(id string) bool { return id == e.GroupID })
			if len(gs) == 0 {
				delete(o.userGroups, e.UserID)
			} else {
				o.userGroups[e.UserID] = gs
			}
		}
	case *ProjectCreated:
		o.Projects[e.ProjectID] = &Project{ID: e.ProjectID, Name: e.Name, Visibility: e.Visibility, Status: StatusActive,
			CreatedBy: e.CreatedBy, Members: map[string]*Membership{}, Tracks: map[string]*Track{}, Partners: map[string]*Partner{}}
	case *ProjectRenamed:
		if p, ok := o.Projects[e.ProjectID]; ok {
			p.Name = e.Name
		}
	case *ProjectVisibilitySet:
		if p, ok := o.Projects[e.ProjectID]; ok {
			p.Visibility = e.Visibility
		}
	case *ProjectArchived:
		o.setStatus(e.ProjectID, StatusArchived)
	case *ProjectUnarchived:
		o.setStatus(e.ProjectID, StatusActive)
	case *ProjectDeleted:
		o.setStatus(e.ProjectID, StatusDeleted)
		o.expiring.dropProject(e.ProjectID)
	case *TrackCreated:
		if p, ok := o.Projects[e.ProjectID]; ok {
			p.Tracks[e.TrackID] = &Track{ID: e.TrackID, Name: e.Name, Compute: e.Compute, NotebookEnv: e.NotebookEnv, Members: map[string]*Membership{}}
		}
	case *TrackConfigured:
		if p, ok := o.Projects[e.ProjectID]; ok {
			if t, ok := p.Tracks[e.TrackID]; ok {
				t.Name, t.Compute, t.NotebookEnv = e.Name, e.Compute, e.NotebookEnv
			}
		}
	case *MemberAdded:
		if mm := membershipMap(o, e.Target); mm != nil {
			mm[e.Principal.Key()] = &Membership{Principal: e.Principal, Email: e.Email, Name: e.Name,
				Roles: slices.Clone(e.Roles), Grants: slices.Clone(e.Grants), PartnerID: e.PartnerID, Guest: e.Guest, InvitationID: e.InvitationID,
				ExpiresAt: e.ExpiresAt}
			o.expiring.set(memberKey(e.Target, e.Principal), e.ExpiresAt)
		}
	case *RoleChanged:
		if m := membershipMap(o, e.Target)[e.Principal.Key()]; m != nil {
			m.Roles = slices.Clone(e.Roles)
			setMembershipExpiry(o, e.Target, m, e.ExpiresAt)
		}
	case *GrantsSet:
		if m := membershipMap(o, e.Target)[e.Principal.Key()]; m != nil {
			m.Grants = slices.Clone(e.Grants)
			setMembershipExpiry(o, e.Target, m, e.ExpiresAt)
		}
	case *MemberRemoved:
		if mm := membershipMap(o, e.Target); mm != nil {
			delete(mm, e.Principal.Key())
			o.expiring.set(memberKey(e.Target, e.Principal), time.Time{})
		}
	case *InvitationCreated:
		o.Invitations[e.InvitationID] = &Invitation{ID: e.InvitationID, ProjectID: e.ProjectID, TrackID: e.TrackID,
			Email: e.Email, UserID: e.UserID, Name: e.Name, Roles: slices.Clone(e.Roles), Grants: slices.Clone(e.Grants),
			PartnerID: e.PartnerID, InvitedBy: e.InvitedBy, Status: InvitePending, ExpiresAt: e.ExpiresAt, TokenSHA256: e.TokenSHA256,
			MembershipExpiresAt: e.MembershipExpiresAt}
	case *InvitationAccepted:
		if inv, ok := o.Invitations[e.InvitationID]; ok {
			inv.Status, inv.AnsweredBy = InviteAccepted, e.UserID
			if inv.UserID == "" {
				inv.UserID = e.UserID
			}
		}
	case *InvitationRejected:
		if inv, ok := o.Invitations[e.InvitationID]; ok {
			inv.Status, inv.AnsweredBy = InviteRejected, e.UserID
		}
	case *InvitationRevoked:
		if inv, ok := o.Invitations[e.InvitationID]; ok {
			inv.Status = InviteRevoked
		}
	case *InvitationExpired:
		if inv, ok := o.Invitations[e.InvitationID]; ok {
			inv.Status = InviteExpired
		}
	case *PartnerAdded:
		if p, ok := o.Projects[e.ProjectID]; ok {
			p.Partners[e.PartnerID] = &Partner{ID: e.PartnerID, Name: e.Name, AdminEmail: e.AdminEmail}
		}
	case *RoleDefined:
		o.CustomRoles[e.Role] = &Role{ID: e.Role, Label: e.Label, Description: e.Description, Scope: e.Scope,
			Category: e.Category, Permissions: []string{}, Custom: true, ProjectID: e.ProjectID}
	case *RolePermissionsSet:
		if r, ok := o.CustomRoles[e.Role]; ok {
			r.Permissions = slices.Clone(e.Permissions)
		}
	case *RoleDeleted:
		delete(o.CustomRoles, e.Role)
	case *OrganizationAccessGranted:
		o.Accounts = withAccount(o.Accounts, e.Account)
	case *OrganizationAccessRevoked:
		o.Accounts = withoutAccount(o.Accounts, e.Account)
	case *PresetUpgraded:
		if e.Preset != nil {
			o.usePreset(o.PresetID, e.To, e.Preset)
		}
	case *MembershipExpired:
		evolveMembershipEnd(o, e.MembershipRef, time.Time{}, true)
	case *MembershipExtended:
		evolveMembershipEnd(o, e.MembershipRef, e.ExpiresAt, false)
	}
}

func (o *Org) setStatus(projectID, status string) {
	if p, ok := o.Projects[projectID]; ok {
		p.Status = status
	}
}

// Clone returns a deep copy, so that a decision can be tried on it (dry runs, imports).
func (o *Org) Clone() *Org {
	c := *o
	c.Accounts = slices.Clone(o.Accounts)
	c.Members = make(map[string]*OrgMember, len(o.Members))
	for k, m := range o.Members {
		mc := *m
		c.Members[k] = &mc
	}
	c.Workgroups = make(map[string]*Workgroup, len(o.Workgroups))
	for k, g := range o.Workgroups {
		c.Workgroups[k] = cloneWorkgroup(g)
	}
	c.userGroups = make(map[string][]string, len(o.userGroups))
	for u, gs := range o.userGroups {
		c.userGroups[u] = slices.Clone(gs)
	}
	c.expiring = o.expiring.clone()
	c.Projects = make(map[string]*Project, len(o.Projects))
	for k, p := range o.Projects {
		c.Projects[k] = cloneProject(p)
	}
	c.Invitations = make(map[string]*Invitation, len(o.Invitations))
	for k, inv := range o.Invitations {
		c.Invitations[k] = cloneInvitation(inv)
	}
	c.CustomRoles = make(map[string]*Role, len(o.CustomRoles))
	for k, r := range o.CustomRoles {
		rc := *r
		rc.Permissions = slices.Clone(r.Permissions)
		c.CustomRoles[k] = &rc
	}
	return &c
}

func cloneWorkgroup(g *Workgroup) *Workgroup {
	gc := *g
	gc.Members = make(map[string]bool, len(g.Members))
	for u := range g.Members {
		gc.Members[u] = true
	}
	if g.Expires != nil {
		gc.Expires = make(map[string]time.Time, len(g.Expires))
		for u, t := range g.Expires {
			gc.Expires[u] = t
		}
	}
	return &gc
}

func cloneProject(p *Project) *Project {
	pc := *p
	pc.Members = cloneMemberships(p.Members)
	pc.Tracks = make(map[string]*Track, len(p.Tracks))
	for tk, t := range p.Tracks {
		tc := *t
		tc.Members = cloneMemberships(t.Members)
		pc.Tracks[tk] = &tc
	}
	pc.Partners = make(map[string]*Partner, len(p.Partners))
	for pk, pa := range p.Partners {
		pac := *pa
		pc.Partners[pk] = &pac
	}
	return &pc
}

func cloneInvitation(inv *Invitation) *Invitation {
	ic := *inv
	ic.Roles, ic.Grants = slices.Clone(inv.Roles), slices.Clone(inv.Grants)
	return &ic
}

func cloneMemberships(in map[string]*Membership) map[string]*Membership {
	out := make(map[string]*Membership, len(in))
	for k, m := range in {
		mc := *m
		mc.Roles, mc.Grants = slices.Clone(m.Roles), slices.Clone(m.Grants)
		out[k] = &mc
	}
	return out
}
