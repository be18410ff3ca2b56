package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// ---- tenancy kit ----

// ownedBy returns a history whose OrganizationCreated records account as the owner.
func ownedBy(account string, history []Event) []Event {
	out := append([]Event(nil), history...)
	created := *out[0].(*OrganizationCreated)
	created.Account = account
	out[0] = &created
	return out
}

// as sets the calling account of the scenario's next decisions.
func (s *scenario) as(account string, operator bool) *scenario {
	s.env.Account, s.env.Operator = account, operator
	return s
}

// withTokens makes the scenario issue tokens tok-1, tok-2, ... and, when required, demand them.
func (s *scenario) withTokens(required bool) *scenario {
	n := 0
	s.env.NewToken = func() string { n++; return fmt.Sprintf("tok-%d", n) }
	s.env.RequireInviteToken = required
	return s
}

// thenMessage asserts the refusal's message contains want.
func (s *scenario) thenMessage(want string) *scenario {
	s.t.Helper()
	var de *Error
	if !errors.As(s.err, &de) || !strings.Contains(de.Message, want) {
		s.t.Fatalf("%s: error %v, want a message containing %q", s.cmd.CommandName(), s.err, want)
	}
	return s
}

// everyCommand returns one command of each kind the domain decides, issued by actor in kitOrg.
func everyCommand(t *testing.T, actor string) []Command {
	t.Helper()
	var out []Command
	for _, name := range CommandNames() {
		cmd, ok := NewCommand(name)
		if !ok {
			cmd = &ExpireInvites{}
		}
		*cmd.CommandMeta() = Meta{OrgID: kitOrg, Actor: actor}
		out = append(out, cmd)
	}
	return out
}

// ---- who reaches an organization ----

func TestTenancyOtherAccountSeesNotFoundLikeAnUnknownOrganization(t *testing.T) {
	owned := ownedBy("APP_A", neptuneTeam())
	for _, cmd := range everyCommand(t, "ana") {
		if cmd.CommandName() == CmdCreateOrganization {
			continue // decided on an organization that does not exist yet: TestTenancyCreateOrganizationRecordsItsAccount
		}
		// Given: an organization that does not exist, and one owned by APP_A.
		unknown := given(t).as("APP_B", false).when(cmd).thenError(CodeNotFound)
		// When APP_B commands the one owned by APP_A, the answer is the same, byte for byte.
		foreign := given(t, owned).as("APP_B", false).when(cmd).thenError(CodeNotFound)
		if unknown.err.Error() != foreign.err.Error() {
			t.Errorf("%s: foreign organization answers %q, an unknown one %q", cmd.CommandName(), foreign.err, unknown.err)
		}
	}
	t.Run("a realistic attack: making oneself admin of another tenant's organization", func(t *testing.T) {
		given(t, owned).as("APP_B", false).
			when(&AddOrgMember{Meta: by("ana"), UserID: "mallory", Role: "admin"}).
			thenError(CodeNotFound).thenMessage("organization acme not found")
	})
}

func TestTenancyOwnerGrantedOperatorAndInsecureModeReach(t *testing.T) {
	add := func() Command {
		return &AddOrgMember{Meta: by("ana"), UserID: "zed", Email: emailOf("zed"), Name: "zed"}
	}
	history := append(ownedBy("APP_A", neptuneTeam()), &OrganizationAccessGranted{Account: "APP_B"})
	given(t, history).as("APP_A", false).when(add()).thenTypes(EvOrgMemberAdded)
	given(t, history).as("APP_B", false).when(add()).thenTypes(EvOrgMemberAdded)
	given(t, history).as("OPS", true).when(add()).thenTypes(EvOrgMemberAdded)
	given(t, history).as("", false).when(add()).thenTypes(EvOrgMemberAdded)
	given(t, history).as("APP_C", false).when(add()).thenError(CodeNotFound)

	o := given(t, history).org
	for _, c := range []struct {
		account  string
		operator bool
		want     bool
	}{{"APP_A", false, true}, {"APP_B", false, true}, {"APP_C", false, false}, {"APP_C", true, true}, {"", false, true}} {
		if got := o.AccessibleBy(c.account, c.operator); got != c.want {
			t.Errorf("AccessibleBy(%q, %v) = %v, want %v", c.account, c.operator, got, c.want)
		}
	}
}

func TestTenancyOrganizationCreatedInInsecureModeReachesOnlyOperators(t *testing.T) {
	add := func() Command { return &AddOrgMember{Meta: by("ana"), UserID: "zed"} }
	given(t, neptuneTeam()).as("APP_A", false).when(add()).thenError(CodeNotFound)
	given(t, neptuneTeam()).as("OPS", true).when(add()).thenTypes(EvOrgMemberAdded)
	given(t, neptuneTeam()).as("", false).when(add()).thenTypes(EvOrgMemberAdded)
	// An operator hands it to an account, which then reaches it.
	s := given(t, neptuneTeam()).as("OPS", true)
	s.when(&GrantOrganizationAccess{Meta: by("ana"), Account: "APP_A"}).
		thenEvents(&OrganizationAccessGranted{Account: "APP_A"})
	s.as("APP_A", false).when(add()).thenTypes(EvOrgMemberAdded)
}

func TestTenancyCreateOrganizationRecordsItsAccount(t *testing.T) {
	create := func() Command {
		return &CreateOrganization{Meta: by("ana"), Name: "Acme", Kind: KindTeam, Preset: "neptune"}
	}
	s := given(t).as("APP_A", false)
	s.when(create()).thenEvents(recordingPreset(&OrganizationCreated{Name: "Acme", Kind: KindTeam, Preset: "neptune", AdminID: "ana",
		AdminRole: "admin", Account: "APP_A"}))
	if s.org.OwnerAccount != "APP_A" || !s.org.AccessibleBy("APP_A", false) || s.org.AccessibleBy("APP_B", false) {
		t.Fatalf("owner %q: APP_A must reach it and APP_B must not", s.org.OwnerAccount)
	}
	// Another account creating the same id learns nothing more than the owner would: the id is taken.
	s.as("APP_B", false).when(create()).thenError(CodeConflict).thenMessage("organization acme already exists")

	// Insecure mode: the event's JSON is what it was before accounts (no "account" key).
	in := given(t).when(create()).thenTypes(EvOrganizationCreated)
	raw, err := json.Marshal(in.out.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"account"`) {
		t.Fatalf("insecure OrganizationCreated %s carries an account", raw)
	}
	if b, _ := json.Marshal(in.org); strings.Contains(string(b), "account") {
		t.Fatalf("insecure state %s carries accounts", b)
	}
}

// ---- grant and revoke ----

func TestTenancyGrantAndRevoke(t *testing.T) {
	owned := ownedBy("APP_A", neptuneTeam())
	grant := func(actor, account string) Command {
		return &GrantOrganizationAccess{Meta: by(actor), Account: account}
	}
	revoke := func(actor, account string) Command {
		return &RevokeOrganizationAccess{Meta: by(actor), Account: account}
	}
	t.Run("the owner account's admin grants; the granted account then reaches the organization", func(t *testing.T) {
		s := given(t, owned).as("APP_B", false)
		s.when(&RenameProject{Meta: by("ana"), ProjectID: "p1", Name: "x"}).thenError(CodeNotFound)
		s.as("APP_A", false).when(grant("ana", "APP_B")).thenEvents(&OrganizationAccessGranted{Account: "APP_B"})
		s.as("APP_B", false).when(&RenameProject{Meta: by("ana"), ProjectID: "p1", Name: "x"}).thenTypes(EvProjectRenamed)
	})
	t.Run("a revoked account loses access", func(t *testing.T) {
		s := given(t, owned, &OrganizationAccessGranted{Account: "APP_B"}).as("APP_A", false)
		s.when(revoke("ana", "APP_B")).thenEvents(&OrganizationAccessRevoked{Account: "APP_B"})
		s.as("APP_B", false).when(&RenameProject{Meta: by("ana"), ProjectID: "p1", Name: "x"}).thenError(CodeNotFound)
		if len(s.org.Accounts) != 0 {
			t.Fatalf("accounts %v after the revocation", s.org.Accounts)
		}
	})
	t.Run("a granted account may not grant or revoke", func(t *testing.T) {
		s := given(t, owned, &OrganizationAccessGranted{Account: "APP_B"}).as("APP_B", false)
		s.when(grant("ana", "APP_C")).thenError(CodeForbidden).thenMessage("only the account that owns organization acme")
		s.when(revoke("ana", "APP_B")).thenError(CodeForbidden)
	})
	t.Run("the actor must be an organization admin", func(t *testing.T) {
		given(t, owned).as("APP_A", false).when(grant("bob", "APP_B")).thenError(CodeForbidden).thenMessage("only a admin")
		given(t, owned).as("", false).when(grant("bob", "APP_B")).thenError(CodeForbidden)
		given(t, owned).as("OPS", true).when(grant("bob", "APP_B")).thenError(CodeForbidden)
	})
	t.Run("an operator account grants and revokes", func(t *testing.T) {
		s := given(t, owned).as("OPS", true)
		s.when(grant("ana", "APP_B")).thenTypes(EvOrganizationAccessGranted)
		s.when(revoke("ana", "APP_B")).thenTypes(EvOrganizationAccessRevoked)
	})
	t.Run("granting twice, granting the owner, revoking a non-granted account are conflicts", func(t *testing.T) {
		s := given(t, owned, &OrganizationAccessGranted{Account: "APP_B"}).as("APP_A", false)
		s.when(grant("ana", "APP_B")).thenError(CodeConflict)
		s.when(grant("ana", "APP_A")).thenError(CodeConflict)
		s.when(revoke("ana", "APP_C")).thenError(CodeConflict)
	})
	t.Run("the owner account cannot be revoked", func(t *testing.T) {
		given(t, owned).as("APP_A", false).when(revoke("ana", "APP_A")).
			thenError(CodePreconditionFailed).thenMessage("cannot be revoked")
	})
	t.Run("account names", func(t *testing.T) {
		for _, bad := range []string{"", "$G", "$SYS", "APP.A", "APP A", strings.Repeat("A", 129)} {
			given(t, owned).as("APP_A", false).when(grant("ana", bad)).thenError(CodeInvalid)
		}
		// A public key of operator/JWT mode is a valid account.
		key := "ACZSWBJ4SYILK7QVDELO64VX3EFWB6CXCPMEBN3WKABERSPSC2HSKZSE"
		given(t, owned).as("APP_A", false).when(grant("ana", key)).thenEvents(&OrganizationAccessGranted{Account: key})
	})
	t.Run("grants are bounded by MaxGrantedAccounts", func(t *testing.T) {
		s := given(t, owned).as("APP_A", false)
		for i := range MaxGrantedAccounts {
			s.and(&OrganizationAccessGranted{Account: fmt.Sprintf("APP_%d", i)})
		}
		s.when(grant("ana", "ONE_TOO_MANY")).thenError(CodePreconditionFailed).thenMessage("MaxGrantedAccounts")
	})
	t.Run("Clone does not share the granted accounts", func(t *testing.T) {
		s := given(t, owned, &OrganizationAccessGranted{Account: "APP_B"})
		c := s.org.Clone()
		Evolve(c, &OrganizationAccessGranted{Account: "APP_C"})
		Evolve(c, &OrganizationAccessRevoked{Account: "APP_B"})
		if s.org.AccessibleBy("APP_C", false) || !s.org.AccessibleBy("APP_B", false) {
			t.Fatalf("the clone's grants leaked into the original: %v", s.org.Accounts)
		}
	})
}

// ---- invitations prove their invitee ----

func TestTenancyInvitationTokens(t *testing.T) {
	invite := func() Command {
		return &InviteMember{Meta: by("bob"), ProjectID: "p1", Email: "zed@freelance.org", Role: "project_viewer"}
	}
	accept := func(token string) Command {
		return &AcceptInvite{Meta: by("zed"), InvitationID: "inv-1", ActorEmail: "zed@freelance.org", Token: token}
	}
	invited := func(t *testing.T, required bool) *scenario {
		t.Helper()
		s := given(t, ica()).withTokens(required)
		s.when(invite()).thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: "zed@freelance.org",
			Roles: []string{"project_viewer"}, InvitedBy: "bob", ExpiresAt: kitNow.Add(DefaultInviteTTL), TokenSHA256: TokenSHA256("tok-1")})
		if r := s.out.Result.(InviteMemberResult); r.InvitationToken != "tok-1" {
			t.Fatalf("result %+v, want the token tok-1", r)
		}
		return s
	}

	t.Run("the token is returned once and only its hash is logged", func(t *testing.T) {
		s := invited(t, true)
		raw, _ := json.Marshal(s.out.Events[0])
		if strings.Contains(string(raw), "tok-1") {
			t.Fatalf("InvitationCreated %s carries the token itself", raw)
		}
		if len(TokenSHA256("tok-1")) != 64 {
			t.Fatalf("TokenSHA256 is not hex SHA-256")
		}
	})
	t.Run("secured mode: a missing token is refused", func(t *testing.T) {
		invited(t, true).when(accept("")).thenError(CodeForbidden).thenMessage("token is required")
		invited(t, true).when(&RejectInvite{Meta: by("zed"), InvitationID: "inv-1", ActorEmail: "zed@freelance.org"}).
			thenError(CodeForbidden).thenMessage("token is required")
	})
	t.Run("a wrong token is refused in either mode", func(t *testing.T) {
		invited(t, true).when(accept("tok-2")).thenError(CodeForbidden).thenMessage("does not match")
		invited(t, false).when(accept("tok-2")).thenError(CodeForbidden).thenMessage("does not match")
		invited(t, true).when(accept(strings.Repeat("x", MaxInviteTokenLen+1))).thenError(CodeInvalid).thenMessage("MaxInviteTokenLen")
	})
	t.Run("the right token answers", func(t *testing.T) {
		invited(t, true).when(accept("tok-1")).thenTypes(EvInvitationAccepted, EvMemberAdded)
		invited(t, true).when(&RejectInvite{Meta: by("zed"), InvitationID: "inv-1", ActorEmail: "zed@freelance.org", Token: "tok-1"}).
			thenTypes(EvInvitationRejected)
	})
	t.Run("the token does not replace the e-mail: the actor_email must still be the invited one", func(t *testing.T) {
		invited(t, true).when(&AcceptInvite{Meta: by("mallory"), InvitationID: "inv-1", ActorEmail: "mallory@evil.org", Token: "tok-1"}).
			thenError(CodeForbidden)
	})
	t.Run("insecure quick start: actor_email alone answers, as before tokens", func(t *testing.T) {
		invited(t, false).when(accept("")).thenTypes(EvInvitationAccepted, EvMemberAdded)
	})
	t.Run("secured mode: an invitation logged without a token cannot be answered by e-mail", func(t *testing.T) {
		s := given(t, ica(), invitedEv("inv-1", "p1", "zed@freelance.org", "", "bob", "project_viewer")).withTokens(true)
		s.when(accept("")).thenError(CodeForbidden)
		s.when(accept("anything")).thenError(CodeForbidden).thenMessage("does not match")
	})
	t.Run("without a token generator nothing changes: no hash, no token", func(t *testing.T) {
		s := given(t, ica())
		s.when(invite()).thenEvents(&InvitationCreated{InvitationID: "inv-1", ProjectID: "p1", Email: "zed@freelance.org",
			Roles: []string{"project_viewer"}, InvitedBy: "bob", ExpiresAt: kitNow.Add(DefaultInviteTTL)})
		raw, _ := json.Marshal(s.out.Result)
		if string(raw) != `{"invitation_id":"inv-1"}` {
			t.Fatalf("result %s, want the result of before tokens", raw)
		}
	})
	t.Run("a user-id invitation is answered only by that user and takes no token", func(t *testing.T) {
		s := given(t, ica()).withTokens(true)
		s.when(&InviteMember{Meta: by("bob"), ProjectID: "p1", UserID: "dave", Role: "project_viewer"}).thenTypes(EvInvitationCreated)
		if r := s.out.Result.(InviteMemberResult); r.InvitationToken != "" || s.org.Invitations["inv-1"].TokenSHA256 != "" {
			t.Fatalf("a user-id invitation got a token: %+v", r)
		}
		s.when(&AcceptInvite{Meta: by("carol"), InvitationID: "inv-1", ActorEmail: emailOf("dave")}).
			thenError(CodeForbidden).thenMessage("only its invitee may answer it")
		s.when(&RejectInvite{Meta: by("carol"), InvitationID: "inv-1"}).thenError(CodeForbidden)
		s.when(&AcceptInvite{Meta: by("dave"), InvitationID: "inv-1"}).thenTypes(EvInvitationAccepted, EvMemberAdded)
	})
	t.Run("imports and partners return their invitations' tokens", func(t *testing.T) {
		s := given(t, dataloop()).withTokens(true)
		s.when(&ImportMembers{Meta: by("olga"), ProjectID: "p1",
			CSV: "email,user_id,name,roles,grants\nzed@freelance.org,,,annotator,\n,dev,,annotator,\nyan@freelance.org,,,annotator,\n"}).thenAccepted()
		rows := s.out.Result.(ImportMembersResult).Rows
		if rows[0].InvitationToken != "tok-1" || rows[2].InvitationToken != "tok-2" || rows[1].InvitationToken != "" {
			t.Fatalf("rows %+v, want tokens tok-1 and tok-2 on the e-mail rows", rows)
		}
		if got := s.org.Invitations[rows[2].InvitationID].TokenSHA256; got != TokenSHA256("tok-2") {
			t.Fatalf("row 3's invitation hash %q", got)
		}
		s.when(&AcceptInvite{Meta: by("yan"), InvitationID: rows[2].InvitationID, ActorEmail: "yan@freelance.org", Token: "tok-1"}).
			thenError(CodeForbidden)
		s.when(&AcceptInvite{Meta: by("yan"), InvitationID: rows[2].InvitationID, ActorEmail: "yan@freelance.org", Token: "tok-2"}).
			thenTypes(EvInvitationAccepted, EvMemberAdded)

		p := given(t, dataloop()).withTokens(true)
		p.when(&AddPartner{Meta: by("olga"), ProjectID: "p1", PartnerID: "lab", Name: "Lab", AdminEmail: emailOf("lea")}).
			thenTypes(EvPartnerAdded, EvInvitationCreated)
		r := p.out.Result.(AddPartnerResult)
		if r.InvitationToken != "tok-1" || p.org.Invitations[r.InvitationID].TokenSHA256 != TokenSHA256("tok-1") {
			t.Fatalf("partner result %+v", r)
		}
		p.when(&AcceptInvite{Meta: by("lea"), InvitationID: r.InvitationID, ActorEmail: emailOf("lea")}).thenError(CodeForbidden)
		p.when(&AcceptInvite{Meta: by("lea"), InvitationID: r.InvitationID, ActorEmail: emailOf("lea"), Token: "tok-1"}).
			thenTypes(EvInvitationAccepted, EvMemberAdded)
	})
}

// A person of a user account who is in the organization only through a labeling company sees
// the projects they are not in as unknown, in commands as in queries (SPEC §7).
func TestTenancyPersonCommandsTreatHiddenProjectsAsUnknown(t *testing.T) {
	s := given(t, dataloopWithPartner(), projectEv("p2", "olga"), memberEv("p2", "olga", "owner"))
	s.env.Person = true
	s.when(&LeaveProject{Meta: by("lea"), ProjectID: "p2"})
	hidden := s.err
	s.when(&LeaveProject{Meta: by("lea"), ProjectID: "nosuch"})
	if hidden == nil || s.err == nil || strings.ReplaceAll(hidden.Error(), "p2", "nosuch") != s.err.Error() {
		t.Fatalf("hidden project: %v; unknown project: %v", hidden, s.err)
	}
	// Her own project answers as before, and an organization member is not concerned.
	s.when(&RenameProject{Meta: by("lea"), ProjectID: "p1", Name: "x"}).thenError(CodeForbidden)
	s.when(&RenameProject{Meta: by("olga"), ProjectID: "p2", Name: "Two"}).thenTypes(EvProjectRenamed)
}
