package domain

import (
	"encoding/json"
	"testing"
	"time"
)

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkAt asserts the decision of Check on the state as of now (Org.At).
func checkAt(t *testing.T, o *Org, now time.Time, user, perm string, s Scope, want string) {
	t.Helper()
	d, err := o.At(now).Check(user, perm, s, nil)
	if err != nil {
		t.Fatalf("Check(%s, %s) at %s: %v", user, perm, rfc(now), err)
	}
	if d.Decision != want {
		t.Fatalf("Check(%s, %s) at %s = %s, want %s", user, perm, rfc(now), d.Decision, want)
	}
}

func TestExpiringProjectMembershipIsGoneAtItsEndBeforeAnyEvent(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, neptuneTeam())
	s.when(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"contributor"}, ExpiresAt: rfc(end)}).
		thenEvents(&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"}, Email: emailOf("dave"), Name: "dave",
			Roles: []string{"contributor"}, ExpiresAt: end})
	version := s.org.Version
	checkAt(t, s.org, end.Add(-time.Nanosecond), "dave", "project.content.edit", inProject("p1"), Allowed)
	checkAt(t, s.org, end, "dave", "project.content.edit", inProject("p1"), Denied)
	checkAt(t, s.org, end.Add(time.Hour), "dave", "project.content.edit", inProject("p1"), Denied)
	if users, _ := s.org.At(end).WhoCan("project.content.edit", inProject("p1")); contains(users, "dave") {
		t.Fatalf("WhoCan at the end lists dave: %v", users)
	}
	if allowed, _, _ := s.org.At(end).Permissions("dave", inProject("p1")); len(allowed) != 0 {
		t.Fatalf("Permissions at the end: %v", allowed)
	}
	if s.org.Version != version || s.org.Projects["p1"].Members["u:dave"] == nil {
		t.Fatal("At changed the state")
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestExpireMembershipsAppendsOnceAndCommandsRecordTheEndFirst(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, neptuneTeam())
	s.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"contributor"}, ExpiresAt: rfc(end)})
	s.when(&ExpireMemberships{Meta: Meta{Actor: SystemActor}}).thenEvents() // not yet
	s.at(end)
	s.when(&ExpireMemberships{Meta: Meta{Actor: SystemActor}}).
		thenEvents(&MembershipExpired{MembershipRef: MembershipRef{Scope: ScopeProject, ProjectID: "p1", UserID: "dave"}, ExpiresAt: end})
	s.when(&ExpireMemberships{Meta: Meta{Actor: SystemActor}}).thenEvents() // a second pass finds nothing
	if !s.org.NextExpiry().IsZero() {
		t.Fatalf("next expiry %v after the pass", s.org.NextExpiry())
	}
	s.when(&ExpireMemberships{Meta: by("ana")}).thenError(CodeForbidden)

	// A user command decided after the end records it first, and sees the membership gone.
	s2 := given(t, neptuneTeam())
	s2.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"contributor"}, ExpiresAt: rfc(end)})
	s2.at(end).when(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"viewer"}}).
		thenTypes(EvMembershipExpired, EvMemberAdded)
	if m := s2.org.Projects["p1"].Members["u:dave"]; m == nil || !m.ExpiresAt.IsZero() || m.Roles[0] != "viewer" {
		t.Fatalf("dave's membership after re-adding: %+v", m)
	}
	s2.when(&ExpireMemberships{Meta: Meta{Actor: SystemActor}}).thenEvents()
}

func TestOrgMembershipExpiryTakesProjectsAndWorkgroupsWithIt(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, neptuneTeam(), workgroupEv("g1"))
	s.do(&AddOrgMember{Meta: by("ana"), UserID: "erin", Email: emailOf("erin"), Role: "member", ExpiresAt: rfc(end)})
	s.do(&AddWorkgroupMember{Meta: by("ana"), GroupID: "g1", UserID: "erin"})
	s.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "erin"}, Roles: []string{"contributor"}})
	checkAt(t, s.org, end.Add(-time.Second), "erin", "project.content.edit", inProject("p1"), Allowed)
	checkAt(t, s.org, end, "erin", "project.content.edit", inProject("p1"), Denied)
	s.at(end).when(&ExpireMemberships{Meta: Meta{Actor: SystemActor}}).
		thenTypes(EvMemberRemoved, EvWorkgroupMemberRemoved, EvMembershipExpired)
	if _, ok := s.org.Members["erin"]; ok {
		t.Fatal("erin is still an organization member")
	}
}

func TestWorkgroupMembershipExpiry(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, neptuneTeam(), workgroupEv("g1"), groupOnProjectEv("p1", "g1", "contributor"))
	s.when(&AddWorkgroupMember{Meta: by("ana"), GroupID: "g1", UserID: "dave", ExpiresAt: rfc(end)}).
		thenEvents(&WorkgroupMemberAdded{GroupID: "g1", UserID: "dave", ExpiresAt: end})
	checkAt(t, s.org, kitNow, "dave", "project.content.edit", inProject("p1"), Allowed)
	checkAt(t, s.org, end, "dave", "project.content.edit", inProject("p1"), Denied)
	s.at(end).when(&ExpireMemberships{Meta: Meta{Actor: SystemActor}}).
		thenEvents(&MembershipExpired{MembershipRef: MembershipRef{Scope: ScopeWorkgroup, GroupID: "g1", UserID: "dave"}, ExpiresAt: end})
	if s.org.Workgroups["g1"].Members["dave"] || len(s.org.groupsOf("dave")) != 0 {
		t.Fatal("dave is still in g1")
	}
}

func TestExtendMembershipMovesAndClearsTheEnd(t *testing.T) {
	end, later := kitNow.Add(time.Hour), kitNow.Add(48*time.Hour)
	s := given(t, neptuneTeam())
	s.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"contributor"}, ExpiresAt: rfc(end)})
	ref := MembershipRef{Scope: ScopeProject, ProjectID: "p1", UserID: "dave"}
	s.when(&ExtendMembership{Meta: by("ana"), ProjectID: "p1", UserID: "dave", ExpiresAt: rfc(later)}).
		thenEvents(&MembershipExtended{MembershipRef: ref, ExpiresAt: later, PreviousExpiresAt: end})
	checkAt(t, s.org, end, "dave", "project.content.edit", inProject("p1"), Allowed)
	checkAt(t, s.org, later, "dave", "project.content.edit", inProject("p1"), Denied)
	// Shortening into the past is refused; so is an end too far away; a contributor may not extend.
	s.when(&ExtendMembership{Meta: by("ana"), ProjectID: "p1", UserID: "dave", ExpiresAt: rfc(kitNow.Add(-time.Minute))}).thenError(CodeInvalid)
	s.when(&ExtendMembership{Meta: by("ana"), ProjectID: "p1", UserID: "dave", ExpiresAt: rfc(kitNow.Add(MaxMembershipTTL + time.Hour))}).thenError(CodeInvalid)
	s.when(&ExtendMembership{Meta: by("bob"), ProjectID: "p1", UserID: "dave", ExpiresAt: rfc(kitNow.Add(time.Minute))}).thenError(CodeForbidden)
	// An empty expires_at clears the end.
	s.when(&ExtendMembership{Meta: by("ana"), ProjectID: "p1", UserID: "dave"}).
		thenEvents(&MembershipExtended{MembershipRef: ref, PreviousExpiresAt: later})
	checkAt(t, s.org, later.Add(24*time.Hour), "dave", "project.content.edit", inProject("p1"), Allowed)
	if !s.org.NextExpiry().IsZero() {
		t.Fatalf("next expiry %v after clearing", s.org.NextExpiry())
	}
	s.when(&ExtendMembership{Meta: by("ana"), ProjectID: "p1", UserID: "dave"}).thenError(CodeConflict)
	// Once the end passed, the membership is gone: nothing to extend.
	s.do(&ExtendMembership{Meta: by("ana"), ProjectID: "p1", UserID: "dave", ExpiresAt: rfc(end)})
	s.at(end).when(&ExtendMembership{Meta: by("ana"), ProjectID: "p1", UserID: "dave", ExpiresAt: rfc(later)}).thenError(CodeNotFound)
	// Organization memberships.
	s.at(kitNow).do(&AddOrgMember{Meta: by("ana"), UserID: "erin", Role: "member", ExpiresAt: rfc(end)})
	s.when(&ExtendMembership{Meta: by("ana"), UserID: "erin", ExpiresAt: rfc(later)}).
		thenEvents(&MembershipExtended{MembershipRef: MembershipRef{Scope: ScopeOrg, UserID: "erin"}, ExpiresAt: later, PreviousExpiresAt: end})
}

func TestExpiresAtOnEveryMembershipCommand(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, neptuneTeam())
	s.when(&AddOrgMember{Meta: by("ana"), UserID: "erin", Role: "member", ExpiresAt: "tomorrow"}).thenError(CodeInvalid)
	s.when(&AddOrgMember{Meta: by("ana"), UserID: "erin", Role: "member", ExpiresAt: rfc(kitNow)}).thenError(CodeInvalid)
	s.when(&ChangeRole{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "bob"}, Roles: []string{"contributor"}, ExpiresAt: rfc(end)}).
		thenEvents(&RoleChanged{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "bob"}, Roles: []string{"contributor"},
			PreviousRoles: []string{"contributor"}, ExpiresAt: end})
	s.when(&SetMemberGrants{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "carol"}, Grants: []string{}, ExpiresAt: rfc(end)}).thenAccepted()
	if s.org.Projects["p1"].Members["u:carol"].ExpiresAt != end {
		t.Fatal("SetMemberGrants did not set the end")
	}
	// ChangeRole without expires_at keeps the end.
	s.do(&ChangeRole{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "bob"}, Roles: []string{"viewer"}})
	if s.org.Projects["p1"].Members["u:bob"].ExpiresAt != end {
		t.Fatal("ChangeRole without expires_at dropped the end")
	}
	// An invitation carries the end to the membership its acceptance creates.
	s.do(&InviteMember{Meta: by("ana"), ProjectID: "p1", UserID: "dave", Roles: []string{"viewer"}, ExpiresAt: rfc(end)})
	s.when(&AcceptInvite{Meta: by("dave"), InvitationID: "inv-1"}).thenAccepted()
	if s.org.Projects["p1"].Members["u:dave"].ExpiresAt != end {
		t.Fatal("the accepted invitation's membership has no end")
	}
	checkAt(t, s.org, end, "dave", "project.content.view", inProject("p1"), Denied)
}

func TestDryRunChangesShowTheLoss(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, neptuneTeam())
	s.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"contributor"}, ExpiresAt: rfc(end)})
	out, err := Decide(s.org, &ExpireMemberships{Meta: Meta{OrgID: kitOrg, Actor: SystemActor, DryRun: true}}, Env{Now: end})
	if err != nil {
		t.Fatal(err)
	}
	lost := false
	for _, c := range PermissionChanges(s.org, out.Events) {
		if c.UserID == "dave" && c.ProjectID == "p1" && contains(c.Lost, "project.content.edit") {
			lost = true
		}
	}
	if !lost {
		t.Fatalf("the dry run's changes do not show dave's loss: %+v", PermissionChanges(s.org, out.Events))
	}
}

func TestExpiryIndexSurvivesSnapshotAndProjectDeletion(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, neptuneTeam())
	s.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"contributor"}, ExpiresAt: rfc(end)})
	var back Org
	if err := jsonRoundTrip(s.org, &back); err != nil {
		t.Fatal(err)
	}
	back.Attach(kitPresets)
	if !back.NextExpiry().Equal(end) {
		t.Fatalf("snapshot's next expiry %v, want %v", back.NextExpiry(), end)
	}
	checkAt(t, &back, end, "dave", "project.content.edit", inProject("p1"), Denied)
	s.and(deletedEv("p1"))
	if !s.org.NextExpiry().IsZero() {
		t.Fatal("a deleted project's memberships still wait to expire")
	}
}

func jsonRoundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// SPEC §2.2 holds at every instant: an end date on the last admin, or on a project's last
// owner, would leave the organization or the project without one when it comes.
func TestEndDatesKeepTheLastAdminAndOwner(t *testing.T) {
	later := kitNow.Add(48 * time.Hour)
	t.Run("last admin", func(t *testing.T) {
		s := given(t, neptuneTeam())
		s.when(&ExtendMembership{Meta: by("ana"), UserID: "ana", ExpiresAt: rfc(later)}).
			thenErrorMentions(CodePreconditionFailed, "admin")
		// With a second admin without an end date, ana's may end.
		s.do(&ChangeOrgRole{Meta: by("ana"), UserID: "bob", Role: "admin"})
		s.when(&ExtendMembership{Meta: by("ana"), UserID: "ana", ExpiresAt: rfc(later)}).thenTypes(EvMembershipExtended)
		// Now bob is the last admin without an end: he may not be demoted.
		s.when(&ChangeOrgRole{Meta: by("ana"), UserID: "bob", Role: "member"}).thenError(CodePreconditionFailed)
	})
	t.Run("last owner", func(t *testing.T) {
		// Dataloop: olga is p1's only owner and admins do not own every project.
		s := given(t, dataloop())
		s.when(&ExtendMembership{Meta: by("olga"), ProjectID: "p1", UserID: "olga", ExpiresAt: rfc(later)}).
			thenErrorMentions(CodePreconditionFailed, "owner")
		s.when(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "olga"}, Roles: []string{"owner"}, ExpiresAt: rfc(later)}).
			thenErrorMentions(CodePreconditionFailed, "owner")
	})
}
