package domain

// Command names: the wire and the presets use these strings; Go type names never leak out.
const (
	CmdCreateOrganization       = "CreateOrganization"
	CmdAddOrgMember             = "AddOrgMember"
	CmdChangeOrgRole            = "ChangeOrgRole"
	CmdRemoveOrgMember          = "RemoveOrgMember"
	CmdCreateWorkgroup          = "CreateWorkgroup"
	CmdAddWorkgroupMember       = "AddWorkgroupMember"
	CmdRemoveWorkgroupMember    = "RemoveWorkgroupMember"
	CmdCreateProject            = "CreateProject"
	CmdRenameProject            = "RenameProject"
	CmdSetProjectVisibility     = "SetProjectVisibility"
	CmdTransferProjectOwnership = "TransferProjectOwnership"
	CmdAddMember                = "AddMember"
	CmdInviteMember             = "InviteMember"
	CmdAcceptInvite             = "AcceptInvite"
	CmdRejectInvite             = "RejectInvite"
	CmdRevokeInvite             = "RevokeInvite"
	CmdExpireInvites            = "ExpireInvites"
	CmdChangeRole               = "ChangeRole"
	CmdSetMemberGrants          = "SetMemberGrants"
	CmdRemoveMember             = "RemoveMember"
	CmdLeaveProject             = "LeaveProject"
	CmdArchiveProject           = "ArchiveProject"
	CmdUnarchiveProject         = "UnarchiveProject"
	CmdDeleteProject            = "DeleteProject"
	CmdCreateTrack              = "CreateTrack"
	CmdConfigureTrack           = "ConfigureTrack"
	CmdAddPartner               = "AddPartner"
	CmdDefineRole               = "DefineRole"
	CmdSetRolePermissions       = "SetRolePermissions"
	CmdDeleteRole               = "DeleteRole"
	CmdImportMembers            = "ImportMembers"
	// Tenancy (tenancy.go).
	CmdGrantOrganizationAccess  = "GrantOrganizationAccess"
	CmdRevokeOrganizationAccess = "RevokeOrganizationAccess"
	// Preset versions (preset_upgrade.go).
	CmdUpgradePreset = "UpgradePreset"
	// Time-bound access (expiry.go).
	CmdExtendMembership  = "ExtendMembership"
	CmdExpireMemberships = "ExpireMemberships"
)

// CommandNames lists every command the domain decides, in a stable order.
func CommandNames() []string {
	return []string{
		CmdCreateOrganization, CmdAddOrgMember, CmdChangeOrgRole, CmdRemoveOrgMember,
		CmdCreateWorkgroup, CmdAddWorkgroupMember, CmdRemoveWorkgroupMember,
		CmdCreateProject, CmdRenameProject, CmdSetProjectVisibility, CmdTransferProjectOwnership,
		CmdAddMember, CmdInviteMember, CmdAcceptInvite, CmdRejectInvite, CmdRevokeInvite, CmdExpireInvites,
		CmdChangeRole, CmdSetMemberGrants, CmdRemoveMember, CmdLeaveProject,
		CmdArchiveProject, CmdUnarchiveProject, CmdDeleteProject,
		CmdCreateTrack, CmdConfigureTrack, CmdAddPartner,
		CmdDefineRole, CmdSetRolePermissions, CmdDeleteRole, CmdImportMembers,
		CmdGrantOrganizationAccess, CmdRevokeOrganizationAccess,
		CmdUpgradePreset,
		CmdExtendMembership, CmdExpireMemberships,
	}
}

func knownCommand(name string) bool {
	for _, n := range CommandNames() {
		if n == name {
			return true
		}
	}
	return false
}

// Event type names, past tense, stable on the wire and in the log.
const (
	EvOrganizationCreated    = "OrganizationCreated"
	EvOrgMemberAdded         = "OrgMemberAdded"
	EvOrgRoleChanged         = "OrgRoleChanged"
	EvOrgMemberRemoved       = "OrgMemberRemoved"
	EvWorkgroupCreated       = "WorkgroupCreated"
	EvWorkgroupMemberAdded   = "WorkgroupMemberAdded"
	EvWorkgroupMemberRemoved = "WorkgroupMemberRemoved"
	EvProjectCreated         = "ProjectCreated"
	EvProjectRenamed         = "ProjectRenamed"
	EvProjectVisibilitySet   = "ProjectVisibilitySet"
	EvProjectArchived        = "ProjectArchived"
	EvProjectUnarchived      = "ProjectUnarchived"
	EvProjectDeleted         = "ProjectDeleted"
	EvTrackCreated           = "TrackCreated"
	EvTrackConfigured        = "TrackConfigured"
	EvMemberAdded            = "MemberAdded"
	EvRoleChanged            = "RoleChanged"
	EvGrantsSet              = "GrantsSet"
	EvMemberRemoved          = "MemberRemoved"
	EvInvitationCreated      = "InvitationCreated"
	EvInvitationAccepted     = "InvitationAccepted"
	EvInvitationRejected     = "InvitationRejected"
	EvInvitationRevoked      = "InvitationRevoked"
	EvInvitationExpired      = "InvitationExpired"
	EvPartnerAdded           = "PartnerAdded"
	EvRoleDefined            = "RoleDefined"
	EvRolePermissionsSet     = "RolePermissionsSet"
	EvRoleDeleted            = "RoleDeleted"
	// Tenancy (tenancy.go).
	EvOrganizationAccessGranted = "OrganizationAccessGranted"
	EvOrganizationAccessRevoked = "OrganizationAccessRevoked"
	// Preset versions (preset_upgrade.go).
	EvPresetUpgraded = "PresetUpgraded"
	// Time-bound access (expiry.go).
	EvMembershipExpired  = "MembershipExpired"
	EvMembershipExtended = "MembershipExtended"
)
