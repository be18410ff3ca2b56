package domain

import (
	"slices"
	"strings"
	"testing"
)

// Seed fidelity: sentences of shared/seeds/ that the permission tables alone do not carry.
// Each test quotes the sentence that decides it.

func (s *scenario) thenErrorMentions(code Code, words ...string) *scenario {
	s.t.Helper()
	s.thenError(code)
	for _, w := range words {
		if !strings.Contains(s.err.Error(), w) {
			s.t.Fatalf("%s: error %q does not mention %q", s.cmd.CommandName(), s.err, w)
		}
	}
	return s
}

// seeds/003 (Neptune): "If the project is created in an individual organization, you can only
// invite users to a public project. The user is notified by email and must accept the invitation to
// be added. You cannot add users to a private project."
func TestSeedNeptuneIndividualPrivateProjectsTakeNobody(t *testing.T) {
	t.Run("a project turned private revokes its pending invitations", func(t *testing.T) {
		s := given(t, neptuneIndividual())
		s.when(&InviteMember{Meta: by("ana"), ProjectID: "pub", UserID: "bob", Role: "contributor"}).
			thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "pub", UserID: "bob", Roles: []string{"contributor"},
				InvitedBy: "ana", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
		s.when(&SetProjectVisibility{Meta: by("ana"), ProjectID: "pub", Visibility: Private}).
			thenEvents(&ProjectVisibilitySet{ProjectID: "pub", Visibility: Private},
				&InvitationRevoked{InvitationID: "inv-1", ProjectID: "pub", Reason: "project_private"})
		s.when(&AcceptInvite{Meta: by("bob"), InvitationID: "inv-1"}).thenError(CodePreconditionFailed)
		if m := s.org.Projects["pub"].Members["u:bob"]; m != nil {
			t.Fatalf("bob joined a private project: %+v", m)
		}
	})
	t.Run("acceptance re-checks the rule", func(t *testing.T) {
		// A pending invitation to a private project (e.g. from a log written before the rule).
		given(t, neptuneIndividual(), invitedEv("old", "priv", "", "bob", "ana", "viewer")).
			when(&AcceptInvite{Meta: by("bob"), InvitationID: "old"}).
			thenErrorMentions(CodePreconditionFailed, "private")
	})
	t.Run("a project with collaborators stays public until they are removed", func(t *testing.T) {
		s := given(t, neptuneIndividual(), invitedEv("i1", "pub", "", "bob", "ana", "contributor"))
		s.when(&AcceptInvite{Meta: by("bob"), InvitationID: "i1"}).thenTypes(EvInvitationAccepted, EvMemberAdded)
		s.when(&SetProjectVisibility{Meta: by("ana"), ProjectID: "pub", Visibility: Private}).
			thenErrorMentions(CodePreconditionFailed, "user bob", "RemoveMember")
		s.when(removeMember("ana", "pub", "bob")).thenEvents(removed("pub", "bob", "removed"))
		s.when(&SetProjectVisibility{Meta: by("ana"), ProjectID: "pub", Visibility: Private}).
			thenEvents(&ProjectVisibilitySet{ProjectID: "pub", Visibility: Private})
	})
	t.Run("ownership goes to an outsider only as an invited collaborator of a public project", func(t *testing.T) {
		// SPEC §2.4: others reach an individual organization's projects only by invitation,
		// only to public projects; a transfer of a private project to a stranger is no way in.
		s := given(t, neptuneIndividual())
		s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "priv", NewOwner: "zed"}).
			thenErrorMentions(CodePreconditionFailed, "zed", "invite")
		s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "pub", NewOwner: "zed"}).
			thenErrorMentions(CodePreconditionFailed, "zed", "invite")
		s.when(&InviteMember{Meta: by("ana"), ProjectID: "pub", UserID: "zed", Role: "contributor"}).thenTypes(EvInvitationCreated)
		s.when(&AcceptInvite{Meta: by("zed"), InvitationID: "inv-1"}).thenTypes(EvInvitationAccepted, EvMemberAdded)
		s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "pub", NewOwner: "zed"}).thenTypes(EvRoleChanged)
	})
	t.Run("team organizations are not concerned", func(t *testing.T) {
		s := given(t, neptuneTeam(), invitedEv("i1", "p1", "", "dave", "ana", "viewer"))
		s.when(&AcceptInvite{Meta: by("dave"), InvitationID: "i1"}).thenTypes(EvInvitationAccepted, EvMemberAdded)
	})
}

// seeds/002 (Dataloop): "From the owning Organization, an Org-member is added as a developer of the
// owner to one or more of the projects owned by the organization, or they can be ORG-Workers, added
// as annotators to the project."
func TestSeedDataloopORGWorkers(t *testing.T) {
	t.Run("ORG-Worker is an organization role", func(t *testing.T) {
		given(t, dataloop()).when(&AddOrgMember{Meta: by("ana"), UserID: "wo", Email: emailOf("wo"), Name: "wo", Role: "ORG-Worker"}).
			thenEvents(orgMemberEv("wo", "org_worker"))
	})
	worker := append(dataloop(), orgMemberEv("wo", "org_worker"))
	t.Run("added as annotators", func(t *testing.T) {
		s := given(t, worker)
		s.when(addMember("olga", "p1", "wo", "Developer")).thenErrorMentions(CodePreconditionFailed, "ORG-Worker", "annotator")
		s.when(addMember("olga", "p1", "wo", "Annotation Manager")).thenError(CodePreconditionFailed)
		s.when(addMember("olga", "p1", "wo", "Annotator")).thenEvents(memberEv("p1", "wo", "annotator"))
		s.when(changeRole("olga", "p1", "wo", "developer")).thenError(CodePreconditionFailed)
		s.when(&TransferProjectOwnership{Meta: by("olga"), ProjectID: "p1", NewOwner: "wo"}).thenError(CodePreconditionFailed)
	})
	t.Run("not invited as anything else", func(t *testing.T) {
		given(t, worker).when(&InviteMember{Meta: by("olga"), ProjectID: "p1", UserID: "wo", Role: "Developer"}).
			thenError(CodePreconditionFailed)
		given(t, worker).when(&InviteMember{Meta: by("olga"), ProjectID: "p1", Email: emailOf("wo"), Role: "Developer"}).
			thenError(CodePreconditionFailed)
		given(t, worker).when(&InviteMember{Meta: by("olga"), ProjectID: "p1", Email: emailOf("wo"), Role: "Annotator"}).
			thenTypes(EvInvitationCreated)
	})
	t.Run("a developer becomes an ORG-Worker only once annotator everywhere", func(t *testing.T) {
		s := given(t, worker)
		s.when(&ChangeOrgRole{Meta: by("ana"), UserID: "dev", Role: "ORG-Worker"}).thenError(CodePreconditionFailed)
		s.when(changeRole("olga", "p1", "dev", "annotator")).thenTypes(EvRoleChanged)
		s.when(&ChangeOrgRole{Meta: by("ana"), UserID: "dev", Role: "ORG-Worker"}).thenTypes(EvOrgRoleChanged)
	})
	t.Run("not through a workgroup either", func(t *testing.T) {
		s := given(t, worker, workgroupEv("devs"), groupOnProjectEv("p1", "devs", "developer"), workgroupEv("labelers"), groupOnProjectEv("p1", "labelers", "annotator"))
		s.when(&AddWorkgroupMember{Meta: by("ana"), GroupID: "devs", UserID: "wo"}).thenError(CodePreconditionFailed)
		s.when(&AddWorkgroupMember{Meta: by("ana"), GroupID: "labelers", UserID: "wo"}).thenTypes(EvWorkgroupMemberAdded)
		s.when(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", GroupID: "labelers"}, Roles: []string{"developer"}}).
			thenError(CodePreconditionFailed)
	})
	t.Run("creates no project", func(t *testing.T) {
		given(t, worker).when(&CreateProject{Meta: by("wo"), ProjectID: "mine"}).thenError(CodeForbidden)
	})
}

// seeds/002 (Dataloop): "Users from a service company, typically a labeling-service-provider - an
// annotation manager added from such labeling organization, will then be able to add to the project
// users (for example annotators) selected from their organization." and "The annotation manager …
// can add users from their organization to this project … Enter the Email ID of the new user".
func TestSeedDataloopLabelingCompanyAddsItsOwnUsers(t *testing.T) {
	t.Run("not a member of the owning organization", func(t *testing.T) {
		given(t, dataloopWithPartner()).when(addMember("lea", "p1", "zoe", "Annotator")).thenError(CodeForbidden)
		given(t, dataloopWithPartner()).when(&InviteMember{Meta: by("lea"), ProjectID: "p1", UserID: "zoe", Role: "Annotator"}).
			thenError(CodeForbidden)
		given(t, dataloopWithPartner()).when(&InviteMember{Meta: by("lea"), ProjectID: "p1", Email: emailOf("zoe"), Role: "Annotator"}).
			thenErrorMentions(CodeForbidden, "labeling company lab")
	})
	t.Run("an e-mail of the company", func(t *testing.T) {
		given(t, dataloopWithPartner()).when(&InviteMember{Meta: by("lea"), ProjectID: "p1", Email: "lou@lab.org", Role: "Annotator"}).
			thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: "lou@lab.org", Roles: []string{"annotator"},
				PartnerID: "lab", InvitedBy: "lea", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
	})
	t.Run("a company invitation is not accepted by a member of the owning organization", func(t *testing.T) {
		inv := &InvitationCreated{InvitationID: "c1", ProjectID: "p1", Email: "z@lab.org", Roles: []string{"annotator"},
			PartnerID: "lab", InvitedBy: "lea", ExpiresAt: kitNow.Add(DefaultInviteTTL)}
		given(t, dataloopWithPartner(), inv).when(&AcceptInvite{Meta: by("zoe"), InvitationID: "c1", ActorEmail: "z@lab.org"}).
			thenError(CodePreconditionFailed)
		given(t, dataloopWithPartner(), inv).when(&AcceptInvite{Meta: by("zed"), InvitationID: "c1", ActorEmail: "z@lab.org"}).
			thenTypes(EvInvitationAccepted, EvMemberAdded)
	})
	t.Run("the project's own team still adds organization members", func(t *testing.T) {
		given(t, dataloopWithPartner()).when(addMember("olga", "p1", "zoe", "Annotator")).thenEvents(memberEv("p1", "zoe", "annotator"))
	})
}

// seeds/001 (ICA): "To change the project owner, select the Edit project owner button at the top
// right and select the new project owner from the list. This can be done by the current project
// owner, the tenant administrator or a project administrator of the current project."
func TestSeedICAOwner(t *testing.T) {
	h := append(ica(), memberEv("p1", "carol", "project_administrator"))
	t.Run("the owner is not removed nor demoted", func(t *testing.T) {
		for _, cmd := range []Command{
			removeMember("carol", "p1", "bob"),
			removeMember("ana", "p1", "bob"),
			changeRole("carol", "p1", "bob", "project_administrator"),
			&LeaveProject{Meta: by("bob"), ProjectID: "p1"},
			&RemoveOrgMember{Meta: by("ana"), UserID: "bob"},
		} {
			given(t, h).when(cmd).thenErrorMentions(CodePreconditionFailed, "TransferProjectOwnership")
		}
	})
	t.Run("the owner changes by transfer", func(t *testing.T) {
		s := given(t, h)
		s.when(&TransferProjectOwnership{Meta: by("carol"), ProjectID: "p1", NewOwner: "carol"}).
			thenTypes(EvRoleChanged, EvRoleChanged)
		if got := s.org.Owners(s.org.Projects["p1"]); !slices.Equal(got, []string{"carol"}) {
			t.Fatalf("owners %v, want [carol]", got)
		}
		// The previous owner is now a Project Administrator and may be removed.
		s.when(removeMember("carol", "p1", "bob")).thenEvents(removed("p1", "bob", "removed"))
	})
}

// seeds/000 (Allonia): "Track Leader — Is added by Project Manager during Track creation";
// "Data scientist / Data Engineer — Is added by Project manager or the track leader";
// "ML Ops — Is added by Project manager or the track leader".
func TestSeedAlloniaWhoAddsWhom(t *testing.T) {
	t.Run("a Track Leader does not make Track Leaders", func(t *testing.T) {
		given(t, allonia()).when(addTrackMember("tom", "p1", "t1", "eve", "Track Leader")).
			thenErrorMentions(CodeForbidden, "Track Leader", "Manager user roles in project")
		given(t, allonia()).when(&ChangeRole{Meta: by("tom"), MemberRef: MemberRef{ProjectID: "p1", TrackID: "t1", UserID: "dan"}, Roles: []string{"track_leader"}}).
			thenError(CodeForbidden)
		given(t, allonia()).when(&InviteMember{Meta: by("tom"), ProjectID: "p1", TrackID: "t1", UserID: "eve", Role: "Track Leader"}).
			thenError(CodeForbidden)
	})
	t.Run("nor unmakes them", func(t *testing.T) {
		s := given(t, allonia(), trackMemberEv("p1", "t1", "eve", "track_leader"))
		s.when(&RemoveMember{Meta: by("tom"), MemberRef: MemberRef{ProjectID: "p1", TrackID: "t1", UserID: "eve"}}).thenError(CodeForbidden)
		s.when(&ChangeRole{Meta: by("tom"), MemberRef: MemberRef{ProjectID: "p1", TrackID: "t1", UserID: "eve"}, Roles: []string{"ml_ops"}}).thenError(CodeForbidden)
	})
	t.Run("the track leader adds Data scientists and ML Ops", func(t *testing.T) {
		given(t, allonia()).when(addTrackMember("tom", "p1", "t1", "eve", "Data scientist")).
			thenEvents(trackMemberEv("p1", "t1", "eve", "data_scientist"))
		given(t, allonia()).when(addTrackMember("tom", "p1", "t1", "eve", "ML Ops")).
			thenEvents(trackMemberEv("p1", "t1", "eve", "ml_ops"))
	})
	t.Run("the Project Manager and the Tenant Admin give the Track Leader role", func(t *testing.T) {
		given(t, allonia()).when(addTrackMember("paul", "p1", "t1", "eve", "Track Leader")).
			thenEvents(trackMemberEv("p1", "t1", "eve", "track_leader"))
		given(t, allonia()).when(addTrackMember("ana", "p1", "t1", "eve", "Track Leader")).
			thenEvents(trackMemberEv("p1", "t1", "eve", "track_leader"))
	})
}

// seeds/004 (Aunsight): "To view projects, users must have a role that grants AU-ORG:view-any-project
// in order to view projects."
func TestSeedAunsightSeeingProjects(t *testing.T) {
	s := given(t, aunsight(),
		roleDefinedEv("worker", "AU-ORG:view-any-project-member"),
		&RoleDefined{Role: "lister", Label: "Lister", Scope: ScopeOrg},
		&RolePermissionsSet{Role: "lister", Permissions: []string{"AU-ORG:view-any-project"}, Previous: []string{}},
		orgMemberEv("lin", "lister"),
		memberEv("p1", "bob", "worker"),
		memberEv("p2", "carol"), // a member with no role yet
	)
	for _, c := range []struct {
		user string
		want []string
	}{
		{"ana", []string{"p1", "p2"}}, // Organization Admin: every permission
		{"lin", []string{"p1", "p2"}}, // an organization role granting AU-ORG:view-any-project
		{"bob", []string{"p1"}},       // a member of p1 whose role lacks it: p1 only
		{"carol", []string{"p2"}},     // a member without a role sees their project
		{"dave", []string{}},          // an organization member in no project, without the permission
	} {
		if got := s.org.VisibleProjects(c.user, false); !slices.Equal(got, c.want) {
			t.Errorf("VisibleProjects(%s) = %v, want %v", c.user, got, c.want)
		}
	}
	s.and(archivedEv("p2"), deletedEv("p1"))
	if got := s.org.VisibleProjects("lin", false); len(got) != 0 {
		t.Errorf("lin sees %v without archived and deleted projects", got)
	}
	if got := s.org.VisibleProjects("lin", true); !slices.Equal(got, []string{"p2"}) {
		t.Errorf("lin sees %v with archived projects, want [p2]", got)
	}
}

// Presets without a listing permission keep the rule ListProjects had: the projects one is a member of.
func TestMayListProjectOtherPresets(t *testing.T) {
	s := given(t, neptuneTeam(), projectEv("p2", "bob"), memberEv("p2", "bob", "owner"))
	for _, c := range []struct {
		user, project string
		want          bool
	}{
		{"bob", "p1", true}, {"bob", "p2", true}, {"carol", "p2", false}, {"dave", "p1", false},
		{"ana", "p2", true}, // Neptune admins own every project
	} {
		if got := s.org.MayListProject(c.user, c.project); got != c.want {
			t.Errorf("MayListProject(%s, %s) = %v, want %v", c.user, c.project, got, c.want)
		}
		if got, was := s.org.MayListProject(c.user, c.project), len(s.org.MemberRolesAt(c.user, inProject(c.project))) > 0; got != was {
			t.Errorf("MayListProject(%s, %s) = %v, ListProjects's former rule %v", c.user, c.project, got, was)
		}
	}
}
