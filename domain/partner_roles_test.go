package domain

import "testing"

// SPEC §2.10: a labeling company's members hold only the partner roles (Dataloop: Annotator,
// Annotation Manager), whoever gives the membership. The project's own team may put
// organization members and workgroups into a company, but only with those roles; Developer or
// Owner goes to a membership outside any company. Found by the differential test's SPEC oracle
// (seed 12: an owner changed a workgroup in a company to Developer).
func TestPartnerMembersHoldOnlyPartnerRoles(t *testing.T) {
	t.Run("AddMember into a partner by the owner", func(t *testing.T) {
		s := given(t, dataloopWithPartner())
		s.when(&AddMember{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "zoe"}, Roles: []string{"developer"}, PartnerID: "lab"}).
			thenErrorMentions(CodePreconditionFailed, "partner roles")
		s.when(&AddMember{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", UserID: "zoe"}, Roles: []string{"annotator"}, PartnerID: "lab"}).
			thenTypes(EvMemberAdded)
	})
	t.Run("ChangeRole of a workgroup in a partner by the owner", func(t *testing.T) {
		s := given(t, dataloopWithPartner(), workgroupEv("wg"), inGroupEv("wg", "zoe"),
			&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{GroupID: "wg"}, Name: "wg", Roles: []string{"annotation_manager"}, PartnerID: "lab"})
		s.when(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", GroupID: "wg"}, Roles: []string{"developer", "annotation_manager"}}).
			thenErrorMentions(CodePreconditionFailed, "partner roles")
		s.when(&ChangeRole{Meta: by("olga"), MemberRef: MemberRef{ProjectID: "p1", GroupID: "wg"}, Roles: []string{"annotator"}}).
			thenTypes(EvRoleChanged)
	})
	t.Run("InviteMember into a partner by the owner", func(t *testing.T) {
		given(t, dataloopWithPartner()).
			when(&InviteMember{Meta: by("olga"), ProjectID: "p1", Email: "lou@lab.org", Roles: []string{"developer"}, PartnerID: "lab"}).
			thenErrorMentions(CodePreconditionFailed, "partner roles")
	})
	t.Run("accepting an invitation that adds a role to a partner member", func(t *testing.T) {
		s := given(t, dataloopWithPartner(), invitedEv("up", "p1", "", "leo", "olga", "developer"))
		s.when(&AcceptInvite{Meta: by("leo"), InvitationID: "up"}).thenErrorMentions(CodePreconditionFailed, "partner roles")
	})
	t.Run("TransferProjectOwnership to a partner member", func(t *testing.T) {
		// zoe, an organization member, was put into the company as Annotator.
		s := given(t, dataloopWithPartner(), &MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "zoe"},
			Email: emailOf("zoe"), Name: "zoe", Roles: []string{"annotator"}, PartnerID: "lab"})
		s.when(&TransferProjectOwnership{Meta: by("olga"), ProjectID: "p1", NewOwner: "zoe"}).
			thenErrorMentions(CodePreconditionFailed, "partner roles")
	})
}
