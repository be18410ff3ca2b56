package domain

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCommandsComplete fails when a command name of CommandNames lacks its decoder
// (NewCommand), its handler in the dispatch table (handlerOf) or, in any preset that has its
// feature, an authorize entry.
func TestCommandsComplete(t *testing.T) {
	// noActorPermission lists the commands that by design check no permission of the preset's
	// authorize table, with the reason. Every other command needs an entry in every preset that
	// has the feature the command belongs to.
	noActorPermission := map[string]string{
		CmdCreateOrganization: "the organization does not exist yet; its actor becomes its first admin",
		CmdAcceptInvite:       "only the invitation's invitee may answer it (SPEC §2.12), whatever their roles",
		CmdRejectInvite:       "only the invitation's invitee may answer it (SPEC §2.12), whatever their roles",
		CmdExpireInvites:      "issued by Roster itself (SystemActor), never by a user",
		CmdExpireMemberships:  "issued by Roster itself (SystemActor), never by a user",
		CmdExtendMembership: "authorized as the command that manages the membership it names (expiry.go): " +
			"ChangeRole at the project or track, AddWorkgroupMember, or ChangeOrgRole",
		CmdLeaveProject: "a member may always take themselves off a project",
		CmdGrantOrganizationAccess: "an account-level rule (SPEC §7): the owning account or an operator, and an actor holding " +
			"the preset's org_admin_role; a granted account never grants, whatever its users' roles",
		CmdRevokeOrganizationAccess: "an account-level rule (SPEC §7): the owning account or an operator, and an actor holding " +
			"the preset's org_admin_role; a granted account never revokes, whatever its users' roles",
		CmdUpgradePreset: "an organization-admin rule: the actor holds the org_admin_role of the preset in force, " +
			"so that no recorded preset (whose authorize table is fixed in the log) can lock its organization out of upgrades",
	}

	// featureOf names, for the commands of an optional feature, whether a preset has it; a preset
	// without the feature refuses the command and needs no authorize entry for it.
	featureOf := map[string]func(*Preset) bool{
		CmdCreateTrack:              func(p *Preset) bool { return p.Tracks },
		CmdConfigureTrack:           func(p *Preset) bool { return p.Tracks },
		CmdAddPartner:               func(p *Preset) bool { return p.PartnerAdminRole != "" },
		CmdDefineRole:               func(p *Preset) bool { return p.CustomRoles },
		CmdSetRolePermissions:       func(p *Preset) bool { return p.CustomRoles },
		CmdDeleteRole:               func(p *Preset) bool { return p.CustomRoles },
		CmdTransferProjectOwnership: func(p *Preset) bool { return p.OwnerRole != "" },
	}

	// internalCommands are decided but never decoded from a request: Roster issues them itself.
	internalCommands := map[string]Command{
		CmdExpireInvites:     &ExpireInvites{},
		CmdExpireMemberships: &ExpireMemberships{},
	}

	presets := MustLoadPresets()
	org := NewOrg(kitOrg, presets)
	Evolve(org, orgCreatedEv("neptune", KindTeam, "ana"))
	env := Env{Now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), InviteTTL: DefaultInviteTTL, NewID: func() string { return "id-1" }}

	for _, name := range CommandNames() {
		// Decoder.
		cmd, ok := NewCommand(name)
		if internal, isInternal := internalCommands[name]; isInternal {
			if ok {
				t.Errorf("%s: internal command, but NewCommand decodes it from requests", name)
			}
			cmd, ok = internal, true
		} else if !ok {
			t.Errorf("%s: no decoder: NewCommand(%q) returns nothing", name, name)
			continue
		}
		if got := cmd.CommandName(); got != name {
			t.Errorf("%s: NewCommand returns a command named %s", name, got)
		}

		// Handler, called directly with the decoded (empty) command: it must exist and take
		// the command's type. The empty command is refused, which is fine; it must not panic.
		h, ok := handlerOf(name)
		if !ok {
			t.Errorf("%s: no handler in the dispatch table (handlerOf)", name)
		} else {
			*cmd.CommandMeta() = Meta{OrgID: kitOrg, Actor: "ana"}
			_, err := h(&decider{o: org, env: env, actor: "ana"}, cmd)
			var de *Error
			if errors.As(err, &de) && strings.HasPrefix(de.Message, "unknown command") {
				t.Errorf("%s: the handler does not take the command's type %T: %v", name, cmd, err)
			}
		}

		// Authorization.
		if reason, exempt := noActorPermission[name]; exempt {
			if reason == "" {
				t.Errorf("%s: exempt from authorization without a reason", name)
			}
			continue
		}
		for _, id := range presets.SortedIDs() {
			p := presets[id]
			if has, gated := featureOf[name]; gated && !has(p) {
				continue
			}
			if len(p.Authorize[name]) == 0 {
				t.Errorf("%s: preset %s has no authorize entry for it", name, id)
			}
		}
	}
	for name := range noActorPermission {
		if !slices.Contains(CommandNames(), name) {
			t.Errorf("noActorPermission names %s, which is not a command", name)
		}
	}
	for name := range featureOf {
		if !slices.Contains(CommandNames(), name) {
			t.Errorf("featureOf names %s, which is not a command", name)
		}
	}
	if _, ok := handlerOf("NoSuchCommand"); ok {
		t.Error("handlerOf answers an unknown name")
	}
	if _, ok := NewCommand("NoSuchCommand"); ok {
		t.Error("NewCommand answers an unknown name")
	}
}

// TestResultJSON pins the typed results to the JSON the command replies have always carried
// (the maps Decide used to build), byte for byte.
func TestResultJSON(t *testing.T) {
	rows := []ImportRow{{Row: 1, OK: true}, {Row: 2, Error: "bad <role>", Code: "invalid"}, {Row: 3, OK: true, InvitationID: "inv-1"}}
	cases := []struct {
		typed Result
		was   any
	}{
		{NoResult{}, map[string]any{}},
		{CreateOrganizationResult{OrgID: "acme"}, map[string]any{"org_id": "acme"}},
		{CreateWorkgroupResult{GroupID: "g1"}, map[string]any{"group_id": "g1"}},
		{CreateProjectResult{ProjectID: "p1"}, map[string]any{"project_id": "p1"}},
		{CreateProjectResult{ProjectID: "p1", TrackID: "p1-track-1"}, map[string]any{"project_id": "p1", "track_id": "p1-track-1"}},
		{InviteMemberResult{InvitationID: "inv-1"}, map[string]any{"invitation_id": "inv-1"}},
		{CreateTrackResult{TrackID: "t1"}, map[string]any{"track_id": "t1"}},
		{AddPartnerResult{PartnerID: "lab", InvitationID: "inv-2"}, map[string]any{"partner_id": "lab", "invitation_id": "inv-2"}},
		{DefineRoleResult{Role: "r1"}, map[string]any{"role": "r1"}},
		{DefineRoleResult{Role: "r1", ProjectID: "p1"}, map[string]any{"role": "r1", "project_id": "p1"}},
		{ImportMembersResult{Rows: rows}, map[string]any{"rows": rows}},
		{ImportMembersResult{Rows: []ImportRow{}}, map[string]any{"rows": []ImportRow{}}},
	}
	for _, c := range cases {
		got, err := json.Marshal(c.typed)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(c.was)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%T: %s, want %s", c.typed, got, want)
		}
	}
}

// TestDecideAlwaysAnswersAResult: an accepted command without anything to report answers
// NoResult (the empty object on the wire), never a nil Result.
func TestDecideAlwaysAnswersAResult(t *testing.T) {
	s := given(t, orgCreatedEv("neptune", KindTeam, "ana"))
	s.when(&AddOrgMember{Meta: by("ana"), UserID: "bob", Email: emailOf("bob"), Name: "bob"}).thenTypes(EvOrgMemberAdded)
	if _, ok := s.out.Result.(NoResult); !ok {
		t.Fatalf("AddOrgMember result %#v, want NoResult", s.out.Result)
	}
}
