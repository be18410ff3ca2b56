package domain

import "testing"

// Adding users or changing roles is not a way to become a project owner: only owners
// (directly, through a workgroup, or as admins who own every project) give the owner role.
func TestOnlyOwnersGiveTheOwnerRole(t *testing.T) {
	t.Run("refused: a Developer promotes himself to Owner", func(t *testing.T) {
		given(t, dataloop()).when(changeRole("dev", "p1", "dev", "owner")).thenError(CodeForbidden)
	})
	t.Run("refused: an Annotation Manager adds a new Owner", func(t *testing.T) {
		given(t, dataloop()).
			when(&AddMember{Meta: by("am"), MemberRef: MemberRef{ProjectID: "p1", UserID: "zoe"}, Roles: []string{"owner"}}).
			thenError(CodeForbidden)
	})
	t.Run("refused: an Annotation Manager invites an Owner", func(t *testing.T) {
		given(t, dataloop()).
			when(&InviteMember{Meta: by("am"), ProjectID: "p1", Email: "x@example.com", Role: "owner"}).
			thenError(CodeForbidden)
	})
	t.Run("the Owner gives the owner role", func(t *testing.T) {
		given(t, dataloop()).when(changeRole("olga", "p1", "dev", "owner")).thenTypes(EvRoleChanged)
	})
	t.Run("an Annotation Manager still gives the roles below", func(t *testing.T) {
		given(t, dataloop()).
			when(&AddMember{Meta: by("am"), MemberRef: MemberRef{ProjectID: "p1", UserID: "zoe"}, Roles: []string{"annotator"}}).
			thenTypes(EvMemberAdded)
	})
	t.Run("a Neptune admin owns every project and gives the owner role", func(t *testing.T) {
		given(t, neptuneTeam()).when(changeRole("ana", "p1", "carol", "owner")).thenAccepted()
	})
}

// A labeling company's annotation manager revokes only its own company's invitations.
func TestPartnerRevokesOnlyItsOwnInvitations(t *testing.T) {
	history := append(dataloopWithPartner(),
		&InvitationCreated{InvitationID: "in-house", ProjectID: "p1", Email: "x@example.com", Roles: []string{"annotator"}, InvitedBy: "olga", ExpiresAt: kitNow.Add(DefaultInviteTTL)},
		&InvitationCreated{InvitationID: "theirs", ProjectID: "p1", Email: "y@lab.org", Roles: []string{"annotator"}, PartnerID: "lab", InvitedBy: "lea", ExpiresAt: kitNow.Add(DefaultInviteTTL)},
	)
	given(t, history).when(&RevokeInvite{Meta: by("lea"), InvitationID: "in-house"}).thenError(CodeForbidden)
	given(t, history).when(&RevokeInvite{Meta: by("lea"), InvitationID: "theirs"}).thenTypes(EvInvitationRevoked)
}

// Removing a member from the organization also revokes the invitations addressed to their e-mail.
func TestRemovalRevokesInvitationsToTheMembersEmail(t *testing.T) {
	history := append(dataloop(),
		&InvitationCreated{InvitationID: "by-mail", ProjectID: "p1", Email: emailOf("zoe"), Roles: []string{"annotator"}, InvitedBy: "olga", ExpiresAt: kitNow.Add(DefaultInviteTTL)},
	)
	given(t, history).
		when(&RemoveOrgMember{Meta: by("ana"), UserID: "zoe"}).
		thenEvents(&InvitationRevoked{InvitationID: "by-mail", ProjectID: "p1", Reason: "org_member_removed"}, &OrgMemberRemoved{UserID: "zoe"})
}

// Labels are looked up as people read them: the seed's no-break space, a plain space, any case.
func TestLabelLookupIgnoresKindsOfSpace(t *testing.T) {
	p := MustLoadPresets()["dataloop"]
	for _, ref := range []string{"Create\u00a0Storage Drivers", "Create Storage Drivers", "create  storage drivers"} {
		if perm, ok := p.Permission(ref); !ok || perm.ID != "storage_driver.create" {
			t.Fatalf("lookup %q: %v %v", ref, perm, ok)
		}
	}
}
