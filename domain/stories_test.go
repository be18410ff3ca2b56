package domain

import (
	"slices"
	"testing"
	"time"
)

// One story per seed document (shared/seeds/), walking its page at the domain level, from an
// empty organization, command by command.

func invitationID(t *testing.T, s *scenario) string {
	t.Helper()
	var id string
	switch r := s.out.Result.(type) {
	case InviteMemberResult:
		id = r.InvitationID
	case AddPartnerResult:
		id = r.InvitationID
	}
	if id == "" {
		t.Fatalf("%s: result %v has no invitation_id", s.cmd.CommandName(), s.out.Result)
	}
	return id
}

func importRows(t *testing.T, s *scenario) []ImportRow {
	t.Helper()
	r, ok := s.out.Result.(ImportMembersResult)
	rows := r.Rows
	if !ok {
		t.Fatalf("ImportMembers result %v has no rows", s.out.Result)
	}
	return rows
}

// seeds/000: Allonia, "Project and track management".
func TestStoryAllonia(t *testing.T) {
	s := given(t)
	// Tenant Admin: "Is added by the Client during account creation".
	s.when(&CreateOrganization{Meta: by("ana"), Name: "Acme", Preset: "allonia", ActorEmail: emailOf("ana"), ActorName: "ana"}).
		thenTypes(EvOrganizationCreated)
	// "any user have to be added by the organization administrator inside the organization."
	for _, u := range []string{"paul", "tom", "dan", "mia", "eve"} {
		s.when(&AddOrgMember{Meta: by("ana"), UserID: u, Email: emailOf(u), Name: u}).thenEvents(orgMemberEv(u, "member"))
	}

	// "Create a new project": the creator is project manager; a first track is created and configured
	// (Track name, Compute configuration, Notebook compute environment type).
	s.when(&CreateProject{Meta: by("ana"), ProjectID: "churn", Name: "Churn",
		Track: &TrackSpec{TrackID: "explore", Name: "Exploration", Compute: "gpu-small", NotebookEnv: "jupyter-python"}}).
		thenEvents(
			&ProjectCreated{ProjectID: "churn", Name: "Churn", Visibility: Private, CreatedBy: "ana"},
			memberEv("churn", "ana", "project_manager"),
			&TrackCreated{ProjectID: "churn", TrackID: "explore", Name: "Exploration", Compute: "gpu-small", NotebookEnv: "jupyter-python"},
			trackMemberEv("churn", "explore", "ana", "track_leader"))
	// "the creator has the possibility to add users to the track by default and assign them one of the
	// following roles: Track leader, data scientist or data engineer".
	s.when(addTrackMember("ana", "churn", "explore", "tom", "Track leader")).thenEvents(trackMemberEv("churn", "explore", "tom", "track_leader"))
	s.when(addTrackMember("ana", "churn", "explore", "dan", "Data scientist")).thenEvents(trackMemberEv("churn", "explore", "dan", "data_scientist"))
	// "Manage project manager": paul becomes Project Manager.
	s.when(addMember("ana", "churn", "paul", "Project Manager")).thenEvents(memberEv("churn", "paul", "project_manager"))

	// "Create a track": the Project Manager creates one and leads it by default.
	s.when(&CreateTrack{Meta: by("paul"), ProjectID: "churn", TrackID: "serve", Name: "Serving", Compute: "cpu-8", NotebookEnv: "vscode"}).
		thenEvents(&TrackCreated{ProjectID: "churn", TrackID: "serve", Name: "Serving", Compute: "cpu-8", NotebookEnv: "vscode"},
			trackMemberEv("churn", "serve", "paul", "track_leader"))
	s.when(&CreateTrack{Meta: by("tom"), ProjectID: "churn", TrackID: "t3"}).thenError(CodeForbidden)

	// "Manage track users": the Track Leader manages roles in his track, not the project's, not another track's.
	s.when(addTrackMember("tom", "churn", "explore", "mia", "ML Ops")).thenEvents(trackMemberEv("churn", "explore", "mia", "ml_ops"))
	s.when(addTrackMember("tom", "churn", "serve", "eve", "ML Ops")).thenError(CodeForbidden)
	s.when(addMember("tom", "churn", "eve", "project_manager")).thenError(CodeForbidden)
	s.when(addTrackMember("paul", "churn", "serve", "eve", "ml_ops")).thenEvents(trackMemberEv("churn", "serve", "eve", "ml_ops"))
	// "before that, any user have to be added by the organization administrator inside the organization."
	s.when(addTrackMember("paul", "churn", "serve", "zed", "ml_ops")).thenError(CodePreconditionFailed)
	s.when(&AddOrgMember{Meta: by("paul"), UserID: "zed"}).thenError(CodeForbidden)

	// "Roles access".
	explore := inTrack("churn", "explore")
	s.thenCheck("dan", "Factory", explore, Allowed)
	s.thenCheck("mia", "Launchpad", explore, Allowed)
	s.thenCheck("dan", "Data catalog", atOrg, Denied)
	s.thenCheck("ana", "Administration", atOrg, Allowed)
	s.thenCheck("dan", "Factory", inTrack("churn", "serve"), Denied)

	// "Archive a project": read-only, still viewable.
	s.when(&ArchiveProject{Meta: by("tom"), ProjectID: "churn"}).thenError(CodeForbidden)
	s.when(&ArchiveProject{Meta: by("paul"), ProjectID: "churn"}).thenEvents(&ProjectArchived{ProjectID: "churn"})
	s.thenCheck("dan", "Project view", explore, Allowed)
	s.thenCheck("tom", "track.roles.manage", explore, Denied)
	s.when(addTrackMember("tom", "churn", "explore", "eve", "ml_ops")).thenError(CodePreconditionFailed)
	s.when(&UnarchiveProject{Meta: by("tom"), ProjectID: "churn"}).thenError(CodeForbidden)
	s.when(&UnarchiveProject{Meta: by("paul"), ProjectID: "churn"}).thenEvents(&ProjectUnarchived{ProjectID: "churn"})
	s.when(addTrackMember("tom", "churn", "explore", "eve", "ml_ops")).thenTypes(EvMemberAdded)
}

// seeds/001: Illumina Connected Analytics, "Team".
func TestStoryICA(t *testing.T) {
	s := given(t)
	s.when(&CreateOrganization{Meta: by("ana"), Preset: "ica"}).thenTypes(EvOrganizationCreated)
	for _, u := range []string{"bob", "carol", "dave"} {
		s.when(&AddOrgMember{Meta: by("ana"), UserID: u, Email: emailOf(u), Name: u}).thenEvents(orgMemberEv(u, "member"))
	}
	s.when(&CreateWorkgroup{Meta: by("ana"), GroupID: "wg", Name: "Bioinformatics"}).thenTypes(EvWorkgroupCreated)
	s.when(&AddWorkgroupMember{Meta: by("ana"), GroupID: "wg", UserID: "carol"}).thenTypes(EvWorkgroupMemberAdded)
	s.when(&CreateProject{Meta: by("bob"), ProjectID: "wgs"}).thenEvents(projectEv("wgs", "bob"), memberEv("wgs", "bob", "owner"))
	wgs := inProject("wgs")

	// Team entries: a tenant user (with Upload/Download allowed), an e-mail address, a workgroup.
	s.when(&InviteMember{Meta: by("bob"), ProjectID: "wgs", UserID: "dave",
		Roles: []string{"Project Contributor", "Flow Viewer"}, Grants: []string{"Upload allowed", "Download allowed"}}).
		thenTypes(EvInvitationCreated)
	daveInv := invitationID(t, s)
	s.when(&InviteMember{Meta: by("bob"), ProjectID: "wgs", Email: "zed@lab.org", Role: "Project Viewer"}).thenTypes(EvInvitationCreated)
	zedInv := invitationID(t, s)
	s.when(&InviteMember{Meta: by("bob"), ProjectID: "wgs", Email: "yan@lab.org", Role: "Project Viewer"}).thenTypes(EvInvitationCreated)
	yanInv := invitationID(t, s)
	s.when(&AddMember{Meta: by("bob"), MemberRef: MemberRef{ProjectID: "wgs", GroupID: "wg"}, Roles: []string{"Project Administrator", "Base Viewer"}}).
		thenEvents(&MemberAdded{Target: Target{ProjectID: "wgs"}, Principal: Principal{GroupID: "wg"}, Name: "Bioinformatics",
			Roles: []string{"project_administrator", "base_viewer"}})

	// "User can accept or reject invites": accepted, pending (no answer yet), rejected.
	s.when(&AcceptInvite{Meta: by("carol"), InvitationID: daveInv}).thenError(CodeForbidden)
	s.when(&AcceptInvite{Meta: by("dave"), InvitationID: daveInv}).
		thenEvents(&InvitationAccepted{InvitationID: daveInv, ProjectID: "wgs", UserID: "dave"},
			&MemberAdded{Target: Target{ProjectID: "wgs"}, Principal: Principal{UserID: "dave"}, Email: emailOf("dave"), Name: "dave",
				Roles: []string{"project_contributor", "flow_viewer"}, Grants: []string{"upload", "download"}, InvitationID: daveInv})
	s.when(&RejectInvite{Meta: by("zed"), InvitationID: zedInv, ActorEmail: "zed@lab.org"}).
		thenEvents(&InvitationRejected{InvitationID: zedInv, ProjectID: "wgs", UserID: "zed"})
	statuses := map[string]string{}
	for id, inv := range s.org.Invitations {
		statuses[id] = inv.Status
	}
	if statuses[daveInv] != InviteAccepted || statuses[zedInv] != InviteRejected || statuses[yanInv] != InvitePending {
		t.Fatalf("statuses %v, want accepted / rejected / pending", statuses)
	}

	// "Each entity ... will have an assigned role with regards to specific categories": one per category.
	s.when(changeRole("bob", "wgs", "dave", "Project Contributor", "Project Viewer")).thenError(CodePreconditionFailed)
	s.when(changeRole("bob", "wgs", "dave", "Project Contributor", "Flow Contributor", "Bench Contributor")).thenTypes(EvRoleChanged)

	// "Upload and Download rights" are explicit.
	s.thenVia("dave", "Upload allowed", wgs, ViaGrant)
	s.thenCheck("carol", "Upload allowed", wgs, Denied)

	// "the highest level of access provided by an intersection of the roles is granted."
	s.when(addMember("bob", "wgs", "carol", "Project Viewer")).thenTypes(EvMemberAdded)
	s.thenVia("carol", "Delete/archive data", wgs, ViaWorkgroup)
	s.thenVia("carol", "Export query", wgs, ViaWorkgroup)

	// "Project Owner": changed by the current owner, the tenant administrator or a project administrator.
	s.when(&TransferProjectOwnership{Meta: by("dave"), ProjectID: "wgs", NewOwner: "dave"}).thenError(CodeForbidden)
	s.when(&TransferProjectOwnership{Meta: by("carol"), ProjectID: "wgs", NewOwner: "dave"}).
		thenEvents(&RoleChanged{Target: Target{ProjectID: "wgs"}, Principal: Principal{UserID: "dave"},
			Roles: []string{"project_contributor", "flow_contributor", "bench_contributor", "owner"}, PreviousRoles: []string{"project_contributor", "flow_contributor", "bench_contributor"}},
			&RoleChanged{Target: Target{ProjectID: "wgs"}, Principal: Principal{UserID: "bob"},
				Roles: []string{"project_administrator"}, PreviousRoles: []string{"owner"}})
	s.thenVia("dave", "Manage project team", wgs, ViaDirect)
	s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "wgs", NewOwner: "bob"}).thenTypes(EvRoleChanged, EvRoleChanged)

	// Pending invitations expire.
	s.at(kitNow.Add(8 * 24 * time.Hour)).when(&ExpireInvites{Meta: by(SystemActor)}).thenEvents(&InvitationExpired{InvitationID: yanInv, ProjectID: "wgs"})
}

// seeds/002: Dataloop, "Project Team".
func TestStoryDataloop(t *testing.T) {
	s := given(t)
	s.when(&CreateOrganization{Meta: by("ana"), Preset: "dataloop"}).thenTypes(EvOrganizationCreated)
	for _, u := range []string{"olga", "dev", "am", "worker", "worker2"} {
		s.when(&AddOrgMember{Meta: by("ana"), UserID: u, Email: emailOf(u), Name: u}).thenEvents(orgMemberEv(u, "member"))
	}
	s.when(&CreateProject{Meta: by("olga"), ProjectID: "cats"}).thenEvents(projectEv("cats", "olga"), memberEv("cats", "olga", "owner"))
	cats := inProject("cats")

	// Organizational contexts: an Org-member as developer, an ORG-Worker as annotator ...
	s.when(addMember("olga", "cats", "dev", "Developer")).thenEvents(memberEv("cats", "dev", "developer"))
	s.when(addMember("olga", "cats", "worker", "Annotator")).thenEvents(memberEv("cats", "worker", "annotator"))
	s.when(addMember("dev", "cats", "am", "Annotation Manager")).thenEvents(memberEv("cats", "am", "annotation_manager"))
	// ... and users without any organizational relationship ("freelance annotators"), by e-mail.
	s.when(addMember("am", "cats", "freelancer", "Annotator")).thenError(CodePreconditionFailed)
	s.when(&InviteMember{Meta: by("am"), ProjectID: "cats", Email: "free@lance.org", Role: "Annotator"}).thenTypes(EvInvitationCreated)
	s.when(&AcceptInvite{Meta: by("freelancer"), InvitationID: invitationID(t, s), ActorEmail: "free@lance.org"}).
		thenTypes(EvInvitationAccepted, EvMemberAdded)
	if m := s.org.Projects["cats"].Members["u:freelancer"]; m == nil || !m.Guest {
		t.Fatalf("freelancer membership %+v, want a guest", m)
	}

	// "Roles and Permissions".
	s.thenCheck("worker", "Create annotation", cats, Allowed)
	s.thenCheck("worker", "Rename a task", cats, Denied)
	s.thenCheck("worker", "Open an issue", cats, Conditional)
	s.thenCheckWith("worker", "Open an issue", cats, map[string]string{"task_type": "qa"}, Allowed)
	s.thenCheck("am", "Delete a task", cats, Conditional)
	s.thenCheckWith("am", "Delete a task", cats, map[string]string{"created_by": "am"}, Allowed)
	s.thenCheckWith("am", "Delete a task", cats, map[string]string{"created_by": "dev"}, Denied)
	s.thenCheck("am", "View Datasets", cats, Allowed)
	s.thenCheck("dev", "Delete a Project", cats, Denied)
	s.thenCheck("olga", "Add labeling company", cats, Allowed)

	// "Adding a labeling company": only a Project Owner; its admin is invited as Annotation Manager.
	s.when(&AddPartner{Meta: by("dev"), ProjectID: "cats", PartnerID: "lab", Name: "LabelCo", AdminEmail: "lea@lab.org"}).thenError(CodeForbidden)
	s.when(&AddPartner{Meta: by("olga"), ProjectID: "cats", PartnerID: "lab", Name: "LabelCo", AdminEmail: "lea@lab.org"}).
		thenTypes(EvPartnerAdded, EvInvitationCreated)
	leaInv := invitationID(t, s)
	s.when(&AcceptInvite{Meta: by("lea"), InvitationID: leaInv, ActorEmail: "lea@lab.org", ActorName: "Lea"}).
		thenEvents(&InvitationAccepted{InvitationID: leaInv, ProjectID: "cats", UserID: "lea", Email: "lea@lab.org", Name: "Lea"},
			&MemberAdded{Target: Target{ProjectID: "cats"}, Principal: Principal{UserID: "lea"}, Email: "lea@lab.org", Name: "Lea",
				Roles: []string{"annotation_manager"}, PartnerID: "lab", Guest: true, InvitationID: leaInv})
	s.when(&AddPartner{Meta: by("olga"), ProjectID: "cats", PartnerID: "other", AdminEmail: "oz@other.org"}).thenTypes(EvPartnerAdded, EvInvitationCreated)

	// "Adding Users from the Labeling Company": only Annotator or Annotation Manager, only into that company.
	s.when(&InviteMember{Meta: by("lea"), ProjectID: "cats", Email: "lou@lab.org", Role: "Annotator"}).
		thenTypes(EvInvitationCreated)
	if inv := s.org.Invitations[invitationID(t, s)]; inv.PartnerID != "lab" {
		t.Fatalf("lea's invitation is for partner %q, want lab", inv.PartnerID)
	}
	s.when(&AcceptInvite{Meta: by("lou"), InvitationID: invitationID(t, s), ActorEmail: "lou@lab.org"}).thenTypes(EvInvitationAccepted, EvMemberAdded)
	s.when(&InviteMember{Meta: by("lea"), ProjectID: "cats", Email: "lex@lab.org", Role: "Developer"}).thenError(CodeForbidden)
	s.when(&InviteMember{Meta: by("lea"), ProjectID: "cats", Email: "lex@lab.org", Role: "Annotator", PartnerID: "other"}).thenError(CodeForbidden)
	s.when(changeRole("lea", "cats", "lou", "Annotation Manager")).thenTypes(EvRoleChanged)
	s.when(changeRole("lea", "cats", "lou", "Developer")).thenError(CodeForbidden)
	// "They cannot view and are not aware of any other users to the project."
	s.when(changeRole("lea", "cats", "worker", "annotation_manager")).thenError(CodeForbidden)
	s.when(removeMember("lea", "cats", "dev")).thenError(CodeForbidden)

	// "You can also import users to the project" (CSV), each row with its own result.
	s.when(&ImportMembers{Meta: by("lea"), ProjectID: "cats", CSV: "email,user_id,name,roles,grants\n" +
		"la@lab.org,,La,Annotator,\n" +
		"lb@lab.org,,Lb,Annotation Manager,\n" +
		"lc@lab.org,,Lc,Developer,\n" +
		"not-an-email,,,Annotator,\n"}).
		thenTypes(EvInvitationCreated, EvInvitationCreated)
	rows := importRows(t, s)
	wantRows := []struct {
		ok   bool
		code Code
	}{{true, ""}, {true, ""}, {false, CodeForbidden}, {false, CodeInvalid}}
	if len(rows) != len(wantRows) {
		t.Fatalf("rows %+v", rows)
	}
	for i, w := range wantRows {
		if rows[i].Row != i+1 || rows[i].OK != w.ok || Code(rows[i].Code) != w.code || (w.ok && rows[i].InvitationID == "") {
			t.Errorf("row %d = %+v, want ok=%v code=%q", i+1, rows[i], w.ok, w.code)
		}
	}
	for _, ev := range s.out.Events {
		if inv := ev.(*InvitationCreated); inv.PartnerID != "lab" || inv.InvitedBy != "lea" {
			t.Errorf("imported invitation %+v, want partner lab by lea", inv)
		}
	}
	s.when(&ImportMembers{Meta: by("olga"), ProjectID: "cats", CSV: "email,user_id,name,roles,grants\n" +
		",worker2,,Annotator,\n" +
		"free2@lance.org,,Free,Annotator,\n" +
		",zed,,Annotator,\n" +
		",dev,,Developer,\n" +
		",worker2,,Wizard,\n"}).
		thenEvents(memberEv("cats", "worker2", "annotator"),
			&InvitationCreated{InvitationID: importRowsID(t, s, 1), ProjectID: "cats", Email: "free2@lance.org", Name: "Free",
				Roles: []string{"annotator"}, InvitedBy: "olga", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
	var codes []string
	for _, r := range importRows(t, s) {
		codes = append(codes, r.Code)
	}
	if !slices.Equal(codes, []string{"", "", string(CodePreconditionFailed), string(CodeConflict), string(CodeInvalid)}) {
		t.Fatalf("row codes %q", codes)
	}
	s.when(&ImportMembers{Meta: by("worker"), ProjectID: "cats", CSV: "email,user_id,name,roles,grants\n"}).thenError(CodeForbidden)

	// "Managing Users": change a role, remove a user.
	s.when(changeRole("olga", "cats", "worker", "Annotation Manager")).thenTypes(EvRoleChanged)
	s.when(removeMember("am", "cats", "worker")).thenEvents(removed("cats", "worker", "removed"))
	s.when(removeMember("worker2", "cats", "am")).thenError(CodeForbidden)
}

func importRowsID(t *testing.T, s *scenario, i int) string {
	t.Helper()
	rows := importRows(t, s)
	if i >= len(rows) {
		t.Fatalf("no row %d in %+v", i+1, rows)
	}
	return rows[i].InvitationID
}

// seeds/003: Neptune, "Team, Project and User Management".
func TestStoryNeptune(t *testing.T) {
	t.Run("individual organization", func(t *testing.T) {
		s := given(t)
		// "Each user is assigned individual organization with username as an organization name."
		s.when(&CreateOrganization{Meta: by("ana"), Name: "ana", Kind: KindIndividual, Preset: "neptune"}).
			thenEvents(recordingPreset(&OrganizationCreated{Name: "ana", Kind: KindIndividual, Preset: "neptune", AdminID: "ana", AdminRole: "admin"}))
		s.when(&CreateProject{Meta: by("ana"), ProjectID: "credit", Name: "Credit default prediction", Visibility: Public}).
			thenEvents(&ProjectCreated{ProjectID: "credit", Name: "Credit default prediction", Visibility: Public, CreatedBy: "ana"},
				&MemberAdded{Target: Target{ProjectID: "credit"}, Principal: Principal{UserID: "ana"}, Roles: []string{"owner"}})
		s.when(&CreateProject{Meta: by("ana"), ProjectID: "secret"}).thenTypes(EvProjectCreated, EvMemberAdded)
		// "The user is the only member of this organization but may invite collaborators to projects."
		s.when(&AddOrgMember{Meta: by("ana"), UserID: "bob"}).thenError(CodePreconditionFailed)
		s.when(&InviteMember{Meta: by("ana"), ProjectID: "secret", UserID: "bob", Role: "Contributor"}).thenError(CodePreconditionFailed)
		s.when(addMember("ana", "credit", "bob", "contributor")).thenError(CodePreconditionFailed)
		// "users are explicitly invited and have to accept the invitation before they are added."
		s.when(&InviteMember{Meta: by("ana"), ProjectID: "credit", Email: "bob@example.com", Role: "Contributor"}).thenTypes(EvInvitationCreated)
		inv := invitationID(t, s)
		s.thenCheck("bob", "Editing project content", inProject("credit"), Denied)
		s.when(&AcceptInvite{Meta: by("bob"), InvitationID: inv, ActorEmail: "bob@example.com"}).thenTypes(EvInvitationAccepted, EvMemberAdded)
		s.thenVia("bob", "Editing project content", inProject("credit"), ViaDirect)
		// Public projects are "freely available to view by everyone".
		s.thenVia("anyone", "Viewing project content", inProject("credit"), ViaPublic)
		s.thenCheck("anyone", "Viewing project content", inProject("secret"), Denied)
		// "Those users can leave the Projects that they joined at any time."
		s.when(&LeaveProject{Meta: by("bob"), ProjectID: "credit"}).thenEvents(removed("credit", "bob", "left"))
		s.thenCheck("bob", "Editing project content", inProject("credit"), Denied)
	})

	t.Run("team organization", func(t *testing.T) {
		s := given(t)
		s.when(&CreateOrganization{Meta: by("ana"), Name: "Acme", Kind: KindTeam, Preset: "neptune"}).thenTypes(EvOrganizationCreated)
		// "Invite Users to an Organization": pending until they join.
		s.when(&InviteMember{Meta: by("ana"), Email: "bob@example.com", Name: "Bob", Role: "Member"}).thenTypes(EvInvitationCreated)
		bobInv := invitationID(t, s)
		if st := s.org.Invitations[bobInv].Status; st != InvitePending {
			t.Fatalf("invitation is %s, want pending", st)
		}
		s.when(&AcceptInvite{Meta: by("bob"), InvitationID: bobInv, ActorEmail: "bob@example.com"}).
			thenEvents(&InvitationAccepted{InvitationID: bobInv, UserID: "bob", Email: "bob@example.com", Name: "Bob"},
				&OrgMemberAdded{UserID: "bob", Email: "bob@example.com", Name: "Bob", Role: "member", InvitationID: bobInv})
		// "In case of a team organization, as soon as a user is added, s(he) is listed automatically."
		s.when(&AddOrgMember{Meta: by("ana"), UserID: "carol", Email: emailOf("carol"), Name: "carol"}).thenEvents(orgMemberEv("carol", "member"))
		// Organization roles: only an Admin manages members and creates projects.
		s.when(&AddOrgMember{Meta: by("bob"), UserID: "dave"}).thenError(CodeForbidden)
		s.when(&CreateProject{Meta: by("bob"), ProjectID: "p1"}).thenError(CodeForbidden)
		s.when(&CreateProject{Meta: by("ana"), ProjectID: "p1"}).thenTypes(EvProjectCreated, EvMemberAdded)

		// "Add Users to a Project": only a project Owner; only organization members.
		s.when(addMember("ana", "p1", "bob", "Contributor")).thenTypes(EvMemberAdded)
		s.when(addMember("bob", "p1", "carol", "Viewer")).thenError(CodeForbidden)
		s.when(addMember("ana", "p1", "zed", "Viewer")).thenError(CodePreconditionFailed)
		s.when(&InviteMember{Meta: by("ana"), ProjectID: "p1", UserID: "carol", Role: "Viewer"}).thenTypes(EvInvitationCreated)
		s.when(&AcceptInvite{Meta: by("carol"), InvitationID: invitationID(t, s)}).thenTypes(EvInvitationAccepted, EvMemberAdded)
		s.thenCheck("carol", "Viewing project members", inProject("p1"), Allowed)
		s.thenCheck("bob", "Editing project members", inProject("p1"), Denied)
		s.thenCheck("bob", "Viewing or editing of project settings and properties", inProject("p1"), Denied)

		// "Project Owners can grant project ownership to anyone in the organization."
		s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "bob"}).
			thenEvents(&RoleChanged{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "bob"},
				Roles: []string{"contributor", "owner"}, PreviousRoles: []string{"contributor"}})
		s.when(addMember("bob", "p1", "carol", "Viewer")).thenError(CodeConflict)
		s.when(changeRole("bob", "p1", "carol", "Contributor")).thenTypes(EvRoleChanged)
		// "Project settings permissions refer to the definition of a project as private or public."
		s.when(&SetProjectVisibility{Meta: by("bob"), ProjectID: "p1", Visibility: Public}).thenTypes(EvProjectVisibilitySet)
		s.thenVia("stranger", "Viewing project content", inProject("p1"), ViaPublic)

		// "An Admin of an organization is also the Owner of all projects" and "the last remaining
		// Admin cannot be removed from the organization."
		s.when(removeMember("bob", "p1", "ana")).thenTypes(EvMemberRemoved)
		s.thenVia("ana", "Editing project members", inProject("p1"), ViaOrgAdmin)
		s.when(&RemoveOrgMember{Meta: by("ana"), UserID: "ana"}).thenError(CodePreconditionFailed)
		s.when(&ChangeOrgRole{Meta: by("ana"), UserID: "carol", Role: "Admin"}).thenTypes(EvOrgRoleChanged)
		s.when(&RemoveOrgMember{Meta: by("carol"), UserID: "ana"}).thenEvents(&OrgMemberRemoved{UserID: "ana"})
		// Removing a member takes them off every project.
		s.when(&RemoveOrgMember{Meta: by("carol"), UserID: "bob"}).
			thenEvents(removed("p1", "bob", "org_member_removed"), &OrgMemberRemoved{UserID: "bob"})
	})
}

// seeds/004: Aunsight, "Manage Project Membership".
func TestStoryAunsight(t *testing.T) {
	s := given(t)
	s.when(&CreateOrganization{Meta: by("ana"), Preset: "aunsight"}).thenTypes(EvOrganizationCreated)
	for _, u := range []string{"bob", "carol", "dave"} {
		s.when(&AddOrgMember{Meta: by("ana"), UserID: u, Email: emailOf(u), Name: u}).thenEvents(orgMemberEv(u, "member"))
	}
	// A member whose organization role lets him create projects; creators get no team management.
	s.when(&DefineRole{Meta: by("ana"), Role: "project_creator", Scope: ScopeOrg}).thenTypes(EvRoleDefined)
	s.when(&SetRolePermissions{Meta: by("ana"), Role: "project_creator", Permissions: []string{"AU-ORG:create-project"}}).thenTypes(EvRolePermissionsSet)
	s.when(&ChangeOrgRole{Meta: by("ana"), UserID: "carol", Role: "project_creator"}).thenTypes(EvOrgRoleChanged)
	s.when(&CreateProject{Meta: by("carol"), ProjectID: "sales"}).thenEvents(projectEv("sales", "carol"))
	s.when(&CreateProject{Meta: by("ana"), ProjectID: "ops"}).thenEvents(projectEv("ops", "ana"))
	s.thenCheck("carol", "AU-ORG:create-project-member", inProject("sales"), Denied)

	// "there are no roles defined yet": "Add Role" creates one with no permissions.
	for _, r := range s.org.Roles() {
		if r.Custom && r.Scope == ScopeProject {
			t.Fatalf("a new organization already has project role %s", r.ID)
		}
	}
	s.when(&DefineRole{Meta: by("ana"), Role: "team_manager", Label: "Project Team Manager", Description: "manages the team"}).
		thenEvents(&RoleDefined{Role: "team_manager", Label: "Project Team Manager", Description: "manages the team", Scope: ScopeProject})
	if perms := s.org.CustomRoles["team_manager"].Permissions; len(perms) != 0 {
		t.Fatalf("new role has permissions %v", perms)
	}
	// "Team Manager Permissions".
	s.when(&SetRolePermissions{Meta: by("ana"), Role: "team_manager", Permissions: teamManagerPerms}).
		thenEvents(&RolePermissionsSet{Role: "team_manager", Permissions: teamManagerPerms, Previous: []string{}})
	s.when(&DefineRole{Meta: by("ana"), Role: "viewer", Label: "Viewer"}).thenTypes(EvRoleDefined)
	s.when(&SetRolePermissions{Meta: by("ana"), Role: "viewer", Permissions: []string{"AU-ORG:view-any-project"}}).thenTypes(EvRolePermissionsSet)

	// "you can only select a member to add from the list of organization members."
	s.when(addMember("ana", "sales", "zed", "Project Team Manager")).thenError(CodePreconditionFailed)
	// "Add a Member to a Project" with the Project Team Manager role (and a second role: several per member).
	s.when(addMember("ana", "sales", "bob", "Project Team Manager", "Viewer")).
		thenEvents(memberEv("sales", "bob", "team_manager", "viewer"))
	s.thenVia("bob", "AU-ORG:view-any-project", inProject("sales"), ViaDirect)
	s.thenCheck("bob", "AU-ORG:view-any-project", inProject("ops"), Denied)

	// "Managing Project Handoff": bob manages members and roles of sales, not of ops.
	s.when(addMember("bob", "sales", "dave", "viewer")).thenEvents(memberEv("sales", "dave", "viewer"))
	s.when(changeRole("bob", "sales", "dave", "viewer", "team_manager")).thenTypes(EvRoleChanged)
	s.when(changeRole("bob", "sales", "dave", "viewer")).thenTypes(EvRoleChanged)
	s.when(removeMember("bob", "sales", "dave")).thenEvents(removed("sales", "dave", "removed"))
	s.when(addMember("bob", "ops", "dave", "viewer")).thenError(CodeForbidden)
	s.when(&DefineRole{Meta: by("bob"), Role: "analyst", ProjectID: "sales"}).thenTypes(EvRoleDefined)
	s.when(&SetRolePermissions{Meta: by("bob"), Role: "analyst", ProjectID: "sales", Permissions: []string{"AU-ORG:view-any-project"}}).thenTypes(EvRolePermissionsSet)
	s.when(&DefineRole{Meta: by("bob"), Role: "auditor", ProjectID: "ops"}).thenError(CodeForbidden)
	// Without project_id, the role belongs to the one project bob manages roles in.
	s.when(&DefineRole{Meta: by("bob"), Role: "auditor"}).
		thenEvents(&RoleDefined{Role: "auditor", Label: "auditor", Scope: ScopeProject, ProjectID: "sales"})
	// A project's team manager does not reach wider than the project: no organization roles,
	// no changes to organization-wide roles, and the project's roles are given only there.
	s.when(&DefineRole{Meta: by("bob"), Role: "orgish", Scope: ScopeOrg}).thenError(CodeInvalid)
	s.when(&SetRolePermissions{Meta: by("bob"), Role: "viewer", ProjectID: "sales", Permissions: []string{"AU-ORG:delete-any-member"}}).thenError(CodeForbidden)
	s.when(addMember("ana", "ops", "dave", "analyst")).thenError(CodeInvalid)

	// "If you wish to change this user's roles, check or uncheck the box": roles change; a held role stays.
	s.when(&DeleteRole{Meta: by("ana"), Role: "team_manager"}).thenError(CodePreconditionFailed)
	s.when(changeRole("ana", "sales", "bob", "viewer")).thenTypes(EvRoleChanged)
	s.when(&DeleteRole{Meta: by("ana"), Role: "team_manager"}).thenEvents(&RoleDeleted{Role: "team_manager"})
	s.thenCheck("bob", "AU-ORG:create-project-member", inProject("sales"), Denied)
}
