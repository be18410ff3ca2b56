package domain

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"
)

// Decide's input checks and the commands not covered rule by rule, then a property test.

func TestCreateOrganization(t *testing.T) {
	s := given(t)
	s.when(&CreateOrganization{Meta: by("ana"), Name: "Acme", Preset: "neptune", ActorEmail: emailOf("ana"), ActorName: "ana"}).
		thenEvents(recordingPreset(orgCreatedEv("neptune", KindTeam, "ana")))
	if r, _ := s.out.Result.(CreateOrganizationResult); r.OrgID != kitOrg {
		t.Fatalf("result %v, want org_id %s", s.out.Result, kitOrg)
	}
	s.when(&CreateOrganization{Meta: by("bob"), Preset: "neptune"}).thenError(CodeConflict)

	given(t).when(&CreateOrganization{Meta: by("ana"), Preset: "jira"}).thenError(CodeInvalid)
	given(t).when(&CreateOrganization{Meta: by("ana"), Preset: "neptune", Kind: "family"}).thenError(CodeInvalid)
	given(t).when(&AddOrgMember{Meta: by("ana"), UserID: "bob"}).thenError(CodeNotFound)
}

func TestBadIdentifiersAreInvalid(t *testing.T) {
	long := strings.Repeat("x", MaxIDLen+1)
	cases := []struct {
		name    string
		history []Event
		cmd     Command
	}{
		{"org_id with a dot", neptuneTeam(), &AddOrgMember{Meta: Meta{OrgID: "ac.me", Actor: "ana"}, UserID: "zed"}},
		{"actor with a star", neptuneTeam(), &AddOrgMember{Meta: by("an*a"), UserID: "zed"}},
		{"actor with a dot", neptuneTeam(), addMember("ana.b", "p1", "dave", "viewer")},
		{"user_id with a dot", neptuneTeam(), &AddOrgMember{Meta: by("ana"), UserID: "zed.smith"}},
		{"user_id too long", neptuneTeam(), &AddOrgMember{Meta: by("ana"), UserID: long}},
		{"project_id with a dot", neptuneTeam(), &CreateProject{Meta: by("ana"), ProjectID: "p.2"}},
		{"project_id with a star", neptuneTeam(), &CreateProject{Meta: by("ana"), ProjectID: "p*"}},
		{"missing project_id", neptuneTeam(), &CreateProject{Meta: by("ana"), Name: "no id"}},
		{"group_id with a star", neptuneTeam(), &CreateWorkgroup{Meta: by("ana"), GroupID: "g*"}},
		{"member project_id with a dot", neptuneTeam(), addMember("ana", "p.1", "dave", "viewer")},
		{"member user_id with a star", neptuneTeam(), addMember("ana", "p1", "da*ve", "viewer")},
		{"member group_id with a dot", neptuneTeam(), &RemoveMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", GroupID: "g.1"}}},
		{"track_id with a dot", allonia(), addTrackMember("ana", "p1", "t.1", "eve", "ml_ops")},
		{"first track id with a star", allonia(), &CreateProject{Meta: by("ana"), ProjectID: "p2", Track: &TrackSpec{TrackID: "t*"}}},
		{"invitation_id with a dot", neptuneTeam(), &InviteMember{Meta: by("ana"), ProjectID: "p1", UserID: "dave", Role: "viewer", InvitationID: "inv.1"}},
		{"answering invitation *", neptuneTeam(), &AcceptInvite{Meta: by("dave"), InvitationID: "*"}},
		{"role id with a dot", aunsight(), &DefineRole{Meta: by("ana"), Role: "team.manager"}},
		{"partner_id with a star", dataloop(), &AddPartner{Meta: by("olga"), ProjectID: "p1", PartnerID: "lab*", AdminEmail: emailOf("lea")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			given(t, tc.history).when(tc.cmd).thenError(CodeInvalid)
		})
	}
}

func TestMissingActorIsInvalid(t *testing.T) {
	for _, cmd := range []Command{
		&CreateOrganization{Meta: Meta{OrgID: kitOrg}, Preset: "neptune"},
		&AddOrgMember{Meta: Meta{OrgID: kitOrg}, UserID: "zed"},
		&AddMember{Meta: Meta{OrgID: kitOrg}, MemberRef: MemberRef{ProjectID: "p1", UserID: "dave"}, Roles: []string{"viewer"}},
		&ArchiveProject{Meta: Meta{OrgID: kitOrg}, ProjectID: "p1"},
		&AcceptInvite{Meta: Meta{OrgID: kitOrg}, InvitationID: "inv-1"},
		&ExpireInvites{Meta: Meta{OrgID: kitOrg}},
	} {
		t.Run(cmd.CommandName(), func(t *testing.T) {
			given(t, neptuneTeam()).when(cmd).thenError(CodeInvalid)
		})
	}
}

func TestUnknownRoleIsInvalid(t *testing.T) {
	cases := []struct {
		name    string
		history []Event
		cmd     Command
	}{
		{"organization role", neptuneTeam(), &AddOrgMember{Meta: by("ana"), UserID: "zed", Role: "wizard"}},
		{"organization role change", neptuneTeam(), &ChangeOrgRole{Meta: by("ana"), UserID: "bob", Role: "wizard"}},
		{"project role", neptuneTeam(), addMember("ana", "p1", "dave", "wizard")},
		{"project role change", neptuneTeam(), changeRole("ana", "p1", "bob", "wizard")},
		{"invitation role", neptuneTeam(), &InviteMember{Meta: by("ana"), ProjectID: "p1", UserID: "dave", Role: "wizard"}},
		{"an organization role on a project", neptuneTeam(), addMember("ana", "p1", "dave", "admin")},
		{"a project role in the organization", neptuneTeam(), &ChangeOrgRole{Meta: by("ana"), UserID: "bob", Role: "owner"}},
		{"a project role on a track", allonia(), addTrackMember("ana", "p1", "t1", "eve", "project_manager")},
		{"a track role on the project", allonia(), addMember("ana", "p1", "eve", "track_leader")},
		{"a custom role not defined yet", aunsight(), addMember("ana", "p1", "bob", "team_manager")},
		{"no role at all", neptuneTeam(), addMember("ana", "p1", "dave")},
		{"no role left", neptuneTeam(), changeRole("ana", "p1", "bob")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			given(t, tc.history).when(tc.cmd).thenError(CodeInvalid)
		})
	}
}

func TestOtherInputRefusals(t *testing.T) {
	cases := []struct {
		name    string
		history []Event
		cmd     Command
		code    Code
	}{
		{"user and group at once", neptuneTeam(), &AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "dave", GroupID: "g1"}, Roles: []string{"viewer"}}, CodeInvalid},
		{"neither user nor group", neptuneTeam(), &AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1"}, Roles: []string{"viewer"}}, CodeInvalid},
		{"not an e-mail address", ica(), &InviteMember{Meta: by("bob"), ProjectID: "p1", Email: "zed at lab", Role: "project_viewer"}, CodeInvalid},
		{"both e-mail and user", ica(), &InviteMember{Meta: by("bob"), ProjectID: "p1", Email: "zed@lab.org", UserID: "dave", Role: "project_viewer"}, CodeInvalid},
		{"unknown visibility", neptuneTeam(), &SetProjectVisibility{Meta: by("ana"), ProjectID: "p1", Visibility: "secret"}, CodeInvalid},
		{"unknown grant", ica(), &SetMemberGrants{Meta: by("bob"), MemberRef: MemberRef{ProjectID: "p1", UserID: "bob"}, Grants: []string{"teleport"}}, CodeInvalid},
		{"empty project name", neptuneTeam(), &RenameProject{Meta: by("ana"), ProjectID: "p1", Name: " "}, CodeInvalid},
		{"no owner role to transfer", aunsight(), &TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "bob"}, CodeInvalid},
		{"unknown project", neptuneTeam(), addMember("ana", "p9", "dave", "viewer"), CodeNotFound},
		{"unknown track", allonia(), addTrackMember("ana", "p1", "t9", "eve", "ml_ops"), CodeNotFound},
		{"unknown workgroup on a project", neptuneTeam(), &AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", GroupID: "g9"}, Roles: []string{"viewer"}}, CodeNotFound},
		{"unknown workgroup", neptuneTeam(), &AddWorkgroupMember{Meta: by("ana"), GroupID: "g9", UserID: "bob"}, CodeNotFound},
		{"not a member to change", neptuneTeam(), changeRole("ana", "p1", "dave", "viewer"), CodeNotFound},
		{"not a member to remove", neptuneTeam(), removeMember("ana", "p1", "dave"), CodeNotFound},
		{"already an organization member", neptuneTeam(), &AddOrgMember{Meta: by("ana"), UserID: "bob"}, CodeConflict},
		{"already a project member", neptuneTeam(), addMember("ana", "p1", "bob", "viewer"), CodeConflict},
		{"same roles again", neptuneTeam(), changeRole("ana", "p1", "bob", "contributor"), CodeConflict},
		{"same organization role again", neptuneTeam(), &ChangeOrgRole{Meta: by("ana"), UserID: "bob", Role: "member"}, CodeConflict},
		{"already private", neptuneTeam(), &SetProjectVisibility{Meta: by("ana"), ProjectID: "p1", Visibility: Private}, CodeConflict},
		{"workgroup exists", append(neptuneTeam(), workgroupEv("g1")), &CreateWorkgroup{Meta: by("ana"), GroupID: "g1"}, CodeConflict},
		{"workgroup member outside the organization", append(neptuneTeam(), workgroupEv("g1")), &AddWorkgroupMember{Meta: by("ana"), GroupID: "g1", UserID: "zed"}, CodePreconditionFailed},
		{"ownership to a non-member", neptuneTeam(), &TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "zed"}, CodePreconditionFailed},
		{"ownership to the owner", neptuneTeam(), &TransferProjectOwnership{Meta: by("ana"), ProjectID: "p1", NewOwner: "ana"}, CodeConflict},
		{"track id taken", allonia(), &CreateTrack{Meta: by("ana"), ProjectID: "p1", TrackID: "t2"}, CodeConflict},
		{"track configuration unchanged", allonia(), &ConfigureTrack{Meta: by("ana"), ProjectID: "p1", TrackID: "t1", Name: "t1"}, CodeConflict},
		{"csv without header", dataloop(), &ImportMembers{Meta: by("olga"), ProjectID: "p1", CSV: ""}, CodeInvalid},
		{"csv missing a column", dataloop(), &ImportMembers{Meta: by("olga"), ProjectID: "p1", CSV: "email,roles\nx@y.org,annotator\n"}, CodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			given(t, tc.history).when(tc.cmd).thenError(tc.code)
		})
	}
}

func TestProjectAndTrackCommands(t *testing.T) {
	t.Run("visibility, rename", func(t *testing.T) {
		s := given(t, neptuneTeam())
		s.when(&SetProjectVisibility{Meta: by("ana"), ProjectID: "p1", Visibility: Public}).
			thenEvents(&ProjectVisibilitySet{ProjectID: "p1", Visibility: Public})
		s.thenVia("zed", "project.content.view", inProject("p1"), ViaPublic)
		s.when(&RenameProject{Meta: by("ana"), ProjectID: "p1", Name: "Credit default prediction"}).
			thenEvents(&ProjectRenamed{ProjectID: "p1", Name: "Credit default prediction"})
	})
	t.Run("neptune: an Owner shares ownership with anyone in the organization", func(t *testing.T) {
		given(t, neptuneTeam(), memberEv("p1", "dave", "owner")).
			when(&TransferProjectOwnership{Meta: by("dave"), ProjectID: "p1", NewOwner: "bob"}).
			thenEvents(&RoleChanged{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "bob"},
				Roles: []string{"contributor", "owner"}, PreviousRoles: []string{"contributor"}})
	})
	t.Run("allonia: configure a track", func(t *testing.T) {
		given(t, allonia()).
			when(&ConfigureTrack{Meta: by("paul"), ProjectID: "p1", TrackID: "t1", Compute: "gpu-large"}).
			thenEvents(&TrackConfigured{ProjectID: "p1", TrackID: "t1", Name: "t1", Compute: "gpu-large"})
		given(t, allonia()).
			when(&ConfigureTrack{Meta: by("tom"), ProjectID: "p1", TrackID: "t1", Compute: "gpu-large"}).
			thenError(CodeForbidden)
	})
	t.Run("workgroups", func(t *testing.T) {
		s := given(t, ica())
		s.when(&CreateWorkgroup{Meta: by("bob"), GroupID: "g2"}).thenError(CodeForbidden)
		s.when(&CreateWorkgroup{Meta: by("ana"), GroupID: "g2", Name: "Bioinformatics"}).
			thenEvents(&WorkgroupCreated{GroupID: "g2", Name: "Bioinformatics"})
		s.when(&AddWorkgroupMember{Meta: by("ana"), GroupID: "g2", UserID: "dave"}).
			thenEvents(&WorkgroupMemberAdded{GroupID: "g2", UserID: "dave"})
		s.when(&AddWorkgroupMember{Meta: by("ana"), GroupID: "g2", UserID: "dave"}).thenError(CodeConflict)
		s.when(&RemoveWorkgroupMember{Meta: by("ana"), GroupID: "g2", UserID: "dave"}).
			thenEvents(&WorkgroupMemberRemoved{GroupID: "g2", UserID: "dave"})
		s.when(&RemoveWorkgroupMember{Meta: by("ana"), GroupID: "g2", UserID: "dave"}).thenError(CodeNotFound)
	})
}

func TestEventsDecodeByTheirNames(t *testing.T) {
	// Every event a decision returns decodes back, by its stable name, to the same event.
	s := given(t, allonia())
	s.when(&CreateProject{Meta: by("ana"), ProjectID: "p2", Track: &TrackSpec{Name: "first", Compute: "cpu"}}).thenAccepted()
	for _, ev := range s.out.Events {
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeEvent(ev.EventType(), raw)
		if err != nil {
			t.Fatalf("DecodeEvent(%s): %v", ev.EventType(), err)
		}
		if canonEvent(back) != canonEvent(ev) {
			t.Fatalf("round trip of %s: %s, want %s", ev.EventType(), canonEvent(back), canonEvent(ev))
		}
	}
	if _, err := DecodeEvent("MemberTeleported", []byte(`{}`)); err == nil {
		t.Fatal("DecodeEvent of an unknown type succeeded")
	}
}

// ---- property test ----

var propUsers = []string{"ana", "bob", "carol", "dave", "eve", "zed"}

type propGen struct {
	r   *rand.Rand
	o   *Org
	now time.Time
}

func (g *propGen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

func (g *propGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *propGen) actor() string {
	if g.chance(0.4) {
		return "ana"
	}
	return g.user()
}

func (g *propGen) user() string {
	switch {
	case g.chance(0.03):
		return g.pick("", "b.b", "x*")
	case len(g.o.Members) > 0 && g.chance(0.65):
		return g.pick(sortedKeys(g.o.Members)...)
	}
	return g.pick(propUsers...)
}

func (g *propGen) project() string {
	switch {
	case g.chance(0.03):
		return g.pick("", "p.1", "*")
	case len(g.o.Projects) > 0 && g.chance(0.75):
		return g.pick(sortedKeys(g.o.Projects)...)
	}
	return g.pick("p1", "p2", "p3")
}

func (g *propGen) track(pid string) string {
	if g.chance(0.5) {
		return ""
	}
	if p, ok := g.o.Projects[pid]; ok && len(p.Tracks) > 0 && g.chance(0.8) {
		return g.pick(sortedKeys(p.Tracks)...)
	}
	return g.pick("t2", "t3", "t.9")
}

func (g *propGen) group() string { return g.pick("g1", "g2") }

func (g *propGen) roles(scope string) []string {
	var ids []string
	for _, r := range g.o.Roles() {
		if r.Scope == scope || g.chance(0.05) {
			ids = append(ids, r.ID)
		}
	}
	ids = append(ids, "wizard")
	n := 1
	if g.chance(0.25) {
		n = 2
	}
	if g.chance(0.03) {
		n = 0
	}
	out := make([]string, n)
	for i := range out {
		out[i] = g.pick(ids...)
	}
	return out
}

func (g *propGen) grants() []string {
	if !g.chance(0.15) {
		return nil
	}
	var ids []string
	for _, p := range g.o.preset.Permissions {
		ids = append(ids, p.ID)
	}
	return []string{g.pick(ids...)}
}

func (g *propGen) email() string {
	return g.pick("bob@example.com", "zed@example.com", "out@lab.org", "lea@lab.org")
}

func (g *propGen) invitation() (*Invitation, string) {
	ids := sortedKeys(g.o.Invitations)
	if len(ids) == 0 || g.chance(0.1) {
		return nil, g.pick("inv-x", "i.1")
	}
	id := g.pick(ids...)
	return g.o.Invitations[id], id
}

func (g *propGen) ref() MemberRef {
	pid := g.project()
	r := MemberRef{ProjectID: pid, TrackID: g.track(pid)}
	if g.chance(0.2) {
		r.GroupID = g.group()
	} else {
		r.UserID = g.user()
	}
	return r
}

func (g *propGen) command() Command {
	m := Meta{OrgID: kitOrg, Actor: g.actor()}
	scope := func(r MemberRef) string { return scopeOfTarget(r.TrackID) }
	switch g.r.Intn(30) {
	case 0, 1, 2:
		return &AddOrgMember{Meta: m, UserID: g.user(), Email: g.email(), Role: g.pick("", g.o.preset.OrgAdminRole, g.o.preset.OrgMemberRole)}
	case 3:
		return &ChangeOrgRole{Meta: m, UserID: g.user(), Role: g.pick(g.o.preset.OrgAdminRole, g.o.preset.OrgMemberRole, "wizard")}
	case 4, 5:
		return &RemoveOrgMember{Meta: m, UserID: g.user()}
	case 6:
		return &CreateWorkgroup{Meta: m, GroupID: g.group()}
	case 7:
		return &AddWorkgroupMember{Meta: m, GroupID: g.group(), UserID: g.user()}
	case 8:
		return &RemoveWorkgroupMember{Meta: m, GroupID: g.group(), UserID: g.user()}
	case 9, 10:
		c := &CreateProject{Meta: m, ProjectID: g.pick("p1", "p2", "p3", "p4", "p.5"), Visibility: g.pick("", Private, Public)}
		if g.chance(0.2) {
			c.Track = &TrackSpec{TrackID: g.pick("", "t2", "t3"), Name: "first"}
		}
		return c
	case 11:
		return &SetProjectVisibility{Meta: m, ProjectID: g.project(), Visibility: g.pick(Private, Public)}
	case 12:
		return &TransferProjectOwnership{Meta: m, ProjectID: g.project(), NewOwner: g.user()}
	case 13, 14, 15:
		r := g.ref()
		return &AddMember{Meta: m, MemberRef: r, Roles: g.roles(scope(r)), Grants: g.grants()}
	case 16:
		pid := ""
		if g.chance(0.8) {
			pid = g.project()
		}
		c := &InviteMember{Meta: m, ProjectID: pid, Roles: g.roles(map[bool]string{true: ScopeOrg, false: ScopeProject}[pid == ""])}
		if g.chance(0.5) {
			c.Email = g.email()
		} else {
			c.UserID = g.user()
		}
		return c
	case 17, 18:
		inv, id := g.invitation()
		actor, email := g.user(), g.email()
		if inv != nil && g.chance(0.8) {
			if inv.UserID != "" {
				actor = inv.UserID
			}
			email = inv.Email
		}
		m.Actor = actor
		if g.chance(0.8) {
			return &AcceptInvite{Meta: m, InvitationID: id, ActorEmail: email}
		}
		return &RejectInvite{Meta: m, InvitationID: id, ActorEmail: email}
	case 19:
		_, id := g.invitation()
		return &RevokeInvite{Meta: m, InvitationID: id}
	case 20, 21:
		r := g.ref()
		return &ChangeRole{Meta: m, MemberRef: r, Roles: g.roles(scope(r))}
	case 22:
		return &RemoveMember{Meta: m, MemberRef: g.ref()}
	case 23:
		return &LeaveProject{Meta: m, ProjectID: g.project()}
	case 24:
		switch g.r.Intn(3) {
		case 0:
			return &ArchiveProject{Meta: m, ProjectID: g.project()}
		case 1:
			return &UnarchiveProject{Meta: m, ProjectID: g.project()}
		}
		if g.chance(0.3) {
			return &DeleteProject{Meta: m, ProjectID: g.project()}
		}
		return &UnarchiveProject{Meta: m, ProjectID: g.project()}
	case 25:
		pid := g.project()
		if g.chance(0.5) {
			return &CreateTrack{Meta: m, ProjectID: pid, TrackID: g.pick("t2", "t3")}
		}
		return &AddPartner{Meta: m, ProjectID: pid, PartnerID: g.pick("lab", "other"), AdminEmail: "lea@lab.org"}
	case 26:
		r := g.ref()
		return &SetMemberGrants{Meta: m, MemberRef: r, Grants: g.grants()}
	case 27:
		switch g.r.Intn(3) {
		case 0:
			return &DefineRole{Meta: m, Role: g.pick("r1", "r2"), Scope: g.pick("", ScopeOrg)}
		case 1:
			perms := []string{}
			for _, p := range g.o.preset.Permissions {
				if g.chance(0.3) {
					perms = append(perms, p.ID)
				}
			}
			return &SetRolePermissions{Meta: m, Role: g.pick("r1", "r2"), Permissions: perms}
		}
		return &DeleteRole{Meta: m, Role: g.pick("r1", "r2")}
	case 28:
		pid := g.project()
		row := func() string {
			return fmt.Sprintf("%s,%s,,%s,\n", g.pick("", g.email()), g.pick("", g.user()), strings.Join(g.roles(ScopeProject), ";"))
		}
		return &ImportMembers{Meta: m, ProjectID: pid, CSV: "email,user_id,name,roles,grants\n" + row() + row() + row()}
	}
	if g.chance(0.5) {
		g.now = g.now.Add(time.Duration(g.r.Intn(72)) * time.Hour)
	}
	return &ExpireInvites{Meta: Meta{OrgID: kitOrg, Actor: SystemActor}}
}

// propInvariants returns what breaks SPEC §2.2 and §2.3 in o, computed independently of violations().
func propInvariants(o *Org) []string {
	var bad []string
	pre := o.Preset()
	admins := 0
	for _, m := range o.Members {
		if m.Role == pre.OrgAdminRole {
			admins++
		}
	}
	if admins == 0 {
		bad = append(bad, "no organization admin")
	}
	adminRole, _ := o.Role(pre.OrgAdminRole)
	if pre.OwnerRole != "" && !adminRole.OwnsProjects {
		for _, pid := range sortedKeys(o.Projects) {
			p := o.Projects[pid]
			if p.Status != StatusActive {
				continue
			}
			owned := false
			for _, m := range p.Members {
				if !slices.Contains(m.Roles, pre.OwnerRole) {
					continue
				}
				if m.UserID != "" || (o.Workgroups[m.GroupID] != nil && len(o.Workgroups[m.GroupID].Members) > 0) {
					owned = true
				}
			}
			if !owned {
				bad = append(bad, "active project "+pid+" has no owner")
			}
		}
	}
	if o.Kind == KindTeam && !pre.OutsideGuests {
		outside := func(where string, mm map[string]*Membership) {
			for _, m := range mm {
				if m.UserID != "" && o.Members[m.UserID] == nil {
					bad = append(bad, fmt.Sprintf("%s member %s is outside the organization", where, m.UserID))
				}
			}
		}
		for _, pid := range sortedKeys(o.Projects) {
			p := o.Projects[pid]
			outside("project "+pid, p.Members)
			for _, tid := range sortedKeys(p.Tracks) {
				outside("track "+tid, p.Tracks[tid].Members)
			}
		}
		for _, gid := range sortedKeys(o.Workgroups) {
			for u := range o.Workgroups[gid].Members {
				if o.Members[u] == nil {
					bad = append(bad, "workgroup "+gid+" member "+u+" is outside the organization")
				}
			}
		}
	}
	return bad
}

func decideSafely(o *Org, cmd Command, env Env) (out Outcome, err error, panicked any) {
	defer func() { panicked = recover() }()
	out, err = Decide(o, cmd, env)
	return out, err, nil
}

func TestDecideProperties(t *testing.T) {
	orgs := []struct{ preset, kind string }{
		{"allonia", KindTeam}, {"aunsight", KindTeam}, {"custom", KindTeam}, {"custom", KindIndividual},
		{"dataloop", KindTeam}, {"ica", KindTeam}, {"neptune", KindTeam}, {"neptune", KindIndividual},
	}
	const steps = 1500
	acceptedByName := map[string]int{}
	refusedBy := map[string]int{}
	defer func() { t.Logf("refused: %v", refusedBy) }()
	for i, spec := range orgs {
		t.Run(spec.preset+"/"+spec.kind, func(t *testing.T) {
			r := rand.New(rand.NewSource(int64(20250303 + i)))
			o := NewOrg(kitOrg, kitPresets)
			ids := 0
			env := Env{Now: kitNow, NewID: func() string { ids++; return fmt.Sprintf("inv-%d", ids) }}
			out, err := Decide(o, &CreateOrganization{Meta: by("ana"), Preset: spec.preset, Kind: spec.kind, ActorEmail: emailOf("ana")}, env)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range out.Events {
				Evolve(o, ev)
			}
			g := &propGen{r: r, o: o, now: kitNow}
			accepted := 0
			for step := 0; step < steps; step++ {
				cmd := g.command()
				env.Now = g.now
				before := stateJSON(t, o)
				out, err, panicked := decideSafely(o, cmd, env)
				cmdJSON, _ := json.Marshal(cmd)
				if panicked != nil {
					t.Fatalf("step %d: Decide(%s %s) panicked: %v", step, cmd.CommandName(), cmdJSON, panicked)
				}
				if after := stateJSON(t, o); after != before {
					t.Fatalf("step %d: Decide(%s %s) changed its input state", step, cmd.CommandName(), cmdJSON)
				}
				if err != nil {
					if CodeOf(err) == "" {
						t.Fatalf("step %d: %s returned an untyped error %v", step, cmd.CommandName(), err)
					}
					if len(out.Events) > 0 {
						t.Fatalf("step %d: %s refused with events", step, cmd.CommandName())
					}
					refusedBy[cmd.CommandName()+"/"+string(CodeOf(err))]++
					continue
				}
				accepted++
				acceptedByName[cmd.CommandName()]++
				for _, ev := range out.Events {
					Evolve(o, ev)
				}
				if bad := propInvariants(o); len(bad) > 0 {
					t.Fatalf("step %d: after %s %s: %s\nevents %s", step, cmd.CommandName(), cmdJSON, strings.Join(bad, "; "), describeEvents(out.Events))
				}
			}
			if accepted < steps/12 {
				t.Fatalf("only %d of %d commands accepted: the generator does not exercise the domain", accepted, steps)
			}
		})
	}
	// The walk must reach the commands that could break the invariants.
	for _, name := range []string{CmdAddOrgMember, CmdRemoveOrgMember, CmdChangeOrgRole, CmdCreateProject, CmdAddMember,
		CmdChangeRole, CmdRemoveMember, CmdLeaveProject, CmdArchiveProject, CmdUnarchiveProject, CmdAcceptInvite,
		CmdTransferProjectOwnership, CmdRemoveWorkgroupMember, CmdImportMembers} {
		if acceptedByName[name] == 0 {
			t.Errorf("the random walk never had %s accepted", name)
		}
	}
	t.Logf("accepted commands: %v", acceptedByName)
}
