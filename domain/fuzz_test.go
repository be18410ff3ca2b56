package domain

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"roster/internal/oracle"
)

// FuzzDomainSequence drives Decide with a sequence of commands decoded from the fuzz input
// (preset, kind, then per step: command kind, actor, ids, roles...) and checks after every step:
//
//   - Decide never panics and never changes the state it is given;
//   - a refusal is a typed *Error with no events;
//   - an accepted command's events, once applied, leave Violations() empty (SPEC §2.2, §2.3)
//     and keep the other §2 rules: one member in an individual organization (§2.4), at most one
//     role per category (§2.8), archived and deleted projects take no command (§2.9), only the
//     invitee answers an invitation (§2.12), no role in use is deleted (§2.13), a stranger is
//     refused everything (§2.1);
//   - the events survive a JSON round trip: a replica folded from the decoded events equals the state;
//   - the read side (Check, Permissions, WhoCan, RolesAt, MemberRolesAt) never panics and
//     Check agrees with Permissions.
func FuzzDomainSequence(f *testing.F) {
	for _, seed := range domainSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runDomainSequence(t, data)
	})
}

// domainSeeds are a few hand-made walks and long pseudo-random ones (every preset, many steps);
// the checked-in corpus holds more.
func domainSeeds() [][]byte {
	var long [][]byte
	for i := range 12 {
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		b := make([]byte, 400)
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		b[0] = byte(i) // each preset in turn
		long = append(long, b)
	}
	return append(long, [][]byte{
		{},
		{0, 0},
		{3, 0, 1, 0, 1, 0, 7, 0, 0, 0, 0, 11, 0, 0, 0, 1, 0, 1},
		{4, 1, 7, 0, 0, 0, 0, 0, 11, 0, 0, 1, 1, 1, 0, 21, 0, 0},
		{2, 0, 1, 0, 1, 1, 1, 0, 7, 0, 0, 0, 0, 26, 0, 0, 0, 0, 0},
	}...)
}

// fz decodes choices from the fuzz input; past the end it answers zeros.
type fz struct {
	b []byte
	i int
}

func (r *fz) next() int {
	if r.i >= len(r.b) {
		r.i++
		return 0
	}
	c := r.b[r.i]
	r.i++
	return int(c)
}

func (r *fz) more() bool { return r.i < len(r.b) }

func fzPick[T any](r *fz, list []T) T {
	var zero T
	if len(list) == 0 {
		return zero
	}
	return list[r.next()%len(list)]
}

const (
	fzOrg      = "fz"
	fzStranger = "zz" // never invited, never added: every command of theirs must be refused
	fzMaxSteps = 64
)

// Pools of values: mostly valid ones, so that sequences go deep; a malformed value now and then.
var (
	fzActors   = []string{"u0", "u0", "u0", "u0", "u0", "u0", "u0", "u0", "u1", "u1", "u2", "u3", "u4", "u5", fzStranger, fzStranger, "", "bad.id"}
	fzUsers    = []string{"u1", "u2", "u3", "u1", "u2", "u3", "u0", "u4", "u5", "", "u*"}
	fzEmails   = []string{"u1@fz.test", "u2@fz.test", "U3@FZ.test", "u4@fz.test", "u5@out.test", "u5@out.test", "", "not an email", "a@b"}
	fzProjects = []string{"p1", "p1", "p1", "p2", "p2", "", "p>"}
	fzTracks   = []string{"", "", "", "p1-track-1", "t1", "t2", "p2-track-1"}
	fzGroups   = []string{"g1", "g1", "g2", ""}
	fzInvites  = []string{"gen-1", "gen-2", "gen-3", "gen-4", "i1", "i2", ""}
	fzPartners = []string{"", "", "pa1", "pa2"}
	fzCustom   = []string{"r1", "r1", "r2", "nope"}
)

type fzRun struct {
	t       *testing.T
	o       *Org
	replica *Org
	env     Env
	ids     int
	log     []string
	judge   *oracle.Model // the independent judge (oracle_fuzz_test.go)
	steps   int
	soft    bool
}

func (s *fzRun) newID() string { s.ids++; return fmt.Sprintf("gen-%d", s.ids) }

func runDomainSequence(t *testing.T, data []byte) {
	r := &fz{b: data}
	ids := kitPresets.SortedIDs()
	preset := kitPresets[fzPick(r, ids)]
	kind := fzPick(r, preset.OrgKinds)
	s := &fzRun{t: t, o: NewOrg(fzOrg, kitPresets), replica: NewOrg(fzOrg, kitPresets), judge: newJudge()}
	s.env = Env{Now: kitNow, NewID: s.newID}
	s.step(&CreateOrganization{Meta: Meta{OrgID: fzOrg, Actor: "u0"}, Name: "Fuzz", Kind: kind, Preset: preset.ID,
		ActorEmail: "u0@fz.test", ActorName: "U0"})
	if !s.o.Exists() {
		t.Fatalf("CreateOrganization refused for preset %s kind %s", preset.ID, kind)
	}
	s.baseline()
	for n := 0; n < fzMaxSteps && r.more(); n++ {
		cmd, advance := s.command(r)
		if advance {
			s.env.Now = s.env.Now.Add(3 * 24 * time.Hour)
			s.log = append(s.log, "(3 days pass)")
			continue
		}
		s.step(cmd)
		s.probeReads(r)
	}
}

// baseline gives every run a populated organization to start from: members, a workgroup,
// projects (with their first track where the preset has tracks) and a project member.
func (s *fzRun) baseline() {
	o := s.o
	by := Meta{OrgID: fzOrg, Actor: "u0"}
	if o.Kind == KindTeam {
		for _, u := range []string{"u1", "u2", "u3"} {
			s.step(&AddOrgMember{Meta: by, UserID: u, Email: u + "@fz.test", Name: strings.ToUpper(u)})
		}
		s.step(&CreateWorkgroup{Meta: by, GroupID: "g1"})
		s.step(&AddWorkgroupMember{Meta: by, GroupID: "g1", UserID: "u2"})
	}
	if o.preset.CustomRoles {
		s.step(&DefineRole{Meta: by, Role: "r1"})
		var perms []string
		for _, p := range o.preset.Permissions {
			if p.Scope == ScopeProject && !p.GrantOnly {
				perms = append(perms, p.ID)
			}
		}
		s.step(&SetRolePermissions{Meta: by, Role: "r1", Permissions: perms})
	}
	s.step(&CreateProject{Meta: by, ProjectID: "p1"})
	s.step(&CreateProject{Meta: by, ProjectID: "p2", Visibility: Public})
	role := ""
	for _, ro := range o.Roles() {
		if ro.Scope == ScopeProject && ro.ID != o.preset.OwnerRole {
			role = ro.ID
			break
		}
	}
	if role != "" && o.Kind == KindTeam {
		s.step(&AddMember{Meta: by, MemberRef: MemberRef{ProjectID: "p1", UserID: "u1"}, Roles: []string{role}})
		s.step(&AddMember{Meta: by, MemberRef: MemberRef{ProjectID: "p1", GroupID: "g1"}, Roles: []string{role}})
	}
}

// command decodes one command; advance is true for "let time pass".
func (s *fzRun) command(r *fz) (Command, bool) {
	o := s.o
	meta := Meta{OrgID: fzOrg, Actor: fzPick(r, fzActors)}
	if r.next()%16 == 0 {
		// Decide trusts its caller to pass the named organization's state, so only
		// malformed org ids are tried here (the commands fuzz target covers other orgs).
		meta.OrgID = fzPick(r, []string{"", "fz.x", "fz>", " fz", "fz"})
	}
	roles := func(n int) []string {
		var pool []string
		for _, ro := range o.Roles() {
			pool = append(pool, ro.ID)
			if ro.Scope != ScopeOrg {
				pool = append(pool, ro.ID, ro.ID, ro.ID) // project and track roles are the usual ones
			}
		}
		pool = append(pool, fzCustom...)
		if len(o.preset.Roles) > 0 {
			pool = append(pool, o.preset.Roles[len(o.preset.Roles)-1].Label)
		}
		out := []string{}
		for i := 0; i < n%3; i++ {
			out = append(out, fzPick(r, pool))
		}
		return out
	}
	perms := func(grantOnly bool) []string {
		var pool []string
		for _, p := range o.preset.Permissions {
			if !grantOnly || p.GrantOnly {
				pool = append(pool, p.ID)
			}
		}
		pool = append(pool, "custom.perm", "")
		out := []string{}
		for i := 0; i < r.next()%3; i++ {
			out = append(out, fzPick(r, pool))
		}
		return out
	}
	ref := func() MemberRef {
		m := MemberRef{ProjectID: fzPick(r, fzProjects), TrackID: fzPick(r, fzTracks)}
		if r.next()%4 == 0 {
			m.GroupID = fzPick(r, fzGroups)
		} else {
			m.UserID = fzPick(r, fzUsers)
		}
		return m
	}
	switch r.next() % 35 {
	case 0:
		return &CreateOrganization{Meta: meta, Kind: fzPick(r, []string{"team", "individual", "x"}), Preset: fzPick(r, kitPresets.SortedIDs())}, false
	case 1:
		return &AddOrgMember{Meta: meta, UserID: fzPick(r, fzUsers), Email: fzPick(r, fzEmails), Name: "N", Role: fzPick(r, append([]string{""}, roles(1)...))}, false
	case 2:
		rs := roles(1)
		role := ""
		if len(rs) > 0 {
			role = rs[0]
		}
		return &ChangeOrgRole{Meta: meta, UserID: fzPick(r, fzUsers), Role: role}, false
	case 3:
		return &RemoveOrgMember{Meta: meta, UserID: fzPick(r, fzUsers)}, false
	case 4:
		return &CreateWorkgroup{Meta: meta, GroupID: fzPick(r, fzGroups), Name: "G"}, false
	case 5:
		return &AddWorkgroupMember{Meta: meta, GroupID: fzPick(r, fzGroups), UserID: fzPick(r, fzUsers)}, false
	case 6:
		return &RemoveWorkgroupMember{Meta: meta, GroupID: fzPick(r, fzGroups), UserID: fzPick(r, fzUsers)}, false
	case 7, 8:
		c := &CreateProject{Meta: meta, ProjectID: fzPick(r, fzProjects), Name: "P", Visibility: fzPick(r, []string{"", "private", "public", "secret"})}
		if r.next()%3 == 0 {
			c.Track = &TrackSpec{TrackID: fzPick(r, fzTracks), Name: "T"}
		}
		return c, false
	case 9:
		return &RenameProject{Meta: meta, ProjectID: fzPick(r, fzProjects), Name: fzPick(r, []string{"New", " ", ""})}, false
	case 10:
		return &SetProjectVisibility{Meta: meta, ProjectID: fzPick(r, fzProjects), Visibility: fzPick(r, []string{"private", "public", ""})}, false
	case 11:
		return &TransferProjectOwnership{Meta: meta, ProjectID: fzPick(r, fzProjects), NewOwner: fzPick(r, fzUsers), PreviousOwnerRoles: roles(r.next())}, false
	case 12, 13:
		c := &AddMember{Meta: meta, MemberRef: ref(), Roles: roles(r.next() + 1), PartnerID: fzPick(r, fzPartners)}
		if r.next()%4 == 0 {
			c.Grants = perms(true)
		}
		return c, false
	case 14, 15:
		c := &InviteMember{Meta: meta, ProjectID: fzPick(r, fzProjects), TrackID: fzPick(r, fzTracks), Roles: roles(r.next() + 1),
			PartnerID: fzPick(r, fzPartners), InvitationID: fzPick(r, fzInvites)}
		if r.next()%2 == 0 {
			c.Email = fzPick(r, fzEmails)
		} else {
			c.UserID = fzPick(r, fzUsers)
		}
		if r.next()%5 == 0 {
			c.ProjectID, c.TrackID, c.PartnerID = "", "", ""
		}
		if r.next()%4 == 0 {
			c.Grants = perms(true)
		}
		return c, false
	case 16, 17:
		return &AcceptInvite{Meta: meta, InvitationID: fzPick(r, fzInvites), ActorEmail: claimedEmail(r, meta.Actor)}, false
	case 18:
		return &RejectInvite{Meta: meta, InvitationID: fzPick(r, fzInvites), ActorEmail: claimedEmail(r, meta.Actor)}, false
	case 19:
		return &RevokeInvite{Meta: meta, InvitationID: fzPick(r, fzInvites)}, false
	case 20:
		m := meta
		if r.next()%2 == 0 {
			m.Actor = SystemActor
		}
		return &ExpireInvites{Meta: m}, false
	case 21:
		return &ChangeRole{Meta: meta, MemberRef: ref(), Roles: roles(r.next())}, false
	case 22:
		return &SetMemberGrants{Meta: meta, MemberRef: ref(), Grants: perms(r.next()%2 == 0)}, false
	case 23:
		return &RemoveMember{Meta: meta, MemberRef: ref()}, false
	case 24:
		return &LeaveProject{Meta: meta, ProjectID: fzPick(r, fzProjects)}, false
	case 25:
		return &ArchiveProject{Meta: meta, ProjectID: fzPick(r, fzProjects)}, false
	case 26:
		return &UnarchiveProject{Meta: meta, ProjectID: fzPick(r, fzProjects)}, false
	case 27:
		return &DeleteProject{Meta: meta, ProjectID: fzPick(r, fzProjects)}, false
	case 28:
		return &CreateTrack{Meta: meta, ProjectID: fzPick(r, fzProjects), TrackID: fzPick(r, fzTracks), Name: "T"}, false
	case 29:
		return &ConfigureTrack{Meta: meta, ProjectID: fzPick(r, fzProjects), TrackID: fzPick(r, fzTracks), Compute: fzPick(r, []string{"", "gpu", "cpu"})}, false
	case 30:
		return &AddPartner{Meta: meta, ProjectID: fzPick(r, fzProjects), PartnerID: fzPick(r, fzPartners), Name: "Co",
			AdminEmail: fzPick(r, fzEmails), InvitationID: fzPick(r, fzInvites)}, false
	case 31:
		return &DefineRole{Meta: meta, Role: fzPick(r, fzCustom), Scope: fzPick(r, []string{"", "org", "project", "track", "x"}),
			Category: fzPick(r, append([]string{""}, o.preset.Categories...)), ProjectID: fzPick(r, []string{"", "", "p1"})}, false
	case 32:
		return &SetRolePermissions{Meta: meta, Role: fzPick(r, fzCustom), Permissions: perms(false)}, false
	case 33:
		return &DeleteRole{Meta: meta, Role: fzPick(r, fzCustom)}, false
	default:
		if r.next()%2 == 0 {
			return nil, true
		}
		var csv strings.Builder
		csv.WriteString("email,user_id,name,roles,grants\n")
		for i := 0; i < r.next()%4; i++ {
			fmt.Fprintf(&csv, "%s,%s,N,%s,\n", fzPick(r, fzEmails), fzPick(r, fzUsers), strings.Join(roles(r.next()+1), ";"))
		}
		return &ImportMembers{Meta: meta, ProjectID: fzPick(r, fzProjects), TrackID: fzPick(r, fzTracks), CSV: csv.String()}, false
	}
}

// claimedEmail is the e-mail an actor answers an invitation with. The identity provider vouches
// for it, so the stranger only ever claims an address nobody invites.
func claimedEmail(r *fz, actor string) string {
	e := fzPick(r, fzEmails)
	if actor == fzStranger {
		return "zz@nowhere.test"
	}
	return e
}

// step decides one command and checks every rule.
func (s *fzRun) step(cmd Command) {
	t := s.t
	t.Helper()
	o := s.o
	before := stateJSON(t, o)
	prior := o.Clone()
	out, err := Decide(o, cmd, s.env)
	if after := stateJSON(t, o); after != before {
		s.fatalf("Decide(%s) changed its input state", cmd.CommandName())
	}
	cj, _ := json.Marshal(cmd)
	s.log = append(s.log, fmt.Sprintf("%s %s -> %v", cmd.CommandName(), cj, errOrTypes(err, out.Events)))
	if err != nil {
		if CodeOf(err) == "" {
			s.fatalf("%s refused with an untyped error: %v", cmd.CommandName(), err)
		}
		if len(out.Events) != 0 {
			s.fatalf("%s refused but returned events", cmd.CommandName())
		}
		return
	}
	actor := cmd.CommandMeta().Actor
	if actor == fzStranger {
		s.fatalf("%s accepted from stranger %s, who holds nothing in the organization", cmd.CommandName(), actor)
	}
	if cmd.CommandMeta().OrgID != o.ID {
		s.fatalf("%s naming organization %q accepted by organization %s", cmd.CommandName(), cmd.CommandMeta().OrgID, o.ID)
	}
	s.checkEvents(prior, cmd, out.Events)
	for _, ev := range out.Events {
		Evolve(o, ev)
		data, err := json.Marshal(ev)
		if err != nil {
			s.fatalf("marshal %s: %v", ev.EventType(), err)
		}
		back, err := DecodeEvent(ev.EventType(), data)
		if err != nil {
			s.fatalf("decode %s %s: %v", ev.EventType(), data, err)
		}
		Evolve(s.replica, back)
	}
	s.judgeEvents(cmd, out.Events)
	if a, b := stateJSON(t, o), stateJSON(t, s.replica); a != b {
		s.fatalf("state folded from JSON-decoded events differs:\n live    %s\n replica %s", a, b)
	}
	s.checkState()
}

func errOrTypes(err error, evs []Event) string {
	if err != nil {
		return err.Error()
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.EventType()
	}
	return "[" + strings.Join(out, " ") + "]"
}

func (s *fzRun) fatalf(format string, args ...any) {
	s.t.Helper()
	if s.soft { // the corpus generator (oracle_corpus_gen_test.go) drops failing walks
		panic(walkFailed(fmt.Sprintf(format, args...)))
	}
	s.t.Fatalf("%s\nsteps:\n  %s\nstate: %s", fmt.Sprintf(format, args...), strings.Join(s.log, "\n  "), stateJSON(s.t, s.o))
}

// eventTouch reads the fields of an event's data that name a project or invitation.
type eventTouch struct {
	ProjectID    string `json:"project_id"`
	InvitationID string `json:"invitation_id"`
	UserID       string `json:"user_id"`
	Reason       string `json:"reason"`
}

// checkEvents applies the rules an accepted command's events must keep, against the state before.
func (s *fzRun) checkEvents(prior *Org, cmd Command, evs []Event) {
	actor := cmd.CommandMeta().Actor
	for _, ev := range evs {
		data, _ := json.Marshal(ev)
		var tch eventTouch
		_ = json.Unmarshal(data, &tch)
		if p, ok := prior.Projects[tch.ProjectID]; ok && tch.ProjectID != "" {
			cascade := ev.EventType() == EvMemberRemoved && tch.Reason == "org_member_removed"
			switch {
			case p.Status == StatusDeleted && !cascade:
				s.fatalf("%s appended %s on deleted project %s", cmd.CommandName(), ev.EventType(), p.ID)
			case p.Status == StatusArchived && !cascade && ev.EventType() != EvProjectUnarchived && ev.EventType() != EvProjectDeleted:
				s.fatalf("%s appended %s on archived project %s", cmd.CommandName(), ev.EventType(), p.ID)
			}
		}
		switch e := ev.(type) {
		case *InvitationAccepted, *InvitationRejected:
			inv := prior.Invitations[tch.InvitationID]
			if inv == nil {
				s.fatalf("%s answered unknown invitation %s", cmd.CommandName(), tch.InvitationID)
			}
			if tch.UserID != actor || (inv.UserID != "" && inv.UserID != actor) {
				s.fatalf("%s by %s answered invitation %s addressed to %q/%q", cmd.CommandName(), actor, inv.ID, inv.UserID, inv.Email)
			}
			if inv.Status != InvitePending || !s.env.Now.Before(inv.ExpiresAt) {
				s.fatalf("%s answered invitation %s that is %s (expires %s)", cmd.CommandName(), inv.ID, inv.Status, inv.ExpiresAt)
			}
		case *InvitationExpired:
			if actor != SystemActor {
				s.fatalf("invitation %s expired by %s", e.InvitationID, actor)
			}
		}
	}
}

// checkState asserts the §2 rules a state must always keep.
func (s *fzRun) checkState() {
	o := s.o
	if v := o.Violations(); len(v) > 0 {
		s.fatalf("violations: %v", v)
	}
	if o.Kind == KindIndividual && len(o.Members) != 1 {
		s.fatalf("individual organization has %d members", len(o.Members))
	}
	if _, ok := o.Members[fzStranger]; ok {
		s.fatalf("stranger %s became an organization member", fzStranger)
	}
	known := func(where, role string) {
		if _, ok := o.Role(role); !ok {
			s.fatalf("%s holds role %s, which does not exist", where, role)
		}
	}
	for id, m := range o.Members {
		known("organization member "+id, m.Role)
	}
	checkMembers := func(where string, mm map[string]*Membership) {
		for key, m := range mm {
			if key != m.Principal.Key() {
				s.fatalf("%s: membership key %s holds principal %+v", where, key, m.Principal)
			}
			if m.UserID == fzStranger {
				s.fatalf("stranger %s became a member of %s", fzStranger, where)
			}
			cats := map[string]string{}
			for _, rid := range m.Roles {
				known(where+" member "+key, rid)
				ro, _ := o.Role(rid)
				if ro.Category == "" {
					continue
				}
				if prev, dup := cats[ro.Category]; dup {
					s.fatalf("%s member %s holds %s and %s of category %s", where, key, prev, rid, ro.Category)
				}
				cats[ro.Category] = rid
			}
		}
	}
	for pid, p := range o.Projects {
		if p.Status == StatusDeleted {
			continue
		}
		checkMembers("project "+pid, p.Members)
		for tid, tr := range p.Tracks {
			checkMembers("track "+tid, tr.Members)
		}
	}
	for id, inv := range o.Invitations {
		if inv.Status != InvitePending {
			continue
		}
		for _, rid := range inv.Roles {
			known("invitation "+id, rid)
		}
	}
}

// probeReads asks the read side a question decoded from the input: it must not panic,
// and Check must agree with Permissions.
func (s *fzRun) probeReads(r *fz) {
	o := s.o
	user := fzPick(r, fzActors)
	sc := Scope{ProjectID: fzPick(r, []string{"", "p1", "p2"})}
	if sc.ProjectID != "" {
		sc.TrackID = fzPick(r, fzTracks)
	}
	perms, _ := o.Catalog()
	if len(perms) == 0 {
		return
	}
	perm := perms[r.next()%len(perms)]
	d, err := o.Check(user, perm.ID, sc, nil)
	allowed, conditional, perr := o.Permissions(user, sc)
	_, _ = o.WhoCan(perm.ID, sc)
	_ = o.RolesAt(user, sc)
	_ = o.MemberRolesAt(user, sc)
	if (err == nil) != (perr == nil) {
		s.fatalf("Check(%s, %s, %+v) err %v but Permissions err %v", user, perm.ID, sc, err, perr)
	}
	if err != nil {
		if CodeOf(err) == "" {
			s.fatalf("Check returned an untyped error: %v", err)
		}
		return
	}
	switch d.Decision {
	case Allowed:
		if !slices.Contains(allowed, perm.ID) {
			s.fatalf("Check(%s, %s, %+v) allowed but Permissions lists %v", user, perm.ID, sc, allowed)
		}
	case Conditional:
		if !slices.Contains(conditional, perm.ID) {
			s.fatalf("Check(%s, %s, %+v) conditional but Permissions lists %v", user, perm.ID, sc, conditional)
		}
	case Denied:
		if slices.Contains(allowed, perm.ID) || slices.Contains(conditional, perm.ID) {
			s.fatalf("Check(%s, %s, %+v) denied but Permissions lists it", user, perm.ID, sc)
		}
	default:
		s.fatalf("Check decision %q", d.Decision)
	}
	s.judgeRead(user, *perm, sc, d.Decision)
	if user == fzStranger && d.Decision != Denied && !perm.View {
		s.fatalf("stranger %s is %s %s at %+v", user, d.Decision, perm.ID, sc)
	}
}
