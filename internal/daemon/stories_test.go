package daemon_test

import (
	"encoding/json"
	"slices"
	"testing"

	"roster/client"
)

type strs = []string

func (r *rig) checkAt(org, project, track, user, perm string, ctx map[string]string) client.CheckResult {
	r.t.Helper()
	var res client.CheckResult
	req := obj{"org_id": org, "user_id": user, "permission": perm}
	if project != "" {
		req["project_id"] = project
	}
	if track != "" {
		req["track_id"] = track
	}
	if ctx != nil {
		req["context"] = ctx
	}
	r.query("Check", req, &res)
	return res
}

func (r *rig) want(org, project, track, user, perm, decision string) {
	r.t.Helper()
	if got := r.checkAt(org, project, track, user, perm, nil); got.Decision != decision {
		r.t.Fatalf("Check %s %q at %s/%s: %s (via %+v), want %s", user, perm, project, track, got.Decision, got.Via, decision)
	}
}

func result[T any](t *testing.T, rep *client.CommandReply) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rep.Result, &v); err != nil {
		t.Fatalf("result %s: %v", rep.Result, err)
	}
	return v
}

type invited struct {
	InvitationID    string `json:"invitation_id"`
	InvitationToken string `json:"invitation_token"`
}

// Allonia (seeds/000): tenant admin creates a project, the creator is Project Manager, the first
// track comes with it, a Track Leader manages track roles but not project roles; archive.
func TestAlloniaStory(t *testing.T) { eachMode(t, alloniaStory) }

func alloniaStory(t *testing.T, r *rig) {
	r.ok("CreateOrganization", obj{"org_id": "al", "kind": "team", "preset": "allonia", "actor": "tess"})
	for _, u := range []string{"paul", "lea", "dan", "mo"} {
		r.ok("AddOrgMember", obj{"org_id": "al", "actor": "tess", "user_id": u, "email": u + "@al.test", "name": u})
	}
	r.refused("CreateProject", obj{"org_id": "al", "actor": "paul", "project_id": "px", "name": "X"}, client.CodeForbidden)
	rep := r.ok("CreateProject", obj{"org_id": "al", "actor": "tess", "project_id": "p1", "name": "Churn",
		"track": obj{"track_id": "t1", "name": "Exploration", "compute": "cpu-small", "notebook_env": "python-3.11"}})
	first := result[map[string]string](t, rep)
	if got := first; got["track_id"] != "t1" {
		t.Fatalf("first track: %v", got)
	}
	var proj struct {
		Tracks []struct {
			TrackID     string `json:"track_id"`
			Compute     string `json:"compute"`
			NotebookEnv string `json:"notebook_env"`
		} `json:"tracks"`
	}
	r.query("GetProject", obj{"org_id": "al", "project_id": "p1"}, &proj)
	if len(proj.Tracks) != 1 || proj.Tracks[0].Compute != "cpu-small" || proj.Tracks[0].NotebookEnv != "python-3.11" {
		t.Fatalf("tracks: %+v", proj.Tracks)
	}
	// The creator is Project Manager of the project and Track Leader of its first track.
	if m := r.members("al", "p1"); !slices.Equal(m["tess"].Roles, strs{"project_manager"}) {
		t.Fatalf("creator: %+v", m)
	}
	r.ok("AddMember", obj{"org_id": "al", "actor": "tess", "project_id": "p1", "user_id": "paul", "roles": strs{"Project Manager"}})
	r.ok("AddMember", obj{"org_id": "al", "actor": "paul", "project_id": "p1", "track_id": "t1", "user_id": "lea", "roles": strs{"track_leader"}})
	// The track leader manages roles in the track...
	r.ok("AddMember", obj{"org_id": "al", "actor": "lea", "project_id": "p1", "track_id": "t1", "user_id": "dan", "roles": strs{"data_scientist"}})
	r.ok("ChangeRole", obj{"org_id": "al", "actor": "lea", "project_id": "p1", "track_id": "t1", "user_id": "dan", "roles": strs{"ml_ops"}})
	// ...but not in the project.
	r.refused("AddMember", obj{"org_id": "al", "actor": "lea", "project_id": "p1", "user_id": "mo", "roles": strs{"project_manager"}}, client.CodeForbidden)
	r.refused("ChangeRole", obj{"org_id": "al", "actor": "lea", "project_id": "p1", "user_id": "paul", "roles": strs{"project_manager"}}, client.CodeForbidden)
	r.want("al", "p1", "t1", "lea", "Manager user roles in a track", "allowed")
	r.want("al", "p1", "", "lea", "Manager user roles in project", "denied")
	r.want("al", "p1", "t1", "paul", "Manager user roles in a track", "allowed")
	r.want("al", "p1", "t1", "dan", "Factory", "allowed")
	r.want("al", "p1", "t1", "dan", "Data catalog", "denied")
	r.want("al", "", "", "tess", "Data catalog", "allowed")
	// Users must be in the organization before they are managed on a track.
	r.refused("AddMember", obj{"org_id": "al", "actor": "lea", "project_id": "p1", "track_id": "t1", "user_id": "zed", "roles": strs{"ml_ops"}}, client.CodePreconditionFailed)
	// A role of the wrong scope is refused.
	r.refused("AddMember", obj{"org_id": "al", "actor": "paul", "project_id": "p1", "user_id": "mo", "roles": strs{"ml_ops"}}, client.CodeInvalid)
	r.ok("CreateTrack", obj{"org_id": "al", "actor": "paul", "project_id": "p1", "track_id": "t2", "name": "Serving", "compute": "gpu"})
	r.refused("CreateTrack", obj{"org_id": "al", "actor": "lea", "project_id": "p1", "track_id": "t3", "name": "No"}, client.CodeForbidden)

	// Archive: hidden from lists, readable by id, read-only.
	r.ok("ArchiveProject", obj{"org_id": "al", "actor": "paul", "project_id": "p1"})
	r.want("al", "p1", "t1", "dan", "Project view", "allowed")
	r.want("al", "p1", "t1", "lea", "Manager user roles in a track", "denied")
	r.refused("AddMember", obj{"org_id": "al", "actor": "lea", "project_id": "p1", "track_id": "t1", "user_id": "mo", "roles": strs{"ml_ops"}}, client.CodePreconditionFailed)
	var list struct {
		Projects []obj `json:"projects"`
	}
	r.query("ListProjects", obj{"user_id": "dan", "org_id": "al"}, &list)
	if len(list.Projects) != 0 {
		t.Fatalf("archived project listed: %v", list.Projects)
	}
	r.query("ListProjects", obj{"user_id": "dan", "org_id": "al", "include_archived": true}, &list)
	if len(list.Projects) != 1 {
		t.Fatalf("include_archived: %v", list.Projects)
	}
	// Only the roles that may archive may unarchive.
	r.refused("UnarchiveProject", obj{"org_id": "al", "actor": "lea", "project_id": "p1"}, client.CodeForbidden)
	r.ok("UnarchiveProject", obj{"org_id": "al", "actor": "paul", "project_id": "p1"})
}

// ICA (seeds/001): team by user, e-mail and workgroup; accept/reject statuses; owner transfer;
// the union of user and workgroup entries; upload/download flags; one role per category.
func TestICAStory(t *testing.T) { eachMode(t, iCAStory) }

func iCAStory(t *testing.T, r *rig) {
	r.ok("CreateOrganization", obj{"org_id": "ica", "kind": "team", "preset": "ica", "actor": "tina"})
	for _, u := range []string{"ola", "uma", "vic"} {
		r.ok("AddOrgMember", obj{"org_id": "ica", "actor": "tina", "user_id": u, "email": u + "@ica.test", "name": u})
	}
	r.ok("CreateWorkgroup", obj{"org_id": "ica", "actor": "tina", "group_id": "bio", "name": "Bioinformatics"})
	r.ok("AddWorkgroupMember", obj{"org_id": "ica", "actor": "tina", "group_id": "bio", "user_id": "vic"})
	r.ok("CreateProject", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "name": "Genomes"})

	// By user, with one role per category and an explicit download flag.
	r.ok("AddMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "user_id": "uma",
		"roles": strs{"project_viewer", "flow_viewer"}, "grants": strs{"Download allowed"}})
	r.refused("AddMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "user_id": "vic",
		"roles": strs{"project_viewer", "project_contributor"}}, client.CodePreconditionFailed)
	r.want("ica", "p1", "", "uma", "Download allowed", "allowed")
	r.want("ica", "p1", "", "uma", "Upload allowed", "denied")
	r.ok("SetMemberGrants", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "user_id": "uma", "grants": strs{"upload", "download"}})
	r.want("ica", "p1", "", "uma", "Upload allowed", "allowed")

	// By e-mail: accepted and rejected invitations keep their status.
	acc := result[invited](t, r.ok("InviteMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "email": "ext@lab.test", "roles": strs{"project_contributor"}}))
	rej := result[invited](t, r.ok("InviteMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "email": "no@lab.test", "roles": strs{"project_viewer"}}))
	r.ok("InviteMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "email": "later@lab.test", "roles": strs{"project_viewer"}})
	r.ok("AcceptInvite", r.withToken(obj{"org_id": "ica", "actor": "ext", "invitation_id": acc.InvitationID, "actor_email": "ext@lab.test", "actor_name": "Ext"}, acc))
	r.ok("RejectInvite", r.withToken(obj{"org_id": "ica", "actor": "nope", "invitation_id": rej.InvitationID, "actor_email": "no@lab.test"}, rej))
	m := r.members("ica", "p1")
	if m["ext"].Status != "accepted" || m["no@lab.test"].Status != "rejected" || m["later@lab.test"].Status != "pending" {
		t.Fatalf("statuses: ext=%q no=%q later=%q", m["ext"].Status, m["no@lab.test"].Status, m["later@lab.test"].Status)
	}
	r.want("ica", "p1", "", "ext", "Link/Unlink data to a project", "allowed")

	// By workgroup, and the union of entries gives the highest access.
	r.ok("AddMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "group_id": "bio", "roles": strs{"project_contributor", "base_contributor"}})
	r.want("ica", "p1", "", "uma", "Link/Unlink data to a project", "denied")
	r.ok("AddWorkgroupMember", obj{"org_id": "ica", "actor": "tina", "group_id": "bio", "user_id": "uma"})
	got := r.checkAt("ica", "p1", "", "uma", "View project resources", nil)
	kinds := []string{}
	for _, v := range got.Via {
		kinds = append(kinds, v.Kind)
	}
	if got.Decision != "allowed" || !slices.Contains(kinds, "direct") || !slices.Contains(kinds, "workgroup") {
		t.Fatalf("union: %+v", got)
	}
	r.want("ica", "p1", "", "uma", "Link/Unlink data to a project", "allowed")
	r.want("ica", "p1", "", "vic", "Create tables", "allowed")
	// Workgroup changes flow into the project.
	r.ok("RemoveWorkgroupMember", obj{"org_id": "ica", "actor": "tina", "group_id": "bio", "user_id": "vic"})
	r.want("ica", "p1", "", "vic", "Create tables", "denied")

	// Owner transfer by the owner, then by the tenant admin.
	r.refused("TransferProjectOwnership", obj{"org_id": "ica", "actor": "uma", "project_id": "p1", "new_owner": "uma"}, client.CodeForbidden)
	r.ok("TransferProjectOwnership", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "new_owner": "uma"})
	var proj struct {
		Owners []string `json:"owners"`
	}
	r.query("GetProject", obj{"org_id": "ica", "project_id": "p1"}, &proj)
	if !slices.Equal(proj.Owners, strs{"uma"}) {
		t.Fatalf("owners after transfer: %v", proj.Owners)
	}
	if m := r.members("ica", "p1"); !slices.Equal(m["ola"].Roles, strs{"project_administrator"}) {
		t.Fatalf("previous owner: %+v", m["ola"])
	}
	r.ok("TransferProjectOwnership", obj{"org_id": "ica", "actor": "tina", "project_id": "p1", "new_owner": "vic"})
	r.query("GetProject", obj{"org_id": "ica", "project_id": "p1"}, &proj)
	if !slices.Equal(proj.Owners, strs{"vic"}) {
		t.Fatalf("owners after the tenant admin's transfer: %v", proj.Owners)
	}
}

// Dataloop (seeds/002): a labeling company's annotation manager adds only annotators and
// annotation managers into its company and sees only its company; conditional rows; CSV
// import; search by name, e-mail and role.
func TestDataloopStory(t *testing.T) { eachMode(t, dataloopStory) }

func dataloopStory(t *testing.T, r *rig) {
	r.ok("CreateOrganization", obj{"org_id": "dl", "kind": "team", "preset": "dataloop", "actor": "olga"})
	r.ok("AddOrgMember", obj{"org_id": "dl", "actor": "olga", "user_id": "dave", "email": "dave@dl.test", "name": "Dave Dev"})
	r.ok("AddOrgMember", obj{"org_id": "dl", "actor": "olga", "user_id": "amy", "email": "amy@dl.test", "name": "Amy Manager"})
	r.ok("CreateProject", obj{"org_id": "dl", "actor": "olga", "project_id": "p1", "name": "Cars"})
	r.ok("AddMember", obj{"org_id": "dl", "actor": "olga", "project_id": "p1", "user_id": "dave", "roles": strs{"developer"}})
	r.ok("AddMember", obj{"org_id": "dl", "actor": "olga", "project_id": "p1", "user_id": "amy", "roles": strs{"Annotation Manager"}})

	// Only the owner adds a labeling company; its admin is invited as Annotation Manager.
	r.refused("AddPartner", obj{"org_id": "dl", "actor": "dave", "project_id": "p1", "partner_id": "x", "name": "X", "admin_email": "x@x.test"}, client.CodeForbidden)
	lc := result[invited](t, r.ok("AddPartner", obj{"org_id": "dl", "actor": "olga", "project_id": "p1", "partner_id": "labelco", "name": "LabelCo", "admin_email": "lead@labelco.test"}))
	r.ok("AddPartner", obj{"org_id": "dl", "actor": "olga", "project_id": "p1", "partner_id": "otherco", "name": "OtherCo", "admin_email": "boss@otherco.test"})
	r.ok("AcceptInvite", r.withToken(obj{"org_id": "dl", "actor": "lead", "invitation_id": lc.InvitationID, "actor_email": "lead@labelco.test", "actor_name": "Lea Lead"}, lc))
	if m := r.members("dl", "p1"); m["lead"].PartnerID != "labelco" || !slices.Equal(m["lead"].Roles, strs{"annotation_manager"}) {
		t.Fatalf("partner admin: %+v", m["lead"])
	}
	// The partner's annotation manager adds annotators into its own company only.
	ann := result[invited](t, r.ok("InviteMember", obj{"org_id": "dl", "actor": "lead", "project_id": "p1", "email": "ann@labelco.test", "roles": strs{"annotator"}}))
	r.ok("AcceptInvite", r.withToken(obj{"org_id": "dl", "actor": "ann", "invitation_id": ann.InvitationID, "actor_email": "ann@labelco.test", "actor_name": "Ann"}, ann))
	r.refused("InviteMember", obj{"org_id": "dl", "actor": "lead", "project_id": "p1", "email": "dev@labelco.test", "roles": strs{"developer"}}, client.CodeForbidden)
	r.refused("InviteMember", obj{"org_id": "dl", "actor": "lead", "project_id": "p1", "email": "spy@labelco.test", "roles": strs{"annotator"}, "partner_id": "otherco"}, client.CodeForbidden)
	r.refused("ChangeRole", obj{"org_id": "dl", "actor": "lead", "project_id": "p1", "user_id": "dave", "roles": strs{"annotator"}}, client.CodeForbidden)
	// ...and sees only its company.
	var page client.MembersPage
	r.query("ListMembers", obj{"org_id": "dl", "project_id": "p1", "viewer": "lead"}, &page)
	for _, m := range page.Members {
		if m.PartnerID != "labelco" {
			t.Fatalf("partner viewer sees %+v", m)
		}
	}
	if len(page.Members) != 2 {
		t.Fatalf("partner viewer sees %d members, want lead and ann: %+v", len(page.Members), page.Members)
	}
	r.query("ListMembers", obj{"org_id": "dl", "project_id": "p1", "viewer": "olga"}, &page)
	if len(page.Members) < 5 {
		t.Fatalf("owner sees %d members", len(page.Members))
	}

	// Conditional rows.
	if got := r.checkAt("dl", "p1", "", "amy", "Delete a task", nil); got.Decision != "conditional" {
		t.Fatalf("AM delete task without context: %+v", got)
	}
	if got := r.checkAt("dl", "p1", "", "amy", "Delete a task", map[string]string{"created_by": "amy"}); got.Decision != "allowed" {
		t.Fatalf("AM delete own task: %+v", got)
	}
	if got := r.checkAt("dl", "p1", "", "amy", "Delete a task", map[string]string{"created_by": "dave"}); got.Decision != "denied" {
		t.Fatalf("AM delete another's task: %+v", got)
	}
	if got := r.checkAt("dl", "p1", "", "ann", "Open an issue", nil); got.Decision != "conditional" {
		t.Fatalf("annotator open issue without context: %+v", got)
	}
	if got := r.checkAt("dl", "p1", "", "ann", "Open an issue", map[string]string{"task_type": "qa"}); got.Decision != "allowed" {
		t.Fatalf("annotator open issue on QA: %+v", got)
	}
	if got := r.checkAt("dl", "p1", "", "ann", "Open an issue", map[string]string{"task_type": "annotation"}); got.Decision != "denied" {
		t.Fatalf("annotator open issue on annotation task: %+v", got)
	}
	r.want("dl", "p1", "", "amy", "View Datasets", "allowed")

	// CSV import with a result per row.
	csv := "email,user_id,name,roles,grants\nfran@x.test,,Fran Freelance,annotator,\n,dave,,developer,\nnot-an-email,,,annotator,\n,amy,,owner;annotator,\n"
	rep := r.ok("ImportMembers", obj{"org_id": "dl", "actor": "olga", "project_id": "p1", "csv": csv})
	rows := result[struct {
		Rows []struct {
			Row int  `json:"row"`
			OK  bool `json:"ok"`
		} `json:"rows"`
	}](t, rep)
	oks := []bool{}
	for _, row := range rows.Rows {
		oks = append(oks, row.OK)
	}
	if !slices.Equal(oks, []bool{true, false, false, false}) {
		t.Fatalf("import rows: %+v", rows.Rows)
	}
	// Search by name, e-mail and role.
	r.query("ListMembers", obj{"org_id": "dl", "project_id": "p1", "q": "fran"}, &page)
	if len(page.Members) != 1 || page.Members[0].Email != "fran@x.test" || page.Members[0].Status != "pending" {
		t.Fatalf("search by name: %+v", page.Members)
	}
	r.query("ListMembers", obj{"org_id": "dl", "project_id": "p1", "q": "amy@dl"}, &page)
	if len(page.Members) != 1 || page.Members[0].UserID != "amy" {
		t.Fatalf("search by e-mail: %+v", page.Members)
	}
	r.query("ListMembers", obj{"org_id": "dl", "project_id": "p1", "role": "Developer"}, &page)
	if len(page.Members) != 1 || page.Members[0].UserID != "dave" {
		t.Fatalf("search by role: %+v", page.Members)
	}
	// Paging is stable.
	var all []string
	req := obj{"org_id": "dl", "project_id": "p1", "limit": 2}
	for {
		var page client.MembersPage
		r.query("ListMembers", req, &page)
		for _, m := range page.Members {
			all = append(all, m.UserID+m.Email)
		}
		if page.NextPageToken == "" {
			break
		}
		req["page_token"] = page.NextPageToken
	}
	if len(all) < 6 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != len(all) {
		t.Fatalf("paged members: %v", all)
	}
}

// Neptune (seeds/003): individual vs team organizations, public projects, leaving.
func TestNeptuneIndividualStory(t *testing.T) { eachMode(t, neptuneIndividualStory) }

func neptuneIndividualStory(t *testing.T, r *rig) {
	r.ok("CreateOrganization", obj{"org_id": "ivy", "kind": "individual", "preset": "neptune", "actor": "ivy"})
	r.refused("AddOrgMember", obj{"org_id": "ivy", "actor": "ivy", "user_id": "joe"}, client.CodePreconditionFailed)
	r.ok("CreateProject", obj{"org_id": "ivy", "actor": "ivy", "project_id": "priv", "name": "Private"})
	r.ok("CreateProject", obj{"org_id": "ivy", "actor": "ivy", "project_id": "pub", "name": "Public", "visibility": "public"})
	// Only public projects take invited users, and only by invitation.
	r.refused("InviteMember", obj{"org_id": "ivy", "actor": "ivy", "project_id": "priv", "user_id": "joe", "roles": strs{"contributor"}}, client.CodePreconditionFailed)
	r.refused("AddMember", obj{"org_id": "ivy", "actor": "ivy", "project_id": "pub", "user_id": "joe", "roles": strs{"contributor"}}, client.CodePreconditionFailed)
	inv := result[invited](t, r.ok("InviteMember", obj{"org_id": "ivy", "actor": "ivy", "project_id": "pub", "user_id": "joe", "roles": strs{"contributor"}}))
	r.want("ivy", "pub", "", "joe", "Editing project content", "denied")
	r.ok("AcceptInvite", obj{"org_id": "ivy", "actor": "joe", "invitation_id": inv.InvitationID})
	r.want("ivy", "pub", "", "joe", "Editing project content", "allowed")
	// Public projects are viewable by everyone; private ones are not.
	r.want("ivy", "pub", "", "stranger", "Viewing project content", "allowed")
	r.want("ivy", "pub", "", "stranger", "Editing project content", "denied")
	r.want("ivy", "priv", "", "stranger", "Viewing project content", "denied")
	// Invited users may leave.
	r.ok("LeaveProject", obj{"org_id": "ivy", "actor": "joe", "project_id": "pub"})
	r.want("ivy", "pub", "", "joe", "Editing project content", "denied")
	r.refused("LeaveProject", obj{"org_id": "ivy", "actor": "joe", "project_id": "pub"}, client.CodeNotFound)
}

// Aunsight (seeds/004): organization membership first, an empty custom role then permissions,
// several roles per member, team-manager delegation; creators get no team management.
func TestAunsightStory(t *testing.T) { eachMode(t, aunsightStory) }

func aunsightStory(t *testing.T, r *rig) {
	r.ok("CreateOrganization", obj{"org_id": "au", "kind": "team", "preset": "aunsight", "actor": "root"})
	for _, u := range []string{"tm", "al", "bo", "cr"} {
		r.ok("AddOrgMember", obj{"org_id": "au", "actor": "root", "user_id": u, "email": u + "@au.test", "name": u})
	}
	r.ok("CreateProject", obj{"org_id": "au", "actor": "root", "project_id": "p1", "name": "One"})
	r.ok("CreateProject", obj{"org_id": "au", "actor": "root", "project_id": "p2", "name": "Two"})
	if m := r.members("au", "p1"); len(m) != 0 {
		t.Fatalf("a new Aunsight project has members: %+v", m)
	}
	r.refused("AddMember", obj{"org_id": "au", "actor": "root", "project_id": "p1", "user_id": "zz", "roles": strs{}}, client.CodePreconditionFailed)
	// Roles are check boxes: a member may be added with none and given roles later.
	r.ok("AddMember", obj{"org_id": "au", "actor": "root", "project_id": "p2", "user_id": "bo", "roles": strs{}})
	if m := r.members("au", "p2"); len(m["bo"].Roles) != 0 {
		t.Fatalf("member without roles: %+v", m["bo"])
	}
	r.ok("DefineRole", obj{"org_id": "au", "actor": "root", "role": "team_manager", "label": "Project Team Manager", "scope": "project"})
	var cat struct {
		Roles []struct {
			ID          string   `json:"id"`
			Label       string   `json:"label"`
			Permissions []string `json:"permissions"`
		} `json:"roles"`
	}
	r.query("Catalog", obj{"org_id": "au"}, &cat)
	found := false
	for _, role := range cat.Roles {
		if role.ID == "team_manager" {
			found = true
			if role.Label != "Project Team Manager" || len(role.Permissions) != 0 {
				t.Fatalf("new custom role: %+v", role)
			}
		}
	}
	if !found {
		t.Fatal("custom role missing from the Catalog")
	}
	r.refused("AddMember", obj{"org_id": "au", "actor": "root", "project_id": "p1", "user_id": "zz", "roles": strs{"team_manager"}}, client.CodePreconditionFailed)
	r.ok("AddMember", obj{"org_id": "au", "actor": "root", "project_id": "p1", "user_id": "tm", "roles": strs{"team_manager"}})
	// An empty role grants nothing.
	r.refused("AddMember", obj{"org_id": "au", "actor": "tm", "project_id": "p1", "user_id": "al", "roles": strs{"team_manager"}}, client.CodeForbidden)
	r.ok("SetRolePermissions", obj{"org_id": "au", "actor": "root", "role": "team_manager", "permissions": strs{
		"AU-ORG:create-project-role", "AU-ORG:update-any-project-role", "AU-ORG:set-permissions-for-any-project-role",
		"AU-ORG:delete-any-project-role", "AU-ORG:create-project-member", "AU-ORG:view-any-project-member",
		"AU-ORG:update-any-project-member", "AU-ORG:set-project-roles-for-any-project-member", "AU-ORG:delete-any-project-member"}})
	r.ok("DefineRole", obj{"org_id": "au", "actor": "root", "role": "analyst", "label": "Analyst"})
	r.ok("SetRolePermissions", obj{"org_id": "au", "actor": "root", "role": "analyst", "permissions": strs{"AU-ORG:view-any-project", "dataset:read"}})
	// The delegated team manager manages its project, with several roles per member...
	r.ok("AddMember", obj{"org_id": "au", "actor": "tm", "project_id": "p1", "user_id": "al", "roles": strs{"analyst", "team_manager"}})
	if m := r.members("au", "p1"); !slices.Equal(m["al"].Roles, strs{"analyst", "team_manager"}) {
		t.Fatalf("several roles: %+v", m["al"])
	}
	r.want("au", "p1", "", "al", "dataset:read", "allowed")
	// ...and not another project.
	r.refused("AddMember", obj{"org_id": "au", "actor": "tm", "project_id": "p2", "user_id": "bo", "roles": strs{"analyst"}}, client.CodeForbidden)
	// A role in use cannot be deleted until its holders are reassigned.
	r.refused("DeleteRole", obj{"org_id": "au", "actor": "root", "role": "analyst"}, client.CodePreconditionFailed)
	r.ok("ChangeRole", obj{"org_id": "au", "actor": "tm", "project_id": "p1", "user_id": "al", "roles": strs{"team_manager"}})
	r.ok("DeleteRole", obj{"org_id": "au", "actor": "root", "role": "analyst"})
	// Project creators get no team management in the project by default.
	r.ok("DefineRole", obj{"org_id": "au", "actor": "root", "role": "creator", "label": "Project Creator", "scope": "org"})
	r.ok("SetRolePermissions", obj{"org_id": "au", "actor": "root", "role": "creator", "permissions": strs{"AU-ORG:create-project"}})
	r.ok("ChangeOrgRole", obj{"org_id": "au", "actor": "root", "user_id": "cr", "role": "creator"})
	r.ok("CreateProject", obj{"org_id": "au", "actor": "cr", "project_id": "p3", "name": "Three"})
	r.refused("AddMember", obj{"org_id": "au", "actor": "cr", "project_id": "p3", "user_id": "bo", "roles": strs{"team_manager"}}, client.CodeForbidden)
}

// The Catalog over the wire gives each preset's permissions and roles with the seed's words.
func TestCatalogSpeaksTheSeedsWords(t *testing.T) { eachMode(t, catalogStory) }

func catalogStory(t *testing.T, r *rig) {
	type catalog struct {
		Preset      string `json:"preset"`
		Permissions []struct {
			ID, Label, Scope string
		} `json:"permissions"`
		Roles []struct {
			ID, Label, Scope, Category string
			Permissions                []string
		} `json:"roles"`
		Conditions []struct {
			Role, Permission, Attribute, Equals string
		} `json:"conditions"`
	}
	cases := map[string]struct {
		perms, roles []string
		categories   map[string]string // role label → category
	}{
		"allonia":  {perms: strs{"Create project", "Add new track", "Manager user roles in project", "Manager user roles in a track", "Project view", "Data catalog"}, roles: strs{"Tenant Admin", "Project Manager", "Track Leader", "Data scientist / Data Engineer", "ML Ops"}},
		"ica":      {perms: strs{"Create a Connector", "Manage project team", "Add docker image", "Load files into a table", "Install additional tools, packages, libraries, …", "Upload allowed", "Download allowed"}, roles: strs{"No Access", "Data Provider", "Viewer", "Contributor", "Administrator"}, categories: map[string]string{"Data Provider": "Project"}},
		"dataloop": {perms: strs{"Create annotation", "Delete a task", "Open an issue", "View Datasets", "Add labeling company", "Move an Item"}, roles: strs{"Owner", "Developer", "Annotation Manager", "Annotator"}},
		"neptune":  {perms: strs{"Managing subscription (including invoice data)", "Managing organization members", "Creating and deleting projects", "Viewing project content", "Editing project members", "Viewing or editing of project settings and properties"}, roles: strs{"Admin", "Member", "Owner", "Contributor", "Viewer"}},
		"aunsight": {perms: strs{"AU-ORG:create-project-role", "AU-ORG:set-project-roles-for-any-project-member", "AU-ORG:view-any-project"}},
	}
	for preset, want := range cases {
		r.ok("CreateOrganization", obj{"org_id": preset, "kind": "team", "preset": preset, "actor": "ana"})
		var c catalog
		r.query("Catalog", obj{"org_id": preset}, &c)
		if c.Preset != preset {
			t.Fatalf("%s: catalog of %q", preset, c.Preset)
		}
		labels := map[string]bool{}
		for _, p := range c.Permissions {
			labels[p.Label] = true
		}
		for _, l := range want.perms {
			if !labels[l] {
				t.Errorf("%s: no permission labelled %q", preset, l)
			}
		}
		roleLabels := map[string]string{}
		for _, role := range c.Roles {
			roleLabels[role.Label] = role.Category
		}
		for _, l := range want.roles {
			if _, ok := roleLabels[l]; !ok {
				t.Errorf("%s: no role labelled %q", preset, l)
			}
		}
		for l, cat := range want.categories {
			if roleLabels[l] != cat {
				t.Errorf("%s: role %q in category %q, want %q", preset, l, roleLabels[l], cat)
			}
		}
		if preset == "dataloop" && len(c.Conditions) != 2 {
			t.Errorf("dataloop conditions: %+v", c.Conditions)
		}
	}
}
