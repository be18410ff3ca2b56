package domain

import "maps"

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
		case *OrgRoleChanged:
			t.users = append(t.users, e.UserID)
		case *OrgMemberRemoved:
			t.users = append(t.users, e.UserID)
		case *WorkgroupMemberAdded:
			t.groups, t.users = append(t.groups, e.GroupID), append(t.users, e.UserID)
		case *WorkgroupMemberRemoved:
			t.groups, t.users = append(t.groups, e.GroupID), append(t.users, e.UserID)
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
		default:
			t.all = true
		}
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
