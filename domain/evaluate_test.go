package domain

import (
	"slices"
	"testing"
)

// Evaluation: Check, Permissions, WhoCan and RolesAt (SPEC §2.7 and §4).

func TestCheckSaysHowAccessCame(t *testing.T) {
	t.Run("direct", func(t *testing.T) {
		d := given(t, neptuneTeam()).thenVia("bob", "Editing project content", inProject("p1"), ViaDirect)
		if d.Via[0].Role != "contributor" || d.Via[0].ProjectID != "p1" || d.Via[0].Scope != ScopeProject {
			t.Fatalf("via %+v, want the contributor membership on p1", d.Via)
		}
	})
	t.Run("workgroup", func(t *testing.T) {
		d := given(t, ica(), groupOnProjectEv("p1", "wg", "project_contributor")).
			thenVia("carol", "samples.create", inProject("p1"), ViaWorkgroup)
		if d.Via[0].GroupID != "wg" {
			t.Fatalf("via %+v, want group wg", d.Via)
		}
	})
	t.Run("org_admin", func(t *testing.T) {
		given(t, neptuneTeam(), projectEv("p2", "ana")).thenVia("ana", "project.settings", inProject("p2"), ViaOrgAdmin)
	})
	t.Run("inherited from the project into its tracks", func(t *testing.T) {
		d := given(t, allonia()).thenVia("paul", "track.roles.manage", inTrack("p1", "t2"), ViaInherited)
		if d.Via[0].Role != "project_manager" {
			t.Fatalf("via %+v, want project_manager", d.Via)
		}
	})
	t.Run("public", func(t *testing.T) {
		s := given(t, neptuneIndividual())
		s.thenVia("stranger", "project.content.view", inProject("pub"), ViaPublic)
		s.thenCheck("stranger", "project.content.edit", inProject("pub"), Denied)
		s.thenCheck("stranger", "project.content.view", inProject("priv"), Denied)
	})
	t.Run("grant", func(t *testing.T) {
		given(t, ica(), &MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"},
			Roles: []string{"project_viewer"}, Grants: []string{"download"}}).
			thenVia("dave", "Download allowed", inProject("p1"), ViaGrant)
	})
	t.Run("several reasons at once", func(t *testing.T) {
		given(t, neptuneTeam()).thenVia("ana", "project.members.edit", inProject("p1"), ViaOrgAdmin, ViaDirect)
	})
}

func TestCheckRefusesBadQuestions(t *testing.T) {
	o := given(t, neptuneTeam()).org
	if _, err := o.Check("bob", "teleport", inProject("p1"), nil); CodeOf(err) != CodeInvalid {
		t.Errorf("unknown permission: %v, want invalid", err)
	}
	if _, err := o.Check("bob", "project.content.view", inProject("p9"), nil); CodeOf(err) != CodeNotFound {
		t.Errorf("unknown project: %v, want not_found", err)
	}
	if _, err := o.Check("bob", "project.content.view", Scope{TrackID: "t1"}, nil); CodeOf(err) != CodeInvalid {
		t.Errorf("track without project: %v, want invalid", err)
	}
	if _, err := NewOrg("nobody", kitPresets).Check("bob", "x", atOrg, nil); CodeOf(err) != CodeNotFound {
		t.Errorf("organization not created: %v, want not_found", err)
	}
}

func TestPermissionDeeperThanTheScopeIsDenied(t *testing.T) {
	s := given(t, allonia())
	// "Manager user roles in a track" is a track permission: asked at the project, it is denied.
	s.thenCheck("tom", "track.roles.manage", inProject("p1"), Denied)
	s.thenCheck("paul", "track.roles.manage", inProject("p1"), Denied)
	s.thenCheck("tom", "track.roles.manage", inTrack("p1", "t1"), Allowed)
	// Project permissions asked of the organization.
	s.thenCheck("ana", "project.view", atOrg, Denied)
	s.thenCheck("ana", "data_catalog.access", atOrg, Allowed)
	given(t, neptuneTeam()).thenCheck("ana", "project.content.view", atOrg, Denied)
}

func TestTrackLeaderManagesTrackRolesNotProjectRoles(t *testing.T) {
	t.Run("in his track", func(t *testing.T) {
		s := given(t, allonia())
		s.when(addTrackMember("tom", "p1", "t1", "eve", "ml_ops")).thenEvents(trackMemberEv("p1", "t1", "eve", "ml_ops"))
		s.when(&ChangeRole{Meta: by("tom"), MemberRef: MemberRef{ProjectID: "p1", TrackID: "t1", UserID: "dan"}, Roles: []string{"ml_ops"}}).
			thenEvents(&RoleChanged{Target: Target{ProjectID: "p1", TrackID: "t1"}, Principal: Principal{UserID: "dan"},
				Roles: []string{"ml_ops"}, PreviousRoles: []string{"data_scientist"}})
		s.when(&RemoveMember{Meta: by("tom"), MemberRef: MemberRef{ProjectID: "p1", TrackID: "t1", UserID: "mia"}}).
			thenEvents(&MemberRemoved{Target: Target{ProjectID: "p1", TrackID: "t1"}, Principal: Principal{UserID: "mia"}, Reason: "removed"})
	})
	t.Run("not in the project", func(t *testing.T) {
		given(t, allonia()).when(addMember("tom", "p1", "eve", "project_manager")).thenError(CodeForbidden)
		given(t, allonia()).when(changeRole("tom", "p1", "paul", "project_manager")).thenError(CodeForbidden)
		given(t, allonia()).when(removeMember("tom", "p1", "paul")).thenError(CodeForbidden)
	})
	t.Run("not in another track", func(t *testing.T) {
		given(t, allonia()).when(addTrackMember("tom", "p1", "t2", "eve", "ml_ops")).thenError(CodeForbidden)
	})
	t.Run("the Project Manager manages every track", func(t *testing.T) {
		given(t, allonia()).
			when(addTrackMember("paul", "p1", "t2", "eve", "Track Leader")).
			thenEvents(trackMemberEv("p1", "t2", "eve", "track_leader"))
	})
}

func TestWorkgroupChangesFlowIntoEveryProject(t *testing.T) {
	s := given(t, ica(), projectEv("p2", "bob"), memberEv("p2", "bob", "owner"),
		groupOnProjectEv("p1", "wg", "project_contributor"), groupOnProjectEv("p2", "wg", "project_contributor"))
	s.thenCheck("dave", "data.link", inProject("p1"), Denied)
	s.when(&AddWorkgroupMember{Meta: by("ana"), GroupID: "wg", UserID: "dave"}).thenEvents(inGroupEv("wg", "dave"))
	s.thenVia("dave", "data.link", inProject("p1"), ViaWorkgroup)
	s.thenVia("dave", "data.link", inProject("p2"), ViaWorkgroup)
	who, _ := s.org.WhoCan("data.link", inProject("p2"))
	if !slices.Equal(who, []string{"ana", "bob", "carol", "dave"}) {
		t.Fatalf("WhoCan(data.link, p2) = %v", who)
	}
	s.when(&RemoveWorkgroupMember{Meta: by("ana"), GroupID: "wg", UserID: "dave"}).
		thenEvents(&WorkgroupMemberRemoved{GroupID: "wg", UserID: "dave"})
	s.thenCheck("dave", "data.link", inProject("p1"), Denied)
	s.thenCheck("dave", "data.link", inProject("p2"), Denied)
	// A role change of the group's membership reaches all its members.
	s.when(&ChangeRole{Meta: by("bob"), MemberRef: MemberRef{ProjectID: "p1", GroupID: "wg"}, Roles: []string{"project_administrator"}}).
		thenEvents(&RoleChanged{Target: Target{ProjectID: "p1"}, Principal: Principal{GroupID: "wg"},
			Roles: []string{"project_administrator"}, PreviousRoles: []string{"project_contributor"}})
	s.thenVia("carol", "project.team.manage", inProject("p1"), ViaWorkgroup)
}

func TestICAHighestLevelIsTheUnion(t *testing.T) {
	s := given(t, ica(),
		memberEv("p1", "carol", "project_viewer", "flow_contributor"),
		groupOnProjectEv("p1", "wg", "project_administrator", "base_viewer"))
	p1 := inProject("p1")
	s.thenVia("carol", "data.delete", p1, ViaWorkgroup) // Administrator via the workgroup
	s.thenVia("carol", "project.resources.view", p1, ViaDirect, ViaWorkgroup)
	s.thenVia("carol", "flow.pipelines.edit", p1, ViaDirect)   // Flow Contributor directly
	s.thenVia("carol", "base.queries.run", p1, ViaWorkgroup)   // Base Viewer via the workgroup
	s.thenCheck("carol", "base.tables.create", p1, Denied)     // Base Contributor from nobody
	s.thenCheck("carol", "bench.notebook.execute", p1, Denied) // no Bench role
	if got := s.org.RolesAt("carol", p1); !slices.Equal(got, []string{"base_viewer", "flow_contributor", "member", "project_administrator", "project_viewer"}) {
		t.Fatalf("RolesAt(carol) = %v", got)
	}
	// No Access directly does not take away what the workgroup gives.
	given(t, ica(), memberEv("p1", "carol", "project_no_access"), groupOnProjectEv("p1", "wg", "project_contributor")).
		thenVia("carol", "samples.create", p1, ViaWorkgroup)
}

func TestICAUploadAndDownloadGrants(t *testing.T) {
	s := given(t, ica())
	p1 := inProject("p1")
	s.when(&AddMember{Meta: by("bob"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"},
		Roles: []string{"project_contributor"}, Grants: []string{"Upload allowed"}}).
		thenEvents(&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"}, Email: emailOf("dave"), Name: "dave",
			Roles: []string{"project_contributor"}, Grants: []string{"upload"}})
	s.thenVia("dave", "upload", p1, ViaGrant)
	s.thenCheck("dave", "download", p1, Denied)
	// Explicit: even the owner has neither until granted.
	s.thenCheck("bob", "upload", p1, Denied)
	s.when(&SetMemberGrants{Meta: by("bob"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Grants: []string{"Downlod allowed", "upload"}}).
		thenEvents(&GrantsSet{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"},
			Grants: []string{"download", "upload"}, PreviousGrants: []string{"upload"}})
	s.thenVia("dave", "download", p1, ViaGrant)
	s.when(&SetMemberGrants{Meta: by("dave"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Grants: []string{}}).
		thenError(CodeForbidden)
	s.when(&SetMemberGrants{Meta: by("bob"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Grants: []string{}}).
		thenEvents(&GrantsSet{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"},
			PreviousGrants: []string{"download", "upload"}})
	s.thenCheck("dave", "upload", p1, Denied)
	// A grant-only permission is never part of a role.
	allowed, _, _ := s.org.Permissions("bob", p1)
	if slices.Contains(allowed, "upload") || slices.Contains(allowed, "download") {
		t.Fatalf("owner's permissions %v include a grant-only permission", allowed)
	}
}

func TestPermissionsWhoCanRolesAt(t *testing.T) {
	t.Run("neptune", func(t *testing.T) {
		o := given(t, neptuneTeam()).org
		allowed, conditional, err := o.Permissions("carol", inProject("p1"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(allowed, []string{"project.content.view", "project.members.view"}) || len(conditional) != 0 {
			t.Fatalf("Permissions(carol, p1) = %v / %v", allowed, conditional)
		}
		if allowed, _, _ := o.Permissions("bob", atOrg); len(allowed) != 0 {
			t.Fatalf("Permissions(bob, org) = %v, want none for a Member", allowed)
		}
		who, err := o.WhoCan("Editing project members", inProject("p1"))
		if err != nil || !slices.Equal(who, []string{"ana"}) {
			t.Fatalf("WhoCan(Editing project members) = %v, %v; want [ana]", who, err)
		}
		if got := o.RolesAt("ana", inProject("p1")); !slices.Equal(got, []string{"admin", "owner"}) {
			t.Fatalf("RolesAt(ana, p1) = %v", got)
		}
	})
	t.Run("allonia", func(t *testing.T) {
		o := given(t, allonia()).org
		for _, tc := range []struct {
			user string
			at   Scope
			want []string
		}{
			{"tom", inTrack("p1", "t1"), []string{"member", "track_leader"}},
			{"tom", inProject("p1"), []string{"member"}},
			{"paul", inTrack("p1", "t1"), []string{"member", "project_manager"}},
			{"ana", inTrack("p1", "t2"), []string{"project_manager", "tenant_admin"}},
			{"eve", inTrack("p1", "t1"), []string{"member"}},
		} {
			if got := o.RolesAt(tc.user, tc.at); !slices.Equal(got, tc.want) {
				t.Errorf("RolesAt(%s, %+v) = %v, want %v", tc.user, tc.at, got, tc.want)
			}
		}
		who, _ := o.WhoCan("track.roles.manage", inTrack("p1", "t1"))
		if !slices.Equal(who, []string{"ana", "paul", "tom"}) {
			t.Fatalf("WhoCan(track.roles.manage, t1) = %v, want [ana paul tom]", who)
		}
		// A track member sees the project (Project view) but cannot manage it.
		allowed, _, _ := o.Permissions("dan", inProject("p1"))
		if !slices.Equal(allowed, []string{"project.view", "factory.access", "launchpad.access", "documentation.access"}) {
			t.Fatalf("Permissions(dan, p1) = %v", allowed)
		}
	})
}
