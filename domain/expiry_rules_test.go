package domain

import (
	"testing"
	"time"
)

// SPEC §2.2: a workgroup owns a project only through members without an end date; one whose
// members all leave at some instant would leave the project without an owner then.
func TestTimeBoundWorkgroupDoesNotOwnAProject(t *testing.T) {
	end := kitNow.Add(10 * time.Second)
	s := given(t, dataloop(), workgroupEv("wg2"), projectEv("own", "ann"), memberEv("own", "ann", "owner"))
	s.do(&AddWorkgroupMember{Meta: by("ana"), GroupID: "wg2", UserID: "zoe", ExpiresAt: rfc(end)})
	s.and(groupOnProjectEv("own", "wg2", "owner"))

	// Given wg2 owns own only through zoe, who leaves in ten seconds,
	// when ann, the only other owner, leaves, then she is refused: own would have no owner at zoe's end.
	s.when(&RemoveMember{Meta: by("ann"), MemberRef: MemberRef{ProjectID: "own", UserID: "ann"}}).
		thenErrorMentions(CodePreconditionFailed, "owner")
	if v := s.org.At(end).Violations(); len(v) != 0 {
		t.Fatalf("the state broke SPEC §2.2 at zoe's end: %v", v)
	}

	// Given wg2 also has dev without an end date, ann may leave: wg2 owns own through dev.
	s.do(&AddWorkgroupMember{Meta: by("ana"), GroupID: "wg2", UserID: "dev"})
	s.when(&RemoveMember{Meta: by("ann"), MemberRef: MemberRef{ProjectID: "own", UserID: "ann"}}).thenTypes(EvMemberRemoved)

	// Then an end date on dev's membership of wg2, or his removal, would leave own without an owner.
	s.when(&ExtendMembership{Meta: by("ana"), GroupID: "wg2", UserID: "dev", ExpiresAt: rfc(kitNow.Add(time.Hour))}).
		thenErrorMentions(CodePreconditionFailed, "owner")
	s.when(&RemoveWorkgroupMember{Meta: by("ana"), GroupID: "wg2", UserID: "dev"}).
		thenErrorMentions(CodePreconditionFailed, "owner")
	// Adding a time-bound member keeps dev's ownership: accepted.
	s.when(&AddWorkgroupMember{Meta: by("ana"), GroupID: "wg2", UserID: "olga", ExpiresAt: rfc(kitNow.Add(time.Hour))}).thenTypes(EvWorkgroupMemberAdded)
	if v := s.org.At(kitNow.Add(2 * time.Hour)).Violations(); len(v) != 0 {
		t.Fatalf("violations after the ends: %v", v)
	}
}

// Nobody moves or clears the end of their own membership: another manager must.
func TestTimeBoundMemberMayNotExtendTheirOwnMembership(t *testing.T) {
	end := kitNow.Add(time.Hour)
	t.Run("project", func(t *testing.T) {
		// Dataloop: am, annotation manager on p1, may change roles (users.role.change).
		s := given(t, dataloop())
		s.do(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "am"}, Roles: []string{"annotation_manager"}, ExpiresAt: rfc(end)})
		s.when(&ExtendMembership{Meta: by("am"), ProjectID: "p1", UserID: "am", ExpiresAt: ""}).
			thenErrorMentions(CodeForbidden, "another manager must")
		s.when(&ExtendMembership{Meta: by("am"), ProjectID: "p1", UserID: "am", ExpiresAt: rfc(end.Add(time.Hour))}).
			thenErrorMentions(CodeForbidden, "ExtendMembership")
		s.when(&ExtendMembership{Meta: by("am"), ProjectID: "p1", UserID: "am", ExpiresAt: rfc(end.Add(-time.Minute))}).
			thenError(CodeForbidden)
		// Another manager may; am still manages others' ends.
		s.when(&ExtendMembership{Meta: by("olga"), ProjectID: "p1", UserID: "am", ExpiresAt: ""}).thenTypes(EvMembershipExtended)
		s.when(&ExtendMembership{Meta: by("am"), ProjectID: "p1", UserID: "ann", ExpiresAt: rfc(end)}).thenTypes(EvMembershipExtended)
		// A refusal names ExtendMembership, not the command it is authorized as.
		s.when(&ExtendMembership{Meta: by("ann"), ProjectID: "p1", UserID: "dev", ExpiresAt: rfc(end)}).
			thenErrorMentions(CodeForbidden, "may not ExtendMembership here")
	})
	t.Run("organization and workgroup", func(t *testing.T) {
		s := given(t, neptuneTeam(), workgroupEv("g1"))
		s.do(&ChangeOrgRole{Meta: by("ana"), UserID: "bob", Role: "admin"})
		s.do(&ExtendMembership{Meta: by("bob"), UserID: "ana", ExpiresAt: rfc(end)})
		s.when(&ExtendMembership{Meta: by("ana"), UserID: "ana", ExpiresAt: ""}).thenErrorMentions(CodeForbidden, "another manager must")
		s.when(&ExtendMembership{Meta: by("ana"), UserID: "ana", ExpiresAt: rfc(end.Add(time.Hour))}).thenError(CodeForbidden)
		s.when(&ExtendMembership{Meta: by("bob"), UserID: "ana", ExpiresAt: ""}).thenTypes(EvMembershipExtended)

		s.do(&AddWorkgroupMember{Meta: by("ana"), GroupID: "g1", UserID: "ana", ExpiresAt: rfc(end)})
		s.when(&ExtendMembership{Meta: by("ana"), GroupID: "g1", UserID: "ana", ExpiresAt: ""}).thenErrorMentions(CodeForbidden, "another manager must")
		s.when(&ExtendMembership{Meta: by("bob"), GroupID: "g1", UserID: "ana", ExpiresAt: ""}).thenTypes(EvMembershipExtended)
		// A refusal names ExtendMembership.
		s.when(&ExtendMembership{Meta: by("carol"), UserID: "bob", ExpiresAt: rfc(end)}).
			thenErrorMentions(CodeForbidden, "may not ExtendMembership here")
	})
}

// "10 years" is ten calendar years: the same date ten years on is allowed across leap days.
func TestExpiresAtTenCalendarYearsAhead(t *testing.T) {
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	s := given(t, neptuneTeam()).at(now)
	extend := func(user, at string) *scenario {
		return s.when(&ExtendMembership{Meta: by("ana"), ProjectID: "p1", UserID: user, ExpiresAt: at})
	}
	// 2036-11-28 is 3,651 days ahead (leap days 2028, 2032, 2036) yet within ten years.
	extend("bob", "2036-11-28T00:00:00Z").thenTypes(EvMembershipExtended)
	extend("carol", "2036-11-29T00:00:00Z").thenTypes(EvMembershipExtended) // exactly ten years
	s.when(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"contributor"}, ExpiresAt: "2036-11-29T00:00:01Z"}).
		thenErrorMentions(CodeInvalid, "MaxMembershipTTL")
}

// ChangeRole and SetMemberGrants take expires_at too: they are no way around the rule that a
// time-bound member does not move their own end.
func TestTimeBoundMemberMayNotMoveTheirOwnEndThroughOtherCommands(t *testing.T) {
	end := kitNow.Add(time.Hour)
	s := given(t, dataloop())
	s.do(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "am"}, Roles: []string{"annotation_manager"}, ExpiresAt: rfc(end)})
	s.when(&ChangeRole{Meta: by("am"), MemberRef: MemberRef{ProjectID: "p1", UserID: "am"}, Roles: []string{"annotation_manager"}, ExpiresAt: rfc(end.Add(24 * time.Hour))}).
		thenErrorMentions(CodeForbidden, "ChangeRole", "another manager must")
	s.when(&SetMemberGrants{Meta: by("am"), MemberRef: MemberRef{ProjectID: "p1", UserID: "am"}, ExpiresAt: rfc(end.Add(24 * time.Hour))}).
		thenErrorMentions(CodeForbidden, "another manager must")
	// Another manager may move it; am still sets others' ends.
	s.when(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "am"}, Roles: []string{"annotation_manager"}, ExpiresAt: rfc(end.Add(24 * time.Hour))}).
		thenTypes(EvRoleChanged)
	s.when(&ChangeRole{Meta: by("am"), MemberRef: MemberRef{ProjectID: "p1", UserID: "ann"}, Roles: []string{"annotator"}, ExpiresAt: rfc(end)}).
		thenTypes(EvRoleChanged)
}
