package queries_test

// The differential test's own fold of the log: small, slow and obvious. It reads each record's
// type and raw JSON data and writes the plain exported fields of a domain.Org by hand; it never
// calls domain.DecodeEvent or domain.Evolve, so a bug in the domain's fold (an event ignored,
// a field dropped) shows up as a difference between the views and this model.
//
// It keeps only what the reference evaluator reads: members, workgroups, projects with their
// memberships, tracks and partners, invitations and custom roles. The preset comes from the
// preset files by id (the differential history never upgrades a preset). Time-bound memberships
// are folded (expiry and extension events) but their end instants are not modelled.

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"roster/domain"
	"roster/eventstore"
)

// refData is every field any event of the log carries, by its JSON name.
type refData struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Preset      string    `json:"preset"`
	AdminID     string    `json:"admin_user_id"`
	AdminEmail  string    `json:"admin_email"`
	AdminName   string    `json:"admin_name"`
	AdminRole   string    `json:"admin_role"`
	UserID      string    `json:"user_id"`
	GroupID     string    `json:"group_id"`
	Email       string    `json:"email"`
	Role        string    `json:"role"`
	Roles       []string  `json:"roles"`
	Grants      []string  `json:"grants"`
	ProjectID   string    `json:"project_id"`
	TrackID     string    `json:"track_id"`
	Visibility  string    `json:"visibility"`
	CreatedBy   string    `json:"created_by"`
	Compute     string    `json:"compute"`
	NotebookEnv string    `json:"notebook_env"`
	PartnerID   string    `json:"partner_id"`
	Guest       bool      `json:"guest"`
	Invitation  string    `json:"invitation_id"`
	InvitedBy   string    `json:"invited_by"`
	ExpiresAt   time.Time `json:"expires_at"`
	Label       string    `json:"label"`
	Description string    `json:"description"`
	Scope       string    `json:"scope"`
	Category    string    `json:"category"`
	Permissions []string  `json:"permissions"`
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
		o.Name, o.Kind, o.PresetID = d.Name, d.Kind, d.Preset
		o.Members[d.AdminID] = &domain.OrgMember{UserID: d.AdminID, Email: d.AdminEmail, Name: d.AdminName, Role: d.AdminRole}
	case "OrgMemberAdded":
		o.Members[d.UserID] = &domain.OrgMember{UserID: d.UserID, Email: d.Email, Name: d.Name, Role: d.Role, InvitationID: d.Invitation}
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
		}
	case "WorkgroupMemberRemoved":
		if g := o.Workgroups[d.GroupID]; g != nil {
			delete(g.Members, d.UserID)
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
				InvitationID: d.Invitation}
		}
	case "RoleChanged":
		if m := refMemberships(o, d.ProjectID, d.TrackID)[refKey(d)]; m != nil {
			m.Roles = slices.Clone(d.Roles)
		}
	case "GrantsSet":
		if m := refMemberships(o, d.ProjectID, d.TrackID)[refKey(d)]; m != nil {
			m.Grants = slices.Clone(d.Grants)
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
			}
		default:
			delete(refMemberships(o, d.ProjectID, d.TrackID), refKey(d))
		}
	case "MembershipExtended", "OrganizationAccessGranted", "OrganizationAccessRevoked", "PresetUpgraded":
		// Not read by the reference evaluator.
	default:
		return fmt.Errorf("record %d: event type %s unknown to the reference fold", r.Position, r.Type)
	}
	return nil
}
