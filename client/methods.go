package client

import "context"

// CreateOrganization submits the CreateOrganization command.
func (c *Client) CreateOrganization(ctx context.Context, req CreateOrganization) (*CommandReply, error) {
	return c.Command(ctx, CmdCreateOrganization, req)
}

// AddOrgMember submits the AddOrgMember command.
func (c *Client) AddOrgMember(ctx context.Context, req AddOrgMember) (*CommandReply, error) {
	return c.Command(ctx, CmdAddOrgMember, req)
}

// ChangeOrgRole submits the ChangeOrgRole command.
func (c *Client) ChangeOrgRole(ctx context.Context, req ChangeOrgRole) (*CommandReply, error) {
	return c.Command(ctx, CmdChangeOrgRole, req)
}

// RemoveOrgMember submits the RemoveOrgMember command.
func (c *Client) RemoveOrgMember(ctx context.Context, req RemoveOrgMember) (*CommandReply, error) {
	return c.Command(ctx, CmdRemoveOrgMember, req)
}

// CreateWorkgroup submits the CreateWorkgroup command.
func (c *Client) CreateWorkgroup(ctx context.Context, req CreateWorkgroup) (*CommandReply, error) {
	return c.Command(ctx, CmdCreateWorkgroup, req)
}

// AddWorkgroupMember submits the AddWorkgroupMember command.
func (c *Client) AddWorkgroupMember(ctx context.Context, req AddWorkgroupMember) (*CommandReply, error) {
	return c.Command(ctx, CmdAddWorkgroupMember, req)
}

// RemoveWorkgroupMember submits the RemoveWorkgroupMember command.
func (c *Client) RemoveWorkgroupMember(ctx context.Context, req RemoveWorkgroupMember) (*CommandReply, error) {
	return c.Command(ctx, CmdRemoveWorkgroupMember, req)
}

// CreateProject submits the CreateProject command.
func (c *Client) CreateProject(ctx context.Context, req CreateProject) (*CommandReply, error) {
	return c.Command(ctx, CmdCreateProject, req)
}

// RenameProject submits the RenameProject command.
func (c *Client) RenameProject(ctx context.Context, req RenameProject) (*CommandReply, error) {
	return c.Command(ctx, CmdRenameProject, req)
}

// SetProjectVisibility submits the SetProjectVisibility command.
func (c *Client) SetProjectVisibility(ctx context.Context, req SetProjectVisibility) (*CommandReply, error) {
	return c.Command(ctx, CmdSetProjectVisibility, req)
}

// TransferProjectOwnership submits the TransferProjectOwnership command.
func (c *Client) TransferProjectOwnership(ctx context.Context, req TransferProjectOwnership) (*CommandReply, error) {
	return c.Command(ctx, CmdTransferProjectOwnership, req)
}

// AddMember submits the AddMember command.
func (c *Client) AddMember(ctx context.Context, req AddMember) (*CommandReply, error) {
	return c.Command(ctx, CmdAddMember, req)
}

// InviteMember submits the InviteMember command.
func (c *Client) InviteMember(ctx context.Context, req InviteMember) (*CommandReply, error) {
	return c.Command(ctx, CmdInviteMember, req)
}

// AcceptInvite submits the AcceptInvite command.
func (c *Client) AcceptInvite(ctx context.Context, req AcceptInvite) (*CommandReply, error) {
	return c.Command(ctx, CmdAcceptInvite, req)
}

// RejectInvite submits the RejectInvite command.
func (c *Client) RejectInvite(ctx context.Context, req RejectInvite) (*CommandReply, error) {
	return c.Command(ctx, CmdRejectInvite, req)
}

// RevokeInvite submits the RevokeInvite command.
func (c *Client) RevokeInvite(ctx context.Context, req RevokeInvite) (*CommandReply, error) {
	return c.Command(ctx, CmdRevokeInvite, req)
}

// GrantOrganizationAccess submits the GrantOrganizationAccess command.
func (c *Client) GrantOrganizationAccess(ctx context.Context, req GrantOrganizationAccess) (*CommandReply, error) {
	return c.Command(ctx, CmdGrantOrganizationAccess, req)
}

// RevokeOrganizationAccess submits the RevokeOrganizationAccess command.
func (c *Client) RevokeOrganizationAccess(ctx context.Context, req RevokeOrganizationAccess) (*CommandReply, error) {
	return c.Command(ctx, CmdRevokeOrganizationAccess, req)
}

// UpgradePreset submits the UpgradePreset command.
func (c *Client) UpgradePreset(ctx context.Context, req UpgradePreset) (*CommandReply, error) {
	return c.Command(ctx, CmdUpgradePreset, req)
}

// ChangeRole submits the ChangeRole command.
func (c *Client) ChangeRole(ctx context.Context, req ChangeRole) (*CommandReply, error) {
	return c.Command(ctx, CmdChangeRole, req)
}

// SetMemberGrants submits the SetMemberGrants command.
func (c *Client) SetMemberGrants(ctx context.Context, req SetMemberGrants) (*CommandReply, error) {
	return c.Command(ctx, CmdSetMemberGrants, req)
}

// RemoveMember submits the RemoveMember command.
func (c *Client) RemoveMember(ctx context.Context, req RemoveMember) (*CommandReply, error) {
	return c.Command(ctx, CmdRemoveMember, req)
}

// LeaveProject submits the LeaveProject command.
func (c *Client) LeaveProject(ctx context.Context, req LeaveProject) (*CommandReply, error) {
	return c.Command(ctx, CmdLeaveProject, req)
}

// ArchiveProject submits the ArchiveProject command.
func (c *Client) ArchiveProject(ctx context.Context, req ArchiveProject) (*CommandReply, error) {
	return c.Command(ctx, CmdArchiveProject, req)
}

// UnarchiveProject submits the UnarchiveProject command.
func (c *Client) UnarchiveProject(ctx context.Context, req UnarchiveProject) (*CommandReply, error) {
	return c.Command(ctx, CmdUnarchiveProject, req)
}

// DeleteProject submits the DeleteProject command.
func (c *Client) DeleteProject(ctx context.Context, req DeleteProject) (*CommandReply, error) {
	return c.Command(ctx, CmdDeleteProject, req)
}

// CreateTrack submits the CreateTrack command.
func (c *Client) CreateTrack(ctx context.Context, req CreateTrack) (*CommandReply, error) {
	return c.Command(ctx, CmdCreateTrack, req)
}

// ConfigureTrack submits the ConfigureTrack command.
func (c *Client) ConfigureTrack(ctx context.Context, req ConfigureTrack) (*CommandReply, error) {
	return c.Command(ctx, CmdConfigureTrack, req)
}

// AddPartner submits the AddPartner command.
func (c *Client) AddPartner(ctx context.Context, req AddPartner) (*CommandReply, error) {
	return c.Command(ctx, CmdAddPartner, req)
}

// DefineRole submits the DefineRole command.
func (c *Client) DefineRole(ctx context.Context, req DefineRole) (*CommandReply, error) {
	return c.Command(ctx, CmdDefineRole, req)
}

// SetRolePermissions submits the SetRolePermissions command.
func (c *Client) SetRolePermissions(ctx context.Context, req SetRolePermissions) (*CommandReply, error) {
	return c.Command(ctx, CmdSetRolePermissions, req)
}

// DeleteRole submits the DeleteRole command.
func (c *Client) DeleteRole(ctx context.Context, req DeleteRole) (*CommandReply, error) {
	return c.Command(ctx, CmdDeleteRole, req)
}

// ImportMembers submits the ImportMembers command.
func (c *Client) ImportMembers(ctx context.Context, req ImportMembers) (*CommandReply, error) {
	return c.Command(ctx, CmdImportMembers, req)
}

// ExtendMembership submits the ExtendMembership command.
func (c *Client) ExtendMembership(ctx context.Context, req ExtendMembership) (*CommandReply, error) {
	return c.Command(ctx, CmdExtendMembership, req)
}
