package domain

import (
	"testing"
	"time"
)

// SPEC §2.2 holds at every instant: an owner counts only when nothing ends their hold. The end
// of an organization membership takes the user's project memberships along (cascadeRemoval),
// so the last owner's organization membership may not get an end date either; and
// SetMemberGrants, which takes expires_at like ChangeRole, is guarded like it. Found by the
// differential test's SPEC oracle (internal/oracle) on generated histories.
func TestLastOwnerKeepsAnUndatedHold(t *testing.T) {
	end := kitNow.Add(time.Hour)
	t.Run("organization membership of the last owner", func(t *testing.T) {
		// Dataloop: olga is p1's only owner.
		s := given(t, dataloop())
		s.when(&ExtendMembership{Meta: by("ana"), UserID: "olga", ExpiresAt: rfc(end)}).
			thenErrorMentions(CodePreconditionFailed, "owner")
		// With a second owner without any end, olga's membership may end.
		s.do(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dev"}, Roles: []string{"owner"}})
		s.when(&ExtendMembership{Meta: by("ana"), UserID: "olga", ExpiresAt: rfc(end)}).thenTypes(EvMembershipExtended)
		if v := s.org.At(end).Violations(); len(v) != 0 {
			t.Fatalf("the state broke SPEC §2.2 at olga's end: %v", v)
		}
	})
	t.Run("an owner whose organization membership ends does not count", func(t *testing.T) {
		s := given(t, dataloop())
		s.do(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dev"}, Roles: []string{"owner"}})
		s.do(&ExtendMembership{Meta: by("ana"), UserID: "dev", ExpiresAt: rfc(end)})
		// dev's ownership ends with his organization membership: olga may not leave.
		s.when(&RemoveMember{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "olga"}}).
			thenErrorMentions(CodePreconditionFailed, "owner")
	})
	t.Run("a guest owner joining the organization for a time", func(t *testing.T) {
		s := given(t, dataloop(), projectEv("g1", "gus"),
			&MemberAdded{Target: Target{ProjectID: "g1"}, Principal: Principal{UserID: "gus"}, Email: emailOf("gus"), Roles: []string{"owner"}, Guest: true})
		s.when(&AddOrgMember{Meta: by("ana"), UserID: "gus", Email: emailOf("gus"), ExpiresAt: rfc(end)}).
			thenErrorMentions(CodePreconditionFailed, "owner")
		s.when(&AddOrgMember{Meta: by("ana"), UserID: "gus", Email: emailOf("gus")}).thenTypes(EvOrgMemberAdded)
	})
	t.Run("SetMemberGrants with an end on the last owner", func(t *testing.T) {
		s := given(t, dataloop())
		s.when(&SetMemberGrants{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "olga"}, ExpiresAt: rfc(end)}).
			thenErrorMentions(CodePreconditionFailed, "owner")
		s.when(&SetMemberGrants{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dev"}, ExpiresAt: rfc(end)}).
			thenTypes(EvGrantsSet)
	})
}
