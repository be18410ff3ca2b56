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

// Every other way to make someone a project's only owner checks the end of their hold too
// (SPEC §2.2 at every instant). Found by the differential test (seed 12: a Dataloop admin whose
// organization membership ends created a project and was its only owner).
func TestOnlyOwnerWhoseHoldEnds(t *testing.T) {
	end := kitNow.Add(time.Hour)
	dated := &OrgMemberAdded{UserID: "tim", Email: emailOf("tim"), Name: "tim", Role: "member", ExpiresAt: end}
	t.Run("CreateProject by a member whose organization membership ends", func(t *testing.T) {
		s := given(t, dataloop(), dated)
		s.when(&CreateProject{Meta: by("tim"), ProjectID: "p9"}).
			thenErrorMentions(CodePreconditionFailed, "membership does not end")
		// The same command by a member without an end is accepted, and so is tim's once the end is lifted.
		s.when(&CreateProject{Meta: by("zoe"), ProjectID: "p8"}).thenTypes(EvProjectCreated, EvMemberAdded)
		s.do(&ExtendMembership{Meta: by("ana"), UserID: "tim"})
		s.when(&CreateProject{Meta: by("tim"), ProjectID: "p9"}).thenTypes(EvProjectCreated, EvMemberAdded)
	})
	t.Run("CreateProject by an admin whose organization membership ends", func(t *testing.T) {
		s := given(t, dataloop(), &OrgMemberAdded{UserID: "adm", Email: emailOf("adm"), Name: "adm", Role: "admin", ExpiresAt: end})
		s.when(&CreateProject{Meta: by("adm"), ProjectID: "p9"}).
			thenErrorMentions(CodePreconditionFailed, "membership does not end")
		s.when(&CreateProject{Meta: by("ana"), ProjectID: "p9"}).thenTypes(EvProjectCreated, EvMemberAdded)
	})
	t.Run("where admins own every project the creator's end takes no owner away", func(t *testing.T) {
		// Neptune: an organization Admin is Owner of every project; the last-owner rule is off.
		s := given(t, neptuneTeam(), &OrgMemberAdded{UserID: "adm", Email: emailOf("adm"), Name: "adm", Role: "admin", ExpiresAt: end})
		s.when(&CreateProject{Meta: by("adm"), ProjectID: "p9"}).thenTypes(EvProjectCreated, EvMemberAdded)
	})
	t.Run("accepting an organization invitation with an end, by a guest owner", func(t *testing.T) {
		// gus came in by e-mail as a guest and owns g1 alone; an organization invitation whose
		// membership ends would take g1's owner along at that end.
		s := given(t, dataloop(), projectEv("g1", "gus"),
			&MemberAdded{Target: Target{ProjectID: "g1"}, Principal: Principal{UserID: "gus"}, Email: emailOf("gus"), Roles: []string{"owner"}, Guest: true},
			&InvitationCreated{InvitationID: "dated", UserID: "gus", Roles: []string{"member"}, InvitedBy: "ana",
				ExpiresAt: kitNow.Add(DefaultInviteTTL), MembershipExpiresAt: end},
			&InvitationCreated{InvitationID: "open", Email: emailOf("gus"), Roles: []string{"member"}, InvitedBy: "ana",
				ExpiresAt: kitNow.Add(DefaultInviteTTL)})
		s.when(&AcceptInvite{Meta: by("gus"), InvitationID: "dated"}).
			thenErrorMentions(CodePreconditionFailed, "without an end")
		s.when(&AcceptInvite{Meta: by("gus"), InvitationID: "open", ActorEmail: emailOf("gus")}).thenTypes(EvInvitationAccepted, EvOrgMemberAdded)
	})
	t.Run("TransferProjectOwnership to a member whose hold ends", func(t *testing.T) {
		// ICA has one owner per project: the transfer takes bob's ownership away. The transfer ran
		// the guard already; this pins that it counts the organization membership's end too.
		s := given(t, ica(), &OrgMemberAdded{UserID: "tim", Email: emailOf("tim"), Name: "tim", Role: "member", ExpiresAt: end},
			&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"}, Email: emailOf("dave"),
				Roles: []string{"project_viewer"}, ExpiresAt: end})
		s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "tim"}).
			thenErrorMentions(CodePreconditionFailed, "owner")
		s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "dave"}).
			thenErrorMentions(CodePreconditionFailed, "owner")
		s.when(&TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "carol"}).thenAccepted()
	})
}

// An invitation whose own expiry came before its invitee's organization membership ended had
// expired by then: the end's cascade does not revoke it (it reads as expired), while one still
// running at the end is revoked. RemoveOrgMember decides the same at its own instant.
func TestOrganizationEndLeavesAnExpiredInvitationExpired(t *testing.T) {
	early, end := kitNow.Add(time.Hour), kitNow.Add(2*time.Hour)
	history := []any{dataloop(),
		&OrgMemberAdded{UserID: "tim", Email: emailOf("tim"), Name: "tim", Role: "member", ExpiresAt: end},
		&InvitationCreated{InvitationID: "gone", ProjectID: "p1", UserID: "tim", Roles: []string{"annotator"}, InvitedBy: "olga", ExpiresAt: early},
		&InvitationCreated{InvitationID: "live", ProjectID: "p1", UserID: "tim", Roles: []string{"annotator"}, InvitedBy: "olga", ExpiresAt: end.Add(time.Hour)},
	}
	revoked := func(evs []Event) map[string]bool {
		out := map[string]bool{}
		for _, ev := range evs {
			if r, ok := ev.(*InvitationRevoked); ok {
				out[r.InvitationID] = true
			}
		}
		return out
	}
	s := given(t, history...)
	evs, _ := s.org.dueExpirations(end.Add(time.Minute))
	if got := revoked(evs); got["gone"] || !got["live"] {
		t.Fatalf("at tim's end: revoked %v, want only the invitation still running", got)
	}
	s = given(t, history...).at(early.Add(time.Minute))
	out := s.do(&RemoveOrgMember{Meta: by("ana"), UserID: "tim"})
	if got := revoked(out.Events); got["gone"] || !got["live"] {
		t.Fatalf("RemoveOrgMember after the first invitation expired: revoked %v, want only the running one", got)
	}
}

// ChangeRole and SetMemberGrants that move an end record the end they replaced, for auditors;
// without a new end they record none.
func TestMovedEndRecordsThePreviousOne(t *testing.T) {
	first, second := kitNow.Add(time.Hour), kitNow.Add(2*time.Hour)
	ref := MemberRef{ProjectID: "p1", UserID: "dev"}
	s := given(t, dataloop())
	s.do(&ChangeRole{Meta: by("olga"), MemberRef: ref, Roles: []string{"annotator"}, ExpiresAt: rfc(first)})
	out := s.do(&ChangeRole{Meta: by("olga"), MemberRef: ref, Roles: []string{"developer"}, ExpiresAt: rfc(second)})
	if rc := out.Events[len(out.Events)-1].(*RoleChanged); !rc.ExpiresAt.Equal(second) || !rc.PreviousExpiresAt.Equal(first) {
		t.Fatalf("ChangeRole moving the end: %+v", rc)
	}
	out = s.do(&SetMemberGrants{Meta: by("olga"), MemberRef: ref, ExpiresAt: rfc(first)})
	if gs := out.Events[len(out.Events)-1].(*GrantsSet); !gs.ExpiresAt.Equal(first) || !gs.PreviousExpiresAt.Equal(second) {
		t.Fatalf("SetMemberGrants moving the end: %+v", gs)
	}
	out = s.do(&ChangeRole{Meta: by("olga"), MemberRef: ref, Roles: []string{"annotator"}})
	if rc := out.Events[len(out.Events)-1].(*RoleChanged); !rc.ExpiresAt.IsZero() || !rc.PreviousExpiresAt.IsZero() {
		t.Fatalf("ChangeRole keeping the end: %+v", rc)
	}
}
