package queries_test

// The differential test's own fold of the log: small, slow and obvious. It reads each record's
// type and raw JSON data and writes the plain exported fields of a domain.Org by hand; it never
// calls domain.DecodeEvent or domain.Evolve, so a bug in the domain's fold (an event ignored,
// a field dropped) shows up as a difference between the views and this model.
//
// It keeps only what the reference evaluator reads: members, workgroups, projects with their
// memberships, tracks and partners, invitations and custom roles. The preset is the one the log
// names: the definition OrganizationCreated records, replaced by each PresetUpgraded (the preset
// files by id only for a log that records none). Time-bound memberships keep their end instants
// (expires_at of the events that take it, MembershipExtended); refAt drops, as of an instant,
// every membership whose end has come, with what an organization membership's end takes along.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"roster/domain"
	"roster/eventstore"
)

// refData is every field any event of the log carries, by its JSON name.
type refData struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"`
	Preset      json.RawMessage `json:"preset"` // a name (OrganizationCreated) or a definition (PresetUpgraded)
	PresetDef   *domain.Preset  `json:"preset_definition"`
	AdminID     string          `json:"admin_user_id"`
	AdminEmail  string          `json:"admin_email"`
	AdminName   string          `json:"admin_name"`
	AdminRole   string          `json:"admin_role"`
	UserID      string          `json:"user_id"`
	GroupID     string          `json:"group_id"`
	Email       string          `json:"email"`
	Role        string          `json:"role"`
	Roles       []string        `json:"roles"`
	Grants      []string        `json:"grants"`
	ProjectID   string          `json:"project_id"`
	TrackID     string          `json:"track_id"`
	Visibility  string          `json:"visibility"`
	CreatedBy   string          `json:"created_by"`
	Compute     string          `json:"compute"`
	NotebookEnv string          `json:"notebook_env"`
	PartnerID   string          `json:"partner_id"`
	Guest       bool            `json:"guest"`
	Invitation  string          `json:"invitation_id"`
	InvitedBy   string          `json:"invited_by"`
	ExpiresAt   time.Time       `json:"expires_at"`
	Label       string          `json:"label"`
	Description string          `json:"description"`
	Scope       string          `json:"scope"`
	Category    string          `json:"category"`
	Permissions []string        `json:"permissions"`
}

// refNewOrg is an organization before its first event.
func refNewOrg(id string) *domain.Org {
	return &domain.Org{ID: id, Members: map[string]*domain.OrgMember{}, Workgroups: map[string]*domain.Workgroup{},
		Projects: map[string]*domain.Project{}, Invitations: map[string]*domain.Invitation{}, CustomRoles: map[string]*domain.Role{}}
}

func refKey(d refData) string {
	if d.GroupID != "" {
		return "g:" + d.GroupID
	}
	return "u:" + d.UserID
}

// refMemberships is the membership map of a project (track == "") or of one of its tracks.
func refMemberships(o *domain.Org, project, track string) map[string]*domain.Membership {
	p := o.Projects[project]
	if p == nil {
		return nil
	}
	if track == "" {
		return p.Members
	}
	if t := p.Tracks[track]; t != nil {
		return t.Members
	}
	return nil
}

// refApply folds one record into o.
func refApply(o *domain.Org, r eventstore.Record) error {
	var d refData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return fmt.Errorf("record %d (%s): %w", r.Position, r.Type, err)
	}
	o.Version++
	switch r.Type {
	case "OrganizationCreated":
		o.Name, o.Kind, o.PresetDefinition = d.Name, d.Kind, d.PresetDef
		if err := json.Unmarshal(d.Preset, &o.PresetID); err != nil {
			return fmt.Errorf("record %d: preset: %w", r.Position, err)
		}
		o.Members[d.AdminID] = &domain.OrgMember{UserID: d.AdminID, Email: d.AdminEmail, Name: d.AdminName, Role: d.AdminRole}
	case "OrgMemberAdded":
		o.Members[d.UserID] = &domain.OrgMember{UserID: d.UserID, Email: d.Email, Name: d.Name, Role: d.Role, InvitationID: d.Invitation,
			ExpiresAt: d.ExpiresAt}
	case "OrgRoleChanged":
		if m := o.Members[d.UserID]; m != nil {
			m.Role = d.Role
		}
	case "OrgMemberRemoved":
		delete(o.Members, d.UserID)
	case "WorkgroupCreated":
		o.Workgroups[d.GroupID] = &domain.Workgroup{ID: d.GroupID, Name: d.Name, Members: map[string]bool{}}
	case "WorkgroupMemberAdded":
		if g := o.Workgroups[d.GroupID]; g != nil {
			g.Members[d.UserID] = true
			if !d.ExpiresAt.IsZero() {
				if g.Expires == nil {
					g.Expires = map[string]time.Time{}
				}
				g.Expires[d.UserID] = d.ExpiresAt
			}
		}
	case "WorkgroupMemberRemoved":
		if g := o.Workgroups[d.GroupID]; g != nil {
			delete(g.Members, d.UserID)
			delete(g.Expires, d.UserID)
		}
	case "ProjectCreated":
		o.Projects[d.ProjectID] = &domain.Project{ID: d.ProjectID, Name: d.Name, Visibility: d.Visibility, Status: domain.StatusActive,
			CreatedBy: d.CreatedBy, Members: map[string]*domain.Membership{}, Tracks: map[string]*domain.Track{}, Partners: map[string]*domain.Partner{}}
	case "ProjectRenamed", "ProjectVisibilitySet", "ProjectArchived", "ProjectUnarchived", "ProjectDeleted":
		p := o.Projects[d.ProjectID]
		if p == nil {
			return nil
		}
		switch r.Type {
		case "ProjectRenamed":
			p.Name = d.Name
		case "ProjectVisibilitySet":
			p.Visibility = d.Visibility
		case "ProjectArchived":
			p.Status = domain.StatusArchived
		case "ProjectUnarchived":
			p.Status = domain.StatusActive
		case "ProjectDeleted":
			p.Status = domain.StatusDeleted
		}
	case "TrackCreated":
		if p := o.Projects[d.ProjectID]; p != nil {
			p.Tracks[d.TrackID] = &domain.Track{ID: d.TrackID, Name: d.Name, Compute: d.Compute, NotebookEnv: d.NotebookEnv,
				Members: map[string]*domain.Membership{}}
		}
	case "TrackConfigured":
		if p := o.Projects[d.ProjectID]; p != nil && p.Tracks[d.TrackID] != nil {
			t := p.Tracks[d.TrackID]
			t.Name, t.Compute, t.NotebookEnv = d.Name, d.Compute, d.NotebookEnv
		}
	case "MemberAdded":
		if mm := refMemberships(o, d.ProjectID, d.TrackID); mm != nil {
			mm[refKey(d)] = &domain.Membership{Principal: domain.Principal{UserID: d.UserID, GroupID: d.GroupID}, Email: d.Email,
				Name: d.Name, Roles: slices.Clone(d.Roles), Grants: slices.Clone(d.Grants), PartnerID: d.PartnerID, Guest: d.Guest,
				InvitationID: d.Invitation, ExpiresAt: d.ExpiresAt}
		}
	case "RoleChanged":
		if m := refMemberships(o, d.ProjectID, d.TrackID)[refKey(d)]; m != nil {
			m.Roles = slices.Clone(d.Roles)
			if !d.ExpiresAt.IsZero() {
				m.ExpiresAt = d.ExpiresAt
			}
		}
	case "GrantsSet":
		if m := refMemberships(o, d.ProjectID, d.TrackID)[refKey(d)]; m != nil {
			m.Grants = slices.Clone(d.Grants)
			if !d.ExpiresAt.IsZero() {
				m.ExpiresAt = d.ExpiresAt
			}
		}
	case "MemberRemoved":
		delete(refMemberships(o, d.ProjectID, d.TrackID), refKey(d))
	case "InvitationCreated":
		o.Invitations[d.Invitation] = &domain.Invitation{ID: d.Invitation, ProjectID: d.ProjectID, TrackID: d.TrackID, Email: d.Email,
			UserID: d.UserID, Name: d.Name, Roles: slices.Clone(d.Roles), Grants: slices.Clone(d.Grants), PartnerID: d.PartnerID,
			InvitedBy: d.InvitedBy, Status: domain.InvitePending, ExpiresAt: d.ExpiresAt}
	case "InvitationAccepted", "InvitationRejected", "InvitationRevoked", "InvitationExpired":
		inv := o.Invitations[d.Invitation]
		if inv == nil {
			return nil
		}
		switch r.Type {
		case "InvitationAccepted":
			inv.Status, inv.AnsweredBy = domain.InviteAccepted, d.UserID
			if inv.UserID == "" {
				inv.UserID = d.UserID
			}
		case "InvitationRejected":
			inv.Status, inv.AnsweredBy = domain.InviteRejected, d.UserID
		case "InvitationRevoked":
			inv.Status = domain.InviteRevoked
		case "InvitationExpired":
			inv.Status = domain.InviteExpired
		}
	case "PartnerAdded":
		if p := o.Projects[d.ProjectID]; p != nil {
			p.Partners[d.PartnerID] = &domain.Partner{ID: d.PartnerID, Name: d.Name, AdminEmail: d.AdminEmail}
		}
	case "RoleDefined":
		o.CustomRoles[d.Role] = &domain.Role{ID: d.Role, Label: d.Label, Description: d.Description, Scope: d.Scope,
			Category: d.Category, Permissions: []string{}, Custom: true, ProjectID: d.ProjectID}
	case "RolePermissionsSet":
		if cr := o.CustomRoles[d.Role]; cr != nil {
			cr.Permissions = slices.Clone(d.Permissions)
		}
	case "RoleDeleted":
		delete(o.CustomRoles, d.Role)
	case "MembershipExpired":
		switch d.Scope {
		case domain.ScopeOrg:
			delete(o.Members, d.UserID)
		case domain.ScopeWorkgroup:
			if g := o.Workgroups[d.GroupID]; g != nil {
				delete(g.Members, d.UserID)
				delete(g.Expires, d.UserID)
			}
		default:
			delete(refMemberships(o, d.ProjectID, d.TrackID), refKey(d))
		}
	case "MembershipExtended":
		switch d.Scope {
		case domain.ScopeOrg:
			if m := o.Members[d.UserID]; m != nil {
				m.ExpiresAt = d.ExpiresAt
			}
		case domain.ScopeWorkgroup:
			if g := o.Workgroups[d.GroupID]; g != nil && g.Members[d.UserID] {
				if g.Expires == nil {
					g.Expires = map[string]time.Time{}
				}
				g.Expires[d.UserID] = d.ExpiresAt
			}
		default:
			if m := refMemberships(o, d.ProjectID, d.TrackID)[refKey(d)]; m != nil {
				m.ExpiresAt = d.ExpiresAt
			}
		}
	case "PresetUpgraded":
		var def domain.Preset
		if err := json.Unmarshal(d.Preset, &def); err != nil {
			return fmt.Errorf("record %d: preset: %w", r.Position, err)
		}
		o.PresetDefinition = &def
	case "OrganizationAccessGranted", "OrganizationAccessRevoked":
		// Not read by the reference evaluator.
	default:
		return fmt.Errorf("record %d: event type %s unknown to the reference fold", r.Position, r.Type)
	}
	return nil
}

// refEnded reports whether an end (zero: none) has come at now.
func refEnded(end, now time.Time) bool { return !end.IsZero() && !now.Before(end) }

// refAt is the organization as of now: without the memberships whose end has come. An
// organization membership's end takes the user's project, track and workgroup memberships
// along and revokes their pending invitations (by user id, or by the member's e-mail) that had
// not expired by that end; a pending invitation past its expiry is expired. o is
// not changed; maps that lose entries are copies.
func refAt(o *domain.Org, now time.Time) *domain.Org {
	c := *o
	c.Members = map[string]*domain.OrgMember{}
	type ended struct {
		email string
		at    time.Time
	}
	gone := map[string]ended{} // the organization members whose end has come: e-mail and end
	for id, m := range o.Members {
		if refEnded(m.ExpiresAt, now) {
			gone[id] = ended{m.Email, m.ExpiresAt}
			continue
		}
		c.Members[id] = m
	}
	c.Workgroups = map[string]*domain.Workgroup{}
	for id, g := range o.Workgroups {
		cg := *g
		cg.Members = map[string]bool{}
		for u := range g.Members {
			if _, ok := gone[u]; ok || refEnded(g.Expires[u], now) {
				continue
			}
			cg.Members[u] = true
		}
		c.Workgroups[id] = &cg
	}
	// A deleted project's memberships keep no end (the project is gone for every answer).
	keep := func(mm map[string]*domain.Membership, deleted bool) map[string]*domain.Membership {
		out := map[string]*domain.Membership{}
		for k, m := range mm {
			if _, ok := gone[m.UserID]; (ok && m.GroupID == "") || (!deleted && refEnded(m.ExpiresAt, now)) {
				continue
			}
			out[k] = m
		}
		return out
	}
	c.Projects = map[string]*domain.Project{}
	for id, p := range o.Projects {
		cp := *p
		cp.Members = keep(p.Members, p.Status == domain.StatusDeleted)
		cp.Tracks = map[string]*domain.Track{}
		for tid, t := range p.Tracks {
			ct := *t
			ct.Members = keep(t.Members, p.Status == domain.StatusDeleted)
			cp.Tracks[tid] = &ct
		}
		c.Projects[id] = &cp
	}
	c.Invitations = map[string]*domain.Invitation{}
	for id, inv := range o.Invitations {
		if inv.Status == domain.InvitePending {
			// Whichever came first: the invitee's end (revoked then) or the invitation's own.
			for u, g := range gone {
				if (inv.UserID == u || (g.email != "" && strings.EqualFold(inv.Email, g.email))) && g.at.Before(inv.ExpiresAt) {
					ci := *inv
					ci.Status = domain.InviteRevoked
					inv = &ci
					break
				}
			}
		}
		if inv.Status == domain.InvitePending && !now.Before(inv.ExpiresAt) {
			ci := *inv // past its expiry before InvitationExpired is appended
			ci.Status = domain.InviteExpired
			inv = &ci
		}
		c.Invitations[id] = inv
	}
	return &c
}
