package domain

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// SystemActor is the actor of commands Roster issues itself (invitation expiry).
const SystemActor = "roster"

// DefaultInviteTTL is how long an invitation stays pending (SPEC §2.12).
const DefaultInviteTTL = 7 * 24 * time.Hour

// Env is what a decision may use from outside: the time and an id generator.
type Env struct {
	Now       time.Time
	InviteTTL time.Duration
	// NewID generates ids for invitations created inside a command (imports, partners).
	NewID func() string
}

// Outcome is what an accepted command records and answers.
type Outcome struct {
	Events []Event
	Result map[string]any
}

// Decide checks a command against the organization's state and the rules of
// SPEC §2 and returns the events it appends, or a typed *Error. It never
// changes o.
func Decide(o *Org, cmd Command, env Env) (Outcome, error) {
	if env.InviteTTL <= 0 {
		env.InviteTTL = DefaultInviteTTL
	}
	m := cmd.CommandMeta()
	if err := validateMeta(cmd.CommandName(), m); err != nil {
		return Outcome{}, err
	}
	if c, ok := cmd.(*CreateOrganization); ok {
		return o.createOrganization(c)
	}
	if !o.Exists() {
		return Outcome{}, notFoundf("organization %s not found", m.OrgID)
	}
	d := decider{o: o, env: env, actor: m.Actor}
	switch c := cmd.(type) {
	case *AddOrgMember:
		return d.addOrgMember(c)
	case *ChangeOrgRole:
		return d.changeOrgRole(c)
	case *RemoveOrgMember:
		return d.removeOrgMember(c)
	case *CreateWorkgroup:
		return d.createWorkgroup(c)
	case *AddWorkgroupMember:
		return d.addWorkgroupMember(c)
	case *RemoveWorkgroupMember:
		return d.removeWorkgroupMember(c)
	case *CreateProject:
		return d.createProject(c)
	case *RenameProject:
		return d.renameProject(c)
	case *SetProjectVisibility:
		return d.setProjectVisibility(c)
	case *TransferProjectOwnership:
		return d.transferOwnership(c)
	case *AddMember:
		return d.addMember(c)
	case *InviteMember:
		return d.inviteMember(c)
	case *AcceptInvite:
		return d.acceptInvite(c)
	case *RejectInvite:
		return d.rejectInvite(c)
	case *RevokeInvite:
		return d.revokeInvite(c)
	case *ExpireInvites:
		return d.expireInvites()
	case *ChangeRole:
		return d.changeRole(c)
	case *SetMemberGrants:
		return d.setGrants(c)
	case *RemoveMember:
		return d.removeMember(c)
	case *LeaveProject:
		return d.leaveProject(c)
	case *ArchiveProject:
		return d.archive(c)
	case *UnarchiveProject:
		return d.unarchive(c)
	case *DeleteProject:
		return d.deleteProject(c)
	case *CreateTrack:
		return d.createTrack(c)
	case *ConfigureTrack:
		return d.configureTrack(c)
	case *AddPartner:
		return d.addPartner(c)
	case *DefineRole:
		return d.defineRole(c)
	case *SetRolePermissions:
		return d.setRolePermissions(c)
	case *DeleteRole:
		return d.deleteRole(c)
	case *ImportMembers:
		return d.importMembers(c)
	}
	return Outcome{}, invalidf("unknown command %s", cmd.CommandName())
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
	if m.Actor == SystemActor && name != CmdExpireInvites {
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

type decider struct {
	o     *Org
	env   Env
	actor string
}

// authorize checks the actor holds the permission the preset names for the command at the scope (SPEC §2.1).
func (d *decider) authorize(cmd string, s Scope, ignoreArchived bool) error {
	o := d.o
	byScope := o.preset.Authorize[cmd]
	level := s.level()
	pid, ok := byScope[level]
	if !ok && level == ScopeTrack {
		pid, ok = byScope[ScopeProject]
	}
	if !ok {
		return invalidf("preset %s does not support %s at %s scope", o.PresetID, cmd, level)
	}
	perm := o.preset.permByID[pid]
	p, err := o.checkScope(s)
	if err != nil {
		return err
	}
	if o.decide(d.actor, perm, s, p, nil, ignoreArchived).Decision != Allowed {
		return forbiddenf("%s may not %s here: it needs %q (%s) at %s", d.actor, cmd, perm.Label, perm.ID, describeScope(o.ID, s))
	}
	return nil
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
	if !ok {
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

// resolveRoles maps role references to ids for a membership at scope in project (empty for
// the organization), checks their scope, the project a custom role belongs to, and the
// one-per-category rule.
func (d *decider) resolveRoles(refs []string, scope, project string) ([]string, error) {
	out := make([]string, 0, len(refs))
	byCategory := map[string]string{}
	for _, ref := range refs {
		r, ok := d.o.Role(ref)
		if !ok {
			return nil, invalidf("role %q is not a role of organization %s (preset %s); the Catalog query lists them", ref, d.o.ID, d.o.PresetID)
		}
		if r.Scope != scope {
			return nil, invalidf("role %s applies at %s scope, not %s", r.ID, r.Scope, scope)
		}
		if r.ProjectID != "" && r.ProjectID != project {
			return nil, invalidf("role %s belongs to project %s and is given only there", r.ID, r.ProjectID)
		}
		if slices.Contains(out, r.ID) {
			continue
		}
		if r.Category != "" {
			if prev, dup := byCategory[r.Category]; dup {
				return nil, preconditionf("roles %s and %s are both in category %s; a member holds at most one role per category", prev, r.ID, r.Category)
			}
			byCategory[r.Category] = r.ID
		}
		out = append(out, r.ID)
	}
	return out, nil
}

func (d *decider) resolveGrants(refs []string) ([]string, error) {
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		p, ok := d.o.resolvePermission(ref)
		if !ok {
			return nil, invalidf("grant %q is not a permission of preset %s; the Catalog query lists them", ref, d.o.PresetID)
		}
		if !p.GrantOnly {
			// Any other permission comes with a role; a direct grant of it would let whoever edits
			// members hand out what their own role lacks (and bypass the partner roles of §2.10).
			return nil, invalidf("grant %q is given through a role, not as a direct grant; direct grants are the preset's grant-only permissions", ref)
		}
		if !slices.Contains(out, p.ID) {
			out = append(out, p.ID)
		}
	}
	return out, nil
}

func scopeOfTarget(trackID string) string {
	if trackID != "" {
		return ScopeTrack
	}
	return ScopeProject
}

// actorPartner returns the partner the actor belongs to in the project, if any (SPEC §2.10).
func (d *decider) actorPartner(p *Project) string {
	if m, ok := p.Members[Principal{UserID: d.actor}.Key()]; ok {
		return m.PartnerID
	}
	return ""
}

// mayGive refuses to give the preset's owner role to anyone unless the actor owns the
// project (directly, through a workgroup, or as an organization admin who owns every
// project): the right to add users or change roles is not a way to become an owner.
func (d *decider) mayGive(p *Project, roles []string) error {
	owner := d.o.preset.OwnerRole
	if owner == "" || !slices.Contains(roles, owner) {
		return nil
	}
	for _, h := range d.o.holdings(d.actor, Scope{ProjectID: p.ID}, p) {
		if h.role != nil && h.role.ID == owner && h.via.Kind != ViaPublic {
			return nil
		}
	}
	return forbiddenf("%s may not give the %s role on project %s: only its owners may", d.actor, owner, p.ID)
}

// checkPartnerAdd applies SPEC §2.10 to a membership a partner's member gives.
func (d *decider) partnerFor(p *Project, requested string, roles []string) (string, error) {
	mine := d.actorPartner(p)
	if mine == "" {
		if requested != "" {
			if _, ok := p.Partners[requested]; !ok {
				return "", notFoundf("partner %s not found in project %s", requested, p.ID)
			}
		}
		return requested, nil
	}
	if requested != "" && requested != mine {
		return "", forbiddenf("%s belongs to partner %s and may add users only into it, not into %s", d.actor, mine, requested)
	}
	for _, r := range roles {
		if !slices.Contains(d.o.preset.PartnerRoles, r) {
			return "", forbiddenf("a partner's members may give only the roles %s, not %s", strings.Join(d.o.preset.PartnerRoles, ", "), r)
		}
	}
	return mine, nil
}

// violations lists what breaks SPEC §2.2 in a state: no admin left, or a project (not
// deleted) without an owner where the preset's admins do not own every project.
func (o *Org) violations() []string {
	return o.violationsIn(touched{all: true})
}

// violationsIn checks only what the touched parts can break: the admin count when
// organization members changed, the owners of the projects named or holding a named workgroup.
func (o *Org) violationsIn(t touched) []string {
	var out []string
	if t.all || len(t.users) > 0 {
		admins := 0
		for _, m := range o.Members {
			if m.Role == o.preset.OrgAdminRole {
				admins++
			}
		}
		if admins == 0 {
			out = append(out, fmt.Sprintf("organization %s would have no %s left; make someone else %s first", o.ID, o.preset.OrgAdminRole, o.preset.OrgAdminRole))
		}
	}
	if o.preset.OwnerRole == "" || o.adminsOwnProjects() {
		return out
	}
	ids := t.projects
	if t.all {
		ids = sortedKeys(o.Projects)
	} else if len(t.groups) > 0 {
		ids = slices.Clone(ids)
		for pid, p := range o.Projects {
			for _, g := range t.groups {
				if _, ok := p.Members[Principal{GroupID: g}.Key()]; ok {
					ids = append(ids, pid)
				}
			}
		}
		slices.Sort(ids)
	}
	for _, id := range slices.Compact(ids) {
		p, ok := o.Projects[id]
		// Archived projects count too: only an owner may unarchive, so an ownerless archived
		// project could never come back (or would come back with no owner).
		if ok && p.Status != StatusDeleted && !o.hasOwner(p) {
			out = append(out, fmt.Sprintf("project %s would have no %s left; give the role to someone else first", id, o.preset.OwnerRole))
		}
	}
	return out
}

func (o *Org) adminsOwnProjects() bool {
	r, ok := o.preset.roleByID[o.preset.OrgAdminRole]
	return ok && r.OwnsProjects
}

func (o *Org) hasOwner(p *Project) bool {
	for _, m := range p.Members {
		if !slices.Contains(m.Roles, o.preset.OwnerRole) {
			continue
		}
		if m.UserID != "" {
			return true
		}
		if g, ok := o.Workgroups[m.GroupID]; ok && len(g.Members) > 0 {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// guard refuses events that would newly break the admin and owner rules.
func (d *decider) guard(evs []Event) error {
	t := touchedBy(evs)
	before := d.o.violationsIn(t)
	c := d.o.cloneFor(t)
	for _, ev := range evs {
		Evolve(c, ev)
	}
	for _, v := range c.violationsIn(t) {
		if !slices.Contains(before, v) {
			return preconditionf("%s", v)
		}
	}
	return nil
}

// ---- organization ----

func (o *Org) createOrganization(c *CreateOrganization) (Outcome, error) {
	if o.Exists() {
		return Outcome{}, conflictf("organization %s already exists", c.OrgID)
	}
	p, ok := o.presets[c.Preset]
	if !ok {
		return Outcome{}, invalidf("preset %q is not one of %s", c.Preset, strings.Join(o.presets.SortedIDs(), ", "))
	}
	kind := c.Kind
	if kind == "" {
		kind = KindTeam
	}
	if !slices.Contains(p.OrgKinds, kind) {
		return Outcome{}, invalidf("kind %q is not allowed by preset %s (allowed: %s)", kind, p.ID, strings.Join(p.OrgKinds, ", "))
	}
	name := c.Name
	if name == "" {
		name = c.OrgID
	}
	return Outcome{Events: []Event{&OrganizationCreated{Name: name, Kind: kind, Preset: p.ID, AdminID: c.Actor,
		AdminEmail: c.ActorEmail, AdminName: c.ActorName, AdminRole: p.OrgAdminRole}},
		Result: map[string]any{"org_id": c.OrgID}}, nil
}

func (d *decider) orgRole(ref string) (string, error) {
	if ref == "" {
		ref = d.o.preset.OrgMemberRole
		if ref == "" {
			return "", invalidf("role is required")
		}
	}
	ids, err := d.resolveRoles([]string{ref}, ScopeOrg, "")
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func (d *decider) addOrgMember(c *AddOrgMember) (Outcome, error) {
	if err := checkIDs(map[string]string{"user_id": c.UserID}, nil); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdAddOrgMember, Scope{}, false); err != nil {
		return Outcome{}, err
	}
	if d.o.Kind == KindIndividual {
		return Outcome{}, preconditionf("organization %s is individual and has one member; invite %s to a public project instead", d.o.ID, c.UserID)
	}
	if _, ok := d.o.Members[c.UserID]; ok {
		return Outcome{}, conflictf("user %s is already a member of organization %s; use ChangeOrgRole", c.UserID, d.o.ID)
	}
	role, err := d.orgRole(c.Role)
	if err != nil {
		return Outcome{}, err
	}
	return one(&OrgMemberAdded{UserID: c.UserID, Email: c.Email, Name: c.Name, Role: role}), nil
}

func (d *decider) changeOrgRole(c *ChangeOrgRole) (Outcome, error) {
	if err := checkIDs(map[string]string{"user_id": c.UserID}, nil); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdChangeOrgRole, Scope{}, false); err != nil {
		return Outcome{}, err
	}
	m, ok := d.o.Members[c.UserID]
	if !ok {
		return Outcome{}, notFoundf("user %s is not a member of organization %s", c.UserID, d.o.ID)
	}
	if c.Role == "" {
		return Outcome{}, invalidf("role is required")
	}
	role, err := d.orgRole(c.Role)
	if err != nil {
		return Outcome{}, err
	}
	if role == m.Role {
		return Outcome{}, conflictf("user %s already has organization role %s", c.UserID, role)
	}
	evs := []Event{&OrgRoleChanged{UserID: c.UserID, Role: role, PreviousRole: m.Role}}
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

func (d *decider) removeOrgMember(c *RemoveOrgMember) (Outcome, error) {
	if err := checkIDs(map[string]string{"user_id": c.UserID}, nil); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdRemoveOrgMember, Scope{}, false); err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Members[c.UserID]; !ok {
		return Outcome{}, notFoundf("user %s is not a member of organization %s", c.UserID, d.o.ID)
	}
	evs := d.o.cascadeRemoval(c.UserID)
	evs = append(evs, &OrgMemberRemoved{UserID: c.UserID})
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

// cascadeRemoval lists the events that take a user out of every project, track and workgroup (SPEC §2.3).
func (o *Org) cascadeRemoval(userID string) []Event {
	var evs []Event
	key := Principal{UserID: userID}.Key()
	for _, pid := range sortedKeys(o.Projects) {
		p := o.Projects[pid]
		if _, ok := p.Members[key]; ok {
			evs = append(evs, &MemberRemoved{Target: Target{ProjectID: pid}, Principal: Principal{UserID: userID}, Reason: "org_member_removed"})
		}
		for _, tid := range sortedKeys(p.Tracks) {
			if _, ok := p.Tracks[tid].Members[key]; ok {
				evs = append(evs, &MemberRemoved{Target: Target{ProjectID: pid, TrackID: tid}, Principal: Principal{UserID: userID}, Reason: "org_member_removed"})
			}
		}
	}
	for _, gid := range sortedKeys(o.Workgroups) {
		if o.Workgroups[gid].Members[userID] {
			evs = append(evs, &WorkgroupMemberRemoved{GroupID: gid, UserID: userID})
		}
	}
	email := ""
	if m := o.Members[userID]; m != nil {
		email = m.Email
	}
	for _, iid := range sortedKeys(o.Invitations) {
		inv := o.Invitations[iid]
		if inv.Status == InvitePending && (inv.UserID == userID || (email != "" && strings.EqualFold(inv.Email, email))) {
			evs = append(evs, &InvitationRevoked{InvitationID: iid, ProjectID: inv.ProjectID, TrackID: inv.TrackID, Reason: "org_member_removed"})
		}
	}
	return evs
}

// ---- workgroups ----

func (d *decider) createWorkgroup(c *CreateWorkgroup) (Outcome, error) {
	if err := checkIDs(map[string]string{"group_id": c.GroupID}, nil); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdCreateWorkgroup, Scope{}, false); err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Workgroups[c.GroupID]; ok {
		return Outcome{}, conflictf("workgroup %s already exists in organization %s", c.GroupID, d.o.ID)
	}
	name := c.Name
	if name == "" {
		name = c.GroupID
	}
	return Outcome{Events: []Event{&WorkgroupCreated{GroupID: c.GroupID, Name: name}}, Result: map[string]any{"group_id": c.GroupID}}, nil
}

func (d *decider) workgroupMember(cmd, groupID, userID string) (*Workgroup, error) {
	if err := checkIDs(map[string]string{"group_id": groupID, "user_id": userID}, nil); err != nil {
		return nil, err
	}
	if err := d.authorize(cmd, Scope{}, false); err != nil {
		return nil, err
	}
	g, ok := d.o.Workgroups[groupID]
	if !ok {
		return nil, notFoundf("workgroup %s not found in organization %s", groupID, d.o.ID)
	}
	return g, nil
}

func (d *decider) addWorkgroupMember(c *AddWorkgroupMember) (Outcome, error) {
	g, err := d.workgroupMember(CmdAddWorkgroupMember, c.GroupID, c.UserID)
	if err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Members[c.UserID]; !ok {
		return Outcome{}, preconditionf("user %s is not a member of organization %s; add them to the organization first", c.UserID, d.o.ID)
	}
	if g.Members[c.UserID] {
		return Outcome{}, conflictf("user %s is already in workgroup %s", c.UserID, c.GroupID)
	}
	return one(&WorkgroupMemberAdded{GroupID: c.GroupID, UserID: c.UserID}), nil
}

func (d *decider) removeWorkgroupMember(c *RemoveWorkgroupMember) (Outcome, error) {
	g, err := d.workgroupMember(CmdRemoveWorkgroupMember, c.GroupID, c.UserID)
	if err != nil {
		return Outcome{}, err
	}
	if !g.Members[c.UserID] {
		return Outcome{}, notFoundf("user %s is not in workgroup %s", c.UserID, c.GroupID)
	}
	evs := []Event{&WorkgroupMemberRemoved{GroupID: c.GroupID, UserID: c.UserID}}
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

// ---- projects ----

func (d *decider) uniqueTrackID(id string) error {
	for _, p := range d.o.Projects {
		if _, ok := p.Tracks[id]; ok {
			return conflictf("track %s already exists in organization %s", id, d.o.ID)
		}
	}
	return nil
}

func (d *decider) createProject(c *CreateProject) (Outcome, error) {
	if err := checkIDs(map[string]string{"project_id": c.ProjectID}, nil); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdCreateProject, Scope{}, false); err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Projects[c.ProjectID]; ok {
		return Outcome{}, conflictf("project %s already exists in organization %s", c.ProjectID, d.o.ID)
	}
	vis := c.Visibility
	if vis == "" {
		vis = Private
	}
	if vis != Private && vis != Public {
		return Outcome{}, invalidf("visibility %q must be private or public", vis)
	}
	pre := d.o.preset
	if c.Track != nil && !pre.Tracks {
		return Outcome{}, invalidf("preset %s has no tracks; drop the track field", pre.ID)
	}
	name := c.Name
	if name == "" {
		name = c.ProjectID
	}
	evs := []Event{&ProjectCreated{ProjectID: c.ProjectID, Name: name, Visibility: vis, CreatedBy: d.actor}}
	result := map[string]any{"project_id": c.ProjectID}
	creator := d.o.Members[d.actor]
	creatorEmail, creatorName := "", ""
	if creator != nil {
		creatorEmail, creatorName = creator.Email, creator.Name
	}
	if pre.CreatorRole != "" {
		evs = append(evs, &MemberAdded{Target: Target{ProjectID: c.ProjectID}, Principal: Principal{UserID: d.actor},
			Email: creatorEmail, Name: creatorName, Roles: []string{pre.CreatorRole}, Guest: creator == nil})
	}
	if pre.FirstTrack {
		spec := TrackSpec{}
		if c.Track != nil {
			spec = *c.Track
		}
		if spec.TrackID == "" {
			spec.TrackID = c.ProjectID + "-track-1"
		}
		if !ValidID(spec.TrackID) {
			return Outcome{}, invalidf("track.track_id %q must be 1-128 characters of A-Z a-z 0-9 _ -", spec.TrackID)
		}
		if err := d.uniqueTrackID(spec.TrackID); err != nil {
			return Outcome{}, err
		}
		if spec.Name == "" {
			spec.Name = spec.TrackID
		}
		evs = append(evs, &TrackCreated{ProjectID: c.ProjectID, TrackID: spec.TrackID, Name: spec.Name, Compute: spec.Compute, NotebookEnv: spec.NotebookEnv})
		if pre.TrackCreatorRole != "" {
			evs = append(evs, &MemberAdded{Target: Target{ProjectID: c.ProjectID, TrackID: spec.TrackID}, Principal: Principal{UserID: d.actor},
				Email: creatorEmail, Name: creatorName, Roles: []string{pre.TrackCreatorRole}, Guest: creator == nil})
		}
		result["track_id"] = spec.TrackID
	}
	return Outcome{Events: evs, Result: result}, nil
}

func (d *decider) renameProject(c *RenameProject) (Outcome, error) {
	if err := checkIDs(map[string]string{"project_id": c.ProjectID}, nil); err != nil {
		return Outcome{}, err
	}
	if _, err := d.project(c.ProjectID, true); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdRenameProject, Scope{ProjectID: c.ProjectID}, true); err != nil {
		return Outcome{}, err
	}
	if _, err := d.project(c.ProjectID, false); err != nil {
		return Outcome{}, err
	}
	if strings.TrimSpace(c.Name) == "" {
		return Outcome{}, invalidf("name is required")
	}
	return one(&ProjectRenamed{ProjectID: c.ProjectID, Name: c.Name}), nil
}

func (d *decider) setProjectVisibility(c *SetProjectVisibility) (Outcome, error) {
	if err := checkIDs(map[string]string{"project_id": c.ProjectID}, nil); err != nil {
		return Outcome{}, err
	}
	if _, err := d.project(c.ProjectID, true); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdSetProjectVisibility, Scope{ProjectID: c.ProjectID}, true); err != nil {
		return Outcome{}, err
	}
	p, err := d.project(c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	if c.Visibility != Private && c.Visibility != Public {
		return Outcome{}, invalidf("visibility %q must be private or public", c.Visibility)
	}
	if p.Visibility == c.Visibility {
		return Outcome{}, conflictf("project %s is already %s", c.ProjectID, c.Visibility)
	}
	return one(&ProjectVisibilitySet{ProjectID: c.ProjectID, Visibility: c.Visibility}), nil
}

// projectCommand checks a project-level command's target and actor; archived projects
// are refused unless archivedOK, and the actor's right is checked as if the project were active.
func (d *decider) projectCommand(cmd, projectID string, archivedOK bool) (*Project, error) {
	if err := checkIDs(map[string]string{"project_id": projectID}, nil); err != nil {
		return nil, err
	}
	if _, err := d.project(projectID, true); err != nil {
		return nil, err
	}
	if err := d.authorize(cmd, Scope{ProjectID: projectID}, true); err != nil {
		return nil, err
	}
	return d.project(projectID, archivedOK)
}

func (d *decider) archive(c *ArchiveProject) (Outcome, error) {
	if _, err := d.projectCommand(CmdArchiveProject, c.ProjectID, false); err != nil {
		return Outcome{}, err
	}
	return one(&ProjectArchived{ProjectID: c.ProjectID}), nil
}

func (d *decider) unarchive(c *UnarchiveProject) (Outcome, error) {
	p, err := d.projectCommand(CmdUnarchiveProject, c.ProjectID, true)
	if err != nil {
		return Outcome{}, err
	}
	if p.Status != StatusArchived {
		return Outcome{}, preconditionf("project %s is not archived", c.ProjectID)
	}
	return one(&ProjectUnarchived{ProjectID: c.ProjectID}), nil
}

func (d *decider) deleteProject(c *DeleteProject) (Outcome, error) {
	if _, err := d.projectCommand(CmdDeleteProject, c.ProjectID, true); err != nil {
		return Outcome{}, err
	}
	return one(&ProjectDeleted{ProjectID: c.ProjectID}), nil
}

func (d *decider) transferOwnership(c *TransferProjectOwnership) (Outcome, error) {
	pre := d.o.preset
	if pre.OwnerRole == "" {
		return Outcome{}, invalidf("preset %s has no project owner role", pre.ID)
	}
	if err := checkIDs(map[string]string{"new_owner": c.NewOwner}, nil); err != nil {
		return Outcome{}, err
	}
	p, err := d.projectCommand(CmdTransferProjectOwnership, c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	if _, member := d.o.Members[c.NewOwner]; !member && d.o.Kind == KindTeam {
		return Outcome{}, preconditionf("user %s is not a member of organization %s; ownership goes only to organization members", c.NewOwner, d.o.ID)
	}
	prevRoles := pre.TransferRoles
	if len(c.PreviousOwnerRoles) > 0 {
		if prevRoles, err = d.resolveRoles(c.PreviousOwnerRoles, ScopeProject, c.ProjectID); err != nil {
			return Outcome{}, err
		}
	}
	target := Target{ProjectID: p.ID}
	newKey := Principal{UserID: c.NewOwner}.Key()
	var evs []Event
	if m, ok := p.Members[newKey]; ok {
		if slices.Contains(m.Roles, pre.OwnerRole) {
			return Outcome{}, conflictf("user %s already owns project %s", c.NewOwner, p.ID)
		}
		roles := append(withoutCategoryOf(d.o, m.Roles, pre.OwnerRole), pre.OwnerRole)
		evs = append(evs, &RoleChanged{Target: target, Principal: m.Principal, Roles: roles, PreviousRoles: slices.Clone(m.Roles)})
	} else {
		om := d.o.Members[c.NewOwner]
		email, name := "", ""
		if om != nil {
			email, name = om.Email, om.Name
		}
		evs = append(evs, &MemberAdded{Target: target, Principal: Principal{UserID: c.NewOwner}, Email: email, Name: name, Roles: []string{pre.OwnerRole}, Guest: om == nil})
	}
	for _, key := range sortedKeys(p.Members) {
		m := p.Members[key]
		if key == newKey || m.UserID == "" || !slices.Contains(m.Roles, pre.OwnerRole) {
			continue
		}
		if !pre.SingleOwner && !(len(c.PreviousOwnerRoles) > 0 && m.UserID == d.actor) {
			continue
		}
		roles := slices.DeleteFunc(slices.Clone(m.Roles), func(r string) bool { return r == pre.OwnerRole })
		for _, r := range prevRoles {
			if !slices.Contains(roles, r) {
				roles = append(withoutCategoryOf(d.o, roles, r), r)
			}
		}
		if len(roles) == 0 && len(m.Grants) == 0 {
			evs = append(evs, &MemberRemoved{Target: target, Principal: m.Principal, Reason: "ownership_transferred"})
		} else {
			evs = append(evs, &RoleChanged{Target: target, Principal: m.Principal, Roles: roles, PreviousRoles: slices.Clone(m.Roles)})
		}
	}
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
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

// ---- memberships ----

func (d *decider) memberCommand(cmd string, ref MemberRef) (*Project, error) {
	if ref.UserID == "" && ref.GroupID == "" {
		return nil, invalidf("user_id or group_id is required")
	}
	if ref.UserID != "" && ref.GroupID != "" {
		return nil, invalidf("give user_id or group_id, not both")
	}
	if err := checkIDs(map[string]string{"project_id": ref.ProjectID}, map[string]string{"track_id": ref.TrackID, "user_id": ref.UserID, "group_id": ref.GroupID}); err != nil {
		return nil, err
	}
	if _, err := d.project(ref.ProjectID, true); err != nil {
		return nil, err
	}
	if _, err := d.o.checkScope(ref.scope()); err != nil {
		return nil, err
	}
	if err := d.authorize(cmd, ref.scope(), true); err != nil {
		return nil, err
	}
	return d.project(ref.ProjectID, false)
}

func (d *decider) addMember(c *AddMember) (Outcome, error) {
	p, err := d.memberCommand(CmdAddMember, c.MemberRef)
	if err != nil {
		return Outcome{}, err
	}
	evs, err := d.addMembership(p, c)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

func (d *decider) addMembership(p *Project, c *AddMember) ([]Event, error) {
	o := d.o
	roles, err := d.resolveRoles(c.Roles, scopeOfTarget(c.TrackID), c.ProjectID)
	if err != nil {
		return nil, err
	}
	grants, err := d.resolveGrants(c.Grants)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 && len(grants) == 0 && !d.o.preset.CustomRoles {
		return nil, invalidf("roles is empty; give at least one role")
	}
	partner, err := d.partnerFor(p, c.PartnerID, roles)
	if err != nil {
		return nil, err
	}
	if err := d.mayGive(p, roles); err != nil {
		return nil, err
	}
	ev := &MemberAdded{Target: c.target(), Principal: c.principal(), Roles: roles, Grants: grants, PartnerID: partner}
	if c.GroupID != "" {
		g, ok := o.Workgroups[c.GroupID]
		if !ok {
			return nil, notFoundf("workgroup %s not found in organization %s", c.GroupID, o.ID)
		}
		ev.Name = g.Name
	} else {
		om, member := o.Members[c.UserID]
		if o.Kind == KindIndividual && !member {
			return nil, preconditionf("organization %s is individual: others join its projects only by invitation, to public projects; use InviteMember", o.ID)
		}
		if !member {
			return nil, preconditionf("user %s is not a member of organization %s; add them to the organization first", c.UserID, o.ID)
		}
		ev.Email, ev.Name = firstNonEmpty(om.Email, c.Email), firstNonEmpty(om.Name, c.Name)
	}
	if _, ok := p.members(c.TrackID)[c.principal().Key()]; ok {
		return nil, conflictf("%s is already a member of %s; use ChangeRole", describePrincipal(c.principal()), describeScope(o.ID, c.scope()))
	}
	return []Event{ev}, nil
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

// existingMember returns the membership a command names and checks partner boundaries.
func (d *decider) existingMember(p *Project, ref MemberRef) (*Membership, error) {
	m, ok := p.members(ref.TrackID)[ref.principal().Key()]
	if !ok {
		return nil, notFoundf("%s is not a member of %s", describePrincipal(ref.principal()), describeScope(d.o.ID, ref.scope()))
	}
	if mine := d.actorPartner(p); mine != "" && m.PartnerID != mine {
		return nil, forbiddenf("%s belongs to partner %s and manages only that partner's members", d.actor, mine)
	}
	return m, nil
}

func (d *decider) changeRole(c *ChangeRole) (Outcome, error) {
	p, err := d.memberCommand(CmdChangeRole, c.MemberRef)
	if err != nil {
		return Outcome{}, err
	}
	m, err := d.existingMember(p, c.MemberRef)
	if err != nil {
		return Outcome{}, err
	}
	roles, err := d.resolveRoles(c.Roles, scopeOfTarget(c.TrackID), c.ProjectID)
	if err != nil {
		return Outcome{}, err
	}
	if len(roles) == 0 && len(m.Grants) == 0 && !d.o.preset.CustomRoles {
		return Outcome{}, invalidf("roles is empty; use RemoveMember to take the member off")
	}
	if _, err := d.partnerFor(p, m.PartnerID, roles); err != nil {
		return Outcome{}, err
	}
	if err := d.mayGive(p, roles); err != nil {
		return Outcome{}, err
	}
	if slices.Equal(roles, m.Roles) {
		return Outcome{}, conflictf("%s already has roles %s", describePrincipal(m.Principal), strings.Join(roles, ", "))
	}
	evs := []Event{&RoleChanged{Target: c.target(), Principal: m.Principal, Roles: roles, PreviousRoles: slices.Clone(m.Roles)}}
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

func (d *decider) setGrants(c *SetMemberGrants) (Outcome, error) {
	p, err := d.memberCommand(CmdSetMemberGrants, c.MemberRef)
	if err != nil {
		return Outcome{}, err
	}
	m, err := d.existingMember(p, c.MemberRef)
	if err != nil {
		return Outcome{}, err
	}
	grants, err := d.resolveGrants(c.Grants)
	if err != nil {
		return Outcome{}, err
	}
	return one(&GrantsSet{Target: c.target(), Principal: m.Principal, Grants: grants, PreviousGrants: slices.Clone(m.Grants)}), nil
}

func (d *decider) removeMember(c *RemoveMember) (Outcome, error) {
	p, err := d.memberCommand(CmdRemoveMember, c.MemberRef)
	if err != nil {
		return Outcome{}, err
	}
	m, err := d.existingMember(p, c.MemberRef)
	if err != nil {
		return Outcome{}, err
	}
	evs := []Event{&MemberRemoved{Target: c.target(), Principal: m.Principal, Reason: "removed"}}
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

func (d *decider) leaveProject(c *LeaveProject) (Outcome, error) {
	if err := checkIDs(map[string]string{"project_id": c.ProjectID}, nil); err != nil {
		return Outcome{}, err
	}
	p, err := d.project(c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	key := Principal{UserID: d.actor}.Key()
	var evs []Event
	if _, ok := p.Members[key]; ok {
		evs = append(evs, &MemberRemoved{Target: Target{ProjectID: p.ID}, Principal: Principal{UserID: d.actor}, Reason: "left"})
	}
	for _, tid := range sortedKeys(p.Tracks) {
		if _, ok := p.Tracks[tid].Members[key]; ok {
			evs = append(evs, &MemberRemoved{Target: Target{ProjectID: p.ID, TrackID: tid}, Principal: Principal{UserID: d.actor}, Reason: "left"})
		}
	}
	if len(evs) == 0 {
		return Outcome{}, notFoundf("user %s is not a member of project %s", d.actor, p.ID)
	}
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

// ---- invitations ----

func (d *decider) inviteMember(c *InviteMember) (Outcome, error) {
	if c.InvitationID == "" && d.env.NewID != nil {
		c.InvitationID = d.env.NewID()
	}
	if err := checkIDs(map[string]string{"invitation_id": c.InvitationID},
		map[string]string{"project_id": c.ProjectID, "track_id": c.TrackID, "user_id": c.UserID, "partner_id": c.PartnerID}); err != nil {
		return Outcome{}, err
	}
	ev, err := d.invitation(c)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: []Event{ev}, Result: map[string]any{"invitation_id": ev.InvitationID}}, nil
}

func (d *decider) invitation(c *InviteMember) (*InvitationCreated, error) {
	o := d.o
	if (c.Email == "") == (c.UserID == "") {
		return nil, invalidf("give email or user_id (exactly one)")
	}
	email := strings.TrimSpace(c.Email)
	if email != "" {
		if _, err := mail.ParseAddress(email); err != nil || strings.ContainsAny(email, " <>") {
			return nil, invalidf("email %q is not an e-mail address", c.Email)
		}
	}
	if _, dup := o.Invitations[c.InvitationID]; dup {
		return nil, conflictf("invitation %s already exists", c.InvitationID)
	}
	refs := slices.Clone(c.Roles)
	if c.Role != "" {
		refs = append(refs, c.Role)
	}
	ev := &InvitationCreated{InvitationID: c.InvitationID, ProjectID: c.ProjectID, TrackID: c.TrackID, Email: email,
		UserID: c.UserID, Name: c.Name, InvitedBy: d.actor, ExpiresAt: d.env.Now.Add(d.env.InviteTTL)}
	if c.ProjectID == "" {
		if c.TrackID != "" || c.PartnerID != "" || len(c.Grants) > 0 {
			return nil, invalidf("an organization invitation takes no track_id, partner_id or grants; give project_id")
		}
		if err := d.authorize(CmdInviteMember, Scope{}, false); err != nil {
			return nil, err
		}
		if o.Kind == KindIndividual {
			return nil, preconditionf("organization %s is individual and has one member; invite people to a public project instead", o.ID)
		}
		ref := ""
		if len(refs) > 1 {
			return nil, invalidf("an organization invitation takes one role")
		} else if len(refs) == 1 {
			ref = refs[0]
		}
		role, err := d.orgRole(ref)
		if err != nil {
			return nil, err
		}
		if c.UserID != "" {
			if _, ok := o.Members[c.UserID]; ok {
				return nil, conflictf("user %s is already a member of organization %s", c.UserID, o.ID)
			}
		} else if o.memberByEmail(email) != nil {
			return nil, conflictf("%s is already a member of organization %s", email, o.ID)
		}
		ev.Roles = []string{role}
		return ev, d.noPendingDuplicate(ev)
	}
	ref := MemberRef{ProjectID: c.ProjectID, TrackID: c.TrackID, UserID: c.UserID}
	if c.UserID == "" {
		ref.UserID = "x" // membership commands need a principal; the e-mail stands for it here
	}
	p, err := d.memberCommand(CmdInviteMember, ref)
	if err != nil {
		return nil, err
	}
	roles, err := d.resolveRoles(refs, scopeOfTarget(c.TrackID), c.ProjectID)
	if err != nil {
		return nil, err
	}
	grants, err := d.resolveGrants(c.Grants)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 && len(grants) == 0 && !d.o.preset.CustomRoles {
		return nil, invalidf("roles is empty; give at least one role")
	}
	partner, err := d.partnerFor(p, c.PartnerID, roles)
	if err != nil {
		return nil, err
	}
	if err := d.mayGive(p, roles); err != nil {
		return nil, err
	}
	ev.Roles, ev.Grants, ev.PartnerID = roles, grants, partner
	switch {
	case o.Kind == KindIndividual:
		if p.Visibility != Public {
			return nil, preconditionf("project %s is private; in individual organization %s only public projects take invited users", p.ID, o.ID)
		}
	case !o.preset.OutsideGuests:
		member := o.Members[c.UserID]
		if c.UserID == "" {
			member = o.memberByEmail(email)
		}
		if member == nil {
			who := c.UserID
			if who == "" {
				who = email
			}
			return nil, preconditionf("%s is not a member of organization %s; add them to the organization first", who, o.ID)
		}
		ev.UserID = member.UserID
	}
	if ev.UserID != "" {
		if _, ok := p.members(c.TrackID)[Principal{UserID: ev.UserID}.Key()]; ok {
			return nil, conflictf("user %s is already a member of %s", ev.UserID, describeScope(o.ID, Scope{ProjectID: c.ProjectID, TrackID: c.TrackID}))
		}
	}
	return ev, d.noPendingDuplicate(ev)
}

func (o *Org) memberByEmail(email string) *OrgMember {
	for _, id := range sortedKeys(o.Members) {
		if m := o.Members[id]; m.Email != "" && strings.EqualFold(m.Email, email) {
			return m
		}
	}
	return nil
}

func (d *decider) noPendingDuplicate(ev *InvitationCreated) error {
	for _, id := range sortedKeys(d.o.Invitations) {
		inv := d.o.Invitations[id]
		if inv.Status != InvitePending || inv.ProjectID != ev.ProjectID || inv.TrackID != ev.TrackID || !inv.ExpiresAt.After(d.env.Now) {
			continue
		}
		if (ev.UserID != "" && inv.UserID == ev.UserID) || (ev.Email != "" && strings.EqualFold(inv.Email, ev.Email)) {
			return conflictf("invitation %s to the same person is already pending; revoke it first", id)
		}
	}
	return nil
}

// invitee checks the actor is the invitation's invitee (SPEC §2.12) and it is still open.
func (d *decider) invitee(id, actorEmail string) (*Invitation, error) {
	if err := checkIDs(map[string]string{"invitation_id": id}, nil); err != nil {
		return nil, err
	}
	inv, ok := d.o.Invitations[id]
	if !ok {
		return nil, notFoundf("invitation %s not found in organization %s", id, d.o.ID)
	}
	switch {
	case inv.UserID != "" && inv.UserID != d.actor:
		return nil, forbiddenf("invitation %s is for another user; only its invitee may answer it", id)
	case inv.UserID == "" && !strings.EqualFold(strings.TrimSpace(actorEmail), inv.Email):
		return nil, forbiddenf("invitation %s is for another e-mail address; answer it with actor_email set to the invited address", id)
	}
	if inv.Status != InvitePending {
		return nil, preconditionf("invitation %s is %s, not pending", id, inv.Status)
	}
	if !d.env.Now.Before(inv.ExpiresAt) {
		return nil, preconditionf("invitation %s expired at %s; ask for a new one", id, inv.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return inv, nil
}

func (d *decider) acceptInvite(c *AcceptInvite) (Outcome, error) {
	inv, err := d.invitee(c.InvitationID, c.ActorEmail)
	if err != nil {
		return Outcome{}, err
	}
	o := d.o
	email := firstNonEmpty(inv.Email, c.ActorEmail)
	name := firstNonEmpty(c.ActorName, inv.Name)
	evs := []Event{&InvitationAccepted{InvitationID: inv.ID, ProjectID: inv.ProjectID, TrackID: inv.TrackID, UserID: d.actor, Email: email, Name: name}}
	if inv.ProjectID == "" {
		if _, ok := o.Members[d.actor]; ok {
			return Outcome{}, conflictf("user %s is already a member of organization %s", d.actor, o.ID)
		}
		evs = append(evs, &OrgMemberAdded{UserID: d.actor, Email: email, Name: name, Role: inv.Roles[0], InvitationID: inv.ID})
		return Outcome{Events: evs}, nil
	}
	p, err := d.project(inv.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	om, member := o.Members[d.actor]
	if !member && o.Kind == KindTeam && !o.preset.OutsideGuests {
		return Outcome{}, preconditionf("user %s is no longer a member of organization %s", d.actor, o.ID)
	}
	if om != nil {
		email, name = firstNonEmpty(om.Email, email), firstNonEmpty(om.Name, name)
	}
	target := Target{ProjectID: inv.ProjectID, TrackID: inv.TrackID}
	mm := p.members(inv.TrackID)
	if mm == nil {
		return Outcome{}, notFoundf("track %s no longer exists", inv.TrackID)
	}
	if m, ok := mm[Principal{UserID: d.actor}.Key()]; ok {
		roles := slices.Clone(m.Roles)
		for _, r := range inv.Roles {
			if !slices.Contains(roles, r) {
				roles = append(withoutCategoryOf(o, roles, r), r)
			}
		}
		evs = append(evs, &RoleChanged{Target: target, Principal: m.Principal, Roles: roles, PreviousRoles: slices.Clone(m.Roles)})
	} else {
		evs = append(evs, &MemberAdded{Target: target, Principal: Principal{UserID: d.actor}, Email: email, Name: name,
			Roles: slices.Clone(inv.Roles), Grants: slices.Clone(inv.Grants), PartnerID: inv.PartnerID, Guest: !member, InvitationID: inv.ID})
	}
	return Outcome{Events: evs}, nil
}

func (d *decider) rejectInvite(c *RejectInvite) (Outcome, error) {
	inv, err := d.invitee(c.InvitationID, c.ActorEmail)
	if err != nil {
		return Outcome{}, err
	}
	return one(&InvitationRejected{InvitationID: inv.ID, ProjectID: inv.ProjectID, TrackID: inv.TrackID, UserID: d.actor}), nil
}

func (d *decider) revokeInvite(c *RevokeInvite) (Outcome, error) {
	if err := checkIDs(map[string]string{"invitation_id": c.InvitationID}, nil); err != nil {
		return Outcome{}, err
	}
	inv, ok := d.o.Invitations[c.InvitationID]
	if !ok {
		return Outcome{}, notFoundf("invitation %s not found in organization %s", c.InvitationID, d.o.ID)
	}
	s := Scope{ProjectID: inv.ProjectID, TrackID: inv.TrackID}
	if p, ok := d.o.Projects[inv.ProjectID]; ok && p.Status == StatusDeleted {
		return Outcome{}, preconditionf("project %s is deleted and accepts no command", inv.ProjectID)
	}
	if err := d.authorize(CmdRevokeInvite, s, true); err != nil {
		return Outcome{}, err
	}
	if p, ok := d.o.Projects[inv.ProjectID]; ok && p.Status == StatusArchived {
		return Outcome{}, preconditionf("project %s is archived and read-only; unarchive it first", inv.ProjectID)
	}
	if p, ok := d.o.Projects[inv.ProjectID]; ok {
		if mine := d.actorPartner(p); mine != "" && inv.PartnerID != mine {
			return Outcome{}, forbiddenf("%s belongs to partner %s and may revoke only that partner's invitations", d.actor, mine)
		}
	}
	if inv.Status != InvitePending {
		return Outcome{}, preconditionf("invitation %s is %s, not pending", inv.ID, inv.Status)
	}
	return one(&InvitationRevoked{InvitationID: inv.ID, ProjectID: inv.ProjectID, TrackID: inv.TrackID, Reason: "revoked"}), nil
}

func (d *decider) expireInvites() (Outcome, error) {
	if d.actor != SystemActor {
		return Outcome{}, forbiddenf("only Roster itself expires invitations")
	}
	var evs []Event
	for _, id := range sortedKeys(d.o.Invitations) {
		inv := d.o.Invitations[id]
		if inv.Status == InvitePending && !d.env.Now.Before(inv.ExpiresAt) {
			evs = append(evs, &InvitationExpired{InvitationID: id, ProjectID: inv.ProjectID, TrackID: inv.TrackID})
		}
	}
	return Outcome{Events: evs}, nil
}

// ---- tracks and partners ----

func (d *decider) createTrack(c *CreateTrack) (Outcome, error) {
	if !d.o.preset.Tracks {
		return Outcome{}, invalidf("preset %s has no tracks", d.o.PresetID)
	}
	if err := checkIDs(map[string]string{"track_id": c.TrackID}, nil); err != nil {
		return Outcome{}, err
	}
	if _, err := d.projectCommand(CmdCreateTrack, c.ProjectID, false); err != nil {
		return Outcome{}, err
	}
	if err := d.uniqueTrackID(c.TrackID); err != nil {
		return Outcome{}, err
	}
	name := c.Name
	if name == "" {
		name = c.TrackID
	}
	evs := []Event{&TrackCreated{ProjectID: c.ProjectID, TrackID: c.TrackID, Name: name, Compute: c.Compute, NotebookEnv: c.NotebookEnv}}
	if r := d.o.preset.TrackCreatorRole; r != "" {
		om := d.o.Members[d.actor]
		ev := &MemberAdded{Target: Target{ProjectID: c.ProjectID, TrackID: c.TrackID}, Principal: Principal{UserID: d.actor}, Roles: []string{r}, Guest: om == nil}
		if om != nil {
			ev.Email, ev.Name = om.Email, om.Name
		}
		evs = append(evs, ev)
	}
	return Outcome{Events: evs, Result: map[string]any{"track_id": c.TrackID}}, nil
}

func (d *decider) configureTrack(c *ConfigureTrack) (Outcome, error) {
	if err := checkIDs(map[string]string{"track_id": c.TrackID}, nil); err != nil {
		return Outcome{}, err
	}
	p, err := d.projectCommand(CmdConfigureTrack, c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	t, ok := p.Tracks[c.TrackID]
	if !ok {
		return Outcome{}, notFoundf("track %s not found in project %s", c.TrackID, c.ProjectID)
	}
	ev := &TrackConfigured{ProjectID: c.ProjectID, TrackID: c.TrackID, Name: firstNonEmpty(c.Name, t.Name),
		Compute: firstNonEmpty(c.Compute, t.Compute), NotebookEnv: firstNonEmpty(c.NotebookEnv, t.NotebookEnv)}
	if ev.Name == t.Name && ev.Compute == t.Compute && ev.NotebookEnv == t.NotebookEnv {
		return Outcome{}, conflictf("track %s already has this configuration", c.TrackID)
	}
	return one(ev), nil
}

func (d *decider) addPartner(c *AddPartner) (Outcome, error) {
	pre := d.o.preset
	if pre.PartnerAdminRole == "" {
		return Outcome{}, invalidf("preset %s has no partners", pre.ID)
	}
	if c.InvitationID == "" && d.env.NewID != nil {
		c.InvitationID = d.env.NewID()
	}
	if err := checkIDs(map[string]string{"partner_id": c.PartnerID, "invitation_id": c.InvitationID}, nil); err != nil {
		return Outcome{}, err
	}
	p, err := d.projectCommand(CmdAddPartner, c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	for _, q := range d.o.Projects {
		if _, ok := q.Partners[c.PartnerID]; ok {
			return Outcome{}, conflictf("partner %s already exists in organization %s", c.PartnerID, d.o.ID)
		}
	}
	if strings.TrimSpace(c.AdminEmail) == "" {
		return Outcome{}, invalidf("admin_email is required: the partner's admin is invited as %s", pre.PartnerAdminRole)
	}
	if _, err := mail.ParseAddress(c.AdminEmail); err != nil {
		return Outcome{}, invalidf("admin_email %q is not an e-mail address", c.AdminEmail)
	}
	if _, dup := d.o.Invitations[c.InvitationID]; dup {
		return Outcome{}, conflictf("invitation %s already exists", c.InvitationID)
	}
	name := firstNonEmpty(c.Name, c.PartnerID)
	evs := []Event{
		&PartnerAdded{ProjectID: p.ID, PartnerID: c.PartnerID, Name: name, AdminEmail: c.AdminEmail},
		&InvitationCreated{InvitationID: c.InvitationID, ProjectID: p.ID, Email: c.AdminEmail, Roles: []string{pre.PartnerAdminRole},
			PartnerID: c.PartnerID, InvitedBy: d.actor, ExpiresAt: d.env.Now.Add(d.env.InviteTTL)},
	}
	return Outcome{Events: evs, Result: map[string]any{"partner_id": c.PartnerID, "invitation_id": c.InvitationID}}, nil
}

// ---- custom roles ----

func (d *decider) roleCommand(role, projectID string) error {
	if !d.o.preset.CustomRoles {
		return invalidf("preset %s has built-in roles only; custom roles need preset aunsight or custom", d.o.PresetID)
	}
	return checkIDs(map[string]string{"role": role}, map[string]string{"project_id": projectID})
}

// roleManager finds where the actor may manage roles: the organization (the role may be
// organization-wide), or one project (the role then belongs to that project: Aunsight's
// delegated team managers manage their project's roles and nothing wider). A project is the
// one named, or else the only project where the actor holds the right.
func (d *decider) roleManager(cmd, projectID string) (string, error) {
	orgErr := d.authorize(cmd, Scope{}, false)
	if orgErr == nil {
		if projectID != "" {
			if _, err := d.project(projectID, false); err != nil {
				return "", err
			}
		}
		return projectID, nil
	}
	if projectID != "" {
		if _, err := d.project(projectID, false); err != nil {
			return "", err
		}
		if err := d.authorize(cmd, Scope{ProjectID: projectID}, false); err != nil {
			return "", err
		}
		return projectID, nil
	}
	var found []string
	for _, pid := range sortedKeys(d.o.Projects) {
		if d.o.Projects[pid].Status == StatusActive && d.authorize(cmd, Scope{ProjectID: pid}, false) == nil {
			found = append(found, pid)
		}
	}
	switch len(found) {
	case 0:
		return "", orgErr
	case 1:
		return found[0], nil
	}
	return "", invalidf("%s manages roles in several projects (%s); give project_id", d.actor, strings.Join(found, ", "))
}

// mayManageRole checks the actor's right over an existing custom role: a project's role in
// that project, an organization-wide role in the organization.
func (d *decider) mayManageRole(cmd string, r *Role) error {
	if r.ProjectID == "" {
		return d.authorize(cmd, Scope{}, false)
	}
	if _, err := d.project(r.ProjectID, false); err != nil {
		return err
	}
	return d.authorize(cmd, Scope{ProjectID: r.ProjectID}, false)
}

func (d *decider) defineRole(c *DefineRole) (Outcome, error) {
	if err := d.roleCommand(c.Role, c.ProjectID); err != nil {
		return Outcome{}, err
	}
	owner, err := d.roleManager(CmdDefineRole, c.ProjectID)
	if err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Role(c.Role); ok {
		return Outcome{}, conflictf("role %s already exists in organization %s", c.Role, d.o.ID)
	}
	scope := c.Scope
	if scope == "" {
		scope = ScopeProject
	}
	if scopeDepth(scope) < 0 || (scope == ScopeTrack && !d.o.preset.Tracks) {
		return Outcome{}, invalidf("scope %q must be org or project", c.Scope)
	}
	if owner != "" && scope == ScopeOrg {
		return Outcome{}, invalidf("a role of project %s applies in that project; its scope is project, not org", owner)
	}
	if owner != "" && d.authorize(CmdDefineRole, Scope{}, false) != nil && c.ProjectID == "" {
		// Chosen for the actor: say so in the result.
		c.ProjectID = owner
	}
	if c.Category != "" && !slices.Contains(d.o.preset.Categories, c.Category) {
		return Outcome{}, invalidf("category %q is not a category of preset %s", c.Category, d.o.PresetID)
	}
	ev := &RoleDefined{Role: c.Role, Label: firstNonEmpty(c.Label, c.Role), Description: c.Description, Scope: scope,
		Category: c.Category, ProjectID: owner}
	result := map[string]any{"role": c.Role}
	if owner != "" {
		result["project_id"] = owner
	}
	return Outcome{Events: []Event{ev}, Result: result}, nil
}

func (d *decider) customRole(id string) (*Role, error) {
	r, ok := d.o.CustomRoles[id]
	if !ok {
		if _, builtin := d.o.Role(id); builtin {
			return nil, preconditionf("role %s is built into preset %s and cannot be changed", id, d.o.PresetID)
		}
		return nil, notFoundf("role %s not found in organization %s", id, d.o.ID)
	}
	return r, nil
}

func (d *decider) setRolePermissions(c *SetRolePermissions) (Outcome, error) {
	if err := d.roleCommand(c.Role, c.ProjectID); err != nil {
		return Outcome{}, err
	}
	r, err := d.customRole(c.Role)
	if err != nil {
		return Outcome{}, err
	}
	if err := d.mayManageRole(CmdSetRolePermissions, r); err != nil {
		return Outcome{}, err
	}
	perms := []string{}
	for _, ref := range c.Permissions {
		p, ok := d.o.resolvePermission(ref)
		if !ok {
			return Outcome{}, invalidf("permission %q is not in preset %s; the Catalog query lists them", ref, d.o.PresetID)
		}
		if p.GrantOnly {
			return Outcome{}, invalidf("permission %s is given only as a direct grant", p.ID)
		}
		if !slices.Contains(perms, p.ID) {
			perms = append(perms, p.ID)
		}
	}
	return one(&RolePermissionsSet{Role: r.ID, Permissions: perms, Previous: slices.Clone(r.Permissions)}), nil
}

func (d *decider) deleteRole(c *DeleteRole) (Outcome, error) {
	if err := d.roleCommand(c.Role, c.ProjectID); err != nil {
		return Outcome{}, err
	}
	r, err := d.customRole(c.Role)
	if err != nil {
		return Outcome{}, err
	}
	if err := d.mayManageRole(CmdDeleteRole, r); err != nil {
		return Outcome{}, err
	}
	if n := d.o.holders(r.ID); n > 0 {
		return Outcome{}, preconditionf("role %s is held by %d member(s) or pending invitation(s); reassign them first", r.ID, n)
	}
	return one(&RoleDeleted{Role: r.ID}), nil
}

func (o *Org) holders(role string) int {
	n := 0
	for _, m := range o.Members {
		if m.Role == role {
			n++
		}
	}
	count := func(mm map[string]*Membership) {
		for _, m := range mm {
			if slices.Contains(m.Roles, role) {
				n++
			}
		}
	}
	for _, p := range o.Projects {
		if p.Status == StatusDeleted {
			continue
		}
		count(p.Members)
		for _, t := range p.Tracks {
			count(t.Members)
		}
	}
	for _, inv := range o.Invitations {
		if inv.Status == InvitePending && slices.Contains(inv.Roles, role) {
			n++
		}
	}
	return n
}

// ---- import ----

// ImportRow is one CSV row's outcome.
type ImportRow struct {
	Row   int    `json:"row"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
	// InvitationID is set for rows invited by e-mail.
	InvitationID string `json:"invitation_id,omitempty"`
}

func (d *decider) importMembers(c *ImportMembers) (Outcome, error) {
	if _, err := d.target(c.ProjectID, c.TrackID); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdImportMembers, Scope{ProjectID: c.ProjectID, TrackID: c.TrackID}, false); err != nil {
		return Outcome{}, err
	}
	rows, err := parseImportCSV(c.CSV)
	if err != nil {
		return Outcome{}, err
	}
	scratch := d.o.Clone()
	sd := decider{o: scratch, env: d.env, actor: d.actor}
	var evs []Event
	results := make([]ImportRow, 0, len(rows))
	for i, row := range rows {
		res := ImportRow{Row: i + 1}
		var rowEvs []Event
		var rerr error
		if row.userID != "" && row.email == "" || (row.userID != "" && scratch.Members[row.userID] != nil) {
			cmd := &AddMember{MemberRef: MemberRef{ProjectID: c.ProjectID, TrackID: c.TrackID, UserID: row.userID},
				Roles: row.roles, Grants: row.grants, Email: row.email, Name: row.name}
			var p *Project
			if p, rerr = sd.target(c.ProjectID, c.TrackID); rerr == nil {
				rowEvs, rerr = sd.addMembership(p, cmd)
			}
		} else {
			if sd.env.NewID == nil {
				return Outcome{}, invalidf("import needs an id generator for invitations")
			}
			inv := &InviteMember{ProjectID: c.ProjectID, TrackID: c.TrackID, Email: row.email, Name: row.name,
				Roles: row.roles, Grants: row.grants, InvitationID: sd.env.NewID()}
			if row.userID != "" {
				inv.Email, inv.UserID = "", row.userID
			}
			var ev *InvitationCreated
			if ev, rerr = sd.invitation(inv); rerr == nil {
				rowEvs = []Event{ev}
				res.InvitationID = ev.InvitationID
			}
		}
		if rerr != nil {
			res.Error, res.Code = rerr.Error(), string(CodeOf(rerr))
			res.InvitationID = ""
		} else {
			res.OK = true
			for _, ev := range rowEvs {
				Evolve(scratch, ev)
			}
			evs = append(evs, rowEvs...)
		}
		results = append(results, res)
	}
	return Outcome{Events: evs, Result: map[string]any{"rows": results}}, nil
}

type importRow struct {
	email, userID, name string
	roles, grants       []string
}

// MaxImportRows bounds one ImportMembers command.
const MaxImportRows = 10000

func parseImportCSV(text string) ([]importRow, error) {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, invalidf("csv: header email,user_id,name,roles,grants is missing")
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"email", "user_id", "name", "roles", "grants"} {
		if _, ok := col[need]; !ok {
			return nil, invalidf("csv: header needs column %q (email,user_id,name,roles,grants)", need)
		}
	}
	var rows []importRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalidf("csv: %v", err)
		}
		if len(rows) >= MaxImportRows {
			return nil, invalidf("csv: more than %d rows; split the import", MaxImportRows)
		}
		get := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		rows = append(rows, importRow{email: get("email"), userID: get("user_id"), name: get("name"),
			roles: splitList(get("roles")), grants: splitList(get("grants"))})
	}
	return rows, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
