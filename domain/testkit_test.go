package domain

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// A tiny given / when / then kit for the decider.
//
//	s := given(t, neptuneTeam(), archivedEv("p1"))   // fold events with Evolve
//	s.when(&AddMember{...})                            // Decide with a fixed Env
//	s.thenError(CodeForbidden)                         // or s.thenEvents(...), s.thenTypes(...)
//
// thenEvents and thenTypes also apply the accepted events, so a story can go on.

// kitPresets are the shipped presets, loaded once.
var kitPresets = MustLoadPresets()

// kitNow is the fixed clock of every decision.
var kitNow = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// kitOrg is the organization id of every scenario.
const kitOrg = "acme"

type scenario struct {
	t   *testing.T
	org *Org
	env Env
	ids int

	cmd Command
	out Outcome
	err error
}

// given builds an organization by folding events (Event or []Event values) with Evolve.
func given(t *testing.T, history ...any) *scenario {
	t.Helper()
	s := &scenario{t: t, org: NewOrg(kitOrg, kitPresets)}
	s.env = Env{Now: kitNow, NewID: s.nextID}
	s.and(history...)
	return s
}

// and folds more events into the scenario's state.
func (s *scenario) and(history ...any) *scenario {
	s.t.Helper()
	for _, h := range history {
		switch x := h.(type) {
		case Event:
			Evolve(s.org, x)
		case []Event:
			for _, ev := range x {
				Evolve(s.org, ev)
			}
		default:
			s.t.Fatalf("given: %T is not an event", h)
		}
	}
	return s
}

// nextID is the deterministic id generator: inv-1, inv-2, ...
func (s *scenario) nextID() string { s.ids++; return fmt.Sprintf("inv-%d", s.ids) }

// at moves the scenario's clock.
func (s *scenario) at(now time.Time) *scenario { s.env.Now = now; return s }

// when runs Decide on the scenario's state; it also asserts the state is left untouched.
func (s *scenario) when(cmd Command) *scenario {
	s.t.Helper()
	if cmd.CommandMeta().OrgID == "" {
		cmd.CommandMeta().OrgID = kitOrg
	}
	before := stateJSON(s.t, s.org)
	s.cmd = cmd
	s.out, s.err = Decide(s.org, cmd, s.env)
	if after := stateJSON(s.t, s.org); after != before {
		s.t.Fatalf("Decide(%s) changed its input state:\nbefore %s\nafter  %s", cmd.CommandName(), before, after)
	}
	return s
}

// thenError asserts the command was refused with code and appended nothing.
func (s *scenario) thenError(code Code) *scenario {
	s.t.Helper()
	if s.err == nil {
		s.t.Fatalf("%s: accepted with %s, want %s", s.cmd.CommandName(), describeEvents(s.out.Events), code)
	}
	if got := CodeOf(s.err); got != code {
		s.t.Fatalf("%s: error %v (code %q), want code %s", s.cmd.CommandName(), s.err, got, code)
	}
	if len(s.out.Events) != 0 {
		s.t.Fatalf("%s: refused but returned events %s", s.cmd.CommandName(), describeEvents(s.out.Events))
	}
	return s
}

// thenEvents asserts the exact events (type and every non-empty field) and applies them.
func (s *scenario) thenEvents(want ...Event) *scenario {
	s.t.Helper()
	s.accepted()
	got := make([]string, len(s.out.Events))
	for i, ev := range s.out.Events {
		got[i] = canonEvent(ev)
	}
	exp := make([]string, len(want))
	for i, ev := range want {
		exp[i] = canonEvent(ev)
	}
	if !slices.Equal(got, exp) {
		s.t.Fatalf("%s: events\n got  %s\n want %s", s.cmd.CommandName(), strings.Join(got, "\n      "), strings.Join(exp, "\n      "))
	}
	return s.apply()
}

// thenTypes asserts the types of the events, in order, and applies them.
func (s *scenario) thenTypes(types ...string) *scenario {
	s.t.Helper()
	s.accepted()
	got := make([]string, len(s.out.Events))
	for i, ev := range s.out.Events {
		got[i] = ev.EventType()
	}
	if !slices.Equal(got, types) {
		s.t.Fatalf("%s: event types %v, want %v", s.cmd.CommandName(), got, types)
	}
	return s.apply()
}

// thenAccepted asserts the command was accepted, whatever it appended, and applies its events.
func (s *scenario) thenAccepted() *scenario {
	s.t.Helper()
	s.accepted()
	return s.apply()
}

func (s *scenario) accepted() {
	s.t.Helper()
	if s.err != nil {
		s.t.Fatalf("%s: refused: %v", s.cmd.CommandName(), s.err)
	}
}

func (s *scenario) apply() *scenario {
	for _, ev := range s.out.Events {
		Evolve(s.org, ev)
	}
	return s
}

// do is when + thenAccepted: a step of a story whose events another test asserts.
func (s *scenario) do(cmd Command) Outcome {
	s.t.Helper()
	s.when(cmd).thenAccepted()
	return s.out
}

// thenCheck asserts Check's decision and returns it.
func (s *scenario) thenCheck(user, perm string, at Scope, want string) Decision {
	s.t.Helper()
	return s.thenCheckWith(user, perm, at, nil, want)
}

// thenCheckWith asserts Check's decision given resource attributes.
func (s *scenario) thenCheckWith(user, perm string, at Scope, attrs map[string]string, want string) Decision {
	s.t.Helper()
	d, err := s.org.Check(user, perm, at, attrs)
	if err != nil {
		s.t.Fatalf("Check(%s, %s, %+v): %v", user, perm, at, err)
	}
	if d.Decision != want {
		s.t.Fatalf("Check(%s, %s, %+v, %v) = %s via %+v, want %s", user, perm, at, attrs, d.Decision, d.Via, want)
	}
	return d
}

// thenVia asserts a check is allowed and that the given kinds of membership are among its reasons.
func (s *scenario) thenVia(user, perm string, at Scope, kinds ...string) Decision {
	s.t.Helper()
	d := s.thenCheck(user, perm, at, Allowed)
	got := viaKinds(d)
	for _, k := range kinds {
		if !slices.Contains(got, k) {
			s.t.Fatalf("Check(%s, %s, %+v) allowed via %v, want %s among them (%+v)", user, perm, at, got, k, d.Via)
		}
	}
	return d
}

func viaKinds(d Decision) []string {
	var out []string
	for _, v := range d.Via {
		if !slices.Contains(out, v.Kind) {
			out = append(out, v.Kind)
		}
	}
	return out
}

// ---- canonical events and states ----

// canonEvent renders an event as its type and its JSON with empty fields dropped,
// so that nil and empty slices compare equal.
func canonEvent(ev Event) string {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Sprintf("%s<%v>", ev.EventType(), err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case string:
			if x == "" {
				delete(m, k)
			}
		case bool:
			if !x {
				delete(m, k)
			}
		case []any:
			if len(x) == 0 {
				delete(m, k)
			}
		}
	}
	b, _ := json.Marshal(m)
	return ev.EventType() + string(b)
}

func describeEvents(evs []Event) string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = canonEvent(ev)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func stateJSON(t testing.TB, o *Org) string {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatalf("marshal state: %v", err)
	}
	return string(b)
}

// ---- scopes ----

var atOrg = Scope{}

func inProject(pid string) Scope    { return Scope{ProjectID: pid} }
func inTrack(pid, tid string) Scope { return Scope{ProjectID: pid, TrackID: tid} }

// ---- command meta ----

// by is the meta of a command issued by actor in the kit's organization.
func by(actor string) Meta { return Meta{OrgID: kitOrg, Actor: actor} }

// ---- events: the vocabulary of histories ----

func emailOf(user string) string { return user + "@example.com" }

// orgCreatedEv creates the organization with admin as its first admin.
func orgCreatedEv(preset, kind, admin string) *OrganizationCreated {
	return &OrganizationCreated{Name: "Acme", Kind: kind, Preset: preset, AdminID: admin,
		AdminEmail: emailOf(admin), AdminName: admin, AdminRole: kitPresets[preset].OrgAdminRole}
}

func orgMemberEv(user, role string) *OrgMemberAdded {
	return &OrgMemberAdded{UserID: user, Email: emailOf(user), Name: user, Role: role}
}

func projectEv(pid, creator string) *ProjectCreated {
	return &ProjectCreated{ProjectID: pid, Name: pid, Visibility: Private, CreatedBy: creator}
}

func publicProjectEv(pid, creator string) *ProjectCreated {
	return &ProjectCreated{ProjectID: pid, Name: pid, Visibility: Public, CreatedBy: creator}
}

func trackEv(pid, tid string) *TrackCreated {
	return &TrackCreated{ProjectID: pid, TrackID: tid, Name: tid}
}

// memberEv puts a user on a project with roles.
func memberEv(pid, user string, roles ...string) *MemberAdded {
	return &MemberAdded{Target: Target{ProjectID: pid}, Principal: Principal{UserID: user},
		Email: emailOf(user), Name: user, Roles: roles}
}

// trackMemberEv puts a user on a track with roles.
func trackMemberEv(pid, tid, user string, roles ...string) *MemberAdded {
	return &MemberAdded{Target: Target{ProjectID: pid, TrackID: tid}, Principal: Principal{UserID: user},
		Email: emailOf(user), Name: user, Roles: roles}
}

// groupOnProjectEv puts a workgroup on a project with roles.
func groupOnProjectEv(pid, gid string, roles ...string) *MemberAdded {
	return &MemberAdded{Target: Target{ProjectID: pid}, Principal: Principal{GroupID: gid}, Name: gid, Roles: roles}
}

func workgroupEv(gid string) *WorkgroupCreated { return &WorkgroupCreated{GroupID: gid, Name: gid} }

func inGroupEv(gid, user string) *WorkgroupMemberAdded {
	return &WorkgroupMemberAdded{GroupID: gid, UserID: user}
}

func archivedEv(pid string) *ProjectArchived { return &ProjectArchived{ProjectID: pid} }
func deletedEv(pid string) *ProjectDeleted   { return &ProjectDeleted{ProjectID: pid} }

// invitedEv is a pending invitation made at kitNow with the default time to live.
func invitedEv(id, pid, email, user, by string, roles ...string) *InvitationCreated {
	return &InvitationCreated{InvitationID: id, ProjectID: pid, Email: email, UserID: user, Roles: roles,
		InvitedBy: by, ExpiresAt: kitNow.Add(DefaultInviteTTL)}
}

func roleDefinedEv(role string, perms ...string) []Event {
	evs := []Event{&RoleDefined{Role: role, Label: role, Scope: ScopeProject}}
	if len(perms) > 0 {
		evs = append(evs, &RolePermissionsSet{Role: role, Permissions: perms, Previous: []string{}})
	}
	return evs
}

// ---- histories: one organization per preset ----

// neptuneTeam: team organization "acme" (Neptune) with Admin ana and Members bob, carol, dave;
// private project p1 created by ana (Owner), with bob Contributor and carol Viewer.
func neptuneTeam() []Event {
	return []Event{
		orgCreatedEv("neptune", KindTeam, "ana"),
		orgMemberEv("bob", "member"),
		orgMemberEv("carol", "member"),
		orgMemberEv("dave", "member"),
		projectEv("p1", "ana"),
		memberEv("p1", "ana", "owner"),
		memberEv("p1", "bob", "contributor"),
		memberEv("p1", "carol", "viewer"),
	}
}

// neptuneIndividual: individual organization of ana (Neptune) with a public project pub and a
// private project priv, both owned by ana.
func neptuneIndividual() []Event {
	return []Event{
		orgCreatedEv("neptune", KindIndividual, "ana"),
		publicProjectEv("pub", "ana"),
		memberEv("pub", "ana", "owner"),
		projectEv("priv", "ana"),
		memberEv("priv", "ana", "owner"),
	}
}

// allonia: tenant "acme" (Allonia) with Tenant Admin ana and members paul, tom, tia, dan, mia, eve;
// project p1 (created by ana) with Project Manager paul, tracks t1 (Track Leader tom, Data scientist
// dan, ML Ops mia) and t2 (Track Leader tia). eve is in the tenant only.
func allonia() []Event {
	return []Event{
		orgCreatedEv("allonia", KindTeam, "ana"),
		orgMemberEv("paul", "member"),
		orgMemberEv("tom", "member"),
		orgMemberEv("tia", "member"),
		orgMemberEv("dan", "member"),
		orgMemberEv("mia", "member"),
		orgMemberEv("eve", "member"),
		projectEv("p1", "ana"),
		memberEv("p1", "ana", "project_manager"),
		memberEv("p1", "paul", "project_manager"),
		trackEv("p1", "t1"),
		trackEv("p1", "t2"),
		trackMemberEv("p1", "t1", "tom", "track_leader"),
		trackMemberEv("p1", "t1", "dan", "data_scientist"),
		trackMemberEv("p1", "t1", "mia", "ml_ops"),
		trackMemberEv("p1", "t2", "tia", "track_leader"),
	}
}

// ica: tenant "acme" (ICA) with Tenant Administrator ana and tenant users bob, carol, dave;
// project p1 created by bob (Owner); workgroup wg with carol.
func ica() []Event {
	return []Event{
		orgCreatedEv("ica", KindTeam, "ana"),
		orgMemberEv("bob", "member"),
		orgMemberEv("carol", "member"),
		orgMemberEv("dave", "member"),
		projectEv("p1", "bob"),
		memberEv("p1", "bob", "owner"),
		workgroupEv("wg"),
		inGroupEv("wg", "carol"),
	}
}

// dataloop: organization "acme" (Dataloop) with Admin ana and members olga, dev, am, ann, zoe;
// project p1 created by olga (Owner) with Developer dev, Annotation Manager am and Annotator ann.
func dataloop() []Event {
	return []Event{
		orgCreatedEv("dataloop", KindTeam, "ana"),
		orgMemberEv("olga", "member"),
		orgMemberEv("dev", "member"),
		orgMemberEv("am", "member"),
		orgMemberEv("ann", "member"),
		orgMemberEv("zoe", "member"),
		projectEv("p1", "olga"),
		memberEv("p1", "olga", "owner"),
		memberEv("p1", "dev", "developer"),
		memberEv("p1", "am", "annotation_manager"),
		memberEv("p1", "ann", "annotator"),
	}
}

// dataloopWithPartner: dataloop() plus labeling company "lab" on p1 whose admin lea (outside the
// organization) accepted as Annotation Manager and added annotator leo.
func dataloopWithPartner() []Event {
	return append(dataloop(),
		&PartnerAdded{ProjectID: "p1", PartnerID: "lab", Name: "Lab", AdminEmail: emailOf("lea")},
		&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "lea"}, Email: emailOf("lea"),
			Roles: []string{"annotation_manager"}, PartnerID: "lab", Guest: true},
		&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "leo"}, Email: emailOf("leo"),
			Roles: []string{"annotator"}, PartnerID: "lab", Guest: true},
		&PartnerAdded{ProjectID: "p1", PartnerID: "other", Name: "Other", AdminEmail: emailOf("oz")},
	)
}

// aunsight: organization "acme" (Aunsight) with Organization Admin ana and members bob, carol, dave;
// projects p1 and p2 created by ana, with no members and no roles.
func aunsight() []Event {
	return []Event{
		orgCreatedEv("aunsight", KindTeam, "ana"),
		orgMemberEv("bob", "member"),
		orgMemberEv("carol", "member"),
		orgMemberEv("dave", "member"),
		projectEv("p1", "ana"),
		projectEv("p2", "ana"),
	}
}

// teamManagerPerms are the seed's "Team Manager Permissions", verbatim.
var teamManagerPerms = []string{
	"AU-ORG:create-project-role", "AU-ORG:update-any-project-role", "AU-ORG:set-permissions-for-any-project-role",
	"AU-ORG:delete-any-project-role", "AU-ORG:create-project-member", "AU-ORG:view-any-project-member",
	"AU-ORG:update-any-project-member", "AU-ORG:set-project-roles-for-any-project-member", "AU-ORG:delete-any-project-member",
}

// customOrg: organization "acme" (custom preset) with admin ana and member bob; project p1.
func customOrg() []Event {
	return []Event{
		orgCreatedEv("custom", KindTeam, "ana"),
		orgMemberEv("bob", "member"),
		projectEv("p1", "ana"),
	}
}

// historyOf returns the standard history of a preset.
func historyOf(preset string) []Event {
	switch preset {
	case "neptune":
		return neptuneTeam()
	case "allonia":
		return allonia()
	case "ica":
		return ica()
	case "dataloop":
		return dataloop()
	case "aunsight":
		return aunsight()
	case "custom":
		return customOrg()
	}
	panic("no history for preset " + preset)
}

// allPresetIDs lists the shipped presets.
func allPresetIDs() []string { return kitPresets.SortedIDs() }
