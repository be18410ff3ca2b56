package domain

import (
	"slices"
	"testing"
	"time"
)

// One test per rule of SPEC §2 (rule 14, idempotency, lives in the store, not here).

func addMember(actor, pid, user string, roles ...string) *AddMember {
	return &AddMember{Meta: by(actor), MemberRef: MemberRef{ProjectID: pid, UserID: user}, Roles: roles}
}

func addTrackMember(actor, pid, tid, user string, roles ...string) *AddMember {
	return &AddMember{Meta: by(actor), MemberRef: MemberRef{ProjectID: pid, TrackID: tid, UserID: user}, Roles: roles}
}

func changeRole(actor, pid, user string, roles ...string) *ChangeRole {
	return &ChangeRole{Meta: by(actor), MemberRef: MemberRef{ProjectID: pid, UserID: user}, Roles: roles}
}

func removeMember(actor, pid, user string) *RemoveMember {
	return &RemoveMember{Meta: by(actor), MemberRef: MemberRef{ProjectID: pid, UserID: user}}
}

func removed(pid, user, reason string) *MemberRemoved {
	return &MemberRemoved{Target: Target{ProjectID: pid}, Principal: Principal{UserID: user}, Reason: reason}
}

// ---- 1. Actor authorization ----

func TestRule1ActorAuthorizationNeptune(t *testing.T) {
	t.Run("the project Owner edits project members", func(t *testing.T) {
		given(t, neptuneTeam()).
			when(addMember("ana", "p1", "dave", "Viewer")).
			thenEvents(memberEv("p1", "dave", "viewer"))
	})
	t.Run("an Owner who is not an organization Admin edits project members too", func(t *testing.T) {
		given(t, neptuneTeam(), memberEv("p1", "dave", "owner")).
			when(changeRole("dave", "p1", "carol", "contributor")).
			thenEvents(&RoleChanged{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "carol"},
				Roles: []string{"contributor"}, PreviousRoles: []string{"viewer"}})
	})
	refusals := []struct {
		name string
		cmd  Command
	}{
		{"a Contributor cannot add a project member", addMember("bob", "p1", "dave", "viewer")},
		{"a Contributor cannot change a role", changeRole("bob", "p1", "carol", "contributor")},
		{"a Contributor cannot remove a member", removeMember("bob", "p1", "carol")},
		{"a Viewer cannot remove a member", removeMember("carol", "p1", "bob")},
		{"a Contributor cannot invite to the project", &InviteMember{Meta: by("bob"), ProjectID: "p1", UserID: "dave", Role: "viewer"}},
		{"a Contributor cannot make the project public", &SetProjectVisibility{Meta: by("bob"), ProjectID: "p1", Visibility: Public}},
		{"an organization Member outside the project cannot add members", addMember("dave", "p1", "dave", "owner")},
		{"a stranger cannot add members", addMember("zed", "p1", "dave", "viewer")},
		{"a Member cannot add organization members", &AddOrgMember{Meta: by("bob"), UserID: "zed"}},
		{"a Member cannot create projects", &CreateProject{Meta: by("bob"), ProjectID: "p2"}},
		{"a Member cannot delete projects", &DeleteProject{Meta: by("bob"), ProjectID: "p1"}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			given(t, neptuneTeam()).when(tc.cmd).thenError(CodeForbidden)
		})
	}
}

func TestRule1ActorAuthorizationDataloop(t *testing.T) {
	// "Add users": Annotation Manager, Developer and Owner allowed, Annotator forbidden.
	for _, actor := range []string{"olga", "dev", "am"} {
		t.Run(actor+" adds a user", func(t *testing.T) {
			given(t, dataloop()).
				when(addMember(actor, "p1", "zoe", "Annotator")).
				thenEvents(memberEv("p1", "zoe", "annotator"))
		})
	}
	t.Run("an Annotator cannot add users", func(t *testing.T) {
		given(t, dataloop()).when(addMember("ann", "p1", "zoe", "annotator")).thenError(CodeForbidden)
	})
	t.Run("only the Owner deletes the project", func(t *testing.T) {
		given(t, dataloop()).when(&DeleteProject{Meta: by("dev"), ProjectID: "p1"}).thenError(CodeForbidden)
		given(t, dataloop()).when(&DeleteProject{Meta: by("olga"), ProjectID: "p1"}).
			thenEvents(&ProjectDeleted{ProjectID: "p1"})
	})
	t.Run("a Developer renames the project, an Annotation Manager cannot", func(t *testing.T) {
		given(t, dataloop()).when(&RenameProject{Meta: by("dev"), ProjectID: "p1", Name: "Cats"}).
			thenEvents(&ProjectRenamed{ProjectID: "p1", Name: "Cats"})
		given(t, dataloop()).when(&RenameProject{Meta: by("am"), ProjectID: "p1", Name: "Cats"}).thenError(CodeForbidden)
	})
}

func TestRule1ActorAuthorizationAllonia(t *testing.T) {
	t.Run("Tenant Admin and Project Manager manage roles in a project", func(t *testing.T) {
		for _, actor := range []string{"ana", "paul"} {
			given(t, allonia()).
				when(addMember(actor, "p1", "eve", "Project Manager")).
				thenEvents(memberEv("p1", "eve", "project_manager"))
		}
	})
	t.Run("a Track Leader does not manage roles in the project", func(t *testing.T) {
		given(t, allonia()).when(addMember("tom", "p1", "eve", "project_manager")).thenError(CodeForbidden)
	})
	t.Run("a Track Leader manages roles in the track", func(t *testing.T) {
		given(t, allonia()).
			when(addTrackMember("tom", "p1", "t1", "eve", "Data scientist / Data engineer")).
			thenEvents(trackMemberEv("p1", "t1", "eve", "data_scientist"))
	})
	t.Run("a Data scientist does not manage roles in the track", func(t *testing.T) {
		given(t, allonia()).when(addTrackMember("dan", "p1", "t1", "eve", "ml_ops")).thenError(CodeForbidden)
	})
	t.Run("only the Tenant Admin adds users to the tenant and creates projects", func(t *testing.T) {
		given(t, allonia()).when(&AddOrgMember{Meta: by("paul"), UserID: "zed"}).thenError(CodeForbidden)
		given(t, allonia()).when(&CreateProject{Meta: by("paul"), ProjectID: "p2"}).thenError(CodeForbidden)
		given(t, allonia()).when(&AddOrgMember{Meta: by("ana"), UserID: "zed", Email: "zed@example.com", Name: "Zed"}).
			thenEvents(&OrgMemberAdded{UserID: "zed", Email: "zed@example.com", Name: "Zed", Role: "member"})
	})
	t.Run("Add new track: Tenant Admin and Project Manager, not Track Leader", func(t *testing.T) {
		given(t, allonia()).when(&CreateTrack{Meta: by("tom"), ProjectID: "p1", TrackID: "t3"}).thenError(CodeForbidden)
		given(t, allonia()).when(&CreateTrack{Meta: by("paul"), ProjectID: "p1", TrackID: "t3", Name: "Serving", Compute: "cpu-4", NotebookEnv: "python"}).
			thenEvents(&TrackCreated{ProjectID: "p1", TrackID: "t3", Name: "Serving", Compute: "cpu-4", NotebookEnv: "python"},
				trackMemberEv("p1", "t3", "paul", "track_leader"))
	})
}

func TestRule1ActorAuthorizationICAAndAunsight(t *testing.T) {
	t.Run("ICA: a project Administrator manages the team, a Contributor does not", func(t *testing.T) {
		s := given(t, ica(), memberEv("p1", "carol", "project_administrator"), memberEv("p1", "dave", "project_contributor"))
		s.when(addMember("dave", "p1", "ana", "project_viewer")).thenError(CodeForbidden)
		s.when(addMember("carol", "p1", "ana", "Project Viewer")).thenEvents(memberEv("p1", "ana", "project_viewer"))
	})
	t.Run("Aunsight: a member without AU-ORG:create-project cannot create a project", func(t *testing.T) {
		given(t, aunsight()).when(&CreateProject{Meta: by("bob"), ProjectID: "p3"}).thenError(CodeForbidden)
	})
}

// ---- 2. Last admin / last owner ----

func TestRule2LastAdmin(t *testing.T) {
	for _, preset := range allPresetIDs() {
		admin := kitPresets[preset].OrgAdminRole
		member := kitPresets[preset].OrgMemberRole
		t.Run(preset, func(t *testing.T) {
			given(t, historyOf(preset)).
				when(&RemoveOrgMember{Meta: by("ana"), UserID: "ana"}).
				thenError(CodePreconditionFailed)
			given(t, historyOf(preset)).
				when(&ChangeOrgRole{Meta: by("ana"), UserID: "ana", Role: member}).
				thenError(CodePreconditionFailed)
			// With a second admin, ana may step down.
			given(t, historyOf(preset), orgMemberEv("zed", admin)).
				when(&ChangeOrgRole{Meta: by("ana"), UserID: "ana", Role: member}).
				thenEvents(&OrgRoleChanged{UserID: "ana", Role: member, PreviousRole: admin})
		})
	}
	t.Run("neptune individual: the only member stays Admin", func(t *testing.T) {
		given(t, neptuneIndividual()).
			when(&ChangeOrgRole{Meta: by("ana"), UserID: "ana", Role: "member"}).
			thenError(CodePreconditionFailed)
	})
}

func TestRule2LastOwnerDataloop(t *testing.T) {
	// Dataloop's organization Admin does not own projects: olga is p1's only Owner.
	refusals := []struct {
		name string
		cmd  Command
	}{
		{"remove the last owner", removeMember("olga", "p1", "olga")},
		{"demote the last owner", changeRole("olga", "p1", "olga", "developer")},
		{"the last owner leaves", &LeaveProject{Meta: by("olga"), ProjectID: "p1"}},
		{"remove the last owner from the organization", &RemoveOrgMember{Meta: by("ana"), UserID: "olga"}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			given(t, dataloop()).when(tc.cmd).thenError(CodePreconditionFailed)
		})
	}
	t.Run("with a second owner the first may leave", func(t *testing.T) {
		given(t, dataloop(), memberEv("p1", "zoe", "owner")).
			when(&LeaveProject{Meta: by("olga"), ProjectID: "p1"}).
			thenEvents(removed("p1", "olga", "left"))
	})
	t.Run("a workgroup's last member is the last owner", func(t *testing.T) {
		s := given(t, dataloop(), projectEv("p2", "olga"), workgroupEv("wg"), inGroupEv("wg", "zoe"), groupOnProjectEv("p2", "wg", "owner"))
		s.when(&RemoveWorkgroupMember{Meta: by("ana"), GroupID: "wg", UserID: "zoe"}).thenError(CodePreconditionFailed)
		s.when(&RemoveOrgMember{Meta: by("ana"), UserID: "zoe"}).thenError(CodePreconditionFailed)
	})
	t.Run("an archived project keeps its last owner too", func(t *testing.T) {
		// Otherwise it could never be unarchived (only an Owner may) and would come back ownerless.
		given(t, dataloop(), archivedEv("p1")).
			when(&RemoveOrgMember{Meta: by("ana"), UserID: "olga"}).
			thenError(CodePreconditionFailed)
	})
}

func TestRule2OwnersWhereAdminsOwnProjects(t *testing.T) {
	// Neptune: organization admins own every project, so a project's direct owner may leave.
	// (ICA too has tenant administrators owning every project, but its projects have one owner,
	// changed only by transfer: seeds/001 "To change the project owner, select the Edit project
	// owner button at the top right and select the new project owner". See TestSeedICAOwner.)
	given(t, ica()).
		when(&LeaveProject{Meta: by("bob"), ProjectID: "p1"}).
		thenError(CodePreconditionFailed)
	given(t, neptuneTeam()).
		when(removeMember("ana", "p1", "ana")).
		thenEvents(removed("p1", "ana", "removed"))
}

// ---- 3. Organization first; cascade on removal ----

func TestRule3OrganizationFirst(t *testing.T) {
	t.Run("neptune: only organization members join projects of a team organization", func(t *testing.T) {
		given(t, neptuneTeam()).when(addMember("ana", "p1", "zed", "viewer")).thenError(CodePreconditionFailed)
		given(t, neptuneTeam()).
			when(&InviteMember{Meta: by("ana"), ProjectID: "p1", Email: "zed@elsewhere.org", Role: "viewer"}).
			thenError(CodePreconditionFailed)
	})
	t.Run("neptune: an invitation by e-mail finds the organization member", func(t *testing.T) {
		given(t, neptuneTeam()).
			when(&InviteMember{Meta: by("ana"), ProjectID: "p1", Email: emailOf("dave"), Role: "viewer"}).
			thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: emailOf("dave"), UserID: "dave",
				Roles: []string{"viewer"}, InvitedBy: "ana", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
	})
	t.Run("allonia: users are added to the organization before a track", func(t *testing.T) {
		given(t, allonia()).when(addTrackMember("tom", "p1", "t1", "zed", "data_scientist")).thenError(CodePreconditionFailed)
	})
	t.Run("aunsight: organization membership before project membership", func(t *testing.T) {
		given(t, aunsight(), roleDefinedEv("viewer", "AU-ORG:view-any-project")).
			when(addMember("ana", "p1", "zed", "viewer")).thenError(CodePreconditionFailed)
	})
	for _, preset := range []string{"ica", "dataloop"} {
		owner := map[string]string{"ica": "bob", "dataloop": "olga"}[preset]
		role := map[string]string{"ica": "project_viewer", "dataloop": "annotator"}[preset]
		t.Run(preset+": outside guests only by e-mail invitation", func(t *testing.T) {
			given(t, historyOf(preset)).when(addMember(owner, "p1", "zed", role)).thenError(CodePreconditionFailed)
			s := given(t, historyOf(preset))
			s.when(&InviteMember{Meta: by(owner), ProjectID: "p1", Email: "zed@freelance.org", Role: role}).
				thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: "zed@freelance.org",
					Roles: []string{role}, InvitedBy: owner, ExpiresAt: kitNow.Add(DefaultInviteTTL)})
			s.when(&AcceptInvite{Meta: by("zed"), InvitationID: "inv-1", ActorEmail: "zed@freelance.org"}).
				thenEvents(&InvitationAccepted{InvitationID: "inv-1", ProjectID: "p1", UserID: "zed", Email: "zed@freelance.org"},
					&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "zed"}, Email: "zed@freelance.org",
						Roles: []string{role}, Guest: true, InvitationID: "inv-1"})
		})
	}
}

func TestRule3RemovalCascades(t *testing.T) {
	t.Run("neptune: out of every project, workgroup and pending invitation", func(t *testing.T) {
		s := given(t, neptuneTeam(),
			projectEv("p2", "ana"), memberEv("p2", "bob", "viewer"),
			workgroupEv("g1"), inGroupEv("g1", "bob"),
			projectEv("p3", "ana"), invitedEv("inv-9", "p3", "", "bob", "ana", "viewer"))
		s.when(&RemoveOrgMember{Meta: by("ana"), UserID: "bob"}).
			thenEvents(
				removed("p1", "bob", "org_member_removed"),
				removed("p2", "bob", "org_member_removed"),
				&WorkgroupMemberRemoved{GroupID: "g1", UserID: "bob"},
				&InvitationRevoked{InvitationID: "inv-9", ProjectID: "p3", Reason: "org_member_removed"},
				&OrgMemberRemoved{UserID: "bob"})
		s.thenCheck("bob", "project.content.view", inProject("p1"), Denied)
		if got := s.org.Invitations["inv-9"].Status; got != InviteRevoked {
			t.Fatalf("invitation status %s, want revoked", got)
		}
	})
	t.Run("allonia: out of the project and its tracks", func(t *testing.T) {
		given(t, allonia(), trackMemberEv("p1", "t2", "paul", "data_scientist")).
			when(&RemoveOrgMember{Meta: by("ana"), UserID: "paul"}).
			thenEvents(
				removed("p1", "paul", "org_member_removed"),
				&MemberRemoved{Target: Target{ProjectID: "p1", TrackID: "t2"}, Principal: Principal{UserID: "paul"}, Reason: "org_member_removed"},
				&OrgMemberRemoved{UserID: "paul"}).
			thenCheck("paul", "project.view", inTrack("p1", "t2"), Denied)
	})
	t.Run("a member who cannot manage members cannot remove", func(t *testing.T) {
		given(t, neptuneTeam()).when(&RemoveOrgMember{Meta: by("bob"), UserID: "carol"}).thenError(CodeForbidden)
	})
	t.Run("removing a non-member", func(t *testing.T) {
		given(t, neptuneTeam()).when(&RemoveOrgMember{Meta: by("ana"), UserID: "zed"}).thenError(CodeNotFound)
	})
}

// ---- 4. Individual organizations ----

func TestRule4IndividualOrganizations(t *testing.T) {
	t.Run("one member: nobody is added to the organization", func(t *testing.T) {
		given(t, neptuneIndividual()).when(&AddOrgMember{Meta: by("ana"), UserID: "bob"}).thenError(CodePreconditionFailed)
		given(t, neptuneIndividual()).when(&InviteMember{Meta: by("ana"), Email: emailOf("bob")}).thenError(CodePreconditionFailed)
	})
	t.Run("others are not added directly, even to a public project", func(t *testing.T) {
		given(t, neptuneIndividual()).when(addMember("ana", "pub", "bob", "contributor")).thenError(CodePreconditionFailed)
	})
	t.Run("private projects take no invited users", func(t *testing.T) {
		given(t, neptuneIndividual()).
			when(&InviteMember{Meta: by("ana"), ProjectID: "priv", UserID: "bob", Role: "contributor"}).
			thenError(CodePreconditionFailed)
	})
	t.Run("invited to a public project, accepted, then left", func(t *testing.T) {
		s := given(t, neptuneIndividual())
		s.when(&InviteMember{Meta: by("ana"), ProjectID: "pub", UserID: "bob", Role: "Contributor"}).
			thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "pub", UserID: "bob", Roles: []string{"contributor"},
				InvitedBy: "ana", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
		s.when(&AcceptInvite{Meta: by("bob"), InvitationID: "inv-1", ActorEmail: emailOf("bob"), ActorName: "Bob"}).
			thenEvents(&InvitationAccepted{InvitationID: "inv-1", ProjectID: "pub", UserID: "bob", Email: emailOf("bob"), Name: "Bob"},
				&MemberAdded{Target: Target{ProjectID: "pub"}, Principal: Principal{UserID: "bob"}, Email: emailOf("bob"), Name: "Bob",
					Roles: []string{"contributor"}, Guest: true, InvitationID: "inv-1"})
		s.thenVia("bob", "project.content.edit", inProject("pub"), ViaDirect)
		s.thenCheck("bob", "project.content.view", inProject("priv"), Denied)
		s.when(&LeaveProject{Meta: by("bob"), ProjectID: "pub"}).thenEvents(removed("pub", "bob", "left"))
		s.thenCheck("bob", "project.content.edit", inProject("pub"), Denied)
		s.thenVia("bob", "project.content.view", inProject("pub"), ViaPublic)
		s.when(&LeaveProject{Meta: by("bob"), ProjectID: "pub"}).thenError(CodeNotFound)
	})
	t.Run("presets without individual organizations refuse the kind", func(t *testing.T) {
		given(t).when(&CreateOrganization{Meta: by("ana"), Kind: KindIndividual, Preset: "allonia"}).thenError(CodeInvalid)
	})
}

// ---- 5. Org admins own projects ----

func TestRule5OrgAdminsOwnProjects(t *testing.T) {
	t.Run("neptune: an Admin is Owner of every project", func(t *testing.T) {
		s := given(t, neptuneTeam(), projectEv("p2", "ana"))
		s.thenVia("ana", "project.members.edit", inProject("p2"), ViaOrgAdmin)
		s.when(addMember("ana", "p2", "bob", "viewer")).thenEvents(memberEv("p2", "bob", "viewer"))
	})
	t.Run("allonia: the Tenant Admin owns every track", func(t *testing.T) {
		given(t, allonia()).thenVia("ana", "track.roles.manage", inTrack("p1", "t2"), ViaOrgAdmin)
		given(t, allonia()).
			when(changeRole("ana", "p1", "paul", "project_manager")).
			thenError(CodeConflict)
	})
	t.Run("ica: the tenant administrator owns projects he is not in", func(t *testing.T) {
		s := given(t, ica())
		s.thenVia("ana", "data.delete", inProject("p1"), ViaOrgAdmin)
		s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "carol"}).
			thenEvents(memberEv("p1", "carol", "owner"),
				&RoleChanged{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "bob"},
					Roles: []string{"project_administrator"}, PreviousRoles: []string{"owner"}})
	})
	t.Run("dataloop: the organization Admin does not own projects", func(t *testing.T) {
		s := given(t, dataloop())
		s.thenCheck("ana", "dataset.delete", inProject("p1"), Denied)
		s.when(addMember("ana", "p1", "zoe", "annotator")).thenError(CodeForbidden)
	})
	t.Run("aunsight: the Organization Admin's permissions reach projects by inheritance", func(t *testing.T) {
		given(t, aunsight()).thenVia("ana", "AU-ORG:create-project-member", inProject("p1"), ViaInherited)
	})
}

// ---- 6. Creator role; Allonia's first track ----

func TestRule6CreatorRole(t *testing.T) {
	cases := []struct {
		preset, creator string
		want            []Event
	}{
		{"neptune", "ana", []Event{projectEv("p9", "ana"), memberEv("p9", "ana", "owner")}},
		{"dataloop", "olga", []Event{projectEv("p9", "olga"), memberEv("p9", "olga", "owner")}},
		{"ica", "bob", []Event{projectEv("p9", "bob"), memberEv("p9", "bob", "owner")}},
		{"aunsight", "ana", []Event{projectEv("p9", "ana")}},
		{"custom", "ana", []Event{projectEv("p9", "ana")}},
		{"allonia", "ana", []Event{projectEv("p9", "ana"), memberEv("p9", "ana", "project_manager"),
			trackEv("p9", "p9-track-1"), trackMemberEv("p9", "p9-track-1", "ana", "track_leader")}},
	}
	for _, tc := range cases {
		t.Run(tc.preset, func(t *testing.T) {
			given(t, historyOf(tc.preset)).
				when(&CreateProject{Meta: by(tc.creator), ProjectID: "p9"}).
				thenEvents(tc.want...)
		})
	}
	t.Run("allonia: the first track is configured with the project", func(t *testing.T) {
		given(t, allonia()).
			when(&CreateProject{Meta: by("ana"), ProjectID: "churn", Name: "Churn",
				Track: &TrackSpec{TrackID: "ingest", Name: "Ingestion", Compute: "gpu-small", NotebookEnv: "python-3.12"}}).
			thenEvents(
				&ProjectCreated{ProjectID: "churn", Name: "Churn", Visibility: Private, CreatedBy: "ana"},
				memberEv("churn", "ana", "project_manager"),
				&TrackCreated{ProjectID: "churn", TrackID: "ingest", Name: "Ingestion", Compute: "gpu-small", NotebookEnv: "python-3.12"},
				trackMemberEv("churn", "ingest", "ana", "track_leader"))
	})
	t.Run("a track in a preset without tracks", func(t *testing.T) {
		given(t, neptuneTeam()).
			when(&CreateProject{Meta: by("ana"), ProjectID: "p9", Track: &TrackSpec{Name: "x"}}).
			thenError(CodeInvalid)
		given(t, neptuneTeam()).
			when(&CreateTrack{Meta: by("ana"), ProjectID: "p1", TrackID: "t1"}).
			thenError(CodeInvalid)
	})
	t.Run("an existing project id", func(t *testing.T) {
		given(t, neptuneTeam()).when(&CreateProject{Meta: by("ana"), ProjectID: "p1"}).thenError(CodeConflict)
	})
}

// ---- 8. ICA: one role per category ----

func TestRule8OneRolePerCategory(t *testing.T) {
	t.Run("one role in each category", func(t *testing.T) {
		given(t, ica()).
			when(addMember("bob", "p1", "dave", "Project Contributor", "Flow Viewer", "Base Contributor", "Bench Administrator")).
			thenEvents(memberEv("p1", "dave", "project_contributor", "flow_viewer", "base_contributor", "bench_administrator"))
	})
	t.Run("two roles of the same category", func(t *testing.T) {
		given(t, ica()).
			when(addMember("bob", "p1", "dave", "Project Viewer", "Project Contributor")).
			thenError(CodePreconditionFailed)
		given(t, ica(), memberEv("p1", "dave", "project_viewer")).
			when(changeRole("bob", "p1", "dave", "flow_viewer", "flow_contributor")).
			thenError(CodePreconditionFailed)
		given(t, ica()).
			when(&InviteMember{Meta: by("bob"), ProjectID: "p1", Email: "zed@lab.org", Roles: []string{"bench_contributor", "bench_administrator"}}).
			thenError(CodePreconditionFailed)
	})
	t.Run("changing a category's role replaces it", func(t *testing.T) {
		given(t, ica(), memberEv("p1", "dave", "project_viewer", "flow_viewer")).
			when(changeRole("bob", "p1", "dave", "project_administrator", "flow_viewer")).
			thenEvents(&RoleChanged{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"},
				Roles: []string{"project_administrator", "flow_viewer"}, PreviousRoles: []string{"project_viewer", "flow_viewer"}})
	})
}

// ---- 9. Archived and deleted projects ----

func TestRule9ArchivedIsReadOnly(t *testing.T) {
	t.Run("archive", func(t *testing.T) {
		given(t, neptuneTeam()).when(&ArchiveProject{Meta: by("bob"), ProjectID: "p1"}).thenError(CodeForbidden)
		given(t, neptuneTeam()).when(&ArchiveProject{Meta: by("ana"), ProjectID: "p1"}).
			thenEvents(&ProjectArchived{ProjectID: "p1"})
	})
	t.Run("checks: mutating permissions denied, view permissions kept", func(t *testing.T) {
		s := given(t, neptuneTeam(), archivedEv("p1"))
		s.thenCheck("ana", "project.content.edit", inProject("p1"), Denied)
		s.thenCheck("ana", "project.members.edit", inProject("p1"), Denied)
		s.thenCheck("bob", "project.content.edit", inProject("p1"), Denied)
		s.thenCheck("carol", "project.content.view", inProject("p1"), Allowed)
		s.thenCheck("bob", "project.members.view", inProject("p1"), Allowed)
		if who, _ := s.org.WhoCan("project.members.edit", inProject("p1")); len(who) != 0 {
			t.Fatalf("WhoCan(project.members.edit) on an archived project = %v, want nobody", who)
		}
	})
	refusals := []struct {
		name string
		cmd  Command
	}{
		{"add a member", addMember("ana", "p1", "dave", "viewer")},
		{"change a role", changeRole("ana", "p1", "bob", "viewer")},
		{"remove a member", removeMember("ana", "p1", "bob")},
		{"invite", &InviteMember{Meta: by("ana"), ProjectID: "p1", UserID: "dave", Role: "viewer"}},
		{"rename", &RenameProject{Meta: by("ana"), ProjectID: "p1", Name: "x"}},
		{"make public", &SetProjectVisibility{Meta: by("ana"), ProjectID: "p1", Visibility: Public}},
		{"transfer ownership", &TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "dave"}},
		{"archive again", &ArchiveProject{Meta: by("ana"), ProjectID: "p1"}},
		{"leave", &LeaveProject{Meta: by("bob"), ProjectID: "p1"}},
		{"import", &ImportMembers{Meta: by("ana"), ProjectID: "p1", CSV: "email,user_id,name,roles,grants\n,dave,,viewer,\n"}},
		{"revoke an invitation", &RevokeInvite{Meta: by("ana"), InvitationID: "inv-7"}},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			given(t, neptuneTeam(), invitedEv("inv-7", "p1", "", "dave", "ana", "viewer"), archivedEv("p1")).
				when(tc.cmd).thenError(CodePreconditionFailed)
		})
	}
	t.Run("refused: accepting an invitation to it", func(t *testing.T) {
		given(t, neptuneTeam(), invitedEv("inv-7", "p1", "", "dave", "ana", "viewer"), archivedEv("p1")).
			when(&AcceptInvite{Meta: by("dave"), InvitationID: "inv-7"}).thenError(CodePreconditionFailed)
	})
	t.Run("allonia: no track is created or configured", func(t *testing.T) {
		given(t, allonia(), archivedEv("p1")).when(&CreateTrack{Meta: by("ana"), ProjectID: "p1", TrackID: "t3"}).thenError(CodePreconditionFailed)
		given(t, allonia(), archivedEv("p1")).when(&ConfigureTrack{Meta: by("ana"), ProjectID: "p1", TrackID: "t1", Compute: "gpu"}).thenError(CodePreconditionFailed)
		given(t, allonia(), archivedEv("p1")).when(addTrackMember("tom", "p1", "t1", "eve", "ml_ops")).thenError(CodePreconditionFailed)
		given(t, allonia(), archivedEv("p1")).thenCheck("dan", "factory.access", inTrack("p1", "t1"), Allowed)
	})
	t.Run("an unauthorized actor is still told forbidden", func(t *testing.T) {
		given(t, neptuneTeam(), archivedEv("p1")).when(addMember("bob", "p1", "dave", "viewer")).thenError(CodeForbidden)
	})
}

func TestRule9UnarchiveOnlyByThoseWhoMayArchive(t *testing.T) {
	cases := []struct {
		preset, archiver, other string
	}{
		{"neptune", "ana", "bob"},   // Owner (project settings) vs Contributor
		{"dataloop", "olga", "dev"}, // Owner (Delete a Project) vs Developer
		{"allonia", "paul", "tom"},  // Project Manager vs Track Leader
		{"ica", "bob", "carol"},     // Owner vs a workgroup member outside the project
		{"aunsight", "ana", "bob"},  // Organization Admin vs Member
		{"custom", "ana", "bob"},    // Admin vs member
	}
	for _, tc := range cases {
		t.Run(tc.preset, func(t *testing.T) {
			given(t, historyOf(tc.preset)).when(&ArchiveProject{Meta: by(tc.other), ProjectID: "p1"}).thenError(CodeForbidden)
			s := given(t, historyOf(tc.preset))
			s.when(&ArchiveProject{Meta: by(tc.archiver), ProjectID: "p1"}).thenEvents(&ProjectArchived{ProjectID: "p1"})
			s.when(&UnarchiveProject{Meta: by(tc.other), ProjectID: "p1"}).thenError(CodeForbidden)
			s.when(&UnarchiveProject{Meta: by(tc.archiver), ProjectID: "p1"}).thenEvents(&ProjectUnarchived{ProjectID: "p1"})
			s.when(&UnarchiveProject{Meta: by(tc.archiver), ProjectID: "p1"}).thenError(CodePreconditionFailed)
		})
	}
}

func TestRule9DeletedDeniesEverything(t *testing.T) {
	s := given(t, neptuneTeam(), invitedEv("inv-7", "p1", "", "dave", "ana", "viewer"), deletedEv("p1"))
	s.thenCheck("ana", "project.content.view", inProject("p1"), Denied)
	s.thenCheck("carol", "project.members.view", inProject("p1"), Denied)
	if got := s.org.RolesAt("ana", inProject("p1")); len(got) != 0 {
		t.Fatalf("RolesAt on a deleted project = %v, want none", got)
	}
	for _, cmd := range []Command{
		addMember("ana", "p1", "dave", "viewer"),
		removeMember("ana", "p1", "bob"),
		&RenameProject{Meta: by("ana"), ProjectID: "p1", Name: "x"},
		&ArchiveProject{Meta: by("ana"), ProjectID: "p1"},
		&UnarchiveProject{Meta: by("ana"), ProjectID: "p1"},
		&DeleteProject{Meta: by("ana"), ProjectID: "p1"},
		&LeaveProject{Meta: by("bob"), ProjectID: "p1"},
		&RevokeInvite{Meta: by("ana"), InvitationID: "inv-7"},
		&AcceptInvite{Meta: by("dave"), InvitationID: "inv-7"},
	} {
		s.when(cmd).thenError(CodePreconditionFailed)
	}
}

// ---- 10. Partners ----

func TestRule10Partners(t *testing.T) {
	t.Run("only the project Owner adds a labeling company; its admin is invited as Annotation Manager", func(t *testing.T) {
		given(t, dataloop()).when(&AddPartner{Meta: by("dev"), ProjectID: "p1", PartnerID: "lab", AdminEmail: emailOf("lea")}).thenError(CodeForbidden)
		given(t, dataloop()).when(&AddPartner{Meta: by("am"), ProjectID: "p1", PartnerID: "lab", AdminEmail: emailOf("lea")}).thenError(CodeForbidden)
		given(t, dataloop()).when(&AddPartner{Meta: by("olga"), ProjectID: "p1", PartnerID: "lab", Name: "Lab", AdminEmail: emailOf("lea")}).
			thenEvents(&PartnerAdded{ProjectID: "p1", PartnerID: "lab", Name: "Lab", AdminEmail: emailOf("lea")},
				&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: emailOf("lea"), Roles: []string{"annotation_manager"},
					PartnerID: "lab", InvitedBy: "olga", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
	})
	t.Run("presets without partners", func(t *testing.T) {
		given(t, neptuneTeam()).when(&AddPartner{Meta: by("ana"), ProjectID: "p1", PartnerID: "lab", AdminEmail: emailOf("lea")}).thenError(CodeInvalid)
	})
	t.Run("a partner's annotation manager invites into its own partner as Annotator or Annotation Manager", func(t *testing.T) {
		given(t, dataloopWithPartner()).
			when(&InviteMember{Meta: by("lea"), ProjectID: "p1", Email: "lou@lab.org", Role: "Annotator"}).
			thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: "lou@lab.org", Roles: []string{"annotator"},
				PartnerID: "lab", InvitedBy: "lea", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
	})
	refusals := []struct {
		name string
		cmd  Command
	}{
		{"as a Developer", &InviteMember{Meta: by("lea"), ProjectID: "p1", Email: "lou@lab.org", Role: "Developer"}},
		{"into another partner", &InviteMember{Meta: by("lea"), ProjectID: "p1", Email: "lou@lab.org", Role: "annotator", PartnerID: "other"}},
		{"promote its annotator to Developer", changeRole("lea", "p1", "leo", "developer")},
		{"change the role of a member outside the partner", changeRole("lea", "p1", "ann", "annotation_manager")},
		{"remove the project owner", removeMember("lea", "p1", "olga")},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			given(t, dataloopWithPartner()).when(tc.cmd).thenError(CodeForbidden)
		})
	}
	t.Run("refused: a direct grant beyond the partner's roles", func(t *testing.T) {
		given(t, dataloopWithPartner()).
			when(&SetMemberGrants{Meta: by("lea"), MemberRef: MemberRef{ProjectID: "p1", UserID: "lea"}, Grants: []string{"project.delete"}}).
			thenError(CodeInvalid)
	})
	t.Run("a partner's annotation manager removes its own annotator", func(t *testing.T) {
		given(t, dataloopWithPartner()).when(removeMember("lea", "p1", "leo")).thenEvents(removed("p1", "leo", "removed"))
	})
	t.Run("an unknown partner", func(t *testing.T) {
		given(t, dataloop()).
			when(&InviteMember{Meta: by("olga"), ProjectID: "p1", Email: "lou@lab.org", Role: "annotator", PartnerID: "nope"}).
			thenError(CodeNotFound)
	})
}

// ---- 11. Dataloop conditional grants ----

func TestRule11ConditionalGrants(t *testing.T) {
	s := given(t, dataloop())
	p1 := inProject("p1")
	t.Run("Delete a task: an Annotation Manager only for tasks they created", func(t *testing.T) {
		d := s.thenCheck("am", "Delete a task", p1, Conditional)
		if len(d.Via) != 1 || d.Via[0].Condition != "created_by" {
			t.Fatalf("conditional via %+v, want one naming created_by", d.Via)
		}
		s.thenCheckWith("am", "task.delete", p1, map[string]string{"created_by": "am"}, Allowed)
		s.thenCheckWith("am", "task.delete", p1, map[string]string{"created_by": "olga"}, Denied)
		s.thenCheck("dev", "task.delete", p1, Allowed)
		s.thenCheck("ann", "task.delete", p1, Denied)
	})
	t.Run("Open an issue: an Annotator only on QA tasks", func(t *testing.T) {
		s.thenCheck("ann", "Open an issue", p1, Conditional)
		s.thenCheckWith("ann", "issue.open", p1, map[string]string{"created_by": "ann"}, Conditional)
		s.thenCheckWith("ann", "issue.open", p1, map[string]string{"task_type": "qa"}, Allowed)
		s.thenCheckWith("ann", "issue.open", p1, map[string]string{"task_type": "annotation"}, Denied)
		s.thenCheck("am", "issue.open", p1, Allowed)
	})
	t.Run("Permissions and WhoCan keep conditional grants apart", func(t *testing.T) {
		allowed, conditional, err := s.org.Permissions("am", p1)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(allowed, "task.delete") || !slices.Equal(conditional, []string{"task.delete"}) {
			t.Fatalf("Permissions(am) conditional = %v (allowed %v), want [task.delete] apart", conditional, allowed)
		}
		who, err := s.org.WhoCan("task.delete", p1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(who, []string{"dev", "olga"}) {
			t.Fatalf("WhoCan(task.delete) = %v, want [dev olga]", who)
		}
	})
}

// ---- 12. Invitations ----

func icaInvitations() []Event {
	return append(ica(),
		invitedEv("inv-1", "p1", "zed@lab.org", "", "bob", "project_viewer"),
		invitedEv("inv-2", "p1", "", "dave", "bob", "project_contributor"),
		invitedEv("inv-3", "p1", "yan@lab.org", "", "bob", "project_viewer"))
}

func TestRule12OnlyTheInviteeAnswers(t *testing.T) {
	s := given(t, icaInvitations())
	s.when(&AcceptInvite{Meta: by("carol"), InvitationID: "inv-2"}).thenError(CodeForbidden)
	s.when(&RejectInvite{Meta: by("bob"), InvitationID: "inv-2"}).thenError(CodeForbidden)
	s.when(&AcceptInvite{Meta: by("zed"), InvitationID: "inv-1", ActorEmail: "someone@lab.org"}).thenError(CodeForbidden)
	s.when(&AcceptInvite{Meta: by("zed"), InvitationID: "inv-1"}).thenError(CodeForbidden)
	s.when(&AcceptInvite{Meta: by("zed"), InvitationID: "inv-1", ActorEmail: "ZED@lab.org"}).
		thenTypes(EvInvitationAccepted, EvMemberAdded)
	s.when(&RejectInvite{Meta: by("dave"), InvitationID: "inv-2"}).
		thenEvents(&InvitationRejected{InvitationID: "inv-2", ProjectID: "p1", UserID: "dave"})
	s.when(&AcceptInvite{Meta: by("dave"), InvitationID: "inv-2"}).thenError(CodePreconditionFailed)
	s.when(&AcceptInvite{Meta: by("dave"), InvitationID: "inv-404"}).thenError(CodeNotFound)

	// ICA: "accepted, pending, rejected" stay visible.
	for id, want := range map[string]string{"inv-1": InviteAccepted, "inv-2": InviteRejected, "inv-3": InvitePending} {
		if got := s.org.Invitations[id].Status; got != want {
			t.Errorf("invitation %s is %s, want %s", id, got, want)
		}
	}
}

func TestRule12Expiry(t *testing.T) {
	t.Run("accepting after ExpiresAt is refused", func(t *testing.T) {
		given(t, icaInvitations()).at(kitNow.Add(DefaultInviteTTL)).
			when(&AcceptInvite{Meta: by("yan"), InvitationID: "inv-3", ActorEmail: "yan@lab.org"}).
			thenError(CodePreconditionFailed)
		given(t, icaInvitations()).at(kitNow.Add(DefaultInviteTTL-time.Second)).
			when(&AcceptInvite{Meta: by("yan"), InvitationID: "inv-3", ActorEmail: "yan@lab.org"}).
			thenTypes(EvInvitationAccepted, EvMemberAdded)
	})
	t.Run("Roster expires pending invitations whose time ran out", func(t *testing.T) {
		s := given(t, icaInvitations(), &InvitationRejected{InvitationID: "inv-2", UserID: "dave"})
		s.when(&ExpireInvites{Meta: by(SystemActor)}).thenEvents()
		s.at(kitNow.Add(8*24*time.Hour)).
			when(&ExpireInvites{Meta: by(SystemActor)}).
			thenEvents(&InvitationExpired{InvitationID: "inv-1", ProjectID: "p1"}, &InvitationExpired{InvitationID: "inv-3", ProjectID: "p1"})
		if got := s.org.Invitations["inv-3"].Status; got != InviteExpired {
			t.Fatalf("inv-3 is %s, want expired", got)
		}
		s.when(&AcceptInvite{Meta: by("yan"), InvitationID: "inv-3", ActorEmail: "yan@lab.org"}).thenError(CodePreconditionFailed)
	})
	t.Run("only Roster expires invitations; nobody else acts as Roster", func(t *testing.T) {
		given(t, icaInvitations()).when(&ExpireInvites{Meta: by("ana")}).thenError(CodeForbidden)
		given(t, icaInvitations()).when(&AcceptInvite{Meta: by(SystemActor), InvitationID: "inv-2"}).thenError(CodeInvalid)
	})
	t.Run("the time to live is configurable", func(t *testing.T) {
		s := given(t, ica())
		s.env.InviteTTL = 48 * time.Hour
		s.when(&InviteMember{Meta: by("bob"), ProjectID: "p1", Email: "zed@lab.org", Role: "project_viewer"}).
			thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: "zed@lab.org", Roles: []string{"project_viewer"},
				InvitedBy: "bob", ExpiresAt: kitNow.Add(48 * time.Hour)})
	})
}

func TestRule12RevokeAndDuplicates(t *testing.T) {
	s := given(t, icaInvitations())
	s.when(&InviteMember{Meta: by("bob"), ProjectID: "p1", Email: "Zed@Lab.org", Role: "project_viewer", InvitationID: "inv-10"}).thenError(CodeConflict)
	s.when(&RevokeInvite{Meta: by("carol"), InvitationID: "inv-3"}).thenError(CodeForbidden)
	s.when(&RevokeInvite{Meta: by("bob"), InvitationID: "inv-3"}).
		thenEvents(&InvitationRevoked{InvitationID: "inv-3", ProjectID: "p1", Reason: "revoked"})
	s.when(&RevokeInvite{Meta: by("bob"), InvitationID: "inv-3"}).thenError(CodePreconditionFailed)
	s.when(&AcceptInvite{Meta: by("yan"), InvitationID: "inv-3", ActorEmail: "yan@lab.org"}).thenError(CodePreconditionFailed)
}

func TestRule12OrganizationInvitation(t *testing.T) {
	given(t, neptuneTeam()).when(&InviteMember{Meta: by("bob"), Email: "zed@example.com", Role: "Member"}).thenError(CodeForbidden)
	given(t, neptuneTeam()).when(&InviteMember{Meta: by("ana"), Email: emailOf("bob"), Role: "Member"}).thenError(CodeConflict)
	s := given(t, neptuneTeam())
	s.when(&InviteMember{Meta: by("ana"), Email: "zed@example.com", Name: "Zed", Role: "Member"}).
		thenEvents(&InvitationCreated{InvitationID: "inv-1", Email: "zed@example.com", Name: "Zed", Roles: []string{"member"},
			InvitedBy: "ana", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
	s.when(&AcceptInvite{Meta: by("zed"), InvitationID: "inv-1", ActorEmail: "zed@example.com"}).
		thenEvents(&InvitationAccepted{InvitationID: "inv-1", UserID: "zed", Email: "zed@example.com", Name: "Zed"},
			&OrgMemberAdded{UserID: "zed", Email: "zed@example.com", Name: "Zed", Role: "member", InvitationID: "inv-1"})
}

// ---- 13. Custom roles ----

func TestRule13CustomRoles(t *testing.T) {
	for _, preset := range []string{"aunsight", "custom"} {
		view := map[string]string{"aunsight": "AU-ORG:view-any-project", "custom": "project.manage"}[preset]
		t.Run(preset, func(t *testing.T) {
			s := given(t, historyOf(preset))
			s.when(&DefineRole{Meta: by("ana"), Role: "analyst", Label: "Analyst", Description: "reads"}).
				thenEvents(&RoleDefined{Role: "analyst", Label: "Analyst", Description: "reads", Scope: ScopeProject})
			s.when(&DefineRole{Meta: by("ana"), Role: "analyst"}).thenError(CodeConflict)

			// Created empty: holding it gives nothing.
			s.when(addMember("ana", "p1", "bob", "analyst")).thenEvents(memberEv("p1", "bob", "analyst"))
			s.thenCheck("bob", view, inProject("p1"), Denied)

			// Then set, changed and removed.
			s.when(&SetRolePermissions{Meta: by("ana"), Role: "analyst", Permissions: []string{view, "dashboards.read"}}).
				thenEvents(&RolePermissionsSet{Role: "analyst", Permissions: []string{view, "dashboards.read"}, Previous: []string{}})
			s.thenVia("bob", view, inProject("p1"), ViaDirect)
			s.thenVia("bob", "dashboards.read", inProject("p1"), ViaDirect)
			s.when(&SetRolePermissions{Meta: by("ana"), Role: "analyst", Permissions: []string{}}).
				thenEvents(&RolePermissionsSet{Role: "analyst", Permissions: []string{}, Previous: []string{view, "dashboards.read"}})
			s.thenCheck("bob", view, inProject("p1"), Denied)

			// Several roles per member.
			s.when(&DefineRole{Meta: by("ana"), Role: "auditor"}).thenAccepted()
			s.when(changeRole("ana", "p1", "bob", "analyst", "auditor")).
				thenEvents(&RoleChanged{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "bob"},
					Roles: []string{"analyst", "auditor"}, PreviousRoles: []string{"analyst"}})
			if got := s.org.RolesAt("bob", inProject("p1")); !slices.Equal(got, []string{"analyst", "auditor", "member"}) {
				t.Fatalf("RolesAt(bob) = %v", got)
			}

			// A role in use is not deleted until its holders are reassigned.
			s.when(&DeleteRole{Meta: by("ana"), Role: "analyst"}).thenError(CodePreconditionFailed)
			s.when(changeRole("ana", "p1", "bob", "auditor")).thenAccepted()
			s.when(&DeleteRole{Meta: by("ana"), Role: "analyst"}).thenEvents(&RoleDeleted{Role: "analyst"})
			s.when(&DeleteRole{Meta: by("ana"), Role: "analyst"}).thenError(CodeNotFound)
		})
	}
	t.Run("a pending invitation holds the role too", func(t *testing.T) {
		given(t, aunsight(), roleDefinedEv("analyst"), invitedEv("inv-1", "p1", "", "bob", "ana", "analyst")).
			when(&DeleteRole{Meta: by("ana"), Role: "analyst"}).thenError(CodePreconditionFailed)
	})
	t.Run("refusals", func(t *testing.T) {
		given(t, aunsight()).when(&DefineRole{Meta: by("bob"), Role: "analyst"}).thenError(CodeForbidden)
		given(t, neptuneTeam()).when(&DefineRole{Meta: by("ana"), Role: "analyst"}).thenError(CodeInvalid)
		given(t, aunsight()).when(&SetRolePermissions{Meta: by("ana"), Role: "admin", Permissions: []string{}}).thenError(CodePreconditionFailed)
		given(t, aunsight()).when(&DeleteRole{Meta: by("ana"), Role: "admin"}).thenError(CodePreconditionFailed)
		given(t, aunsight()).when(&SetRolePermissions{Meta: by("ana"), Role: "ghost", Permissions: []string{}}).thenError(CodeNotFound)
		given(t, aunsight(), roleDefinedEv("analyst")).
			when(&SetRolePermissions{Meta: by("ana"), Role: "analyst", Permissions: []string{"bad permission!"}}).thenError(CodeInvalid)
		given(t, aunsight()).when(&DefineRole{Meta: by("ana"), Role: "analyst", Scope: ScopeTrack}).thenError(CodeInvalid)
	})
}

// ---- direct grants are for grant-only permissions (ICA Upload/Download allowed) ----

func TestDirectGrantsAreGrantOnlyPermissions(t *testing.T) {
	// A grant of an ordinary permission would let anyone who edits members hand out what their
	// own role lacks (a Dataloop Annotation Manager granting himself "Delete a Project").
	given(t, dataloop()).
		when(&SetMemberGrants{Meta: by("am"), MemberRef: MemberRef{ProjectID: "p1", UserID: "am"}, Grants: []string{"Delete a Project"}}).
		thenError(CodeInvalid)
	given(t, dataloop()).
		when(&AddMember{Meta: by("am"), MemberRef: MemberRef{ProjectID: "p1", UserID: "zoe"}, Grants: []string{"project.delete"}}).
		thenError(CodeInvalid)
	given(t, ica()).
		when(&AddMember{Meta: by("bob"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"project_viewer"}, Grants: []string{"data.delete"}}).
		thenError(CodeInvalid)
	given(t, ica()).
		when(&AddMember{Meta: by("bob"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"project_viewer"}, Grants: []string{"Upload allowed"}}).
		thenEvents(&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"}, Email: emailOf("dave"), Name: "dave",
			Roles: []string{"project_viewer"}, Grants: []string{"upload"}})
}

// SPEC §2.9: a deleted project accepts no command, not even the answer to an invitation into it;
// an archived project's invitation may still be declined (it changes nothing in the project).
func TestRule9InvitationAnswersOnArchivedAndDeletedProjects(t *testing.T) {
	s := given(t, neptuneTeam(), invitedEv("i1", "p1", "", "dave", "ana", "viewer"), invitedEv("i2", "p1", "", "carol", "ana", "viewer"))
	s.do(&ArchiveProject{Meta: by("ana"), ProjectID: "p1"})
	s.when(&RejectInvite{Meta: by("dave"), InvitationID: "i1"}).thenTypes(EvInvitationRejected)
	s.do(&DeleteProject{Meta: by("ana"), ProjectID: "p1"})
	s.when(&RejectInvite{Meta: by("carol"), InvitationID: "i2"}).thenErrorMentions(CodePreconditionFailed, "deleted")
	s.when(&AcceptInvite{Meta: by("carol"), InvitationID: "i2"}).thenError(CodePreconditionFailed)
}
