package domain

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// recordingPreset is the OrganizationCreated that CreateOrganization appends: the event as
// before, plus the shipped preset it names, recorded with its version.
func recordingPreset(ev *OrganizationCreated) *OrganizationCreated {
	p := kitPresets[ev.Preset]
	ev.PresetVersion, ev.PresetDefinition = p.Version(), p
	return ev
}

// neptuneV2 is a later release's Neptune preset: Contributor no longer edits project content
// and is labelled Writer, and viewers see a new permission.
func neptuneV2(t *testing.T) Presets {
	t.Helper()
	raw, err := presetFiles.ReadFile("presets/neptune.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	for _, r := range [][2]string{
		{"    label: Contributor\n    scope: project\n    permissions: [project.content.view, project.content.edit, project.members.view]",
			"    label: Writer\n    scope: project\n    permissions: [project.content.view, project.members.view]"},
		{"    label: Viewer\n    scope: project\n    permissions: [project.content.view, project.members.view]",
			"    label: Viewer\n    scope: project\n    permissions: [project.content.view, project.members.view, project.reports.view]"},
		{"  - {id: project.settings,", "  - {id: project.reports.view, label: \"Viewing project reports\", scope: project, view: true}\n  - {id: project.settings,"},
	} {
		if !strings.Contains(src, r[0]) {
			t.Fatalf("neptune.yaml no longer holds %q; update the test's edit", r[0])
		}
		src = strings.Replace(src, r[0], r[1], 1)
	}
	return presetsWith(t, src)
}

// neptuneWithout is a release whose Neptune preset drops the contributor role.
func neptuneWithout(t *testing.T) Presets {
	t.Helper()
	raw, err := presetFiles.ReadFile("presets/neptune.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(raw), "  - id: contributor\n    label: Contributor\n    scope: project\n    permissions: [project.content.view, project.content.edit, project.members.view]\n", "", 1)
	if src == string(raw) {
		t.Fatal("neptune.yaml no longer holds the contributor role; update the test's edit")
	}
	return presetsWith(t, src)
}

// presetsWith is the shipped catalogue with neptune replaced by src.
func presetsWith(t *testing.T, src string) Presets {
	t.Helper()
	p, err := ParsePreset([]byte(src))
	if err != nil {
		t.Fatalf("modified preset: %v", err)
	}
	out := Presets{}
	for id, q := range kitPresets {
		out[id] = q
	}
	out[p.ID] = p
	return out
}

// logged is an event as the log stores and gives it back: JSON, decoded by type.
func logged(t *testing.T, ev Event) Event {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEvent(ev.EventType(), raw)
	if err != nil {
		t.Fatalf("decode %s: %v", ev.EventType(), err)
	}
	return back
}

// replay folds the first n logged events (all when n < 0) as a release shipping presets would.
func replay(t *testing.T, presets Presets, log []Event, n int) *Org {
	t.Helper()
	if n < 0 {
		n = len(log)
	}
	o := NewOrg(kitOrg, presets)
	for _, ev := range log[:n] {
		Evolve(o, logged(t, ev))
	}
	return o
}

// recorder decides commands against a state folded with one release's presets and keeps the log.
type recorder struct {
	t   *testing.T
	org *Org
	log []Event
}

func (r *recorder) do(cmd Command) Outcome {
	r.t.Helper()
	if cmd.CommandMeta().OrgID == "" {
		cmd.CommandMeta().OrgID = kitOrg
	}
	out, err := Decide(r.org, cmd, Env{Now: kitNow})
	if err != nil {
		r.t.Fatalf("%s: %v", cmd.CommandName(), err)
	}
	for _, ev := range out.Events {
		ev = logged(r.t, ev)
		Evolve(r.org, ev)
		r.log = append(r.log, ev)
	}
	return out
}

// answers is what the queries answer for bob on project p1: Check of content editing and of
// the new reports permission, Permissions, and the Catalog's contributor label and permissions.
type answers struct {
	edit, reports Outcome2
	perms         []string
	label         string
	catalogPerms  int
}

// Outcome2 is a Check's decision, or the refusal of a permission the preset lacks.
type Outcome2 string

func answersOf(t *testing.T, o *Org) answers {
	t.Helper()
	check := func(perm string) Outcome2 {
		d, err := o.Check("bob", perm, Scope{ProjectID: "p1"}, nil)
		if err != nil {
			return Outcome2("error:" + string(CodeOf(err)))
		}
		return Outcome2(d.Decision)
	}
	perms, _, err := o.Permissions("bob", Scope{ProjectID: "p1"})
	if err != nil {
		perms = []string{"error:" + string(CodeOf(err))}
	}
	catPerms, roles := o.Catalog()
	a := answers{edit: check("project.content.edit"), reports: check("project.reports.view"), perms: perms, catalogPerms: len(catPerms)}
	for _, r := range roles {
		if r.ID == "contributor" {
			a.label = r.Label
		}
	}
	return a
}

// TestPresetChangedAfterCreation: a release changes the Neptune preset after an organization
// was created. Every answer, now and as of any past position, stays that of the version the
// log recorded until UpgradePreset; after it, present answers follow the new version and
// answers before it still follow the old one.
func TestPresetChangedAfterCreation(t *testing.T) {
	v1 := kitPresets
	v2 := neptuneV2(t)
	if v1["neptune"].Version() == v2["neptune"].Version() {
		t.Fatal("the modified preset has the shipped version")
	}

	// Written by the release shipping v1.
	r := &recorder{t: t, org: NewOrg(kitOrg, v1)}
	r.do(&CreateOrganization{Meta: by("ana"), Name: "Acme", Preset: "neptune"})
	r.do(&AddOrgMember{Meta: by("ana"), UserID: "bob"})
	r.do(&CreateProject{Meta: by("ana"), ProjectID: "p1", Name: "P1"})
	r.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "bob"}, Roles: []string{"contributor"}})
	r.do(&AddOrgMember{Meta: by("ana"), UserID: "carol"})
	r.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "carol"}, Roles: []string{"viewer"}})
	created := len(r.log)
	oldAnswers := answersOf(t, r.org)
	if oldAnswers.edit != Outcome2(Allowed) || oldAnswers.label != "Contributor" || !strings.HasPrefix(string(oldAnswers.reports), "error:") {
		t.Fatalf("v1 answers %+v", oldAnswers)
	}

	// The release shipping v2 reads the same log: nothing changes.
	now := replay(t, v2, r.log, -1)
	if now.PresetVersion != v1["neptune"].Version() {
		t.Fatalf("preset version %q, want the recorded %q", now.PresetVersion, v1["neptune"].Version())
	}
	if got := answersOf(t, now); !reflect.DeepEqual(got, oldAnswers) {
		t.Fatalf("after a release changed the preset, answers %+v, want the recorded version's %+v", got, oldAnswers)
	}
	for n := 1; n <= created; n++ { // as of every past position
		if got, want := answersOf(t, replay(t, v2, r.log, n)), answersOf(t, replay(t, v1, r.log, n)); !reflect.DeepEqual(got, want) {
			t.Fatalf("as of event %d: answers %+v under the new release, %+v under the old", n, got, want)
		}
	}
	// A snapshot keeps the recorded preset.
	raw, err := json.Marshal(now)
	if err != nil {
		t.Fatal(err)
	}
	var snap Org
	if err := json.Unmarshal(raw, &snap); err != nil {
		t.Fatal(err)
	}
	snap.Attach(v2)
	if got := answersOf(t, &snap); !reflect.DeepEqual(got, oldAnswers) {
		t.Fatalf("from a snapshot, answers %+v, want %+v", got, oldAnswers)
	}

	// The dry run shows who gains and loses what.
	r.org = now
	dry, err := Decide(now, &UpgradePreset{Meta: Meta{OrgID: kitOrg, Actor: "ana", DryRun: true}}, Env{Now: kitNow})
	if err != nil {
		t.Fatal(err)
	}
	changes := PermissionChanges(now, dry.Events)
	var bobLost, carolGained bool
	for _, c := range changes {
		if c.UserID == "bob" && c.ProjectID == "p1" && slices.Equal(c.Lost, []string{"project.content.edit"}) {
			bobLost = true
		}
		if c.UserID == "carol" && c.ProjectID == "p1" && slices.Equal(c.Gained, []string{"project.reports.view"}) {
			carolGained = true
		}
	}
	if !bobLost || !carolGained || len(changes) != 2 {
		t.Fatalf("dry-run changes %+v: want bob losing project.content.edit and carol, a viewer, gaining project.reports.view", changes)
	}
	if got := answersOf(t, now); !reflect.DeepEqual(got, oldAnswers) {
		t.Fatalf("the dry run changed the state: %+v", got)
	}

	// The upgrade itself, by the release shipping v2.
	out := r.do(&UpgradePreset{Meta: by("ana"), PresetVersion: v2["neptune"].Version()})
	up, ok := out.Events[0].(*PresetUpgraded)
	if len(out.Events) != 1 || !ok || up.From != v1["neptune"].Version() || up.To != v2["neptune"].Version() {
		t.Fatalf("UpgradePreset appended %s", describeEvents(out.Events))
	}
	newAnswers := answers{edit: Outcome2(Denied), reports: Outcome2(Denied), perms: []string{"project.content.view", "project.members.view"}, label: "Writer", catalogPerms: 9}
	if got := answersOf(t, r.org); !reflect.DeepEqual(got, newAnswers) {
		t.Fatalf("after the upgrade, answers %+v, want %+v", got, newAnswers)
	}
	// Replayed by either release, the log answers the same: v1 before the upgrade, v2 after.
	for _, presets := range []Presets{v1, v2} {
		if got := answersOf(t, replay(t, presets, r.log, -1)); !reflect.DeepEqual(got, newAnswers) {
			t.Fatalf("replayed, answers %+v, want %+v", got, newAnswers)
		}
		if got := answersOf(t, replay(t, presets, r.log, len(r.log)-1)); !reflect.DeepEqual(got, oldAnswers) {
			t.Fatalf("as of just before the upgrade, answers %+v, want %+v", got, oldAnswers)
		}
	}
	// Once upgraded, there is nothing more to upgrade to.
	if _, err := Decide(r.org, &UpgradePreset{Meta: by("ana")}, Env{Now: kitNow}); CodeOf(err) != CodeConflict {
		t.Fatalf("second upgrade: %v, want conflict", err)
	}
}

// TestUpgradePresetRefusals: an upgrade that would break a rule of SPEC §2 names what breaks
// and appends nothing; so do a stale version, a non-admin actor and an up-to-date organization.
func TestUpgradePresetRefusals(t *testing.T) {
	r := &recorder{t: t, org: NewOrg(kitOrg, kitPresets)}
	r.do(&CreateOrganization{Meta: by("ana"), Name: "Acme", Preset: "neptune"})
	r.do(&AddOrgMember{Meta: by("ana"), UserID: "bob"})
	r.do(&CreateProject{Meta: by("ana"), ProjectID: "p1", Name: "P1"})
	r.do(&AddMember{Meta: by("ana"), MemberRef: MemberRef{ProjectID: "p1", UserID: "bob"}, Roles: []string{"contributor"}})

	s := given(t)
	s.org = replay(t, neptuneWithout(t), r.log, -1)
	s.when(&UpgradePreset{Meta: by("ana")}).thenError(CodePreconditionFailed)
	if msg := s.err.Error(); !strings.Contains(msg, "role contributor held by user bob on project p1 is not in the new preset") {
		t.Fatalf("refusal %q does not name the role in use and its holder", msg)
	}

	s.org = replay(t, neptuneV2(t), r.log, -1)
	s.when(&UpgradePreset{Meta: by("bob")}).thenError(CodeForbidden)
	s.when(&UpgradePreset{Meta: by("ana"), PresetVersion: kitPresets["neptune"].Version()}).thenError(CodeConflict)
	s.when(&UpgradePreset{Meta: by("ana"), PresetVersion: "neptune@sha256:00"}).thenError(CodeConflict)

	s.org = replay(t, kitPresets, r.log, -1)
	s.when(&UpgradePreset{Meta: by("ana")}).thenError(CodeConflict)
}

// TestLegacyOrganizationUsesShippedPreset: a log written before presets were recorded names
// the preset by name only; it answers by the shipped preset at version "legacy" until an
// UpgradePreset records one.
func TestLegacyOrganizationUsesShippedPreset(t *testing.T) {
	s := given(t, orgCreatedEv("neptune", KindTeam, "ana"))
	if s.org.PresetVersion != LegacyPresetVersion || s.org.PresetDefinition != nil || s.org.Preset() != kitPresets["neptune"] {
		t.Fatalf("legacy organization: version %q, definition %v", s.org.PresetVersion, s.org.PresetDefinition != nil)
	}
	s.when(&UpgradePreset{Meta: by("ana")}).thenEvents(&PresetUpgraded{From: LegacyPresetVersion, To: kitPresets["neptune"].Version(), Preset: kitPresets["neptune"]})
	if s.org.PresetVersion != kitPresets["neptune"].Version() || s.org.PresetDefinition == nil {
		t.Fatalf("after the upgrade: version %q", s.org.PresetVersion)
	}
}

// TestPresetRecordRoundTrip: every shipped preset survives its recorded JSON form unchanged
// (same canonical bytes, same version), and the form names every field of a preset file.
func TestPresetRecordRoundTrip(t *testing.T) {
	for _, id := range kitPresets.SortedIDs() {
		p := kitPresets[id]
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Preset
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		again, _ := json.Marshal(&back)
		if string(again) != string(raw) || back.Version() != p.Version() || !strings.HasPrefix(p.Version(), id+"@sha256:") {
			t.Fatalf("%s: round trip changed the preset (version %s, want %s)", id, back.Version(), p.Version())
		}
		if !reflect.DeepEqual(back.toJSON(), p.toJSON()) {
			t.Fatalf("%s: round trip changed the preset's fields", id)
		}
	}
	// Every field of a preset file is recorded.
	jt := reflect.TypeOf(presetJSON{})
	pt := reflect.TypeOf(Preset{})
	for i := 0; i < pt.NumField(); i++ {
		f := pt.Field(i)
		if !f.IsExported() {
			continue
		}
		if _, ok := jt.FieldByName(f.Name); !ok {
			t.Errorf("Preset.%s is not in the recorded form presetJSON", f.Name)
		}
	}
	// A recorded preset with a field this release does not know is refused, not half applied.
	if err := json.Unmarshal([]byte(`{"id":"x","label":"X","org_kinds":["team"],"org_admin_role":"a","roles":[{"id":"a","label":"A","scope":"org","permissions":[]}],"permissions":[],"authorize":{},"future_rule":true}`), &Preset{}); err == nil {
		t.Fatal("a recorded preset with an unknown field was accepted")
	}
}
