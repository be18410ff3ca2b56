package queries_test

// Differential (consistency) test in the spirit of SpiceDB's consistency suite.
//
// A seeded random history of commands over one organization per preset is submitted
// through commands.Service (many are refused, which is fine). The views are caught up
// from the same MemoryStore, and every Check, Permissions, WhoCan and ListMembers answer
// of Queries.Execute is compared with a brute-force reference written here: the log is
// folded by the test's own reference fold (reference_fold_test.go: raw JSON into plain
// fields, never domain.Evolve) and the decision is computed from the plain state fields
// and the preset data, never with domain's evaluation functions. AccessAt(position p) is compared with the live Permissions
// answer recorded when the log head was p.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/oracle"
	"roster/projections"
	"roster/queries"
)

const (
	diffSeed1, diffSeed2 = 0x5eed_2026, 0xd1ff_0001
	diffFullCommands     = 3000
	diffShortCommands    = 300
	diffSampleEvery      = 50 // accepted commands between AccessAt samples
	diffSamplesPerPoint  = 6
	diffFullEvery        = 4 // sample points between full mid-history comparisons of one organization
	diffMaxReported      = 40
)

type dobj = map[string]any

type diffOrgSpec struct{ id, preset, kind, admin string }

var diffOrgSpecs = []diffOrgSpec{
	{"nep-team", "neptune", domain.KindTeam, "u01"},
	{"nep-solo", "neptune", domain.KindIndividual, "u02"},
	{"allonia", "allonia", domain.KindTeam, "u03"},
	{"ica", "ica", domain.KindTeam, "u01"},
	{"dataloop", "dataloop", domain.KindTeam, "u04"},
	{"aunsight", "aunsight", domain.KindTeam, "u01"},
	{"custom", "custom", domain.KindTeam, "u05"},
}

// Users shared by every organization (overlapping ids test isolation), guests from
// outside, and the permission names open presets may invent.
var (
	diffUsers         = diffIDs("u", 14)
	diffGuests        = diffIDs("x", 5)
	diffInventedPerms = []string{"app.widget.edit", "app.widget.view", "reports:read", "AU-CUSTOM:thing", "billing/export"}
	diffUnheldPerm    = "never.granted.anywhere"
)

func diffIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i+1)
	}
	return out
}

func diffEmail(user string) string {
	if strings.HasPrefix(user, "x") {
		return user + "@guest.test"
	}
	return user + "@corp.test"
}

// diffUserOfEmail maps an e-mail of the universe back to its user.
func diffUserOfEmail(email string) string {
	at := strings.IndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return email[:at]
}

type dscope struct{ Project, Track string }

func (s dscope) level() string {
	switch {
	case s.Track != "":
		return domain.ScopeTrack
	case s.Project != "":
		return domain.ScopeProject
	}
	return domain.ScopeOrg
}

func (s dscope) String() string {
	switch s.level() {
	case domain.ScopeTrack:
		return "track " + s.Project + "/" + s.Track
	case domain.ScopeProject:
		return "project " + s.Project
	}
	return "org"
}

func (s dscope) body(orgID string) dobj {
	b := dobj{"org_id": orgID}
	if s.Project != "" {
		b["project_id"] = s.Project
	}
	if s.Track != "" {
		b["track_id"] = s.Track
	}
	return b
}

func diffDepth(scope string) int {
	switch scope {
	case domain.ScopeOrg:
		return 0
	case domain.ScopeProject:
		return 1
	case domain.ScopeTrack:
		return 2
	}
	return 99
}

// ---------------------------------------------------------------------------
// Clock

type diffClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *diffClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// peek is the clock's time without moving it: what reads are answered at.
func (c *diffClock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *diffClock) jump(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// ---------------------------------------------------------------------------
// Harness

type diffAccessSample struct {
	pos    uint64
	org    string
	scope  dscope
	user   string
	live   diffPermAnswer
	atTime time.Time
	// byPosition: AccessAt by position answers as of the organization's last record at or
	// before pos, which may precede the live answer's instant; the live answer stands for it
	// only when the reference agrees at both instants (the as-of probes judge the rest).
	byPosition bool
}

type diffPermAnswer struct {
	Permissions []string `json:"permissions"`
	Conditional []string `json:"conditional"`
	Roles       []string `json:"roles"`
	Position    uint64   `json:"position,omitempty"`
}

type diffHarness struct {
	t       *testing.T
	ctx     context.Context
	rng     *rand.Rand
	presets domain.Presets
	store   *eventstore.MemoryStore
	svc     *commands.Service
	newID   func() string
	// edited is the next release's neptune preset (its contributor role no longer edits
	// content); released is set once the service runs with it and UpgradePreset is accepted.
	edited   *domain.Preset
	released bool
	clock    *diffClock
	members  *projections.View
	perms    *projections.View
	q        *queries.Queries

	// gen is the generator's own fold of the log, used only to pick plausible commands.
	gen map[string]*domain.Org
	// ref is the reference fold of the same records (reference_fold_test.go): what every
	// comparison judges by.
	ref map[string]*domain.Org
	// orgTime is the time of each organization's last record.
	orgTime map[string]time.Time
	folded  uint64
	seq     int

	accepted, refused int
	byCommand         map[string][2]int
	samples           []diffAccessSample

	comparisons map[string]int
	outcomes    map[string]int // reference Check decisions, to show the history exercises every answer
	mismatches  int
}

func newDiffHarness(t *testing.T) *diffHarness {
	ctx := context.Background()
	presets := domain.MustLoadPresets()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := eventstore.NewMemory()
	clock := &diffClock{now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	n := 0
	newID := func() string { n++; return fmt.Sprintf("gen-%05d", n) }
	svc, err := commands.New(commands.Config{Presets: presets, Store: store, Logger: logger, Now: clock.Now, NewID: newID})
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(diffSeed2)
	if v := os.Getenv("ROSTER_DIFF_SEED"); v != "" {
		// Another history: ROSTER_DIFF_SEED=7 go test ./queries -run TestDifferential
		n, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("ROSTER_DIFF_SEED=%q: %v", v, err)
		}
		seed = n
		t.Logf("seed %d", n)
	}
	h := &diffHarness{t: t, ctx: ctx, rng: rand.New(rand.NewPCG(diffSeed1, seed)), presets: presets, store: store,
		svc: svc, newID: newID, edited: diffEditedNeptune(t), clock: clock, gen: map[string]*domain.Org{}, ref: map[string]*domain.Org{}, orgTime: map[string]time.Time{},
		byCommand: map[string][2]int{}, comparisons: map[string]int{}, outcomes: map[string]int{}}
	h.members = projections.NewView("members", presets, nil, logger)
	h.perms = projections.NewView("permissions", presets, nil, logger)
	// Reads are answered at the clock's time without moving it: a comparison sees one instant.
	h.members.SetClock(clock.peek)
	h.perms.SetClock(clock.peek)
	h.q, err = queries.NewQueries(queries.Config{Members: h.members, Permissions: h.perms,
		History: projections.StoreHistory{Store: store}, Presets: presets, Now: clock.peek, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// diffEditedNeptune is the neptune preset file as a next release edits it: Contributor,
// renamed Writer, no longer edits content.
func diffEditedNeptune(t *testing.T) *domain.Preset {
	raw, err := os.ReadFile("../domain/presets/neptune.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const was = "    label: Contributor\n    scope: project\n    permissions: [project.content.view, project.content.edit, project.members.view]"
	if !strings.Contains(string(raw), was) {
		t.Fatal("neptune.yaml no longer holds the contributor role as the test edits it")
	}
	edited, err := domain.ParsePreset([]byte(strings.Replace(string(raw), was,
		"    label: Writer\n    scope: project\n    permissions: [project.content.view, project.members.view]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	return edited
}

// release restarts the writer with the next release's preset catalogue (the edited neptune):
// organizations keep the preset version their log names until UpgradePreset.
func (h *diffHarness) release() {
	presets := domain.MustLoadPresets()
	presets["neptune"] = h.edited
	svc, err := commands.New(commands.Config{Presets: presets, Store: h.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: h.clock.Now, NewID: h.newID})
	if err != nil {
		h.t.Fatal(err)
	}
	h.svc, h.released = svc, true
	h.restartIndex()
}

// restartIndex restarts the read side's history index as rosterd does: the index in use is
// saved into a views database (Badger in a temp dir) and a new one loaded from that copy
// answers the rest of the history, caught up from the copy's position.
func (h *diffHarness) restartIndex() {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := badger.Open(badger.DefaultOptions(h.t.TempDir()).WithLogger(nil))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = db.Close() })
	old := h.q.Index()
	old.UseStore(db, logger)
	if err := old.Load(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	if err := old.CatchUp(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	if err := old.Save(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	x := projections.NewHistoryIndex(projections.StoreHistory{Store: h.store})
	x.UseStore(db, logger)
	if err := x.Load(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	if st := x.Stats(); st.Source != projections.SourceSaved || st.LoadedAt != old.Position() {
		h.t.Fatalf("the saved history index was not loaded: %+v", st)
	}
	h.q, err = queries.NewQueries(queries.Config{Members: h.members, Permissions: h.perms, Index: x,
		History: projections.StoreHistory{Store: h.store}, Presets: h.presets, Now: h.clock.peek, Logger: logger})
	if err != nil {
		h.t.Fatal(err)
	}
}

// refOf is the reference state of an organization as of the clock's time, with the preset
// version its log names.
func (h *diffHarness) refOf(orgID string) diffRef {
	o := refAt(h.ref[orgID], h.clock.peek())
	pre := o.PresetDefinition
	if pre == nil {
		pre = h.presets[o.PresetID]
	}
	return diffRef{o: o, pre: pre}
}

// endsAt is, now and then, an end for a membership: one to twelve days from now.
func (h *diffHarness) endsAt(b dobj) dobj {
	if h.chance(0.15) {
		b["expires_at"] = h.clock.peek().Add(24*time.Hour + time.Duration(h.rng.Int64N(int64(11*24*time.Hour)))).Format(time.RFC3339)
	}
	return b
}

// exec submits one command; it reports whether it was accepted.
func (h *diffHarness) exec(name string, body dobj) bool {
	h.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	// Roster's end timer, fired on time: ends that have come are recorded before the next
	// write. (Only the reads after a clock jump see ends not yet recorded.)
	h.svc.ExpireNow(h.ctx)
	h.fold()
	want := h.predict(name, body)
	reply, code := h.svc.Execute(h.ctx, name, raw)
	if code != client.CodeUnavailable {
		h.judgeWrite(name, body, want, code)
	}
	st := h.byCommand[name]
	switch code {
	case "":
		h.accepted++
		st[0]++
	case client.CodeUnavailable:
		h.t.Fatalf("%s %s: internal failure: %s", name, raw, reply)
	default:
		h.refused++
		st[1]++
	}
	h.byCommand[name] = st
	h.fold()
	return code == ""
}

// fold applies the new log records to the generator's state.
func (h *diffHarness) fold() {
	recs, err := h.store.Read(h.ctx, h.folded+1, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range recs {
		ev, err := domain.DecodeEvent(r.Type, r.Data)
		if err != nil {
			h.t.Fatalf("decode %s at %d: %v", r.Type, r.Position, err)
		}
		o, ok := h.gen[r.OrgID]
		if !ok {
			o = domain.NewOrg(r.OrgID, h.presets)
			h.gen[r.OrgID] = o
		}
		domain.Evolve(o, ev)
		ro, ok := h.ref[r.OrgID]
		if !ok {
			ro = refNewOrg(r.OrgID)
			h.ref[r.OrgID] = ro
		}
		if err := refApply(ro, r); err != nil {
			h.t.Fatal(err)
		}
		h.orgTime[r.OrgID] = r.Time
		h.folded = r.Position
	}
}

func (h *diffHarness) catchUp() uint64 {
	h.t.Helper()
	for _, v := range []*projections.View{h.members, h.perms} {
		if err := v.CatchUp(h.ctx, h.store); err != nil {
			h.t.Fatal(err)
		}
	}
	head, err := h.store.Head(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return head
}

// query runs one query and decodes its result into out; it returns the reply position and the error code.
func (h *diffHarness) query(name string, body dobj, out any) (uint64, string) {
	h.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	reply, code := h.q.Execute(h.ctx, name, raw)
	var r client.QueryReply
	if err := json.Unmarshal(reply, &r); err != nil {
		h.t.Fatalf("%s %s: reply %s is not JSON: %v", name, raw, reply, err)
	}
	if code != "" {
		if code == client.CodeUnavailable {
			h.t.Fatalf("%s %s: unavailable: %s", name, raw, reply)
		}
		return r.Position, code
	}
	if !r.OK {
		h.t.Fatalf("%s %s: reply not ok without a code: %s", name, raw, reply)
	}
	if out != nil {
		if err := json.Unmarshal(r.Result, out); err != nil {
			h.t.Fatalf("%s %s: result %s: %v", name, raw, r.Result, err)
		}
	}
	return r.Position, ""
}

func (h *diffHarness) mismatch(kind, format string, args ...any) {
	h.t.Helper()
	h.mismatches++
	if h.mismatches <= diffMaxReported {
		h.t.Errorf("MISMATCH %s: "+format, append([]any{kind}, args...)...)
	}
}

func (h *diffHarness) compared(kind string) { h.comparisons[kind]++ }

// ---------------------------------------------------------------------------
// Random picks

func diffPick[T any](rng *rand.Rand, xs []T) T {
	return xs[rng.IntN(len(xs))]
}

func diffSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (h *diffHarness) nextID(prefix string) string {
	h.seq++
	return fmt.Sprintf("%s%d", prefix, h.seq)
}

func (h *diffHarness) chance(p float64) bool { return h.rng.Float64() < p }

func diffAllPeople() []string { return append(slices.Clone(diffUsers), diffGuests...) }

func (h *diffHarness) orgAdmins(o *domain.Org) []string {
	var out []string
	for _, id := range diffSortedKeys(o.Members) {
		if o.Members[id].Role == h.presets[o.PresetID].OrgAdminRole {
			out = append(out, id)
		}
	}
	return out
}

func diffProjectUsers(p *domain.Project, track string) []string {
	mm := p.Members
	if track != "" {
		if t, ok := p.Tracks[track]; ok {
			mm = t.Members
		}
	}
	var out []string
	for _, k := range diffSortedKeys(mm) {
		if mm[k].UserID != "" {
			out = append(out, mm[k].UserID)
		}
	}
	return out
}

// actor picks someone likely (not certain) to be allowed to act on the project.
func (h *diffHarness) actor(o *domain.Org, project, track string) string {
	r := h.rng.Float64()
	if p, ok := o.Projects[project]; ok && r < 0.35 {
		users := diffProjectUsers(p, "")
		if track != "" && h.chance(0.5) {
			users = diffProjectUsers(p, track)
		}
		if len(users) > 0 {
			return diffPick(h.rng, users)
		}
	}
	if admins := h.orgAdmins(o); len(admins) > 0 && r < 0.75 {
		return diffPick(h.rng, admins)
	}
	if len(o.Members) > 0 && r < 0.92 {
		return diffPick(h.rng, diffSortedKeys(o.Members))
	}
	return diffPick(h.rng, diffAllPeople())
}

func (h *diffHarness) rolesOfScope(o *domain.Org, scope string) []*domain.Role {
	var out []*domain.Role
	for _, r := range o.Roles() {
		if r.Scope == scope {
			out = append(out, r)
		}
	}
	return out
}

// pickRoles picks one to three roles of the scope, usually one per category.
func (h *diffHarness) pickRoles(o *domain.Org, scope string) []string {
	pool := h.rolesOfScope(o, scope)
	if len(pool) == 0 {
		return []string{"no-such-role"}
	}
	n := 1 + h.rng.IntN(2)
	if len(h.presets[o.PresetID].Categories) > 0 {
		n = 1 + h.rng.IntN(4)
	}
	var out []string
	cats := map[string]bool{}
	for range n {
		r := diffPick(h.rng, pool)
		if slices.Contains(out, r.ID) {
			continue
		}
		if r.Category != "" && cats[r.Category] && h.chance(0.85) {
			continue
		}
		cats[r.Category] = true
		ref := r.ID
		if !r.Custom && r.Label != "" && h.chance(0.05) {
			ref = r.Label // roles may be named by label; the state keeps the id
		}
		out = append(out, ref)
	}
	return out
}

func (h *diffHarness) pickGrants(o *domain.Org) []string {
	var grantOnly []string
	for _, p := range h.presets[o.PresetID].Permissions {
		if p.GrantOnly {
			grantOnly = append(grantOnly, p.ID)
		}
	}
	var out []string
	for _, g := range grantOnly {
		if h.chance(0.5) {
			out = append(out, g)
		}
	}
	return out
}

func (h *diffHarness) liveProjects(o *domain.Org) []string {
	var out []string
	for _, id := range diffSortedKeys(o.Projects) {
		if o.Projects[id].Status != domain.StatusDeleted || h.chance(0.05) {
			out = append(out, id)
		}
	}
	return out
}

// target picks a project and, in presets with tracks, sometimes one of its tracks.
func (h *diffHarness) target(o *domain.Org) (string, string, bool) {
	projects := h.liveProjects(o)
	if len(projects) == 0 {
		return "", "", false
	}
	pid := diffPick(h.rng, projects)
	track := ""
	if p := o.Projects[pid]; len(p.Tracks) > 0 && h.chance(0.55) {
		track = diffPick(h.rng, diffSortedKeys(p.Tracks))
	}
	return pid, track, true
}

func (h *diffHarness) membership(o *domain.Org) (string, string, *domain.Membership, bool) {
	pid, track, ok := h.target(o)
	if !ok {
		return "", "", nil, false
	}
	p := o.Projects[pid]
	mm := p.Members
	if track != "" {
		mm = p.Tracks[track].Members
	}
	if len(mm) == 0 {
		return "", "", nil, false
	}
	return pid, track, mm[diffPick(h.rng, diffSortedKeys(mm))], true
}

func diffPrincipal(b dobj, m *domain.Membership) dobj {
	if m.GroupID != "" {
		b["group_id"] = m.GroupID
	} else {
		b["user_id"] = m.UserID
	}
	return b
}

func diffWithTarget(b dobj, pid, track string) dobj {
	b["project_id"] = pid
	if track != "" {
		b["track_id"] = track
	}
	return b
}

// ---------------------------------------------------------------------------
// Generator

type diffChoice struct {
	w  int
	fn func() (string, dobj)
}

// step submits one random command to the organization.
func (h *diffHarness) step(spec diffOrgSpec) {
	o := h.gen[spec.id]
	pre := h.presets[spec.preset]
	members := diffSortedKeys(o.Members)
	base := func(actor string) dobj { return dobj{"org_id": spec.id, "actor": actor} }
	var choices []diffChoice
	add := func(w int, fn func() (string, dobj)) {
		if w > 0 {
			choices = append(choices, diffChoice{w, fn})
		}
	}
	team := spec.kind == domain.KindTeam

	// Organization members.
	wAdd := 4
	if len(members) < 6 {
		wAdd = 14
	}
	if !team {
		wAdd = 1 // refused: individual organizations have one member
	}
	add(wAdd, func() (string, dobj) {
		user := diffPick(h.rng, diffUsers)
		if h.chance(0.1) {
			user = diffPick(h.rng, diffGuests)
		}
		b := base(h.actor(o, "", ""))
		b["user_id"], b["email"], b["name"] = user, diffEmail(user), "Name of "+user
		if h.chance(0.4) {
			b["role"] = diffPick(h.rng, h.rolesOfScope(o, domain.ScopeOrg)).ID
		}
		return "AddOrgMember", h.endsAt(b)
	})
	add(4, func() (string, dobj) {
		b := base(h.actor(o, "", ""))
		b["user_id"] = diffPick(h.rng, members)
		b["role"] = diffPick(h.rng, h.rolesOfScope(o, domain.ScopeOrg)).ID
		return "ChangeOrgRole", b
	})
	add(2, func() (string, dobj) {
		b := base(h.actor(o, "", ""))
		b["user_id"] = diffPick(h.rng, members)
		return "RemoveOrgMember", b
	})

	// Workgroups.
	if len(o.Workgroups) < 4 {
		add(3, func() (string, dobj) {
			b := base(h.actor(o, "", ""))
			b["group_id"], b["name"] = h.nextID("wg"), "Group"
			return "CreateWorkgroup", b
		})
	}
	if len(o.Workgroups) > 0 {
		groups := diffSortedKeys(o.Workgroups)
		add(5, func() (string, dobj) {
			b := base(h.actor(o, "", ""))
			b["group_id"] = diffPick(h.rng, groups)
			if h.chance(0.9) {
				b["user_id"] = diffPick(h.rng, members)
			} else {
				b["user_id"] = diffPick(h.rng, diffAllPeople())
			}
			return "AddWorkgroupMember", h.endsAt(b)
		})
		add(2, func() (string, dobj) {
			gid := diffPick(h.rng, groups)
			in := diffSortedKeys(o.Workgroups[gid].Members)
			b := base(h.actor(o, "", ""))
			b["group_id"] = gid
			if len(in) > 0 {
				b["user_id"] = diffPick(h.rng, in)
			} else {
				b["user_id"] = diffPick(h.rng, diffUsers)
			}
			return "RemoveWorkgroupMember", b
		})
	}

	// Projects.
	alive := 0
	for _, p := range o.Projects {
		if p.Status != domain.StatusDeleted {
			alive++
		}
	}
	wProject := 3
	if alive < 3 {
		wProject = 12
	}
	if alive >= 8 || len(o.Projects) >= 14 {
		wProject = 0
	}
	wDelete := 0
	if alive >= 4 {
		wDelete = 1
	}
	add(wProject, func() (string, dobj) {
		b := base(h.actor(o, "", ""))
		b["project_id"], b["name"] = h.nextID("p"), "Project"
		if h.chance(0.4) {
			b["visibility"] = domain.Public
		}
		if pre.Tracks && h.chance(0.5) {
			b["track"] = dobj{"track_id": h.nextID("t"), "name": "First", "compute": "cpu-small"}
		}
		return "CreateProject", b
	})
	projects := h.liveProjects(o)
	if len(projects) > 0 {
		add(2, func() (string, dobj) {
			pid := diffPick(h.rng, projects)
			b := base(h.actor(o, pid, ""))
			b["project_id"] = pid
			b["visibility"] = domain.Public
			if o.Projects[pid].Visibility == domain.Public {
				b["visibility"] = domain.Private
			}
			return "SetProjectVisibility", b
		})
		add(1, func() (string, dobj) {
			pid := diffPick(h.rng, projects)
			b := base(h.actor(o, pid, ""))
			b["project_id"], b["name"] = pid, "Renamed "+pid
			return "RenameProject", b
		})
		add(2, func() (string, dobj) {
			pid := diffPick(h.rng, projects)
			b := base(h.actor(o, pid, ""))
			b["project_id"] = pid
			return "ArchiveProject", b
		})
		add(2, func() (string, dobj) {
			pid := diffPick(h.rng, projects)
			b := base(h.actor(o, pid, ""))
			b["project_id"] = pid
			return "UnarchiveProject", b
		})
		add(wDelete, func() (string, dobj) {
			pid := diffPick(h.rng, projects)
			b := base(h.actor(o, pid, ""))
			b["project_id"] = pid
			return "DeleteProject", b
		})
		if pre.OwnerRole != "" {
			add(2, func() (string, dobj) {
				pid := diffPick(h.rng, projects)
				b := base(h.actor(o, pid, ""))
				b["project_id"] = pid
				if len(members) > 0 && h.chance(0.9) {
					b["new_owner"] = diffPick(h.rng, members)
				} else {
					b["new_owner"] = diffPick(h.rng, diffAllPeople())
				}
				if h.chance(0.3) {
					b["previous_owner_roles"] = h.pickRoles(o, domain.ScopeProject)
				}
				return "TransferProjectOwnership", b
			})
		}
		add(2, func() (string, dobj) {
			pid := diffPick(h.rng, projects)
			users := diffProjectUsers(o.Projects[pid], "")
			actor := diffPick(h.rng, diffAllPeople())
			if len(users) > 0 && h.chance(0.8) {
				actor = diffPick(h.rng, users)
			}
			b := base(actor)
			b["project_id"] = pid
			return "LeaveProject", b
		})
	}

	// Memberships.
	add(16, func() (string, dobj) {
		pid, track, ok := h.target(o)
		if !ok {
			return "", nil
		}
		b := diffWithTarget(base(h.actor(o, pid, track)), pid, track)
		if len(o.Workgroups) > 0 && h.chance(0.25) {
			b["group_id"] = diffPick(h.rng, diffSortedKeys(o.Workgroups))
		} else if len(members) > 0 && h.chance(0.85) {
			b["user_id"] = diffPick(h.rng, members)
		} else {
			b["user_id"] = diffPick(h.rng, diffAllPeople())
		}
		scope := domain.ScopeProject
		if track != "" {
			scope = domain.ScopeTrack
		}
		b["roles"] = h.pickRoles(o, scope)
		if len(pre.Categories) > 0 && h.chance(0.35) {
			b["grants"] = h.pickGrants(o)
		}
		if p := o.Projects[pid]; len(p.Partners) > 0 && h.chance(0.3) {
			b["partner_id"] = diffPick(h.rng, diffSortedKeys(p.Partners))
			b["roles"] = []string{diffPick(h.rng, pre.PartnerRoles)}
		}
		return "AddMember", h.endsAt(b)
	})
	add(8, func() (string, dobj) {
		b := base("")
		if h.chance(0.15) {
			b["actor"] = h.actor(o, "", "")
			if h.chance(0.5) {
				b["role"] = diffPick(h.rng, h.rolesOfScope(o, domain.ScopeOrg)).ID
			}
		} else {
			pid, track, ok := h.target(o)
			if !ok {
				return "", nil
			}
			b["actor"] = h.actor(o, pid, track)
			diffWithTarget(b, pid, track)
			scope := domain.ScopeProject
			if track != "" {
				scope = domain.ScopeTrack
			}
			b["roles"] = h.pickRoles(o, scope)
			if len(pre.Categories) > 0 && h.chance(0.3) {
				b["grants"] = h.pickGrants(o)
			}
			if p := o.Projects[pid]; len(p.Partners) > 0 && h.chance(0.3) {
				b["partner_id"] = diffPick(h.rng, diffSortedKeys(p.Partners))
				b["roles"] = []string{diffPick(h.rng, pre.PartnerRoles)}
			}
		}
		who := diffPick(h.rng, diffAllPeople())
		if h.chance(0.5) {
			b["user_id"] = who
		} else {
			b["email"] = diffEmail(who)
		}
		b["invitation_id"] = h.nextID("inv")
		return "InviteMember", h.endsAt(b)
	})
	var pending []*domain.Invitation
	for _, id := range diffSortedKeys(o.Invitations) {
		if inv := o.Invitations[id]; inv.Status == domain.InvitePending {
			pending = append(pending, inv)
		}
	}
	if len(pending) > 0 {
		answer := func(name string) func() (string, dobj) {
			return func() (string, dobj) {
				inv := diffPick(h.rng, pending)
				who := inv.UserID
				if who == "" {
					who = diffUserOfEmail(inv.Email)
				}
				if h.chance(0.08) {
					who = diffPick(h.rng, diffAllPeople())
				}
				b := base(who)
				b["invitation_id"] = inv.ID
				if inv.Email != "" {
					b["actor_email"] = inv.Email
				}
				return name, b
			}
		}
		add(3, answer("AcceptInvite"))
		add(1, answer("RejectInvite"))
		add(1, func() (string, dobj) {
			inv := diffPick(h.rng, pending)
			b := base(h.actor(o, inv.ProjectID, inv.TrackID))
			b["invitation_id"] = inv.ID
			return "RevokeInvite", b
		})
	}
	add(7, func() (string, dobj) {
		pid, track, m, ok := h.membership(o)
		if !ok {
			return "", nil
		}
		b := diffPrincipal(diffWithTarget(base(h.actor(o, pid, track)), pid, track), m)
		scope := domain.ScopeProject
		if track != "" {
			scope = domain.ScopeTrack
		}
		b["roles"] = h.pickRoles(o, scope)
		if m.PartnerID != "" && h.chance(0.7) {
			b["roles"] = []string{diffPick(h.rng, pre.PartnerRoles)}
		}
		return "ChangeRole", h.endsAt(b)
	})
	wGrants := 1
	if len(pre.Categories) > 0 {
		wGrants = 5
	}
	add(wGrants, func() (string, dobj) {
		pid, track, m, ok := h.membership(o)
		if !ok {
			return "", nil
		}
		b := diffPrincipal(diffWithTarget(base(h.actor(o, pid, track)), pid, track), m)
		b["grants"] = h.pickGrants(o)
		return "SetMemberGrants", h.endsAt(b)
	})
	add(4, func() (string, dobj) {
		pid, track, m, ok := h.membership(o)
		if !ok {
			return "", nil
		}
		return "RemoveMember", diffPrincipal(diffWithTarget(base(h.actor(o, pid, track)), pid, track), m)
	})
	if len(projects) > 0 {
		add(1, func() (string, dobj) {
			pid, track, _ := h.target(o)
			scope := domain.ScopeProject
			if track != "" {
				scope = domain.ScopeTrack
			}
			var rows []string
			for range 1 + h.rng.IntN(3) {
				who := diffPick(h.rng, diffAllPeople())
				roles := strings.Join(h.pickRoles(o, scope), ";")
				if h.chance(0.5) {
					rows = append(rows, fmt.Sprintf(",%s,Imported %s,%s,", who, who, roles))
				} else {
					rows = append(rows, fmt.Sprintf("%s,,Imported %s,%s,", diffEmail(who), who, roles))
				}
			}
			b := diffWithTarget(base(h.actor(o, pid, track)), pid, track)
			b["csv"] = "email,user_id,name,roles,grants\n" + strings.Join(rows, "\n") + "\n"
			return "ImportMembers", b
		})
	}

	// Time-bound access: a membership's end moved (or set, or, without expires_at, refused).
	add(3, func() (string, dobj) {
		var b dobj
		if pid, track, m, ok := h.membership(o); ok && h.chance(0.6) {
			b = diffPrincipal(diffWithTarget(base(h.actor(o, pid, track)), pid, track), m)
		} else if len(members) > 0 {
			b = base(h.actor(o, "", ""))
			b["user_id"] = diffPick(h.rng, members)
		} else {
			return "", nil
		}
		b["expires_at"] = h.clock.peek().Add(time.Hour + time.Duration(h.rng.Int64N(int64(14*24*time.Hour)))).Format(time.RFC3339)
		return "ExtendMembership", b
	})
	// Preset upgrades: accepted for neptune organizations once the next release runs.
	if spec.preset == "neptune" && h.released {
		add(1, func() (string, dobj) {
			b := base(h.actor(o, "", ""))
			b["preset_version"] = h.edited.Version()
			return "UpgradePreset", b
		})
	}

	// Tracks (Allonia).
	if pre.Tracks && len(projects) > 0 {
		add(4, func() (string, dobj) {
			pid := diffPick(h.rng, projects)
			b := base(h.actor(o, pid, ""))
			b["project_id"], b["track_id"], b["name"] = pid, h.nextID("t"), "Track"
			b["compute"] = diffPick(h.rng, []string{"cpu-small", "gpu-a100"})
			return "CreateTrack", b
		})
		add(1, func() (string, dobj) {
			pid, track, _ := h.target(o)
			if track == "" {
				return "", nil
			}
			b := base(h.actor(o, pid, track))
			b["project_id"], b["track_id"] = pid, track
			b["notebook_env"] = h.nextID("env")
			return "ConfigureTrack", b
		})
	}

	// Partners (Dataloop).
	if pre.PartnerAdminRole != "" && len(projects) > 0 {
		add(3, func() (string, dobj) {
			pid := diffPick(h.rng, projects)
			b := base(h.actor(o, pid, ""))
			b["project_id"], b["partner_id"], b["name"] = pid, h.nextID("pa"), "Labelers"
			b["admin_email"] = diffEmail(diffPick(h.rng, diffAllPeople()))
			b["invitation_id"] = h.nextID("inv")
			return "AddPartner", b
		})
	}

	// Custom roles (Aunsight, custom).
	if pre.CustomRoles {
		wDefine := 3
		if len(o.CustomRoles) < 3 {
			wDefine = 10
		}
		add(wDefine, func() (string, dobj) {
			b := base(h.actor(o, "", ""))
			b["role"], b["label"] = h.nextID("cr"), "Custom role"
			if h.chance(0.25) {
				b["scope"] = domain.ScopeOrg
			}
			if len(projects) > 0 && h.chance(0.2) {
				b["project_id"] = diffPick(h.rng, projects)
			}
			return "DefineRole", b
		})
		if len(o.CustomRoles) > 0 {
			customs := diffSortedKeys(o.CustomRoles)
			add(8, func() (string, dobj) {
				b := base(h.actor(o, "", ""))
				b["role"] = diffPick(h.rng, customs)
				var perms []string
				for _, p := range pre.Permissions {
					if !p.GrantOnly && h.chance(0.2) {
						perms = append(perms, p.ID)
					}
				}
				for _, p := range diffInventedPerms {
					if h.chance(0.15) {
						perms = append(perms, p)
					}
				}
				b["permissions"] = perms
				return "SetRolePermissions", b
			})
			add(2, func() (string, dobj) {
				b := base(h.actor(o, "", ""))
				b["role"] = diffPick(h.rng, customs)
				return "DeleteRole", b
			})
		}
	}

	total := 0
	for _, c := range choices {
		total += c.w
	}
	for range 5 { // a choice may find nothing to do; try another
		x := h.rng.IntN(total)
		for _, c := range choices {
			if x -= c.w; x < 0 {
				if name, body := c.fn(); name != "" {
					h.exec(name, body)
					return
				}
				break
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Reference evaluator: plain state fields and preset data only.

type diffRef struct {
	o   *domain.Org
	pre *domain.Preset
}

type diffPerm struct {
	id, scope string
	view      bool
}

// perm resolves a permission id: the catalog, or (open presets) any name, as an org-scope, non-view permission.
func (r diffRef) perm(id string) (diffPerm, bool) {
	for _, p := range r.pre.Permissions {
		if p.ID == id {
			return diffPerm{p.ID, p.Scope, p.View}, true
		}
	}
	if r.pre.OpenPermissions {
		return diffPerm{id, domain.ScopeOrg, false}, true
	}
	return diffPerm{}, false
}

func (r diffRef) role(id string) *domain.Role {
	if cr, ok := r.o.CustomRoles[id]; ok {
		return cr
	}
	for i := range r.pre.Roles {
		if r.pre.Roles[i].ID == id {
			return &r.pre.Roles[i]
		}
	}
	return nil
}

// universe is the catalog plus, in open presets, every permission a custom role names.
func (r diffRef) universe() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range r.pre.Permissions {
		out = append(out, p.ID)
		seen[p.ID] = true
	}
	if r.pre.OpenPermissions {
		for _, id := range diffSortedKeys(r.o.CustomRoles) {
			for _, p := range r.o.CustomRoles[id].Permissions {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// diffHold is what a user holds at a scope.
type diffHold struct {
	orgRole    *domain.Role   // the organization role (flows down)
	adminOwner *domain.Role   // the owner role an owns_projects org role gives on every project
	member     []*domain.Role // roles of direct, workgroup and track/project memberships
	grants     []string
	public     *domain.Role
}

func (r diffRef) hold(user string, s dscope) diffHold {
	var h diffHold
	if m, ok := r.o.Members[user]; ok {
		h.orgRole = r.role(m.Role)
	}
	if s.Project == "" {
		return h
	}
	p := r.o.Projects[s.Project]
	if h.orgRole != nil && h.orgRole.OwnsProjects && r.pre.OwnerRole != "" {
		h.adminOwner = r.role(r.pre.OwnerRole)
	}
	keys := []string{"u:" + user}
	for _, gid := range diffSortedKeys(r.o.Workgroups) {
		if r.o.Workgroups[gid].Members[user] {
			keys = append(keys, "g:"+gid)
		}
	}
	take := func(mm map[string]*domain.Membership) {
		for _, k := range keys {
			m, ok := mm[k]
			if !ok {
				continue
			}
			for _, rid := range m.Roles {
				if role := r.role(rid); role != nil {
					h.member = append(h.member, role)
				}
			}
			h.grants = append(h.grants, m.Grants...)
		}
	}
	take(p.Members) // project memberships, inherited into every track
	if s.Track != "" {
		take(p.Tracks[s.Track].Members)
	} else {
		for _, tid := range diffSortedKeys(p.Tracks) {
			take(p.Tracks[tid].Members) // at project scope, track roles count too
		}
	}
	if p.Visibility == domain.Public && r.pre.PublicRole != "" {
		h.public = r.role(r.pre.PublicRole)
	}
	return h
}

func (h diffHold) roles() []*domain.Role {
	out := []*domain.Role{}
	for _, r := range append([]*domain.Role{h.orgRole, h.adminOwner, h.public}, h.member...) {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// decide answers allowed, denied or conditional.
func (r diffRef) decide(user, permID string, s dscope, attrs map[string]string) string {
	perm, ok := r.perm(permID)
	if !ok {
		return "invalid"
	}
	if diffDepth(perm.scope) > diffDepth(s.level()) {
		return domain.Denied
	}
	if s.Project != "" {
		switch p := r.o.Projects[s.Project]; {
		case p.Status == domain.StatusDeleted:
			return domain.Denied
		case p.Status == domain.StatusArchived && !perm.view:
			return domain.Denied
		}
	}
	h := r.hold(user, s)
	allowed, conditional := false, false
	for _, role := range h.roles() {
		if !slices.Contains(role.Permissions, permID) {
			continue
		}
		var cond *domain.Condition
		for i, c := range r.pre.Conditions {
			if c.Role == role.ID && c.Permission == permID && !role.Custom {
				cond = &r.pre.Conditions[i]
			}
		}
		if cond == nil {
			allowed = true
			continue
		}
		want := cond.Equals
		if want == "$user" {
			want = user
		}
		switch got := attrs[cond.Attribute]; {
		case got == "":
			conditional = true
		case got == want:
			allowed = true
		}
	}
	if slices.Contains(h.grants, permID) {
		allowed = true
	}
	switch {
	case allowed:
		return domain.Allowed
	case conditional:
		return domain.Conditional
	}
	return domain.Denied
}

// permissions lists the universe's permissions the user holds, and those that are conditional.
func (r diffRef) permissions(user string, s dscope) (allowed, conditional []string) {
	allowed, conditional = []string{}, []string{}
	for _, p := range r.universe() {
		switch r.decide(user, p, s, nil) {
		case domain.Allowed:
			allowed = append(allowed, p)
		case domain.Conditional:
			conditional = append(conditional, p)
		}
	}
	return allowed, conditional
}

// memberRoles are the roles a user holds as a member of the scope (org role at the org;
// below it, memberships and org-admin ownership, not public visibility nor plain org roles).
func (r diffRef) memberRoles(user string, s dscope) []string {
	if s.Project != "" && r.o.Projects[s.Project].Status == domain.StatusDeleted {
		return []string{}
	}
	h := r.hold(user, s)
	set := map[string]bool{}
	if s.Project == "" {
		if h.orgRole != nil {
			set[h.orgRole.ID] = true
		}
	} else {
		if h.orgRole != nil && h.orgRole.OwnsProjects {
			set[h.orgRole.ID] = true
			if h.adminOwner != nil {
				set[h.adminOwner.ID] = true
			}
		}
		for _, role := range h.member {
			set[role.ID] = true
		}
	}
	return diffSortedKeys(set)
}

// candidates are the users WhoCan considers: org members, workgroup members, project and track member users.
func (r diffRef) candidates() []string {
	set := map[string]bool{}
	for id := range r.o.Members {
		set[id] = true
	}
	for _, g := range r.o.Workgroups {
		for u := range g.Members {
			set[u] = true
		}
	}
	for _, p := range r.o.Projects {
		for _, m := range p.Members {
			if m.UserID != "" {
				set[m.UserID] = true
			}
		}
		for _, t := range p.Tracks {
			for _, m := range t.Members {
				if m.UserID != "" {
					set[m.UserID] = true
				}
			}
		}
	}
	return diffSortedKeys(set)
}

func (r diffRef) whoCan(permID string, s dscope) []string {
	out := []string{}
	for _, u := range r.candidates() {
		if r.decide(u, permID, s, nil) == domain.Allowed {
			out = append(out, u)
		}
	}
	return out
}

// diffMember is one comparable ListMembers row.
type diffMember struct {
	UserID    string   `json:"user_id"`
	GroupID   string   `json:"group_id"`
	Roles     []string `json:"roles"`
	Grants    []string `json:"grants"`
	Status    string   `json:"status"`
	PartnerID string   `json:"partner_id"`
}

func (m diffMember) String() string {
	roles, grants := slices.Clone(m.Roles), slices.Clone(m.Grants)
	slices.Sort(roles)
	slices.Sort(grants)
	return fmt.Sprintf("{user=%s group=%s roles=%v grants=%v status=%s partner=%s}", m.UserID, m.GroupID, roles, grants, m.Status, m.PartnerID)
}

// listMembers: the scope's memberships (status accepted when the membership came from an
// accepted invitation, else active) and its invitations that are neither accepted nor revoked.
func (r diffRef) listMembers(s dscope, viewer string) []string {
	var rows []diffMember
	status := func(invitation string) string {
		if invitation != "" {
			return domain.InviteAccepted
		}
		return queries.MemberActive
	}
	if s.Project == "" {
		for id, m := range r.o.Members {
			rows = append(rows, diffMember{UserID: id, Roles: []string{m.Role}, Status: status(m.InvitationID)})
		}
	} else {
		p := r.o.Projects[s.Project]
		mm := p.Members
		if s.Track != "" {
			mm = p.Tracks[s.Track].Members
		}
		for _, m := range mm {
			row := diffMember{UserID: m.UserID, GroupID: m.GroupID, Roles: m.Roles, Grants: m.Grants, PartnerID: m.PartnerID, Status: status(m.InvitationID)}
			rows = append(rows, row)
		}
	}
	for _, inv := range r.o.Invitations {
		if inv.ProjectID != s.Project || inv.TrackID != s.Track || inv.Status == domain.InviteAccepted || inv.Status == domain.InviteRevoked {
			continue
		}
		rows = append(rows, diffMember{UserID: inv.UserID, Roles: inv.Roles, Grants: inv.Grants, Status: inv.Status, PartnerID: inv.PartnerID})
	}
	if viewer != "" && s.Project != "" {
		if vm, ok := r.o.Projects[s.Project].Members["u:"+viewer]; ok && vm.PartnerID != "" {
			rows = slices.DeleteFunc(rows, func(m diffMember) bool { return m.PartnerID != vm.PartnerID })
		}
	}
	out := make([]string, len(rows))
	for i, m := range rows {
		out[i] = m.String()
	}
	slices.Sort(out)
	return out
}

// ---------------------------------------------------------------------------
// Comparisons

func diffSorted(xs []string) []string {
	out := slices.Clone(xs)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

func diffContexts(user string) []map[string]string {
	return []map[string]string{
		nil,
		{"created_by": user},
		{"created_by": "someone-else"},
		{"created_by": ""},
		{"task_type": "qa"},
		{"task_type": "labeling"},
		{"created_by": user, "task_type": "qa"},
		{"created_by": "someone-else", "task_type": "labeling"},
	}
}

// conditionalPerms lists the permissions some condition of the preset narrows.
func diffConditionalPerms(pre *domain.Preset) []string {
	var out []string
	for _, c := range pre.Conditions {
		out = append(out, c.Permission)
	}
	return out
}

// labelOf returns a permission's label when it names exactly that permission, for label-based checks.
func diffLabelOf(pre *domain.Preset, id string) string {
	label := ""
	for _, p := range pre.Permissions {
		if p.ID == id {
			label = p.Label
		}
	}
	if label == "" || label == id {
		return ""
	}
	n := 0
	for _, p := range pre.Permissions {
		if strings.EqualFold(p.Label, label) || slices.ContainsFunc(p.Aliases, func(a string) bool { return strings.EqualFold(a, label) }) {
			n++
		}
	}
	if n != 1 {
		return ""
	}
	return label
}

func (h *diffHarness) scopesOf(o *domain.Org) []dscope {
	scopes := []dscope{{}}
	for _, pid := range diffSortedKeys(o.Projects) {
		scopes = append(scopes, dscope{Project: pid})
		for _, tid := range diffSortedKeys(o.Projects[pid].Tracks) {
			scopes = append(scopes, dscope{Project: pid, Track: tid})
		}
	}
	return scopes
}

// compareOrg compares every answer about one organization with the reference.
func (h *diffHarness) compareOrg(spec diffOrgSpec) {
	if o := h.ref[spec.id]; o == nil || o.Kind == "" {
		h.t.Fatalf("organization %s was never created", spec.id)
	}
	ref := h.refOf(spec.id)
	o := ref.o
	users := map[string]bool{"nobody-at-all": true}
	for _, u := range append(ref.candidates(), diffAllPeople()...) {
		users[u] = true
	}
	userList := diffSortedKeys(users)
	perms := ref.universe()
	if ref.pre.OpenPermissions {
		perms = append(perms, diffUnheldPerm)
	}
	condPerms := diffConditionalPerms(ref.pre)
	rng := rand.New(rand.NewPCG(diffSeed1^uint64(len(spec.id)), diffSeed2))

	for _, s := range h.scopesOf(o) {
		where := fmt.Sprintf("org %s (preset %s, %s) at %s", spec.id, spec.preset, spec.kind, s)
		if s.Project != "" {
			p := o.Projects[s.Project]
			where += fmt.Sprintf(" [project status=%s visibility=%s]", p.Status, p.Visibility)
		}
		for _, user := range userList {
			// Check, for every permission (and resource contexts in presets with conditions).
			for _, perm := range perms {
				ctxs := []map[string]string{nil}
				if len(condPerms) > 0 {
					all := diffContexts(user)
					if slices.Contains(condPerms, perm) {
						ctxs = all
					} else {
						ctxs = append(ctxs, all[1+rng.IntN(len(all)-1)])
					}
				}
				for _, c := range ctxs {
					h.compareCheck(ref, where, spec.id, s, user, perm, perm, c)
				}
			}
			// The same check by label.
			if len(perms) > 0 {
				perm := perms[rng.IntN(len(perms))]
				if label := diffLabelOf(ref.pre, perm); label != "" {
					h.compareCheck(ref, where, spec.id, s, user, perm, label, nil)
				}
			}
			// Permissions.
			var got diffPermAnswer
			b := s.body(spec.id)
			b["user_id"] = user
			if _, code := h.query(queries.QPermissions, b, &got); code != "" {
				h.mismatch("Permissions", "%s user %s: refused with %s", where, user, code)
			} else {
				h.comparePermAnswer("Permissions", where, user, ref, s, got)
			}
		}
		// WhoCan.
		for _, perm := range perms {
			var got struct {
				Users []string `json:"users"`
			}
			b := s.body(spec.id)
			b["permission"] = perm
			h.compared("WhoCan")
			if _, code := h.query(queries.QWhoCan, b, &got); code != "" {
				h.mismatch("WhoCan", "%s permission %s: refused with %s", where, perm, code)
				continue
			}
			if want, have := ref.whoCan(perm, s), diffSorted(got.Users); !slices.Equal(want, have) {
				h.mismatch("WhoCan", "%s permission %s:\n  want %v\n  got  %v", where, perm, want, have)
			}
		}
		// ListMembers, whole and as seen by each project member (partner scoping).
		viewers := []string{""}
		if s.Project != "" {
			viewers = append(viewers, diffProjectUsers(o.Projects[s.Project], "")...)
			viewers = append(viewers, "nobody-at-all")
		}
		for _, viewer := range viewers {
			h.compareListMembers(ref, where, spec.id, s, viewer, rng)
		}
	}

	// Scopes that do not exist and permissions outside a closed catalog are errors, not denials.
	ghosts := []dscope{{Project: "no-such-project"}}
	if len(o.Projects) > 0 {
		ghosts = append(ghosts, dscope{Project: diffSortedKeys(o.Projects)[0], Track: "no-such-track"})
	}
	for _, s := range ghosts {
		for _, name := range []string{queries.QCheck, queries.QPermissions, queries.QWhoCan, queries.QListMembers} {
			b := s.body(spec.id)
			switch name {
			case queries.QCheck:
				b["user_id"], b["permission"] = spec.admin, perms[0]
			case queries.QPermissions:
				b["user_id"] = spec.admin
			case queries.QWhoCan:
				b["permission"] = perms[0]
			}
			h.compared(name + "/not_found")
			if _, code := h.query(name, b, nil); code != client.CodeNotFound {
				h.mismatch(name, "org %s at %s (does not exist): want code not_found, got %q", spec.id, s, code)
			}
		}
	}
	h.compareReads(spec, ref, userList)
	if !ref.pre.OpenPermissions {
		b := dscope{}.body(spec.id)
		b["user_id"], b["permission"] = spec.admin, diffUnheldPerm
		h.compared("Check/invalid")
		if _, code := h.query(queries.QCheck, b, nil); code != client.CodeInvalid {
			h.mismatch("Check", "org %s (closed catalog) permission %s: want code invalid, got %q", spec.id, diffUnheldPerm, code)
		}
	}
}

func (h *diffHarness) compareCheck(ref diffRef, where, orgID string, s dscope, user, permID, asked string, c map[string]string) {
	h.compared("Check")
	b := s.body(orgID)
	b["user_id"], b["permission"] = user, asked
	if c != nil {
		b["context"] = c
	}
	var got struct {
		Decision   string       `json:"decision"`
		Permission string       `json:"permission"`
		Via        []domain.Via `json:"via"`
	}
	if _, code := h.query(queries.QCheck, b, &got); code != "" {
		h.mismatch("Check", "%s user %s permission %q context %v: refused with %s", where, user, asked, c, code)
		return
	}
	want := ref.decide(user, permID, s, c)
	h.outcomes[want]++
	if got.Decision != want {
		h.mismatch("Check", "%s user %s permission %q context %v: want %s, got %s (via %+v)\n  holds: %s",
			where, user, asked, c, want, got.Decision, got.Via, ref.describe(user, s))
	}
	if got.Permission != permID {
		h.mismatch("Check", "%s permission %q resolved to %q, want %q", where, asked, got.Permission, permID)
	}
	if (got.Decision == domain.Denied) != (len(got.Via) == 0) {
		h.mismatch("Check", "%s user %s permission %q: decision %s with %d via entries", where, user, asked, got.Decision, len(got.Via))
	}
}

func (h *diffHarness) comparePermAnswer(kind, where, user string, ref diffRef, s dscope, got diffPermAnswer) {
	h.compared(kind)
	allowed, conditional := ref.permissions(user, s)
	roles := ref.memberRoles(user, s)
	if want, have := diffSorted(allowed), diffSorted(got.Permissions); !slices.Equal(want, have) {
		h.mismatch(kind, "%s user %s permissions:\n  want %v\n  got  %v\n  holds: %s", where, user, want, have, ref.describe(user, s))
	}
	if want, have := diffSorted(conditional), diffSorted(got.Conditional); !slices.Equal(want, have) {
		h.mismatch(kind, "%s user %s conditional:\n  want %v\n  got  %v", where, user, want, have)
	}
	if have := diffSorted(got.Roles); !slices.Equal(roles, have) {
		h.mismatch(kind, "%s user %s roles:\n  want %v\n  got  %v\n  holds: %s", where, user, roles, have, ref.describe(user, s))
	}
}

func (h *diffHarness) compareListMembers(ref diffRef, where, orgID string, s dscope, viewer string, rng *rand.Rand) {
	h.compared("ListMembers")
	limit := diffPick(rng, []int{2, 5, 1000})
	var have []string
	token := ""
	for page := 0; ; page++ {
		b := s.body(orgID)
		b["limit"] = limit
		if viewer != "" {
			b["viewer"] = viewer
		}
		if token != "" {
			b["page_token"] = token
		}
		var got struct {
			Members []diffMember `json:"members"`
			Next    string       `json:"next_page_token"`
		}
		_, code := h.query(queries.QListMembers, b, &got)
		if !ref.maySee(viewer, s) {
			// A viewer outside the organization and the project sees nobody of a private project.
			if code != client.CodeForbidden {
				h.mismatch("ListMembers", "%s viewer %q may not see the project: answered %q, want forbidden", where, viewer, code)
			}
			return
		}
		if code != "" {
			h.mismatch("ListMembers", "%s viewer %q: refused with %s", where, viewer, code)
			return
		}
		if len(got.Members) > limit {
			h.mismatch("ListMembers", "%s viewer %q: page of %d rows over limit %d", where, viewer, len(got.Members), limit)
		}
		for _, m := range got.Members {
			have = append(have, m.String())
		}
		if got.Next == "" || page > 1000 {
			break
		}
		token = got.Next
	}
	slices.Sort(have)
	if have == nil {
		have = []string{}
	}
	if want := ref.listMembers(s, viewer); !slices.Equal(want, have) {
		h.mismatch("ListMembers", "%s viewer %q (limit %d):\n  want %v\n  got  %v", where, viewer, limit, want, have)
	}
}

// maySee: a viewer sees a project's people when they are in the organization, hold a membership
// in the project or one of its tracks (directly or through a workgroup), or the project is public.
func (r diffRef) maySee(viewer string, s dscope) bool {
	if viewer == "" {
		return true
	}
	if _, ok := r.o.Members[viewer]; ok {
		return true
	}
	p, ok := r.o.Projects[s.Project]
	if !ok {
		return s.Project == ""
	}
	if p.Visibility == domain.Public {
		return true
	}
	if _, ok := p.Members["u:"+viewer]; ok {
		return true
	}
	for _, t := range p.Tracks {
		if _, ok := t.Members["u:"+viewer]; ok {
			return true
		}
	}
	for gid, g := range r.o.Workgroups {
		if _, in := p.Members["g:"+gid]; in && g.Members[viewer] {
			return true
		}
	}
	return false
}

// describe summarizes what a user holds at a scope, for mismatch reports.
func (r diffRef) describe(user string, s dscope) string {
	var parts []string
	if m, ok := r.o.Members[user]; ok {
		parts = append(parts, "org role "+m.Role)
	} else {
		parts = append(parts, "not an org member")
	}
	var groups []string
	for _, gid := range diffSortedKeys(r.o.Workgroups) {
		if r.o.Workgroups[gid].Members[user] {
			groups = append(groups, gid)
		}
	}
	if len(groups) > 0 {
		parts = append(parts, fmt.Sprintf("workgroups %v", groups))
	}
	if s.Project != "" {
		p := r.o.Projects[s.Project]
		dump := func(where string, mm map[string]*domain.Membership) {
			for _, k := range diffSortedKeys(mm) {
				m := mm[k]
				if m.UserID == user || slices.Contains(groups, m.GroupID) {
					parts = append(parts, fmt.Sprintf("%s %s roles %v grants %v partner %q", where, k, m.Roles, m.Grants, m.PartnerID))
				}
			}
		}
		dump("project "+p.ID, p.Members)
		for _, tid := range diffSortedKeys(p.Tracks) {
			dump("track "+tid, p.Tracks[tid].Members)
		}
		parts = append(parts, fmt.Sprintf("project %s visibility %s", p.Status, p.Visibility))
	}
	var customs []string
	for _, id := range diffSortedKeys(r.o.CustomRoles) {
		cr := r.o.CustomRoles[id]
		customs = append(customs, fmt.Sprintf("%s(%s)%v", id, cr.Scope, cr.Permissions))
	}
	if len(customs) > 0 {
		parts = append(parts, "custom roles "+strings.Join(customs, " "))
	}
	return strings.Join(parts, "; ")
}

// ---------------------------------------------------------------------------
// AccessAt samples

// sample records live Permissions answers at the current head (and checks them against the reference).
func (h *diffHarness) sample() {
	head := h.catchUp()
	recs, err := h.store.Read(h.ctx, head, 1)
	if err != nil || len(recs) != 1 {
		h.t.Fatalf("read record %d: %v", head, err)
	}
	for range diffSamplesPerPoint {
		spec := diffPick(h.rng, diffOrgSpecs)
		o := h.gen[spec.id]
		if o == nil || !o.Exists() {
			continue
		}
		s := diffPick(h.rng, h.scopesOf(o))
		users := append(diffSortedKeys(o.Members), diffAllPeople()...)
		user := diffPick(h.rng, users)
		b := s.body(spec.id)
		b["user_id"] = user
		var live diffPermAnswer
		pos, code := h.query(queries.QPermissions, b, &live)
		if code != "" {
			h.mismatch("Permissions", "live at head %d: org %s %s user %s refused with %s", head, spec.id, s, user, code)
			continue
		}
		if pos != head {
			h.mismatch("Permissions", "live answer at position %d, want the head %d", pos, head)
		}
		where := fmt.Sprintf("org %s (preset %s) at %s, log head %d", spec.id, spec.preset, s, head)
		h.comparePermAnswer("Permissions@head", where, user, h.refOf(spec.id), s, live)
		// The live answer is as of the clock's time (after a jump, later than the head's record).
		then := diffRef{o: refAt(h.ref[spec.id], h.orgTime[spec.id]), pre: h.refOf(spec.id).pre}
		nowA, nowC := h.refOf(spec.id).permissions(user, s)
		thenA, thenC := then.permissions(user, s)
		same := slices.Equal(nowA, thenA) && slices.Equal(nowC, thenC) && slices.Equal(h.refOf(spec.id).memberRoles(user, s), then.memberRoles(user, s))
		h.samples = append(h.samples, diffAccessSample{pos: head, org: spec.id, scope: s, user: user, live: live, atTime: h.clock.peek(), byPosition: same})
	}
}

func (h *diffHarness) compareAccessAt() {
	for _, smp := range h.samples {
		for _, byTime := range []bool{false, true} {
			if !byTime && !smp.byPosition {
				continue
			}
			b := smp.scope.body(smp.org)
			b["user_id"] = smp.user
			if byTime {
				b["at"] = smp.atTime.Format(time.RFC3339Nano)
			} else {
				b["position"] = smp.pos
			}
			var got diffPermAnswer
			kind := "AccessAt/position"
			if byTime {
				kind = "AccessAt/at"
			}
			h.compared(kind)
			if _, code := h.query(queries.QAccessAt, b, &got); code != "" {
				h.mismatch(kind, "org %s %s user %s at position %d: refused with %s", smp.org, smp.scope, smp.user, smp.pos, code)
				continue
			}
			where := fmt.Sprintf("org %s %s user %s, position %d (at %s)", smp.org, smp.scope, smp.user, smp.pos, smp.atTime.Format(time.RFC3339Nano))
			if got.Position != smp.pos {
				h.mismatch(kind, "%s: answered as of position %d", where, got.Position)
			}
			for _, f := range []struct {
				name       string
				live, then []string
			}{{"permissions", smp.live.Permissions, got.Permissions}, {"conditional", smp.live.Conditional, got.Conditional}, {"roles", smp.live.Roles, got.Roles}} {
				if !slices.Equal(diffSorted(f.live), diffSorted(f.then)) {
					h.mismatch(kind, "%s %s:\n  live     %v\n  AccessAt %v", where, f.name, diffSorted(f.live), diffSorted(f.then))
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------

func TestDifferentialViewsAgainstBruteForce(t *testing.T) {
	start := time.Now()
	h := newDiffHarness(t)
	n := diffFullCommands
	if testing.Short() {
		n = diffShortCommands
	}
	for _, spec := range diffOrgSpecs {
		h.gen[spec.id] = domain.NewOrg(spec.id, h.presets)
		if !h.exec("CreateOrganization", dobj{"org_id": spec.id, "actor": spec.admin, "kind": spec.kind, "preset": spec.preset,
			"name": "Org " + spec.id, "actor_email": diffEmail(spec.admin), "actor_name": "Admin " + spec.admin}) {
			t.Fatalf("CreateOrganization %s refused", spec.id)
		}
	}
	lastSample, midway := 0, 0
	for i := range n {
		if i == n/2 {
			h.release()
		}
		h.step(diffPick(h.rng, diffOrgSpecs))
		if h.accepted/diffSampleEvery > lastSample {
			lastSample = h.accepted / diffSampleEvery
			h.sample()
			if lastSample%diffFullEvery == 0 {
				// A full comparison of one organization in the middle of its history.
				spec := diffPick(h.rng, diffOrgSpecs)
				h.compareOrg(spec)
				h.compareHistory(spec, rand.New(rand.NewPCG(diffSeed1, uint64(midway))))
				midway++
			}
		}
		if i%400 == 399 {
			// Let time pass: some invitations and memberships run out. Roster records their ends
			// (ExpireNow) or, until it does, answers as if they were gone.
			h.clock.jump(time.Duration(2+h.rng.IntN(7))*24*time.Hour + time.Duration(h.rng.IntN(3600))*time.Second)
			if h.chance(0.4) {
				// Before Roster records them: reads must already answer as if the ended
				// memberships were gone (the reference drops them by their end instants).
				h.sample()
				spec := diffPick(h.rng, diffOrgSpecs)
				h.compareOrg(spec)
			}
			h.svc.ExpireNow(h.ctx)
			h.fold()
		}
	}
	head := h.catchUp()
	t.Logf("history: %d commands submitted, %d accepted, %d refused; log head %d; %d AccessAt samples",
		h.accepted+h.refused, h.accepted, h.refused, head, len(h.samples))
	for _, name := range diffSortedKeys(h.byCommand) {
		st := h.byCommand[name]
		t.Logf("  %-26s accepted %4d refused %4d", name, st[0], st[1])
	}

	for _, spec := range diffOrgSpecs {
		o := h.gen[spec.id]
		status := map[string]int{}
		tracks, partners := 0, 0
		for _, p := range o.Projects {
			status[p.Status+"/"+p.Visibility]++
			tracks += len(p.Tracks)
			partners += len(p.Partners)
		}
		inv := map[string]int{}
		for _, i := range o.Invitations {
			inv[i.Status]++
		}
		t.Logf("org %-9s %-8s members %2d workgroups %d custom roles %2d tracks %2d partners %d projects %v invitations %v",
			spec.id, spec.preset, len(o.Members), len(o.Workgroups), len(o.CustomRoles), tracks, partners, status, inv)
		h.compareOrg(spec)
		h.compareHistory(spec, rand.New(rand.NewPCG(diffSeed2, uint64(len(spec.id)))))
		h.compareAsOf(spec, rand.New(rand.NewPCG(diffSeed1, uint64(len(spec.id)))), 120)
	}
	h.compareAccessAt()
	recs, err := h.store.Read(h.ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("ROSTER_DIFF_DUMP"); path != "" {
		// The generated log, one record a line, to read a finding's history:
		// ROSTER_DIFF_SEED=12 ROSTER_DIFF_DUMP=/tmp/log.txt go test ./queries -run TestDifferential
		var b strings.Builder
		for _, r := range recs {
			fmt.Fprintf(&b, "%d %s %s %s %s %s\n", r.Position, r.OrgID, r.Time.Format(time.RFC3339), r.Actor, r.Type, r.Data)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatalf("ROSTER_DIFF_DUMP: %v", err)
		}
	}
	for _, v := range oracle.CheckRecords(recs) {
		h.mismatch("Write/oracle", "an accepted command broke SPEC §2: %s", v)
	}

	total := 0
	for _, kind := range diffSortedKeys(h.comparisons) {
		total += h.comparisons[kind]
		t.Logf("  compared %-22s %7d", kind, h.comparisons[kind])
	}
	t.Logf("reference Check decisions: %d allowed, %d conditional, %d denied; %d full mid-history organization comparisons",
		h.outcomes[domain.Allowed], h.outcomes[domain.Conditional], h.outcomes[domain.Denied], midway)
	t.Logf("%d comparisons, %d mismatches, in %s", total, h.mismatches, time.Since(start).Round(time.Millisecond))
	if h.mismatches > diffMaxReported {
		t.Errorf("%d more mismatches not shown", h.mismatches-diffMaxReported)
	}
}
