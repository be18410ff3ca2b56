package commands

import (
	"fmt"
	"unicode/utf8"

	"roster/client"
	"roster/domain"
	"roster/internal/edge"
)

// decoders maps each public command to the function that decodes its wire request
// (client's type) and converts it to the domain's command.
var decoders = map[string]func([]byte) (domain.Command, error){
	client.CmdCreateOrganization:       decodeCreateOrganization,
	client.CmdAddOrgMember:             decodeAddOrgMember,
	client.CmdChangeOrgRole:            decodeChangeOrgRole,
	client.CmdRemoveOrgMember:          decodeRemoveOrgMember,
	client.CmdCreateWorkgroup:          decodeCreateWorkgroup,
	client.CmdAddWorkgroupMember:       decodeAddWorkgroupMember,
	client.CmdRemoveWorkgroupMember:    decodeRemoveWorkgroupMember,
	client.CmdCreateProject:            decodeCreateProject,
	client.CmdRenameProject:            decodeRenameProject,
	client.CmdSetProjectVisibility:     decodeSetProjectVisibility,
	client.CmdTransferProjectOwnership: decodeTransferProjectOwnership,
	client.CmdAddMember:                decodeAddMember,
	client.CmdInviteMember:             decodeInviteMember,
	client.CmdAcceptInvite:             decodeAcceptInvite,
	client.CmdRejectInvite:             decodeRejectInvite,
	client.CmdRevokeInvite:             decodeRevokeInvite,
	client.CmdGrantOrganizationAccess:  decodeGrantOrganizationAccess,
	client.CmdRevokeOrganizationAccess: decodeRevokeOrganizationAccess,
	client.CmdChangeRole:               decodeChangeRole,
	client.CmdExtendMembership:         decodeExtendMembership,
	client.CmdSetMemberGrants:          decodeSetMemberGrants,
	client.CmdRemoveMember:             decodeRemoveMember,
	client.CmdLeaveProject:             decodeLeaveProject,
	client.CmdArchiveProject:           decodeArchiveProject,
	client.CmdUnarchiveProject:         decodeUnarchiveProject,
	client.CmdDeleteProject:            decodeDeleteProject,
	client.CmdCreateTrack:              decodeCreateTrack,
	client.CmdConfigureTrack:           decodeConfigureTrack,
	client.CmdAddPartner:               decodeAddPartner,
	client.CmdDefineRole:               decodeDefineRole,
	client.CmdSetRolePermissions:       decodeSetRolePermissions,
	client.CmdDeleteRole:               decodeDeleteRole,
	client.CmdImportMembers:            decodeImportMembers,
	client.CmdUpgradePreset:            decodeUpgradePreset,
}

func decodeCreateOrganization(body []byte) (domain.Command, error) {
	var c client.CreateOrganization
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkNameText("name", c.Name, MaxNameLen), checkText("kind", c.Kind, MaxLabelLen), checkText("preset", c.Preset, MaxLabelLen), checkEmail("actor_email", c.ActorEmail), checkNameText("actor_name", c.ActorName, MaxNameLen)); err != nil {
		return nil, err
	}
	if c.Name == "" {
		c.Name = c.OrgID // an organization without a name is named by its id (README "Limits")
	}
	return &domain.CreateOrganization{Meta: domain.Meta(c.Meta), Name: c.Name, Kind: c.Kind, Preset: c.Preset, ActorEmail: c.ActorEmail, ActorName: c.ActorName}, nil
}

func decodeAddOrgMember(body []byte) (domain.Command, error) {
	var c client.AddOrgMember
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkEmail("email", c.Email), checkNameText("name", c.Name, MaxNameLen), checkText("role", c.Role, MaxIDLen), checkText("expires_at", c.ExpiresAt, MaxTimeLen)); err != nil {
		return nil, err
	}
	return &domain.AddOrgMember{Meta: domain.Meta(c.Meta), UserID: c.UserID, Email: c.Email, Name: c.Name, Role: c.Role, ExpiresAt: c.ExpiresAt}, nil
}

func decodeChangeOrgRole(body []byte) (domain.Command, error) {
	var c client.ChangeOrgRole
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("role", c.Role, MaxIDLen)); err != nil {
		return nil, err
	}
	return &domain.ChangeOrgRole{Meta: domain.Meta(c.Meta), UserID: c.UserID, Role: c.Role}, nil
}

func decodeRemoveOrgMember(body []byte) (domain.Command, error) {
	var c client.RemoveOrgMember
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta))); err != nil {
		return nil, err
	}
	return &domain.RemoveOrgMember{Meta: domain.Meta(c.Meta), UserID: c.UserID}, nil
}

func decodeCreateWorkgroup(body []byte) (domain.Command, error) {
	var c client.CreateWorkgroup
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkNameText("name", c.Name, MaxNameLen)); err != nil {
		return nil, err
	}
	return &domain.CreateWorkgroup{Meta: domain.Meta(c.Meta), GroupID: c.GroupID, Name: c.Name}, nil
}

func decodeAddWorkgroupMember(body []byte) (domain.Command, error) {
	var c client.AddWorkgroupMember
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("expires_at", c.ExpiresAt, MaxTimeLen)); err != nil {
		return nil, err
	}
	return &domain.AddWorkgroupMember{Meta: domain.Meta(c.Meta), GroupID: c.GroupID, UserID: c.UserID, ExpiresAt: c.ExpiresAt}, nil
}

func decodeRemoveWorkgroupMember(body []byte) (domain.Command, error) {
	var c client.RemoveWorkgroupMember
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta))); err != nil {
		return nil, err
	}
	return &domain.RemoveWorkgroupMember{Meta: domain.Meta(c.Meta), GroupID: c.GroupID, UserID: c.UserID}, nil
}

func decodeCreateProject(body []byte) (domain.Command, error) {
	var c client.CreateProject
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkNameText("name", c.Name, MaxNameLen), checkText("visibility", c.Visibility, MaxLabelLen), checkTrack(c.Track)); err != nil {
		return nil, err
	}
	return &domain.CreateProject{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, Name: c.Name, Visibility: c.Visibility, Track: (*domain.TrackSpec)(c.Track)}, nil
}

func decodeRenameProject(body []byte) (domain.Command, error) {
	var c client.RenameProject
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkNameText("name", c.Name, MaxNameLen)); err != nil {
		return nil, err
	}
	return &domain.RenameProject{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, Name: c.Name}, nil
}

func decodeSetProjectVisibility(body []byte) (domain.Command, error) {
	var c client.SetProjectVisibility
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("visibility", c.Visibility, MaxLabelLen)); err != nil {
		return nil, err
	}
	return &domain.SetProjectVisibility{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, Visibility: c.Visibility}, nil
}

func decodeTransferProjectOwnership(body []byte) (domain.Command, error) {
	var c client.TransferProjectOwnership
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkList("previous_owner_roles", c.PreviousOwnerRoles, MaxRoles, MaxIDLen)); err != nil {
		return nil, err
	}
	return &domain.TransferProjectOwnership{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, NewOwner: c.NewOwner, PreviousOwnerRoles: c.PreviousOwnerRoles}, nil
}

func decodeAddMember(body []byte) (domain.Command, error) {
	var c client.AddMember
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkList("roles", c.Roles, MaxRoles, MaxIDLen), checkList("grants", c.Grants, MaxGrants, MaxIDLen), checkEmail("email", c.Email), checkNameText("name", c.Name, MaxNameLen), checkText("expires_at", c.ExpiresAt, MaxTimeLen)); err != nil {
		return nil, err
	}
	return &domain.AddMember{Meta: domain.Meta(c.Meta), MemberRef: domain.MemberRef(c.MemberRef), Roles: c.Roles, Grants: c.Grants, PartnerID: c.PartnerID, Email: c.Email, Name: c.Name, ExpiresAt: c.ExpiresAt}, nil
}

func decodeInviteMember(body []byte) (domain.Command, error) {
	var c client.InviteMember
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkEmail("email", c.Email), checkNameText("name", c.Name, MaxNameLen), checkText("role", c.Role, MaxIDLen), checkList("roles", c.Roles, MaxRoles, MaxIDLen), checkList("grants", c.Grants, MaxGrants, MaxIDLen), checkText("expires_at", c.ExpiresAt, MaxTimeLen)); err != nil {
		return nil, err
	}
	return &domain.InviteMember{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, TrackID: c.TrackID, Email: c.Email, UserID: c.UserID, Name: c.Name, Role: c.Role, Roles: c.Roles, Grants: c.Grants, PartnerID: c.PartnerID, InvitationID: c.InvitationID, ExpiresAt: c.ExpiresAt}, nil
}

func decodeAcceptInvite(body []byte) (domain.Command, error) {
	var c client.AcceptInvite
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkEmail("actor_email", c.ActorEmail), checkNameText("actor_name", c.ActorName, MaxNameLen)); err != nil {
		return nil, err
	}
	return &domain.AcceptInvite{Meta: domain.Meta(c.Meta), InvitationID: c.InvitationID, ActorEmail: c.ActorEmail, ActorName: c.ActorName, Token: c.Token}, nil
}

func decodeRejectInvite(body []byte) (domain.Command, error) {
	var c client.RejectInvite
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkEmail("actor_email", c.ActorEmail), checkNameText("actor_name", c.ActorName, MaxNameLen)); err != nil {
		return nil, err
	}
	return &domain.RejectInvite{Meta: domain.Meta(c.Meta), InvitationID: c.InvitationID, ActorEmail: c.ActorEmail, ActorName: c.ActorName, Token: c.Token}, nil
}

func decodeRevokeInvite(body []byte) (domain.Command, error) {
	var c client.RevokeInvite
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta))); err != nil {
		return nil, err
	}
	return &domain.RevokeInvite{Meta: domain.Meta(c.Meta), InvitationID: c.InvitationID}, nil
}

func decodeGrantOrganizationAccess(body []byte) (domain.Command, error) {
	var c client.GrantOrganizationAccess
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("account", c.Account, MaxIDLen)); err != nil {
		return nil, err
	}
	return &domain.GrantOrganizationAccess{Meta: domain.Meta(c.Meta), Account: c.Account}, nil
}

func decodeRevokeOrganizationAccess(body []byte) (domain.Command, error) {
	var c client.RevokeOrganizationAccess
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("account", c.Account, MaxIDLen)); err != nil {
		return nil, err
	}
	return &domain.RevokeOrganizationAccess{Meta: domain.Meta(c.Meta), Account: c.Account}, nil
}

func decodeUpgradePreset(body []byte) (domain.Command, error) {
	var c client.UpgradePreset
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("preset_version", c.PresetVersion, MaxPresetVersionLen)); err != nil {
		return nil, err
	}
	return &domain.UpgradePreset{Meta: domain.Meta(c.Meta), PresetVersion: c.PresetVersion}, nil
}

func decodeChangeRole(body []byte) (domain.Command, error) {
	var c client.ChangeRole
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkList("roles", c.Roles, MaxRoles, MaxIDLen), checkText("expires_at", c.ExpiresAt, MaxTimeLen)); err != nil {
		return nil, err
	}
	return &domain.ChangeRole{Meta: domain.Meta(c.Meta), MemberRef: domain.MemberRef(c.MemberRef), Roles: c.Roles, ExpiresAt: c.ExpiresAt}, nil
}

func decodeSetMemberGrants(body []byte) (domain.Command, error) {
	var c client.SetMemberGrants
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkList("grants", c.Grants, MaxGrants, MaxIDLen), checkText("expires_at", c.ExpiresAt, MaxTimeLen)); err != nil {
		return nil, err
	}
	return &domain.SetMemberGrants{Meta: domain.Meta(c.Meta), MemberRef: domain.MemberRef(c.MemberRef), Grants: c.Grants, ExpiresAt: c.ExpiresAt}, nil
}

func decodeRemoveMember(body []byte) (domain.Command, error) {
	var c client.RemoveMember
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta))); err != nil {
		return nil, err
	}
	return &domain.RemoveMember{Meta: domain.Meta(c.Meta), MemberRef: domain.MemberRef(c.MemberRef)}, nil
}

func decodeLeaveProject(body []byte) (domain.Command, error) {
	var c client.LeaveProject
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta))); err != nil {
		return nil, err
	}
	return &domain.LeaveProject{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID}, nil
}

func decodeArchiveProject(body []byte) (domain.Command, error) {
	var c client.ArchiveProject
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta))); err != nil {
		return nil, err
	}
	return &domain.ArchiveProject{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID}, nil
}

func decodeUnarchiveProject(body []byte) (domain.Command, error) {
	var c client.UnarchiveProject
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta))); err != nil {
		return nil, err
	}
	return &domain.UnarchiveProject{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID}, nil
}

func decodeDeleteProject(body []byte) (domain.Command, error) {
	var c client.DeleteProject
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta))); err != nil {
		return nil, err
	}
	return &domain.DeleteProject{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID}, nil
}

func decodeCreateTrack(body []byte) (domain.Command, error) {
	var c client.CreateTrack
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkNameText("name", c.Name, MaxNameLen), checkText("compute", c.Compute, MaxLabelLen), checkText("notebook_env", c.NotebookEnv, MaxLabelLen)); err != nil {
		return nil, err
	}
	return &domain.CreateTrack{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, TrackID: c.TrackID, Name: c.Name, Compute: c.Compute, NotebookEnv: c.NotebookEnv}, nil
}

func decodeConfigureTrack(body []byte) (domain.Command, error) {
	var c client.ConfigureTrack
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkNameText("name", c.Name, MaxNameLen), checkText("compute", c.Compute, MaxLabelLen), checkText("notebook_env", c.NotebookEnv, MaxLabelLen)); err != nil {
		return nil, err
	}
	return &domain.ConfigureTrack{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, TrackID: c.TrackID, Name: c.Name, Compute: c.Compute, NotebookEnv: c.NotebookEnv}, nil
}

func decodeAddPartner(body []byte) (domain.Command, error) {
	var c client.AddPartner
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkNameText("name", c.Name, MaxNameLen), checkEmail("admin_email", c.AdminEmail)); err != nil {
		return nil, err
	}
	return &domain.AddPartner{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, PartnerID: c.PartnerID, Name: c.Name, AdminEmail: c.AdminEmail, InvitationID: c.InvitationID}, nil
}

func decodeDefineRole(body []byte) (domain.Command, error) {
	var c client.DefineRole
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("role", c.Role, MaxIDLen), checkText("label", c.Label, MaxLabelLen), checkText("description", c.Description, MaxDescriptionLen), checkText("scope", c.Scope, MaxLabelLen), checkText("category", c.Category, MaxLabelLen)); err != nil {
		return nil, err
	}
	return &domain.DefineRole{Meta: domain.Meta(c.Meta), Role: c.Role, Label: c.Label, Description: c.Description, Scope: c.Scope, Category: c.Category, ProjectID: c.ProjectID}, nil
}

func decodeSetRolePermissions(body []byte) (domain.Command, error) {
	var c client.SetRolePermissions
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("role", c.Role, MaxIDLen), checkList("permissions", c.Permissions, MaxPermissions, MaxIDLen)); err != nil {
		return nil, err
	}
	return &domain.SetRolePermissions{Meta: domain.Meta(c.Meta), Role: c.Role, Permissions: c.Permissions, ProjectID: c.ProjectID}, nil
}

func decodeDeleteRole(body []byte) (domain.Command, error) {
	var c client.DeleteRole
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("role", c.Role, MaxIDLen)); err != nil {
		return nil, err
	}
	return &domain.DeleteRole{Meta: domain.Meta(c.Meta), Role: c.Role, ProjectID: c.ProjectID}, nil
}

func decodeImportMembers(body []byte) (domain.Command, error) {
	var c client.ImportMembers
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkCSV(c.CSV)); err != nil {
		return nil, err
	}
	return &domain.ImportMembers{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, TrackID: c.TrackID, CSV: c.CSV}, nil
}

func checkTrack(t *client.TrackSpec) error {
	if t == nil {
		return nil
	}
	return first(checkNameText("track.name", t.Name, MaxNameLen), checkText("track.compute", t.Compute, MaxLabelLen),
		checkText("track.notebook_env", t.NotebookEnv, MaxLabelLen))
}

// checkCSV bounds an import's size; its rows (at most MaxImportRows, no control characters
// in a field) are checked as it is parsed.
func checkCSV(csv string) error {
	if len(csv) > MaxCSVBytes {
		return fmt.Errorf("csv is %d bytes; the limit is %d (and %d rows); split the import", len(csv), MaxCSVBytes, MaxImportRows)
	}
	if !utf8.ValidString(csv) {
		return fmt.Errorf("csv is not valid UTF-8")
	}
	// Control characters, such as the line breaks, are checked where the CSV is parsed. One
	// leading byte order mark (Excel writes one) is allowed and dropped there
	// (domain.NormalizeImportCSV); a U+FEFF anywhere else is refused as in any text.
	for i, r := range csv {
		if i == 0 && r == '\ufeff' {
			continue
		}
		if err := checkRune("csv", r, i); err != nil {
			return err
		}
	}
	return nil
}

func decodeExtendMembership(body []byte) (domain.Command, error) {
	var c client.ExtendMembership
	if err := edge.DecodeStrict(body, &c); err != nil {
		return nil, err
	}
	if err := first(checkMeta(domain.Meta(c.Meta)), checkText("expires_at", c.ExpiresAt, MaxTimeLen)); err != nil {
		return nil, err
	}
	return &domain.ExtendMembership{Meta: domain.Meta(c.Meta), ProjectID: c.ProjectID, TrackID: c.TrackID, UserID: c.UserID,
		GroupID: c.GroupID, ExpiresAt: c.ExpiresAt}, nil
}
