package commands_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

// presetsEditing is the shipped catalogue with the Neptune preset file edited by replacing
// old with new (a later release's preset).
func presetsEditing(t *testing.T, old, new string) domain.Presets {
	t.Helper()
	raw, err := os.ReadFile("../domain/presets/neptune.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(raw), old, new, 1)
	if src == string(raw) {
		t.Fatalf("neptune.yaml no longer holds %q; update the test's edit", old)
	}
	p, err := domain.ParsePreset([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out := domain.MustLoadPresets()
	out[p.ID] = p
	return out
}

const contributorRole = "  - id: contributor\n    label: Contributor\n    scope: project\n    permissions: [project.content.view, project.content.edit, project.members.view]\n"

// UpgradePreset on the wire: a release with a changed preset leaves the organization on its
// recorded version; the dry run lists who gains and loses what and appends nothing; a refused
// upgrade names the role in use and appends nothing; the upgrade appends PresetUpgraded.
func TestUpgradePresetOnTheWire(t *testing.T) {
	store := eventstore.NewMemory()
	old, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{
		{"CreateOrganization", `{"org_id":"acme","kind":"team","preset":"neptune","actor":"ana"}`},
		{"AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"bob"}`},
		{"CreateProject", `{"org_id":"acme","actor":"ana","project_id":"p1","name":"P1"}`},
		{"AddMember", `{"org_id":"acme","actor":"ana","project_id":"p1","user_id":"bob","roles":["contributor"]}`},
	} {
		if rep, code := run(t, old, c[0], c[1]); code != "" {
			t.Fatalf("%s: %+v", c[0], rep.Error)
		}
	}
	head := func() uint64 { h, _ := store.Head(context.Background()); return h }

	// A release whose Neptune contributor no longer edits content.
	v2 := presetsEditing(t, contributorRole, strings.Replace(contributorRole, " project.content.edit,", "", 1))
	svc, err := commands.New(commands.Config{Presets: v2, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	before := head()
	rep, code := run(t, svc, "UpgradePreset", `{"org_id":"acme","actor":"ana","dry_run":true}`)
	if code != "" || !rep.DryRun || len(rep.Planned) != 1 || rep.Planned[0].Type != domain.EvPresetUpgraded {
		t.Fatalf("dry run: code %q, reply %+v", code, rep)
	}
	want := client.PermissionChange{UserID: "bob", ProjectID: "p1", Lost: []string{"project.content.edit"}}
	if !slices.ContainsFunc(rep.Changes, func(c client.PermissionChange) bool {
		return c.UserID == want.UserID && c.ProjectID == want.ProjectID && slices.Equal(c.Lost, want.Lost) && len(c.Gained) == 0
	}) || len(rep.Changes) != 1 {
		t.Fatalf("dry-run changes %+v, want only %+v", rep.Changes, want)
	}
	if head() != before {
		t.Fatal("the dry run appended")
	}

	// A release without the contributor role: refused, naming the role and its holder.
	gone := presetsEditing(t, contributorRole, "")
	refusing, err := commands.New(commands.Config{Presets: gone, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	rep, code = run(t, refusing, "UpgradePreset", `{"org_id":"acme","actor":"ana"}`)
	if code != client.CodePreconditionFailed || !strings.Contains(rep.Error.Message, "role contributor held by user bob on project p1") {
		t.Fatalf("upgrade dropping a role in use: code %q, %+v", code, rep.Error)
	}
	if head() != before {
		t.Fatal("the refused upgrade appended")
	}

	// The upgrade, naming the version the dry run showed.
	body, _ := json.Marshal(client.UpgradePreset{Meta: client.Meta{OrgID: "acme", Actor: "ana"}, PresetVersion: v2["neptune"].Version()})
	rep, code = run(t, svc, "UpgradePreset", string(body))
	if code != "" || len(rep.Events) != 1 || rep.Events[0].Type != domain.EvPresetUpgraded {
		t.Fatalf("upgrade: code %q, reply %+v", code, rep)
	}
}
