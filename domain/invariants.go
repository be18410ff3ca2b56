package domain

// The invariant engine: the rules of SPEC §2 that must hold after every accepted command
// (an admin in every organization, an owner on every project) and the guard that refuses
// the events that would newly break them, checking only what the events touch on a partial
// copy of the state.

import (
	"fmt"
	"maps"
	"slices"
)

// Violations lists every broken invariant of SPEC §2 in a state: an organization without
// an admin, an active project without an owner (where owners are not the organization's
// admins), and, in team organizations of presets without outside guests, a project or
// track member who is not in the organization. An empty list means the state is sound.
func (o *Org) Violations() []string {
	if !o.Exists() {
		return nil
	}
	out := o.violations()
	if o.Kind != KindTeam || o.preset.OutsideGuests {
		return out
	}
	check := func(where string, mm map[string]*Membership) {
		for _, key := range sortedKeys(mm) {
			m := mm[key]
			if m.UserID != "" && o.Members[m.UserID] == nil && !m.Guest {
				out = append(out, fmt.Sprintf("user %s is on %s but not in organization %s", m.UserID, where, o.ID))
			}
		}
	}
	for _, pid := range sortedKeys(o.Projects) {
		p := o.Projects[pid]
		if p.Status == StatusDeleted {
			continue
		}
		check("project "+pid, p.Members)
		for _, tid := range sortedKeys(p.Tracks) {
			check("track "+tid, p.Tracks[tid].Members)
		}
	}
	for _, gid := range sortedKeys(o.Workgroups) {
		for _, u := range sortedKeys(o.Workgroups[gid].Members) {
			if o.Members[u] == nil {
				out = append(out, fmt.Sprintf("user %s is in workgroup %s but not in organization %s", u, gid, o.ID))
			}
		}
	}
	return slices.Clip(out)
}

// violations lists what breaks SPEC §2.2 in a state: no admin left, or a project (not
// deleted) without an owner where the preset's admins do not own every project or the preset
// has a single owner per project.
func (o *Org) violations() []string {
	var out []string
	for _, v := range o.violationsIn(touched{all: true}) {
		out = append(out, v.String())
	}
	return out
}

// violation is one break of SPEC §2.2: what would be wrong (fact, a clause that can stand
// inside a longer sentence) and what to do first (fix).
type violation struct {
	fact, fix string
}

func (v violation) String() string { return v.fact + "; " + v.fix }

// violationsIn checks only what the touched parts can break: the admin count when
// organization members changed, the owners of the projects named or holding a named workgroup.
func (o *Org) violationsIn(t touched) []violation {
	var out []violation
	if t.all || len(t.users) > 0 {
		admins := 0
		for _, m := range o.Members {
			// An admin whose membership has an end date does not count: at that instant the
			// organization would be left without one (SPEC §2.2 holds at every moment).
			if m.Role == o.preset.OrgAdminRole && m.ExpiresAt.IsZero() {
				admins++
			}
		}
		if admins == 0 {
			out = append(out, violation{fmt.Sprintf("organization %s would have no %s without an end date left", o.ID, o.preset.OrgAdminRole),
				fmt.Sprintf("make someone else %s first", o.preset.OrgAdminRole)})
		}
	}
	// Where admins own every project the last-owner rule is off, except in single-owner presets
	// (ICA: "select the new project owner"): there a project has its one owner, changed only by
	// TransferProjectOwnership.
	if o.preset.OwnerRole == "" || (o.adminsOwnProjects() && !o.preset.SingleOwner) {
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
			if o.preset.SingleOwner {
				out = append(out, violation{fmt.Sprintf("project %s would have no %s left", id, o.preset.OwnerRole),
					fmt.Sprintf("a %s project has one owner: change it with TransferProjectOwnership", o.preset.Label)})
				continue
			}
			out = append(out, violation{fmt.Sprintf("project %s would have no %s left", id, o.preset.OwnerRole), "give the role to someone else first"})
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
		// An owner whose membership has an end date does not count (see violationsIn).
		if !slices.Contains(m.Roles, o.preset.OwnerRole) || !m.ExpiresAt.IsZero() {
			continue
		}
		// Nor does one whose organization membership has an end date: its end takes the
		// project membership along (cascadeRemoval).
		if m.UserID != "" {
			if o.undatedInOrg(m.UserID) {
				return true
			}
			continue
		}
		// A workgroup owns through its members without an end date: one whose members all
		// leave at some instant leaves the project without an owner then.
		if g, ok := o.Workgroups[m.GroupID]; ok && o.hasUndatedMember(g) {
			return true
		}
	}
	return false
}

// undatedInOrg reports whether no organization membership end will remove the user: they
// are not an organization member (a guest), or their membership has no end.
func (o *Org) undatedInOrg(userID string) bool {
	m, ok := o.Members[userID]
	return !ok || m.ExpiresAt.IsZero()
}

// hasUndatedMember reports whether a workgroup has a member whose membership, of the group and
// of the organization, has no end.
func (o *Org) hasUndatedMember(g *Workgroup) bool {
	for u := range g.Members {
		if g.Expires[u].IsZero() && o.undatedInOrg(u) {
			return true
		}
	}
	return false
}

// guard refuses events that would newly break the admin and owner rules.
func (d *decider) guard(evs []Event) error {
	if v, ok := d.breaks(evs); ok {
		return preconditionf("%s", v)
	}
	return nil
}

// breaks returns the first admin or owner rule the events would newly break. A refusal that
// explains the break in its own words takes the violation's fact into its sentence (not a
// guard error's text, which would repeat the code).
func (d *decider) breaks(evs []Event) (violation, bool) {
	t := touchedBy(evs)
	before := d.o.violationsIn(t)
	c := d.o.cloneFor(t)
	for _, ev := range evs {
		Evolve(c, ev)
	}
	for _, v := range c.violationsIn(t) {
		if !slices.Contains(before, v) {
			return v, true
		}
	}
	return violation{}, false
}

// touched names what a list of events changes; all is set for events it does not list.
type touched struct {
	users, groups, projects, invitations []string
	all                                  bool
}

func touchedBy(evs []Event) touched {
	var t touched
	for _, ev := range evs {
		switch e := ev.(type) {
		case *OrgMemberAdded:
			t.users = append(t.users, e.UserID)
			if !e.ExpiresAt.IsZero() {
				t.all = true // a guest's owner memberships end with the organization membership
			}
		case *OrgRoleChanged:
			t.users = append(t.users, e.UserID)
		case *OrgMemberRemoved:
			t.users = append(t.users, e.UserID)
		case *WorkgroupMemberAdded:
			t.groups, t.users = append(t.groups, e.GroupID), append(t.users, e.UserID)
		case *WorkgroupMemberRemoved:
			t.groups, t.users = append(t.groups, e.GroupID), append(t.users, e.UserID)
		case *ProjectCreated:
			t.projects = append(t.projects, e.ProjectID)
		case *TrackCreated:
			t.projects = append(t.projects, e.ProjectID)
		case *MemberAdded:
			t.projects = append(t.projects, e.ProjectID)
		case *RoleChanged:
			t.projects = append(t.projects, e.ProjectID)
		case *GrantsSet:
			t.projects = append(t.projects, e.ProjectID)
		case *MemberRemoved:
			t.projects = append(t.projects, e.ProjectID)
		case *InvitationRevoked:
			t.invitations = append(t.invitations, e.InvitationID)
		case *InvitationAccepted:
			t.invitations = append(t.invitations, e.InvitationID)
		case *MembershipExtended:
			t = t.withMembership(e.MembershipRef)
		case *MembershipExpired:
			t = t.withMembership(e.MembershipRef)
		default:
			t.all = true
		}
	}
	return t
}

// withMembership adds the part of the state a membership end names.
func (t touched) withMembership(r MembershipRef) touched {
	switch {
	case r.ProjectID != "":
		t.projects = append(t.projects, r.ProjectID)
	case r.GroupID != "":
		t.groups, t.users = append(t.groups, r.GroupID), append(t.users, r.UserID)
	case r.UserID != "":
		// An organization membership's end takes every project membership of the user along:
		// each project they own (directly or through a workgroup) may lose its owner.
		t.all = true
	default:
		t.all = true
	}
	return t
}

// cloneFor returns a copy of the state that Evolve may change with the touched parts without
// changing o: only what the events name is copied (members, workgroups, projects,
// invitations); the rest is shared. Events it does not know fall back to a full Clone.
func (o *Org) cloneFor(t touched) *Org {
	if t.all {
		return o.Clone()
	}
	users, groups, projects, invitations := t.users, t.groups, t.projects, t.invitations
	c := *o
	// Evolve keeps the expiry index up to date: the copy needs its own.
	c.expiring = o.expiring.clone()
	if len(users) > 0 {
		c.Members = maps.Clone(o.Members)
		c.userGroups = maps.Clone(o.userGroups)
		for _, u := range users {
			if m, ok := o.Members[u]; ok {
				mc := *m
				c.Members[u] = &mc
			}
		}
	}
	if len(groups) > 0 {
		c.Workgroups = maps.Clone(o.Workgroups)
		for _, id := range groups {
			if g, ok := o.Workgroups[id]; ok {
				c.Workgroups[id] = cloneWorkgroup(g)
			}
		}
	}
	if len(projects) > 0 {
		c.Projects = maps.Clone(o.Projects)
		for _, id := range projects {
			if p, ok := o.Projects[id]; ok && c.Projects[id] == p {
				c.Projects[id] = cloneProject(p)
			}
		}
	}
	if len(invitations) > 0 {
		c.Invitations = maps.Clone(o.Invitations)
		for _, id := range invitations {
			if inv, ok := o.Invitations[id]; ok {
				c.Invitations[id] = cloneInvitation(inv)
			}
		}
	}
	return &c
}
