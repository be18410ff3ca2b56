package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"roster/client"
)

// Cross-organization probing over NATS: organizations A and B share every id they can (users,
// projects, tracks, workgroups, invitations, partners, roles, e-mails, command ids). Commands
// and queries naming A never read or change B, whatever ids they name.

// xoSpec is how one preset's pair of organizations is filled.
type xoSpec struct {
	preset      string
	adminRole   string
	projectRole string // bob's role on p1
	inviteRole  string // the role of invitations
	grants      []string
}

var xoSpecs = []xoSpec{
	{preset: "allonia", adminRole: "tenant_admin", projectRole: "project_manager", inviteRole: "project_manager"},
	{preset: "dataloop", adminRole: "admin", projectRole: "developer", inviteRole: "annotator"},
	{preset: "aunsight", adminRole: "admin", projectRole: "r1", inviteRole: "r1"},
	{preset: "ica", adminRole: "tenant_admin", projectRole: "project_contributor", inviteRole: "project_viewer", grants: []string{"download"}},
}

// xoIDs are the ids a probing command names.
type xoIDs struct {
	project, user, group, invitation, track, partner, role, email string
}

// shared ids exist in both A and B; bOnly ids exist only in B.
var (
	xoShared = xoIDs{project: "p1", user: "bob", group: "g1", invitation: "i1", track: "t1", partner: "pa1", role: "r1", email: "dee@shared.test"}
	xoBOnly  = xoIDs{project: "bx", user: "bxu", group: "gbx", invitation: "ibx", track: "tbx", partner: "pabx", role: "rbx", email: "bxu@b.test"}
)

// xoSetup creates an organization of the spec; B gets B-only things as well.
func (r *rig) xoSetup(org string, s xoSpec, isB bool) {
	r.t.Helper()
	r.ok("CreateOrganization", obj{"org_id": org, "actor": "ann", "kind": "team", "preset": s.preset, "actor_email": "ann@shared.test", "actor_name": "Ann"})
	users := []string{"bob", "cy", "dee"}
	if isB {
		users = append(users, "bxu")
	} else {
		users = append(users, "eve") // A's second admin, a stranger to B
	}
	for _, u := range users {
		email := u + "@shared.test"
		if u == "bxu" {
			email = "bxu@b.test"
		}
		req := obj{"org_id": org, "actor": "ann", "user_id": u, "email": email, "name": u}
		if u == "eve" {
			req["role"] = s.adminRole
		}
		r.ok("AddOrgMember", req)
	}
	if s.preset == "aunsight" {
		roles := []string{"r1"}
		if isB {
			roles = append(roles, "rbx")
		}
		for _, ro := range roles {
			r.ok("DefineRole", obj{"org_id": org, "actor": "ann", "role": ro, "scope": "project"})
			r.ok("SetRolePermissions", obj{"org_id": org, "actor": "ann", "role": ro, "permissions": strs{"AU-ORG:view-any-project", "AU-ORG:create-project-member"}})
		}
	}
	groups := []string{"g1"}
	projects := []string{"p1"}
	if isB {
		groups = append(groups, "gbx")
		projects = append(projects, "bx")
	}
	for _, g := range groups {
		r.ok("CreateWorkgroup", obj{"org_id": org, "actor": "ann", "group_id": g, "name": "Group " + g})
		r.ok("AddWorkgroupMember", obj{"org_id": org, "actor": "ann", "group_id": g, "user_id": "bob"})
	}
	for _, p := range projects {
		req := obj{"org_id": org, "actor": "ann", "project_id": p, "name": p + " of " + org}
		if s.preset == "allonia" {
			tid := "t1"
			if p == "bx" {
				tid = "tbx"
			}
			req["track"] = obj{"track_id": tid, "name": "Track " + tid}
		}
		r.ok("CreateProject", req)
	}
	add := obj{"org_id": org, "actor": "ann", "project_id": "p1", "user_id": "bob", "roles": strs{s.projectRole}}
	if s.grants != nil {
		add["grants"] = s.grants
	}
	r.ok("AddMember", add)
	r.ok("AddMember", obj{"org_id": org, "actor": "ann", "project_id": "p1", "group_id": "g1", "roles": strs{s.inviteRole}})
	r.ok("InviteMember", obj{"org_id": org, "actor": "ann", "project_id": "p1", "user_id": "cy", "roles": strs{s.inviteRole}, "invitation_id": "i1"})
	r.ok("InviteMember", obj{"org_id": org, "actor": "ann", "project_id": "p1", "email": "dee@shared.test", "roles": strs{s.inviteRole}, "invitation_id": "i3"})
	if isB {
		r.ok("AddMember", obj{"org_id": org, "actor": "ann", "project_id": "p1", "user_id": "bxu", "roles": strs{s.projectRole}})
		r.ok("InviteMember", obj{"org_id": org, "actor": "ann", "project_id": "bx", "user_id": "cy", "roles": strs{s.inviteRole}, "invitation_id": "ibx"})
	}
	if s.preset == "dataloop" {
		partners := []string{"pa1"}
		if isB {
			partners = append(partners, "pabx")
		}
		for i, pa := range partners {
			r.ok("AddPartner", obj{"org_id": org, "actor": "ann", "project_id": "p1", "partner_id": pa, "name": "Partner " + pa,
				"admin_email": pa + "@partner.test", "invitation_id": fmt.Sprintf("ipa%d", i)})
		}
	}
}

// xoSnapshot is every answer about organization org that a leak would change.
func (r *rig) xoSnapshot(org string, s xoSpec) map[string]string {
	r.t.Helper()
	out := map[string]string{}
	ask := func(key, name string, req obj) {
		req["min_position"] = r.pos
		var raw json.RawMessage
		if _, err := r.c.Query(context.Background(), name, req, &raw); err != nil {
			// A snapshot of failed answers would compare equal before and after anything:
			// every question here must be answered.
			r.t.Fatalf("snapshot of %s: %s %v: %v", org, name, req, err)
		}
		out[key] = string(raw)
	}
	ask("members", "ListMembers", obj{"org_id": org})
	// Project bx exists only in the B organizations: where GetProject says not_found (and
	// only that), its questions are skipped and the absence itself is the snapshot's entry.
	has := map[string]bool{"p1": true}
	if _, err := r.c.Query(context.Background(), "GetProject", obj{"org_id": org, "project_id": "bx", "min_position": r.pos}, nil); err == nil {
		has["bx"] = true
	} else if client.CodeOf(err) == client.CodeNotFound {
		out["project bx"] = "absent"
	} else {
		r.t.Fatalf("snapshot of %s: GetProject bx: %v", org, err)
	}
	for _, p := range []string{"p1", "bx"} {
		if !has[p] {
			continue
		}
		ask("members "+p, "ListMembers", obj{"org_id": org, "project_id": p})
		ask("project "+p, "GetProject", obj{"org_id": org, "project_id": p})
		for _, u := range []string{"bob", "bxu", "cy"} {
			ask("permissions "+p+" "+u, "Permissions", obj{"org_id": org, "project_id": p, "user_id": u})
		}
	}
	if s.preset == "allonia" {
		ask("members t1", "ListMembers", obj{"org_id": org, "project_id": "p1", "track_id": "t1"})
		if has["bx"] {
			ask("members tbx", "ListMembers", obj{"org_id": org, "project_id": "bx", "track_id": "tbx"})
		}
	}
	ask("catalog", "Catalog", obj{"org_id": org})
	ask("audit", "Audit", obj{"org_id": org, "limit": 1000})
	ask("invitations", "ListInvitations", obj{"org_id": org})
	ask("projects", "ListProjects", obj{"org_id": org, "user_id": "bob", "include_archived": true})
	return out
}

// xoCommands is one command of every type naming org and the given ids.
func xoCommands(org, actor string, s xoSpec, id xoIDs) []struct {
	name string
	req  obj
} {
	var out []struct {
		name string
		req  obj
	}
	add := func(name string, req obj) {
		req["org_id"], req["actor"] = org, actor
		out = append(out, struct {
			name string
			req  obj
		}{name, req})
	}
	add("CreateOrganization", obj{"kind": "team", "preset": s.preset})
	add("AddOrgMember", obj{"user_id": id.user, "email": id.email})
	add("ChangeOrgRole", obj{"user_id": id.user, "role": "member"})
	add("CreateWorkgroup", obj{"group_id": id.group, "name": "G"})
	add("AddWorkgroupMember", obj{"group_id": id.group, "user_id": "cy"})
	add("RemoveWorkgroupMember", obj{"group_id": id.group, "user_id": "bob"})
	add("CreateProject", obj{"project_id": id.project, "name": "Probe"})
	add("RenameProject", obj{"project_id": id.project, "name": "Renamed by " + org})
	add("SetProjectVisibility", obj{"project_id": id.project, "visibility": "public"})
	add("AddMember", obj{"project_id": id.project, "user_id": "dee", "roles": strs{s.inviteRole}})
	add("AddMember", obj{"project_id": id.project, "group_id": id.group, "roles": strs{s.inviteRole}})
	add("InviteMember", obj{"project_id": id.project, "user_id": id.user, "roles": strs{s.inviteRole}, "invitation_id": id.invitation})
	add("InviteMember", obj{"project_id": id.project, "email": id.email, "roles": strs{s.inviteRole}})
	add("ChangeRole", obj{"project_id": id.project, "user_id": id.user, "roles": strs{s.inviteRole}})
	add("SetMemberGrants", obj{"project_id": id.project, "user_id": id.user, "grants": strs{}})
	add("ImportMembers", obj{"project_id": id.project, "csv": "email,user_id,name,roles,grants\n," + id.user + ",X," + s.inviteRole + ",\n"})
	add("CreateTrack", obj{"project_id": id.project, "track_id": id.track, "name": "T"})
	add("ConfigureTrack", obj{"project_id": id.project, "track_id": id.track, "compute": "gpu-" + org})
	add("AddPartner", obj{"project_id": id.project, "partner_id": id.partner, "name": "P", "admin_email": "x@partner.test"})
	add("DefineRole", obj{"role": id.role, "scope": "project"})
	add("SetRolePermissions", obj{"role": id.role, "permissions": strs{"AU-ORG:view-any-project"}})
	add("TransferProjectOwnership", obj{"project_id": id.project, "new_owner": "dee"})
	add("RevokeInvite", obj{"invitation_id": id.invitation})
	add("AcceptInvite", obj{"invitation_id": id.invitation, "actor_email": id.email})
	add("RejectInvite", obj{"invitation_id": id.invitation, "actor_email": id.email})
	add("RemoveMember", obj{"project_id": id.project, "user_id": id.user})
	add("LeaveProject", obj{"project_id": id.project})
	add("DeleteRole", obj{"role": id.role})
	add("RemoveOrgMember", obj{"user_id": id.user})
	add("ArchiveProject", obj{"project_id": id.project})
	add("UnarchiveProject", obj{"project_id": id.project})
	add("DeleteProject", obj{"project_id": id.project})
	return out
}

// xoRun submits a command and returns its reply and wire code ("" when accepted).
func (r *rig) xoRun(name string, req obj) (*client.CommandReply, string) {
	r.t.Helper()
	rep, err := r.c.Command(context.Background(), name, req)
	if err != nil {
		code := client.CodeOf(err)
		if code == "" {
			r.t.Fatalf("%s %v: %v", name, req, err)
		}
		return rep, code
	}
	if rep.Position > r.pos {
		r.pos = rep.Position
	}
	return rep, ""
}

func diffSnapshots(before, after map[string]string) []string {
	var out []string
	for k, v := range before {
		if after[k] != v {
			out = append(out, fmt.Sprintf("%s:\n    before %s\n    after  %s", k, v, after[k]))
		}
	}
	slices.Sort(out)
	return out
}

// Every command type from A's admins, naming A with ids that also (or only) exist in B, and
// every command type from A's admin eve naming B, leave B's every answer unchanged.
func TestCrossOrgCommandsNeverTouchTheOtherOrganization(t *testing.T) {
	r := newRig(t)
	for _, s := range xoSpecs {
		a, b := s.preset+"-a", s.preset+"-b"
		r.xoSetup(a, s, false)
		r.xoSetup(b, s, true)
		// Command ids are shared too: the same id in B must not replay A's reply.
		_, code := r.xoRun("CreateWorkgroup", obj{"org_id": a, "actor": "ann", "group_id": "gsame", "command_id": "same-" + s.preset})
		if code != "" {
			t.Fatalf("%s: CreateWorkgroup in A refused: %s", s.preset, code)
		}
		before := r.xoSnapshot(b, s)
		accepted := 0
		for _, ids := range []xoIDs{xoShared, xoBOnly} {
			for _, actor := range []string{"ann", "eve"} {
				for _, c := range xoCommands(a, actor, s, ids) {
					if _, code := r.xoRun(c.name, c.req); code == "" {
						accepted++
					}
				}
				if after := r.xoSnapshot(b, s); !maps(before, after) {
					t.Fatalf("%s: commands naming %s (actor %s, ids %+v) changed %s:\n  %s", s.preset, a, actor, ids,
						b, bytes.Join(toBytes(diffSnapshots(before, after)), []byte("\n  ")))
				}
			}
		}
		if accepted < 10 {
			t.Fatalf("%s: only %d probing commands were accepted; the probe proves little", s.preset, accepted)
		}
		t.Logf("%s: %d probing commands accepted in %s, %s unchanged", s.preset, accepted, a, b)
		// eve is an admin of A only: every command of hers naming B is refused, B unchanged.
		for _, ids := range []xoIDs{xoShared, xoBOnly} {
			for _, c := range xoCommands(b, "eve", s, ids) {
				if rep, code := r.xoRun(c.name, c.req); code == "" {
					t.Fatalf("%s %v: A's admin eve was accepted in B: %+v", c.name, c.req, rep)
				}
			}
		}
		if after := r.xoSnapshot(b, s); !maps(before, after) {
			t.Fatalf("%s: eve's commands naming B changed B:\n  %s", s.preset, bytes.Join(toBytes(diffSnapshots(before, after)), []byte("\n  ")))
		}
		// The same command id in B is B's own command: it runs, and A's reply is not replayed.
		repB, code := r.xoRun("CreateWorkgroup", obj{"org_id": b, "actor": "ann", "group_id": "gsame", "command_id": "same-" + s.preset})
		if code != "" || len(repB.Events) != 1 {
			t.Fatalf("%s: command id reused in B: code %q reply %+v", s.preset, code, repB)
		}
		var trail struct {
			Events []struct {
				OrgID    string `json:"org_id"`
				Position uint64 `json:"position"`
				Type     string `json:"type"`
			} `json:"events"`
		}
		r.query("Audit", obj{"org_id": b, "after_position": repB.Events[0].Position - 1, "limit": 1}, &trail)
		if len(trail.Events) != 1 || trail.Events[0].Type != "WorkgroupCreated" || trail.Events[0].OrgID != b {
			t.Fatalf("%s: B's command with a reused id is not in B's trail: %+v", s.preset, trail)
		}
		// And repeating it in A still answers A's first reply, appending nothing.
		head := r.pos
		if _, code := r.xoRun("CreateWorkgroup", obj{"org_id": a, "actor": "ann", "group_id": "gsame", "command_id": "same-" + s.preset}); code != "" {
			t.Fatalf("%s: repeat in A: %s", s.preset, code)
		}
		if r.pos != head {
			t.Fatalf("%s: repeat in A appended (head %d -> %d)", s.preset, head, r.pos)
		}
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// Queries naming A answer only from A, whatever ids they name.
func TestCrossOrgQueriesAnswerOnlyTheNamedOrganization(t *testing.T) {
	r := newRig(t)
	s := xoSpecs[1] // dataloop: guests, partners, e-mail invitations
	r.xoSetup("qa", s, false)
	r.xoSetup("qb", s, true)
	ctx := context.Background()

	// ListInvitations by an e-mail invited in both: both only without org_id; only A's with it.
	type invs struct {
		Invitations []struct {
			OrgID        string `json:"org_id"`
			InvitationID string `json:"invitation_id"`
		} `json:"invitations"`
	}
	var all, onlyA invs
	r.query("ListInvitations", obj{"email": "dee@shared.test"}, &all)
	orgsOf := func(v invs) []string {
		var out []string
		for _, inv := range v.Invitations {
			out = append(out, inv.OrgID+"/"+inv.InvitationID)
		}
		slices.Sort(out)
		return out
	}
	if got := orgsOf(all); !slices.Equal(got, strs{"qa/i3", "qb/i3"}) {
		t.Fatalf("ListInvitations by e-mail without org_id: %v", got)
	}
	r.query("ListInvitations", obj{"org_id": "qa", "email": "dee@shared.test"}, &onlyA)
	if got := orgsOf(onlyA); !slices.Equal(got, strs{"qa/i3"}) {
		t.Fatalf("ListInvitations by e-mail in qa: %v", got)
	}
	r.query("ListInvitations", obj{"org_id": "qa", "user_id": "cy"}, &onlyA)
	if got := orgsOf(onlyA); !slices.Equal(got, strs{"qa/i1"}) {
		t.Fatalf("ListInvitations for cy in qa: %v", got)
	}
	// Invitation ids only B has are not A's.
	r.query("ListInvitations", obj{"org_id": "qa"}, &onlyA)
	for _, inv := range onlyA.Invitations {
		if inv.OrgID != "qa" || inv.InvitationID == "ibx" {
			t.Fatalf("ListInvitations of qa lists %+v", inv)
		}
	}

	// B's member is nobody in A.
	for _, perm := range []string{"Create annotation", "Add users", "Delete a task"} {
		if got := r.checkAt("qa", "p1", "", "bxu", perm, map[string]string{"created_by": "bxu"}); got.Decision != "denied" || len(got.Via) != 0 {
			t.Fatalf("Check in qa for B's member bxu, %s: %+v", perm, got)
		}
	}
	var perms struct {
		Permissions []string `json:"permissions"`
	}
	r.query("Permissions", obj{"org_id": "qa", "project_id": "p1", "user_id": "bxu"}, &perms)
	if len(perms.Permissions) != 0 {
		t.Fatalf("Permissions in qa for B's member: %v", perms.Permissions)
	}
	var who struct {
		Users []string `json:"users"`
	}
	r.query("WhoCan", obj{"org_id": "qa", "project_id": "p1", "permission": "Create annotation"}, &who)
	if slices.Contains(who.Users, "bxu") || len(who.Users) == 0 {
		t.Fatalf("WhoCan in qa: %v", who.Users)
	}
	if m := r.members("qa", "p1"); m["bxu"].UserID != "" {
		t.Fatalf("ListMembers of qa/p1 lists B's member: %+v", m["bxu"])
	}
	if m := r.members("qa", ""); m["bxu"].UserID != "" {
		t.Fatalf("ListMembers of qa lists B's member: %+v", m["bxu"])
	}
	// The shared project id answers A's project; B-only ids are not found in A.
	var proj struct {
		OrgID    string `json:"org_id"`
		Name     string `json:"name"`
		Partners []struct {
			PartnerID string `json:"partner_id"`
		} `json:"partners"`
	}
	r.query("GetProject", obj{"org_id": "qa", "project_id": "p1"}, &proj)
	if proj.OrgID != "qa" || proj.Name != "p1 of qa" || len(proj.Partners) != 1 || proj.Partners[0].PartnerID != "pa1" {
		t.Fatalf("GetProject qa/p1: %+v", proj)
	}
	for _, q := range []struct {
		name string
		req  obj
	}{
		{"GetProject", obj{"org_id": "qa", "project_id": "bx"}},
		{"ListMembers", obj{"org_id": "qa", "project_id": "bx"}},
		{"Check", obj{"org_id": "qa", "project_id": "bx", "user_id": "bob", "permission": "Create annotation"}},
		{"Permissions", obj{"org_id": "qa", "project_id": "bx", "user_id": "bxu"}},
		{"WhoCan", obj{"org_id": "qa", "project_id": "bx", "permission": "Create annotation"}},
	} {
		q.req["min_position"] = r.pos
		if _, err := r.c.Query(ctx, q.name, q.req, nil); client.CodeOf(err) != client.CodeNotFound {
			t.Fatalf("%s %v: got %v, want not_found", q.name, q.req, err)
		}
	}
	// ListProjects: by org, only that org's; without org, the user's projects everywhere.
	type projs struct {
		Projects []struct {
			OrgID     string `json:"org_id"`
			ProjectID string `json:"project_id"`
		} `json:"projects"`
	}
	var lp projs
	r.query("ListProjects", obj{"user_id": "bxu", "org_id": "qa"}, &lp)
	if len(lp.Projects) != 0 {
		t.Fatalf("ListProjects of B's member in qa: %+v", lp.Projects)
	}
	r.query("ListProjects", obj{"user_id": "bob", "org_id": "qa"}, &lp)
	for _, p := range lp.Projects {
		if p.OrgID != "qa" {
			t.Fatalf("ListProjects of bob in qa: %+v", lp.Projects)
		}
	}
	r.query("ListProjects", obj{"user_id": "bob"}, &lp)
	seen := map[string]bool{}
	for _, p := range lp.Projects {
		seen[p.OrgID] = true
	}
	if !seen["qa"] || !seen["qb"] {
		t.Fatalf("ListProjects of bob everywhere: %+v", lp.Projects)
	}
	// Audit and AccessAt of A never contain B's events or B's grants.
	var trail struct {
		Events []struct {
			OrgID  string `json:"org_id"`
			Stream string `json:"stream"`
			Data   struct {
				UserID string `json:"user_id"`
			} `json:"data"`
		} `json:"events"`
	}
	for _, req := range []obj{{"org_id": "qa", "limit": 1000}, {"org_id": "qa", "user_id": "bxu"}, {"org_id": "qa", "project_id": "bx"}, {"org_id": "qa", "actor": "ann"}} {
		r.query("Audit", req, &trail)
		for _, e := range trail.Events {
			if e.OrgID != "qa" || e.Stream != "org-qa" || e.Data.UserID == "bxu" {
				t.Fatalf("Audit %v lists %+v", req, e)
			}
		}
	}
	var at struct {
		Permissions []string `json:"permissions"`
		Roles       []string `json:"roles"`
	}
	r.query("AccessAt", obj{"org_id": "qa", "project_id": "p1", "user_id": "bxu", "position": r.pos}, &at)
	if len(at.Permissions) != 0 || len(at.Roles) != 0 {
		t.Fatalf("AccessAt in qa for B's member: %+v", at)
	}
	r.query("AccessAt", obj{"org_id": "qa", "project_id": "p1", "user_id": "bob", "position": r.pos}, &at)
	var bNow struct {
		Roles []string `json:"roles"`
	}
	r.query("AccessAt", obj{"org_id": "qb", "project_id": "p1", "user_id": "bob", "position": r.pos}, &bNow)
	// bob holds the same roles in both (directly and through g1), each organization its own.
	rolesA := slices.Clone(at.Roles)
	if !slices.Contains(rolesA, s.projectRole) || !slices.Equal(rolesA, bNow.Roles) {
		t.Fatalf("AccessAt of bob: qa %+v, qb %+v", at, bNow)
	}
	// Change bob in B; A's answers about bob stay as they were, at every position.
	beforeA := r.xoSnapshot("qa", s)
	r.ok("ChangeRole", obj{"org_id": "qb", "actor": "ann", "project_id": "p1", "user_id": "bob", "roles": strs{"annotator"}})
	r.ok("RemoveMember", obj{"org_id": "qb", "actor": "ann", "project_id": "p1", "group_id": "g1"})
	if after := r.xoSnapshot("qa", s); !maps(beforeA, after) {
		t.Fatalf("changing B changed A's answers:\n  %s", bytes.Join(toBytes(diffSnapshots(beforeA, after)), []byte("\n  ")))
	}
	r.query("AccessAt", obj{"org_id": "qa", "project_id": "p1", "user_id": "bob", "position": r.pos}, &at)
	if !slices.Equal(at.Roles, rolesA) {
		t.Fatalf("AccessAt of bob in qa after B changed: %+v, before %v", at, rolesA)
	}
	r.query("AccessAt", obj{"org_id": "qb", "project_id": "p1", "user_id": "bob", "position": r.pos}, &bNow)
	if !slices.Equal(bNow.Roles, strs{"annotator"}) {
		t.Fatalf("AccessAt of bob in qb after the change: %+v", bNow)
	}
	if got := r.checkAt("qa", "p1", "", "bob", "Create Pipelines", nil); got.Decision != "allowed" {
		t.Fatalf("Check bob in qa after B changed: %+v", got)
	}
}

// Ids with NATS subject characters are refused as invalid, by commands and by queries.
func TestSubjectInjectionIdsAreInvalid(t *testing.T) {
	r := newRig(t)
	r.xoSetup("sa", xoSpecs[1], false)
	ctx := context.Background()
	bad := []string{"sa.x", "sa.*", "sa.>", "*", ">", "sa x", "sa\x00", "org-sa.MemberAdded"}
	for _, id := range bad {
		for _, c := range []struct {
			name string
			req  obj
		}{
			{"CreateOrganization", obj{"org_id": id, "actor": "ann", "preset": "dataloop"}},
			{"AddOrgMember", obj{"org_id": id, "actor": "ann", "user_id": "zed"}},
			{"AddOrgMember", obj{"org_id": "sa", "actor": "ann", "user_id": id}},
			{"AddOrgMember", obj{"org_id": "sa", "actor": id, "user_id": "zed"}},
			{"CreateProject", obj{"org_id": "sa", "actor": "ann", "project_id": id}},
			{"CreateWorkgroup", obj{"org_id": "sa", "actor": "ann", "group_id": id}},
			{"AddMember", obj{"org_id": "sa", "actor": "ann", "project_id": id, "user_id": "dee", "roles": strs{"developer"}}},
			{"AddMember", obj{"org_id": "sa", "actor": "ann", "project_id": "p1", "user_id": id, "roles": strs{"developer"}}},
			{"InviteMember", obj{"org_id": "sa", "actor": "ann", "project_id": "p1", "user_id": "dee", "roles": strs{"developer"}, "invitation_id": id}},
			{"AddPartner", obj{"org_id": "sa", "actor": "ann", "project_id": "p1", "partner_id": id, "admin_email": "x@partner.test"}},
			{"RevokeInvite", obj{"org_id": "sa", "actor": "ann", "invitation_id": id}},
		} {
			rep, code := r.xoRun(c.name, c.req)
			if code != client.CodeInvalid {
				t.Fatalf("%s %q: code %q, reply %+v; want invalid", c.name, c.req, code, rep)
			}
		}
		for _, q := range []struct {
			name string
			req  obj
		}{
			{"Check", obj{"org_id": id, "user_id": "bob", "permission": "Add users"}},
			{"Check", obj{"org_id": "sa", "project_id": id, "user_id": "bob", "permission": "Add users"}},
			{"Check", obj{"org_id": "sa", "user_id": id, "permission": "Add users"}},
			{"ListMembers", obj{"org_id": id}},
			{"GetProject", obj{"org_id": "sa", "project_id": id}},
			{"Catalog", obj{"org_id": id}},
			{"Audit", obj{"org_id": id}},
			{"AccessAt", obj{"org_id": id, "user_id": "bob", "position": 1}},
			{"ListProjects", obj{"user_id": id}},
			{"ListInvitations", obj{"org_id": id}},
		} {
			if _, err := r.c.Query(ctx, q.name, q.req, nil); client.CodeOf(err) != client.CodeInvalid {
				t.Fatalf("%s %q: got %v, want invalid", q.name, q.req, err)
			}
		}
	}
	// Nothing of the refused commands reached the log: sa's trail is its setup only.
	var trail struct {
		Events []struct {
			OrgID string `json:"org_id"`
		} `json:"events"`
	}
	r.query("Audit", obj{"org_id": "sa", "limit": 1000}, &trail)
	var st client.Status
	r.query("Status", obj{}, &st)
	if uint64(len(trail.Events)) != st.Head {
		t.Fatalf("log head %d, sa's trail %d events: a refused command appended", st.Head, len(trail.Events))
	}
}
