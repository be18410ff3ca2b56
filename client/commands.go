package client

// Command names of API.md.
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
	CmdGrantOrganizationAccess  = "GrantOrganizationAccess"
	CmdRevokeOrganizationAccess = "RevokeOrganizationAccess"
	CmdChangeRole               = "ChangeRole"
	CmdExtendMembership         = "ExtendMembership"
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
	CmdUpgradePreset            = "UpgradePreset"
)

// CommandNames lists every command a client may send, in API.md's order.
func CommandNames() []string {
	return []string{CmdCreateOrganization, CmdAddOrgMember, CmdChangeOrgRole, CmdRemoveOrgMember, CmdCreateWorkgroup, CmdAddWorkgroupMember, CmdRemoveWorkgroupMember, CmdCreateProject, CmdRenameProject, CmdSetProjectVisibility, CmdTransferProjectOwnership, CmdAddMember, CmdInviteMember, CmdAcceptInvite, CmdRejectInvite, CmdRevokeInvite, CmdChangeRole, CmdSetMemberGrants, CmdRemoveMember, CmdLeaveProject, CmdArchiveProject, CmdUnarchiveProject, CmdDeleteProject, CmdCreateTrack, CmdConfigureTrack, CmdAddPartner, CmdDefineRole, CmdSetRolePermissions, CmdDeleteRole, CmdImportMembers, CmdGrantOrganizationAccess, CmdRevokeOrganizationAccess, CmdUpgradePreset, CmdExtendMembership}
}

func (CreateOrganization) CommandName() string       { return CmdCreateOrganization }
func (AddOrgMember) CommandName() string             { return CmdAddOrgMember }
func (ChangeOrgRole) CommandName() string            { return CmdChangeOrgRole }
func (RemoveOrgMember) CommandName() string          { return CmdRemoveOrgMember }
func (CreateWorkgroup) CommandName() string          { return CmdCreateWorkgroup }
func (AddWorkgroupMember) CommandName() string       { return CmdAddWorkgroupMember }
func (RemoveWorkgroupMember) CommandName() string    { return CmdRemoveWorkgroupMember }
func (CreateProject) CommandName() string            { return CmdCreateProject }
func (RenameProject) CommandName() string            { return CmdRenameProject }
func (SetProjectVisibility) CommandName() string     { return CmdSetProjectVisibility }
func (TransferProjectOwnership) CommandName() string { return CmdTransferProjectOwnership }
func (AddMember) CommandName() string                { return CmdAddMember }
func (InviteMember) CommandName() string             { return CmdInviteMember }
func (AcceptInvite) CommandName() string             { return CmdAcceptInvite }
func (RejectInvite) CommandName() string             { return CmdRejectInvite }
func (RevokeInvite) CommandName() string             { return CmdRevokeInvite }
func (GrantOrganizationAccess) CommandName() string  { return CmdGrantOrganizationAccess }
func (UpgradePreset) CommandName() string            { return CmdUpgradePreset }
func (RevokeOrganizationAccess) CommandName() string { return CmdRevokeOrganizationAccess }
func (ChangeRole) CommandName() string               { return CmdChangeRole }
func (ExtendMembership) CommandName() string         { return CmdExtendMembership }
func (SetMemberGrants) CommandName() string          { return CmdSetMemberGrants }
func (RemoveMember) CommandName() string             { return CmdRemoveMember }
func (LeaveProject) CommandName() string             { return CmdLeaveProject }
func (ArchiveProject) CommandName() string           { return CmdArchiveProject }
func (UnarchiveProject) CommandName() string         { return CmdUnarchiveProject }
func (DeleteProject) CommandName() string            { return CmdDeleteProject }
func (CreateTrack) CommandName() string              { return CmdCreateTrack }
func (ConfigureTrack) CommandName() string           { return CmdConfigureTrack }
func (AddPartner) CommandName() string               { return CmdAddPartner }
func (DefineRole) CommandName() string               { return CmdDefineRole }
func (SetRolePermissions) CommandName() string       { return CmdSetRolePermissions }
func (DeleteRole) CommandName() string               { return CmdDeleteRole }
func (ImportMembers) CommandName() string            { return CmdImportMembers }

// Meta is carried by every command.
type Meta struct {
	OrgID         string `json:"org_id"`
	Actor         string `json:"actor"`
	CommandID     string `json:"command_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	// DryRun asks for the events the command would append, appending nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// TrackSpec describes a track to create with a project.
type TrackSpec struct {
	TrackID     string `json:"track_id,omitempty"`
	Name        string `json:"name,omitempty"`
	Compute     string `json:"compute,omitempty"`
	NotebookEnv string `json:"notebook_env,omitempty"`
}

// CreateOrganization creates an organization; its actor becomes the first admin.
type CreateOrganization struct {
	Meta
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Preset     string `json:"preset"`
	ActorEmail string `json:"actor_email,omitempty"`
	ActorName  string `json:"actor_name,omitempty"`
}

// AddOrgMember adds a user to the organization.
type AddOrgMember struct {
	Meta
	UserID string `json:"user_id"`
	Email  string `json:"email,omitempty"`
	Name   string `json:"name,omitempty"`
	Role   string `json:"role,omitempty"`
	// ExpiresAt (RFC 3339), when set, is when the membership ends; it must lie in the future.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// ChangeOrgRole changes a member's organization role.
type ChangeOrgRole struct {
	Meta
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

// RemoveOrgMember removes a user from the organization and everything in it.
type RemoveOrgMember struct {
	Meta
	UserID string `json:"user_id"`
}

// CreateWorkgroup creates a workgroup.
type CreateWorkgroup struct {
	Meta
	GroupID string `json:"group_id,omitempty"`
	Name    string `json:"name"`
}

// AddWorkgroupMember adds an organization member to a workgroup.
type AddWorkgroupMember struct {
	Meta
	GroupID string `json:"group_id"`
	UserID  string `json:"user_id"`
	// ExpiresAt (RFC 3339), when set, is when the membership ends; it must lie in the future.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// RemoveWorkgroupMember removes a user from a workgroup.
type RemoveWorkgroupMember struct {
	Meta
	GroupID string `json:"group_id"`
	UserID  string `json:"user_id"`
}

// CreateProject creates a project (and, where the preset says so, its first track).
type CreateProject struct {
	Meta
	ProjectID  string     `json:"project_id,omitempty"`
	Name       string     `json:"name"`
	Visibility string     `json:"visibility,omitempty"`
	Track      *TrackSpec `json:"track,omitempty"`
}

// RenameProject renames a project.
type RenameProject struct {
	Meta
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
}

// SetProjectVisibility makes a project private or public.
type SetProjectVisibility struct {
	Meta
	ProjectID  string `json:"project_id"`
	Visibility string `json:"visibility"`
}

// TransferProjectOwnership gives a project's ownership to another user.
type TransferProjectOwnership struct {
	Meta
	ProjectID          string   `json:"project_id"`
	NewOwner           string   `json:"new_owner"`
	PreviousOwnerRoles []string `json:"previous_owner_roles,omitempty"`
}

// MemberRef names a membership: a project or track, and a user or workgroup.
type MemberRef struct {
	ProjectID string `json:"project_id"`
	TrackID   string `json:"track_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	GroupID   string `json:"group_id,omitempty"`
}

// AddMember puts an organization member or a workgroup on a project or track.
type AddMember struct {
	Meta
	MemberRef
	Roles     []string `json:"roles"`
	Grants    []string `json:"grants,omitempty"`
	PartnerID string   `json:"partner_id,omitempty"`
	Email     string   `json:"email,omitempty"`
	Name      string   `json:"name,omitempty"`
	// ExpiresAt (RFC 3339), when set, is when the membership ends; it must lie in the future.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// InviteMember invites an e-mail address or a user to the organization (no project_id) or to a project or track.
type InviteMember struct {
	Meta
	ProjectID    string   `json:"project_id,omitempty"`
	TrackID      string   `json:"track_id,omitempty"`
	Email        string   `json:"email,omitempty"`
	UserID       string   `json:"user_id,omitempty"`
	Name         string   `json:"name,omitempty"`
	Role         string   `json:"role,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	Grants       []string `json:"grants,omitempty"`
	PartnerID    string   `json:"partner_id,omitempty"`
	InvitationID string   `json:"invitation_id,omitempty"`
	// ExpiresAt (RFC 3339), when set, is when the membership ends; it must lie in the future.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// AcceptInvite is the invitee accepting an invitation.
type AcceptInvite struct {
	Meta
	InvitationID string `json:"invitation_id"`
	ActorEmail   string `json:"actor_email,omitempty"`
	ActorName    string `json:"actor_name,omitempty"`
	// Token is the e-mail invitation's secret, returned once to the inviter as
	// result.invitation_token; required for e-mail invitations when rosterd runs secured.
	Token string `json:"token,omitempty"`
}

// RejectInvite is the invitee refusing an invitation.
type RejectInvite struct {
	Meta
	InvitationID string `json:"invitation_id"`
	ActorEmail   string `json:"actor_email,omitempty"`
	ActorName    string `json:"actor_name,omitempty"`
	// Token is the e-mail invitation's secret, returned once to the inviter as
	// result.invitation_token; required for e-mail invitations when rosterd runs secured.
	Token string `json:"token,omitempty"`
}

// RevokeInvite withdraws a pending invitation.
type RevokeInvite struct {
	Meta
	InvitationID string `json:"invitation_id"`
}

// GrantOrganizationAccess lets another NATS account command and query the organization
// (only the owning account or an operator account may grant; the actor is an organization admin).
type GrantOrganizationAccess struct {
	Meta
	Account string `json:"account"`
}

// RevokeOrganizationAccess takes back an account's access; the owning account keeps its own.
type RevokeOrganizationAccess struct {
	Meta
	Account string `json:"account"`
}

// UpgradePreset moves the organization to the version of its preset the running release
// ships (an organization answers by the preset version its log records until then). The
// actor is an organization admin. PresetVersion, when given, must be that version (the one a
// dry run showed); result: PresetUpgraded {from, to, preset}.
type UpgradePreset struct {
	Meta
	PresetVersion string `json:"preset_version,omitempty"`
}

// ChangeRole replaces a member's roles.
type ChangeRole struct {
	Meta
	MemberRef
	Roles []string `json:"roles"`
	// ExpiresAt (RFC 3339), when set, is the membership's new end; unset keeps the current one.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// SetMemberGrants replaces a member's direct grants.
type SetMemberGrants struct {
	Meta
	MemberRef
	Grants []string `json:"grants"`
	// ExpiresAt (RFC 3339), when set, is the membership's new end; unset keeps the current one.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// RemoveMember takes a user or workgroup off a project or track.
type RemoveMember struct {
	Meta
	MemberRef
}

// LeaveProject is the actor leaving a project (and its tracks).
type LeaveProject struct {
	Meta
	ProjectID string `json:"project_id"`
}

// ArchiveProject makes a project read-only.
type ArchiveProject struct {
	Meta
	ProjectID string `json:"project_id"`
}

// UnarchiveProject makes an archived project active.
type UnarchiveProject struct {
	Meta
	ProjectID string `json:"project_id"`
}

// DeleteProject deletes a project.
type DeleteProject struct {
	Meta
	ProjectID string `json:"project_id"`
}

// CreateTrack creates a track in a project.
type CreateTrack struct {
	Meta
	ProjectID   string `json:"project_id"`
	TrackID     string `json:"track_id,omitempty"`
	Name        string `json:"name"`
	Compute     string `json:"compute,omitempty"`
	NotebookEnv string `json:"notebook_env,omitempty"`
}

// ConfigureTrack changes a track's name or configuration; empty fields keep their value.
type ConfigureTrack struct {
	Meta
	ProjectID   string `json:"project_id"`
	TrackID     string `json:"track_id"`
	Name        string `json:"name,omitempty"`
	Compute     string `json:"compute,omitempty"`
	NotebookEnv string `json:"notebook_env,omitempty"`
}

// AddPartner brings an outside company into a project and invites its admin.
type AddPartner struct {
	Meta
	ProjectID    string `json:"project_id"`
	PartnerID    string `json:"partner_id,omitempty"`
	Name         string `json:"name"`
	AdminEmail   string `json:"admin_email"`
	InvitationID string `json:"invitation_id,omitempty"`
}

// DefineRole creates a custom role with no permissions.
type DefineRole struct {
	Meta
	Role        string `json:"role"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
	Scope       string `json:"scope,omitempty"`
	Category    string `json:"category,omitempty"`
	// ProjectID, when given, is where the actor's right to manage roles is checked.
	ProjectID string `json:"project_id,omitempty"`
}

// SetRolePermissions replaces a custom role's permissions.
type SetRolePermissions struct {
	Meta
	Role        string   `json:"role"`
	Permissions []string `json:"permissions"`
	ProjectID   string   `json:"project_id,omitempty"`
}

// DeleteRole deletes a custom role nobody holds.
type DeleteRole struct {
	Meta
	Role      string `json:"role"`
	ProjectID string `json:"project_id,omitempty"`
}

// ImportMembers adds or invites the rows of a CSV (header email,user_id,name,roles,grants).
type ImportMembers struct {
	Meta
	ProjectID string `json:"project_id"`
	TrackID   string `json:"track_id,omitempty"`
	CSV       string `json:"csv"`
}

// ExtendMembership moves the end of a membership, or clears it with an empty expires_at.
// With project_id: a user's or workgroup's membership of the project (or its track_id).
// Without: a user's membership of the workgroup group_id when user_id and group_id are both
// given, else a user's membership of the organization. It needs the permission of the
// command that manages that membership: ChangeRole, AddWorkgroupMember or ChangeOrgRole.
type ExtendMembership struct {
	Meta
	ProjectID string `json:"project_id,omitempty"`
	TrackID   string `json:"track_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	GroupID   string `json:"group_id,omitempty"`
	// ExpiresAt (RFC 3339) is the new end, in the future; empty: the membership no longer ends.
	ExpiresAt string `json:"expires_at,omitempty"`
}
