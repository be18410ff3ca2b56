package queries_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/projections"
	"roster/queries"
)

// release is what one build of Roster runs over a shared log: its presets, its command
// service and views and queries it folds from the log.
type release struct {
	t       *testing.T
	store   eventstore.Store
	svc     *commands.Service
	q       *queries.Queries
	members *projections.View
	perms   *projections.View
}

func startRelease(t *testing.T, store eventstore.Store, presets domain.Presets) *release {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	svc, err := commands.New(commands.Config{Presets: presets, Store: store, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := &release{t: t, store: store, svc: svc,
		members: projections.NewView("members", presets, nil, quiet), perms: projections.NewView("permissions", presets, nil, quiet)}
	if r.q, err = queries.NewQueries(queries.Config{Members: r.members, Permissions: r.perms,
		History: projections.StoreHistory{Store: store}, Presets: presets, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	r.catchUp()
	return r
}

func (r *release) catchUp() {
	for _, v := range []*projections.View{r.members, r.perms} {
		if err := v.CatchUp(context.Background(), r.store); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *release) cmd(name, body string) client.CommandReply {
	r.t.Helper()
	raw, code := r.svc.Execute(context.Background(), name, []byte(body))
	var rep client.CommandReply
	if err := json.Unmarshal(raw, &rep); err != nil || code != "" {
		r.t.Fatalf("%s: code %q, reply %s", name, code, raw)
	}
	r.catchUp()
	return rep
}

func (r *release) ask(name, body string, out any) {
	r.t.Helper()
	raw, code, _ := r.q.Answer(context.Background(), name, []byte(body), true)
	var rep client.QueryReply
	if err := json.Unmarshal(raw, &rep); err != nil || code != "" || !rep.OK {
		r.t.Fatalf("%s %s: code %q, reply %s", name, body, code, raw)
	}
	if err := json.Unmarshal(rep.Result, out); err != nil {
		r.t.Fatal(err)
	}
}

// seen is what the queries answer about bob on p1 and the contributor role.
type seen struct {
	Check, AccessAt  string
	Permissions      []string
	ContributorLabel string
}

func (r *release) answers(beforeUpgrade uint64) seen {
	var s seen
	var c client.CheckResult
	r.ask("Check", `{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.edit"}`, &c)
	s.Check = c.Decision
	var p client.PermissionsResult
	r.ask("Permissions", `{"org_id":"acme","project_id":"p1","user_id":"bob"}`, &p)
	s.Permissions = p.Permissions
	var a client.AccessAtResult
	r.ask("AccessAt", `{"org_id":"acme","project_id":"p1","user_id":"bob","position":`+jsonNumber(beforeUpgrade)+`}`, &a)
	s.AccessAt = strings.Join(a.Permissions, ",")
	var cat client.CatalogResult
	r.ask("Catalog", `{"org_id":"acme"}`, &cat)
	for _, role := range cat.Roles {
		if role.ID == "contributor" {
			s.ContributorLabel = role.Label
		}
	}
	return s
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// A release changes the Neptune preset file after an organization was created: Check,
// Permissions, AccessAt and Catalog keep answering by the version the log recorded until
// UpgradePreset; after it the present answers follow the new preset and AccessAt before the
// upgrade still answers by the old one.
func TestPresetFileChangedAfterCreation(t *testing.T) {
	store := eventstore.NewMemory()
	v1 := startRelease(t, store, domain.MustLoadPresets())
	v1.cmd("CreateOrganization", `{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana"}`)
	v1.cmd("AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"bob"}`)
	v1.cmd("CreateProject", `{"org_id":"acme","actor":"ana","project_id":"p1","name":"P1"}`)
	last := v1.cmd("AddMember", `{"org_id":"acme","actor":"ana","project_id":"p1","user_id":"bob","roles":["contributor"]}`).Position
	recorded := v1.answers(last)
	if recorded.Check != "allowed" || recorded.ContributorLabel != "Contributor" || !strings.Contains(recorded.AccessAt, "project.content.edit") {
		t.Fatalf("answers under the shipped preset: %+v", recorded)
	}

	// The next release edits the preset file: Contributor, renamed Writer, no longer edits content.
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
	presets := domain.MustLoadPresets()
	presets["neptune"] = edited
	v2 := startRelease(t, store, presets)
	if got := v2.answers(last); !equalSeen(got, recorded) {
		t.Fatalf("a release changing the preset file changed the answers: %+v, want the recorded %+v", got, recorded)
	}

	up := v2.cmd("UpgradePreset", `{"org_id":"acme","actor":"ana","preset_version":"`+edited.Version()+`"}`)
	if len(up.Events) != 1 || up.Events[0].Type != domain.EvPresetUpgraded {
		t.Fatalf("UpgradePreset reply %+v", up)
	}
	want := seen{Check: "denied", AccessAt: recorded.AccessAt, Permissions: []string{"project.content.view", "project.members.view"}, ContributorLabel: "Writer"}
	if got := v2.answers(last); !equalSeen(got, want) {
		t.Fatalf("after UpgradePreset: %+v, want %+v", got, want)
	}
	var now client.AccessAtResult
	v2.ask("AccessAt", `{"org_id":"acme","project_id":"p1","user_id":"bob","position":`+jsonNumber(up.Position)+`}`, &now)
	if slices.Contains(now.Permissions, "project.content.edit") {
		t.Fatalf("AccessAt at the upgrade: %v still has project.content.edit", now.Permissions)
	}
}

func equalSeen(a, b seen) bool {
	return a.Check == b.Check && a.AccessAt == b.AccessAt && a.ContributorLabel == b.ContributorLabel && slices.Equal(a.Permissions, b.Permissions)
}
