package domain

// Organization room: CreateOrganization, AddOrgMember, ChangeOrgRole, RemoveOrgMember.

import (
	"slices"
	"strings"
	"time"
)

func (d *decider) createOrganization(c *CreateOrganization) (Outcome, error) {
	o := d.o
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
		AdminEmail: c.ActorEmail, AdminName: c.ActorName, AdminRole: p.OrgAdminRole, Account: d.env.Account,
		PresetVersion: p.Version(), PresetDefinition: p}},
		Result: CreateOrganizationResult{OrgID: c.OrgID}}, nil
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
	end, err := d.expiresAt(c.ExpiresAt)
	if err != nil {
		return Outcome{}, err
	}
	evs := []Event{&OrgMemberAdded{UserID: c.UserID, Email: c.Email, Name: c.Name, Role: role, ExpiresAt: end}}
	// A guest who owns a project and joins for a time would take the ownership along at the end
	// (SPEC §2.2 at every instant).
	if !end.IsZero() {
		if err := d.guard(evs); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{Events: evs}, nil
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
	if err := d.checkProjectRoleLimits(evs, []string{c.UserID}, nil); err != nil {
		return Outcome{}, err
	}
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
	evs := d.o.cascadeRemoval(c.UserID, d.env.Now)
	evs = append(evs, &OrgMemberRemoved{UserID: c.UserID})
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

// cascadeRemoval lists the events that take a user out of every project, track and workgroup (SPEC §2.3)
// at the instant at, and revoke the invitations still pending for them then. An invitation whose own
// expiry came at or before at had already expired: it is left to read as expired, not revoked.
func (o *Org) cascadeRemoval(userID string, at time.Time) []Event {
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
			if !inv.ExpiresAt.IsZero() && !at.IsZero() && !at.Before(inv.ExpiresAt) {
				continue
			}
			evs = append(evs, &InvitationRevoked{InvitationID: iid, ProjectID: inv.ProjectID, TrackID: inv.TrackID, Reason: "org_member_removed"})
		}
	}
	return evs
}
