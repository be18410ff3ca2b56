package main

import (
	"fmt"
)

// presetMix is the order in which organizations cycle through the presets.
var presetMix = []string{"neptune", "allonia", "ica", "dataloop", "aunsight"}

// shape is the size of one organization of the data set.
type shape struct {
	Users       int // organization members, the admin included
	Projects    int
	Memberships int // project or track memberships added explicitly (creators come on top)
	Groups      int // workgroups (ICA organizations)
	GroupSize   int
}

// shapeFor spreads the totals of a data set evenly over its organizations.
func shapeFor(orgs, users, projects, memberships int) shape {
	s := shape{Users: max(2, users/orgs), Projects: max(1, projects/orgs), Memberships: max(1, memberships/orgs)}
	s.Groups = min(4, max(1, s.Users/25))
	s.GroupSize = min(10, s.Users-1)
	return s
}

// cmd is one command of the load, with its JSON body.
type cmd struct {
	Name string
	Body map[string]any
}

// toggle is a membership whose roles a steady-state command flips between A and B.
type toggle struct {
	Org, Project, Track, User string
	Preset                    string
	A, B                      []string
	// Perm is allowed with B and denied with A (freshness probes); empty if none.
	Perm string
	onB  bool
}

// tuple is one Check question drawn from the data set.
type tuple struct {
	Org, Project, Track, User, Perm string
}

// orgPlan is what one organization is built from.
type orgPlan struct {
	ID, Preset, Admin string
	Cmds              []cmd
	Toggles           []*toggle
	Tuples            []tuple
	Memberships       int // explicit memberships plus the creators' own
}

// Roles and permissions used per preset.
var (
	presetRoles = map[string][][]string{
		"neptune":  {{"viewer"}, {"contributor"}},
		"allonia":  {{"data_scientist"}, {"ml_ops"}},
		"ica":      {{"project_viewer", "flow_viewer"}, {"project_contributor", "base_contributor"}},
		"dataloop": {{"annotator"}, {"developer"}},
		"aunsight": {{"analyst"}, {"reviewer"}},
	}
	presetPerms = map[string][]string{
		"neptune":  {"project.content.view", "project.content.edit", "project.members.view", "project.members.edit", "project.settings"},
		"allonia":  {"factory.access", "launchpad.access", "project.view", "track.roles.manage", "documentation.access"},
		"ica":      {"project.resources.view", "data.link", "base.tables.create", "flow.results.view", "download", "samples.create"},
		"dataloop": {"annotation.create", "datasets.view", "task.create", "pipeline.view", "item.upload", "users.add"},
		"aunsight": {"AU-ORG:view-any-project", "dataset:read", "AU-ORG:view-any-project-member", "AU-ORG:update-any-project"},
	}
	// freshPerm is allowed with the B roles and denied with the A roles.
	freshPerm = map[string]string{
		"neptune":  "project.content.edit",
		"dataloop": "pipeline.view",
		"aunsight": "AU-ORG:view-any-project-member",
	}
)

// planOrg builds organization i of a data set: every command, in order, the memberships a
// steady-state load may flip, and Check questions about them.
func planOrg(i int, s shape) *orgPlan {
	preset := presetMix[i%len(presetMix)]
	id := fmt.Sprintf("o%d", i)
	user := func(j int) string { return fmt.Sprintf("%su%d", id, j) }
	p := &orgPlan{ID: id, Preset: preset, Admin: user(0)}
	seq := 0
	add := func(name string, body map[string]any) {
		seq++
		body["org_id"] = id
		body["actor"] = p.Admin
		body["command_id"] = fmt.Sprintf("load-%s-%d", id, seq)
		p.Cmds = append(p.Cmds, cmd{Name: name, Body: body})
	}
	add("CreateOrganization", map[string]any{"name": "Org " + id, "kind": "team", "preset": preset,
		"actor_email": user(0) + "@example.test", "actor_name": "Admin " + id})
	for j := 1; j < s.Users; j++ {
		u := user(j)
		add("AddOrgMember", map[string]any{"user_id": u, "email": u + "@example.test", "name": "User " + u})
	}
	roles := presetRoles[preset]
	if preset == "aunsight" {
		add("DefineRole", map[string]any{"role": "analyst", "label": "Analyst", "scope": "project"})
		add("SetRolePermissions", map[string]any{"role": "analyst", "permissions": []string{"AU-ORG:view-any-project", "dataset:read"}})
		add("DefineRole", map[string]any{"role": "reviewer", "label": "Reviewer", "scope": "project"})
		add("SetRolePermissions", map[string]any{"role": "reviewer", "permissions": []string{"AU-ORG:view-any-project",
			"AU-ORG:view-any-project-member", "dataset:read"}})
	}
	var groups []string
	if preset == "ica" {
		for g := 0; g < s.Groups; g++ {
			gid := fmt.Sprintf("g%d", g)
			groups = append(groups, gid)
			add("CreateWorkgroup", map[string]any{"group_id": gid, "name": "Group " + gid})
			for k := 0; k < s.GroupSize; k++ {
				add("AddWorkgroupMember", map[string]any{"group_id": gid, "user_id": user(1 + (g*s.GroupSize+k)%(s.Users-1))})
			}
		}
	}
	perProject := s.Memberships / s.Projects
	extra := s.Memberships % s.Projects
	perms := presetPerms[preset]
	for k := 0; k < s.Projects; k++ {
		pid := fmt.Sprintf("p%d", k)
		tracks := []string{""}
		if preset == "allonia" {
			// Track ids are unique inside the organization.
			tracks = []string{pid + "t1", pid + "t2"}
		}
		body := map[string]any{"project_id": pid, "name": "Project " + pid, "visibility": "private"}
		if preset == "neptune" && k%5 == 4 {
			body["visibility"] = "public"
		}
		if preset == "allonia" {
			body["track"] = map[string]any{"track_id": tracks[0], "name": "Exploration", "compute": "cpu-small", "notebook_env": "python-3.11"}
		}
		add("CreateProject", body)
		if preset == "allonia" {
			add("CreateTrack", map[string]any{"project_id": pid, "track_id": tracks[1], "name": "Serving", "compute": "gpu"})
		}
		if p.Preset != "aunsight" {
			p.Memberships++ // the creator's own membership
		}
		n := perProject
		if k < extra {
			n++
		}
		n = min(n, s.Users-1)
		if preset == "ica" && len(groups) > 0 && n > 1 {
			// One workgroup entry per project stands for a group's members.
			add("AddMember", map[string]any{"project_id": pid, "group_id": groups[k%len(groups)],
				"roles": []string{"project_viewer", "base_viewer"}})
			p.Memberships++
			n--
		}
		start := (k * 7) % (s.Users - 1)
		for m := 0; m < n; m++ {
			u := user(1 + (start+m)%(s.Users-1))
			track := tracks[m%len(tracks)]
			r := roles[0]
			if m%3 == 2 {
				r = roles[1]
			}
			body := map[string]any{"project_id": pid, "user_id": u, "roles": r}
			if track != "" {
				body["track_id"] = track
			}
			if preset == "ica" && m%4 == 0 {
				body["grants"] = []string{"download"}
			}
			add("AddMember", body)
			p.Memberships++
			t := &toggle{Org: id, Project: pid, Track: track, User: u, Preset: preset, A: roles[0], B: roles[1],
				Perm: freshPerm[preset]}
			if m%3 == 2 {
				t.A, t.B = t.B, t.A
				t.Perm = "" // starts allowed; not a freshness probe
			}
			p.Toggles = append(p.Toggles, t)
			for q := 0; q < 2; q++ {
				p.Tuples = append(p.Tuples, tuple{Org: id, Project: pid, Track: track, User: u, Perm: perms[(m+q*3+k)%len(perms)]})
			}
		}
		// Questions about non-members too (denied, or allowed via org admin / public).
		p.Tuples = append(p.Tuples, tuple{Org: id, Project: pid, Track: tracks[0], User: user(s.Users - 1 - k%(s.Users-1)), Perm: perms[k%len(perms)]},
			tuple{Org: id, Project: pid, Track: tracks[0], User: p.Admin, Perm: perms[(k+1)%len(perms)]})
	}
	return p
}
