package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// SystemActor is the actor of commands Roster issues itself (invitation expiry).
const SystemActor = "roster"

// DefaultInviteTTL is how long an invitation stays pending (SPEC §2.12).
const DefaultInviteTTL = 7 * 24 * time.Hour

// Env is what a decision may use from outside: the time, generators, and who is asking.
type Env struct {
	Now       time.Time
	InviteTTL time.Duration
	// NewID generates ids for invitations created inside a command (imports, partners).
	NewID func() string

	// Account is the NATS account of the authenticated caller, filled by the edge from the
	// server-stamped request info, never from the payload. Empty means insecure mode: no
	// tenancy, every organization reachable, exactly as before accounts existed.
	Account string
	// Operator marks an operator account: it reaches every organization (SPEC §7).
	Operator bool
	// NewToken generates the secret of an e-mail invitation; nil issues no token.
	NewToken func() string
	// RequireInviteToken (secured mode) makes answering an e-mail invitation require its token.
	RequireInviteToken bool
	// Person marks a caller of a user account: the actor is the authenticated person, and an
	// organization they may not see does not exist for them (ReachedBy), as in the queries.
	Person bool
	// Yield, if set, is called every YieldRows rows of a bulk command (ImportMembers): a
	// decision of thousands of rows gives way to the commands of other organizations
	// queued meanwhile (the commands layer waits for its pacer there, internal/pace, or without
	// one lets other goroutines run).
	Yield func()
}

// YieldRows is how many rows of a bulk command are decided between two calls of Env.Yield.
const YieldRows = 32

// Outcome is what an accepted command records and answers.
type Outcome struct {
	Events []Event
	// Result is never nil once Decide accepted the command: NoResult when there is nothing to say.
	Result Result
}

// Decide checks a command against the organization's state and the rules of
// SPEC §2 and returns the events it appends, or a typed *Error. It never
// changes o.
func Decide(o *Org, cmd Command, env Env) (Outcome, error) {
	if env.InviteTTL <= 0 {
		env.InviteTTL = DefaultInviteTTL
	}
	name := cmd.CommandName()
	m := cmd.CommandMeta()
	if err := validateMeta(name, m); err != nil {
		return Outcome{}, err
	}
	// CreateOrganization is the one command decided on an organization that does not exist yet.
	// An organization the caller's account may not reach, or that a person of a user account may
	// not see, answers exactly as one that does not exist (SPEC §7: no existence leak).
	if _, creates := cmd.(*CreateOrganization); !creates && !o.ReachedBy(cmd, env) {
		return Outcome{}, notFoundf("organization %s not found", m.OrgID)
	}
	h, ok := handlerOf(name)
	if !ok {
		return Outcome{}, invalidf("unknown command %s", name)
	}
	// A membership whose time ran out is gone at env.Now (expiry.go): the command is decided
	// on the state without it, and the events that record the expiry go before its own.
	var expired []Event
	if name != CmdExpireMemberships && o.Exists() {
		if evs, at := o.dueExpirations(env.Now); len(evs) > 0 {
			o, expired = at, evs
		}
	}
	dec := &decider{o: o, env: env, actor: m.Actor}
	switch cmd.(type) {
	case *AcceptInvite, *RejectInvite:
		dec.answering = true // the invitee reaches the project through the invitation itself
	}
	out, err := h(dec, cmd)
	if err != nil {
		return Outcome{}, err
	}
	if len(expired) > 0 {
		out.Events = append(expired, out.Events...)
	}
	if out.Result == nil {
		out.Result = NoResult{}
	}
	return out, nil
}

// handler decides one kind of command.
type handler func(d *decider, cmd Command) (Outcome, error)

// on turns a room's typed handler into a table entry. A command whose Go type is not the
// handler's (a foreign type reusing a name) is an unknown command.
func on[C Command](decide func(*decider, C) (Outcome, error)) handler {
	return func(d *decider, cmd Command) (Outcome, error) {
		c, ok := cmd.(C)
		if !ok {
			return Outcome{}, invalidf("unknown command %s", cmd.CommandName())
		}
		return decide(d, c)
	}
}

// handlerOf is the dispatch table: each command name of CommandNames and the handler of its
// room. TestCommandsComplete checks that no name lacks one.
func handlerOf(name string) (handler, bool) {
	switch name {
	// organization.go
	case CmdCreateOrganization:
		return on((*decider).createOrganization), true
	case CmdAddOrgMember:
		return on((*decider).addOrgMember), true
	case CmdChangeOrgRole:
		return on((*decider).changeOrgRole), true
	case CmdRemoveOrgMember:
		return on((*decider).removeOrgMember), true
	// workgroup.go
	case CmdCreateWorkgroup:
		return on((*decider).createWorkgroup), true
	case CmdAddWorkgroupMember:
		return on((*decider).addWorkgroupMember), true
	case CmdRemoveWorkgroupMember:
		return on((*decider).removeWorkgroupMember), true
	// project.go
	case CmdCreateProject:
		return on((*decider).createProject), true
	case CmdRenameProject:
		return on((*decider).renameProject), true
	case CmdSetProjectVisibility:
		return on((*decider).setProjectVisibility), true
	case CmdTransferProjectOwnership:
		return on((*decider).transferOwnership), true
	case CmdArchiveProject:
		return on((*decider).archive), true
	case CmdUnarchiveProject:
		return on((*decider).unarchive), true
	case CmdDeleteProject:
		return on((*decider).deleteProject), true
	// member.go
	case CmdAddMember:
		return on((*decider).addMember), true
	case CmdChangeRole:
		return on((*decider).changeRole), true
	case CmdSetMemberGrants:
		return on((*decider).setGrants), true
	case CmdRemoveMember:
		return on((*decider).removeMember), true
	case CmdLeaveProject:
		return on((*decider).leaveProject), true
	// invitation.go
	case CmdInviteMember:
		return on((*decider).inviteMember), true
	case CmdAcceptInvite:
		return on((*decider).acceptInvite), true
	case CmdRejectInvite:
		return on((*decider).rejectInvite), true
	case CmdRevokeInvite:
		return on((*decider).revokeInvite), true
	case CmdExpireInvites:
		return on((*decider).expireInvites), true
	// track.go
	case CmdCreateTrack:
		return on((*decider).createTrack), true
	case CmdConfigureTrack:
		return on((*decider).configureTrack), true
	// partner.go
	case CmdAddPartner:
		return on((*decider).addPartner), true
	// role.go
	case CmdDefineRole:
		return on((*decider).defineRole), true
	case CmdSetRolePermissions:
		return on((*decider).setRolePermissions), true
	case CmdDeleteRole:
		return on((*decider).deleteRole), true
	// import.go
	case CmdImportMembers:
		return on((*decider).importMembers), true
	// tenancy.go
	case CmdGrantOrganizationAccess:
		return on((*decider).grantAccess), true
	case CmdRevokeOrganizationAccess:
		return on((*decider).revokeAccess), true
	// preset_upgrade.go
	case CmdUpgradePreset:
		return on((*decider).upgradePreset), true
	// expiry.go
	case CmdExtendMembership:
		return on((*decider).extendMembership), true
	case CmdExpireMemberships:
		return on((*decider).expireMemberships), true
	}
	return nil, false
}

func validateMeta(name string, m *Meta) error {
	var errs []string
	if !ValidID(m.OrgID) {
		errs = append(errs, fmt.Sprintf("org_id %q must be 1-128 characters of A-Z a-z 0-9 _ -", m.OrgID))
	}
	if m.Actor == "" {
		errs = append(errs, "actor is required (the user id issuing the command)")
	} else if !ValidID(m.Actor) {
		errs = append(errs, fmt.Sprintf("actor %q must be 1-128 characters of A-Z a-z 0-9 _ -", m.Actor))
	}
	if m.Actor == SystemActor && name != CmdExpireInvites && name != CmdExpireMemberships {
		errs = append(errs, fmt.Sprintf("actor %q is reserved", SystemActor))
	}
	if len(m.CommandID) > 256 || len(m.CorrelationID) > 256 {
		errs = append(errs, "command_id and correlation_id are at most 256 characters")
	}
	if len(errs) > 0 {
		return invalidf("%s: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// checkIDs verifies optional and required identifiers; required ones must be present.
func checkIDs(required map[string]string, optional map[string]string) error {
	var errs []string
	for _, kv := range sortedPairs(required) {
		if kv[1] == "" {
			errs = append(errs, kv[0]+" is required")
		} else if !ValidID(kv[1]) {
			errs = append(errs, fmt.Sprintf("%s %q must be 1-128 characters of A-Z a-z 0-9 _ -", kv[0], kv[1]))
		}
	}
	for _, kv := range sortedPairs(optional) {
		if kv[1] != "" && !ValidID(kv[1]) {
			errs = append(errs, fmt.Sprintf("%s %q must be 1-128 characters of A-Z a-z 0-9 _ -", kv[0], kv[1]))
		}
	}
	if len(errs) > 0 {
		return invalidf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func sortedPairs(m map[string]string) [][2]string {
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return compareStrings(a[0], b[0]) })
	return out
}

func one(ev Event) Outcome { return Outcome{Events: []Event{ev}} }

// decider decides one command of actor against one organization's state; the rooms hold its
// handlers, authorize.go its authorization and invariants.go its guard.
type decider struct {
	o     *Org
	env   Env
	actor string
	// pending indexes pending invitations during an import (nil otherwise), see import.go.
	pending *pendingIndex
	// answering is set for AcceptInvite and RejectInvite: their invitee may not see the project yet.
	answering bool
}

func describeScope(orgID string, s Scope) string {
	switch {
	case s.TrackID != "":
		return fmt.Sprintf("track %s of project %s", s.TrackID, s.ProjectID)
	case s.ProjectID != "":
		return "project " + s.ProjectID
	}
	return "organization " + orgID
}

// project returns a project that accepts commands: it exists, is not deleted and,
// unless archivedOK, is not archived (SPEC §2.9).
func (d *decider) project(id string, archivedOK bool) (*Project, error) {
	p, ok := d.o.Projects[id]
	// A person of a user account who may not see a project (a guest or a labeling company's
	// member elsewhere in the organization) learns from commands no more than from queries: it is
	// an unknown project to them (SPEC §7).
	if !ok || (d.env.Person && !d.answering && !d.o.MaySee(d.actor, id)) {
		return nil, notFoundf("project %s not found in organization %s", id, d.o.ID)
	}
	switch {
	case p.Status == StatusDeleted:
		return nil, preconditionf("project %s is deleted and accepts no command", id)
	case p.Status == StatusArchived && !archivedOK:
		return nil, preconditionf("project %s is archived and read-only; unarchive it first", id)
	}
	return p, nil
}

// target resolves a project (active) and optional track.
func (d *decider) target(projectID, trackID string) (*Project, error) {
	if err := checkIDs(map[string]string{"project_id": projectID}, map[string]string{"track_id": trackID}); err != nil {
		return nil, err
	}
	p, err := d.project(projectID, false)
	if err != nil {
		return nil, err
	}
	if trackID != "" {
		if _, ok := p.Tracks[trackID]; !ok {
			return nil, notFoundf("track %s not found in project %s", trackID, projectID)
		}
	}
	return p, nil
}

func scopeOfTarget(trackID string) string {
	if trackID != "" {
		return ScopeTrack
	}
	return ScopeProject
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// withoutCategoryOf drops from roles any role in the same category as add.
func withoutCategoryOf(o *Org, roles []string, add string) []string {
	r, ok := o.Role(add)
	if !ok || r.Category == "" {
		return slices.Clone(roles)
	}
	return slices.DeleteFunc(slices.Clone(roles), func(id string) bool {
		x, ok := o.Role(id)
		return ok && x.Category == r.Category
	})
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func describePrincipal(p Principal) string {
	if p.GroupID != "" {
		return "workgroup " + p.GroupID
	}
	return "user " + p.UserID
}
