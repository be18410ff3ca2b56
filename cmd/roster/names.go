package main

import "strings"

// op is one command or query of the wire contract (API.md) as the CLI knows it.
type op struct {
	Name   string
	Fields string
	Help   string
}

// commandOps lists the commands (roster.cmd.<Name>). This and queryOps are the only
// place the CLI knows names; a name in neither list is still sent as a command so that
// the server's own error is shown.
func commandOps() []op {
	return []op{
		{"CreateOrganization", "org_id, name, kind (team|individual), preset, actor_email, actor_name", "create an organization from a preset; the actor becomes its first admin"},
		{"AddOrgMember", "org_id, user_id, email, name, role", "add a user to an organization"},
		{"ChangeOrgRole", "org_id, user_id, role", "change a user's organization role"},
		{"RemoveOrgMember", "org_id, user_id", "remove a user from an organization"},
		{"CreateWorkgroup", "org_id, group_id, name", "create a workgroup"},
		{"AddWorkgroupMember", "org_id, group_id, user_id", "add a user to a workgroup"},
		{"RemoveWorkgroupMember", "org_id, group_id, user_id", "remove a user from a workgroup"},
		{"CreateProject", "org_id, project_id, name, visibility (private|public), track {track_id, name, compute, notebook_env}", "create a project (and its first track on presets with tracks)"},
		{"RenameProject", "org_id, project_id, name", "rename a project"},
		{"SetProjectVisibility", "org_id, project_id, visibility (private|public)", "make a project private or public"},
		{"TransferProjectOwnership", "org_id, project_id, new_owner, previous_owner_roles", "hand a project to a new owner"},
		{"AddMember", "org_id, project_id, track_id, user_id | group_id, roles, grants, partner_id", "add a user or workgroup to a project or track"},
		{"InviteMember", "org_id, project_id, track_id, email | user_id, roles, grants, partner_id, invitation_id", "invite someone to a project or track"},
		{"AcceptInvite", "org_id, invitation_id, actor_email, actor_name", "accept an invitation"},
		{"RejectInvite", "org_id, invitation_id, actor_email, actor_name", "reject an invitation"},
		{"RevokeInvite", "org_id, invitation_id", "withdraw a pending invitation"},
		{"ChangeRole", "org_id, project_id, track_id, user_id | group_id, roles", "replace a member's roles"},
		{"SetMemberGrants", "org_id, project_id, track_id, user_id | group_id, grants", "replace a member's direct grants"},
		{"RemoveMember", "org_id, project_id, track_id, user_id | group_id", "remove a member from a project or track"},
		{"LeaveProject", "org_id, project_id", "leave a project (the actor)"},
		{"ArchiveProject", "org_id, project_id", "archive a project"},
		{"UnarchiveProject", "org_id, project_id", "bring an archived project back"},
		{"DeleteProject", "org_id, project_id", "delete a project"},
		{"CreateTrack", "org_id, project_id, track_id, name, compute, notebook_env", "create a track in a project"},
		{"ConfigureTrack", "org_id, project_id, track_id, name, compute, notebook_env", "change a track's settings"},
		{"AddPartner", "org_id, project_id, partner_id, name, admin_email", "add a partner organization to a project"},
		{"DefineRole", "org_id, role, label, description, scope (org|project|track), category", "define a custom role"},
		{"SetRolePermissions", "org_id, role, permissions", "set a role's permissions"},
		{"DeleteRole", "org_id, role", "delete a custom role"},
		{"ImportMembers", "org_id, project_id, csv (header email,user_id,name,roles,grants; ';' inside roles and grants)", "add or invite many members from CSV (--csv @file.csv)"},
		{"GrantOrganizationAccess", "org_id, account", "let another NATS account reach an organization (owner account only)"},
		{"RevokeOrganizationAccess", "org_id, account", "take back an account's access to an organization"},
	}
}

// queryOps lists the queries (roster.query.<Name>).
func queryOps() []op {
	return []op{
		{"Check", "org_id, project_id, track_id, user_id, permission, context, explain", "may a user do something? allowed, denied or conditional, and why"},
		{"Permissions", "org_id, project_id, track_id, user_id", "every permission a user holds at a scope"},
		{"WhoCan", "org_id, project_id, track_id, permission", "every user holding a permission at a scope"},
		{"ListMembers", "org_id, project_id, track_id, viewer, q, role, status, limit, page_token", "members of an organization, project or track"},
		{"ListProjects", "user_id, org_id, include_archived", "projects a user belongs to"},
		{"GetProject", "org_id, project_id", "one project with its tracks, owners, status and visibility"},
		{"ListInvitations", "org_id, email, user_id, status", "invitations of an organization, an e-mail or a user"},
		{"Catalog", "org_id", "an organization's permissions and roles"},
		{"Audit", "org_id, project_id, actor, user_id, types, since, until, after_position, limit", "an organization's event trail"},
		{"AccessAt", "org_id, project_id, track_id, user_id, at (RFC 3339) | position", "a user's permissions and roles as of a past time"},
		{"Status", "—", "log head and each view's position and lag"},
	}
}

// isQuery reports whether name is a query; anything else is sent as a command.
func isQuery(name string) bool {
	for _, q := range queryOps() {
		if q.Name == name {
			return true
		}
	}
	return false
}

// lookup finds an operation by exact name.
func lookup(name string) (op, bool) {
	for _, o := range append(commandOps(), queryOps()...) {
		if o.Name == name {
			return o, true
		}
	}
	return op{}, false
}

// suggest returns a known name that differs from name only in case ("" if none).
func suggest(name string) string {
	for _, o := range append(commandOps(), queryOps()...) {
		if o.Name != name && strings.EqualFold(o.Name, name) {
			return o.Name
		}
	}
	return ""
}
