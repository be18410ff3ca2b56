package domain

import "maps"

// cloneFor returns a copy of the state that Evolve may change with evs without touching o:
// only the parts the events name are copied (members, workgroups, projects, invitations);
// the rest is shared. Events it does not know fall back to a full Clone.
func (o *Org) cloneFor(evs []Event) *Org {
	var users, groups, projects, invitations []string
	for _, ev := range evs {
		switch e := ev.(type) {
		case *OrgMemberAdded:
			users = append(users, e.UserID)
		case *OrgRoleChanged:
			users = append(users, e.UserID)
		case *OrgMemberRemoved:
			users = append(users, e.UserID)
		case *WorkgroupMemberAdded:
			groups, users = append(groups, e.GroupID), append(users, e.UserID)
		case *WorkgroupMemberRemoved:
			groups, users = append(groups, e.GroupID), append(users, e.UserID)
		case *MemberAdded:
			projects = append(projects, e.ProjectID)
		case *RoleChanged:
			projects = append(projects, e.ProjectID)
		case *GrantsSet:
			projects = append(projects, e.ProjectID)
		case *MemberRemoved:
			projects = append(projects, e.ProjectID)
		case *InvitationRevoked:
			invitations = append(invitations, e.InvitationID)
		case *InvitationAccepted:
			invitations = append(invitations, e.InvitationID)
		default:
			return o.Clone()
		}
	}
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
				gc := *g
				gc.Members = maps.Clone(g.Members)
				c.Workgroups[id] = &gc
			}
		}
	}
	if len(projects) > 0 {
		c.Projects = maps.Clone(o.Projects)
		for _, id := range projects {
			if p, ok := o.Projects[id]; ok && c.Projects[id] == p {
				pc := *p
				pc.Members = cloneMemberships(p.Members)
				pc.Tracks = maps.Clone(p.Tracks)
				for tid, t := range p.Tracks {
					tc := *t
					tc.Members = cloneMemberships(t.Members)
					pc.Tracks[tid] = &tc
				}
				c.Projects[id] = &pc
			}
		}
	}
	if len(invitations) > 0 {
		c.Invitations = maps.Clone(o.Invitations)
		for _, id := range invitations {
			if inv, ok := o.Invitations[id]; ok {
				ic := *inv
				c.Invitations[id] = &ic
			}
		}
	}
	return &c
}
