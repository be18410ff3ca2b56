package domain

// Member room: AddMember, ChangeRole, SetMemberGrants, RemoveMember, LeaveProject.

import (
	"slices"
	"strings"
	"time"
)

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
	if mine := d.actorPartner(p); mine != "" {
		// Dataloop: a labeling company's annotation manager "can add users from their organization
		// to this project … Enter the Email ID of the new user": the company's users come by e-mail
		// invitation; AddMember names organization members and workgroups of the owning organization.
		return nil, forbiddenf("%s belongs to labeling company %s and adds users from that company only, by e-mail invitation (InviteMember with email)", d.actor, mine)
	}
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
	if err := d.mayChangeRoles(p, roles, nil); err != nil {
		return nil, err
	}
	end, err := d.expiresAt(c.ExpiresAt)
	if err != nil {
		return nil, err
	}
	ev := &MemberAdded{Target: c.target(), Principal: c.principal(), Roles: roles, Grants: grants, PartnerID: partner, ExpiresAt: end}
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
	if err := d.checkProjectRoleLimits([]Event{ev}, nonEmpty(c.UserID), nonEmpty(c.GroupID)); err != nil {
		return nil, err
	}
	return []Event{ev}, nil
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
	added, removed := rolesDiff(m.Roles, roles)
	if err := d.mayChangeRoles(p, added, removed); err != nil {
		return Outcome{}, err
	}
	end, err := d.expiresAt(c.ExpiresAt)
	if err != nil {
		return Outcome{}, err
	}
	if err := d.keepOwnEnd(CmdChangeRole, m, end); err != nil {
		return Outcome{}, err
	}
	if slices.Equal(roles, m.Roles) && (end.IsZero() || end.Equal(m.ExpiresAt)) {
		return Outcome{}, conflictf("%s already has roles %s", describePrincipal(m.Principal), strings.Join(roles, ", "))
	}
	evs := []Event{&RoleChanged{Target: c.target(), Principal: m.Principal, Roles: roles, PreviousRoles: slices.Clone(m.Roles), ExpiresAt: end, PreviousExpiresAt: replacedEnd(end, m.ExpiresAt)}}
	if err := d.checkProjectRoleLimits(evs, nonEmpty(m.UserID), nonEmpty(m.GroupID)); err != nil {
		return Outcome{}, err
	}
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
	end, err := d.expiresAt(c.ExpiresAt)
	if err != nil {
		return Outcome{}, err
	}
	if err := d.keepOwnEnd(CmdSetMemberGrants, m, end); err != nil {
		return Outcome{}, err
	}
	evs := []Event{&GrantsSet{Target: c.target(), Principal: m.Principal, Grants: grants, PreviousGrants: slices.Clone(m.Grants), ExpiresAt: end, PreviousExpiresAt: replacedEnd(end, m.ExpiresAt)}}
	// An end date on the last owner would break SPEC §2.2 at that instant, as with ChangeRole.
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
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
	if err := d.mayChangeRoles(p, nil, m.Roles); err != nil {
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

// replacedEnd is the end a new one replaces: the old end when a new one is set, else none.
func replacedEnd(end, old time.Time) time.Time {
	if end.IsZero() {
		return time.Time{}
	}
	return old
}
