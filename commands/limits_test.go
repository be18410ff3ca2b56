package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

func limitsService(t *testing.T) (*commands.Service, eventstore.Store) {
	t.Helper()
	store := eventstore.NewMemory()
	svc, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, code := run(t, svc, "CreateOrganization", `{"org_id":"acme","kind":"team","preset":"ica","actor":"tina","name":"Acme"}`); code != "" {
		t.Fatal("create organization refused")
	}
	if _, code := run(t, svc, "CreateProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"P"}`); code != "" {
		t.Fatal("create project refused")
	}
	return svc, store
}

// Every input limit: an over-limit request is refused invalid, naming the field (and the
// limit, for lengths and lists), and appends nothing.
func TestInputLimitsRefuseAndAppendNothing(t *testing.T) {
	svc, store := limitsService(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	list := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf("%q", fmt.Sprintf("r%d", i))
		}
		return "[" + strings.Join(items, ",") + "]"
	}
	cases := []struct {
		name, cmd, body string
		want            []string
	}{
		{"org name length", "CreateOrganization", `{"org_id":"o2","kind":"team","preset":"ica","actor":"tina","name":"` + long(commands.MaxNameLen+1) + `"}`, []string{"name", "200"}},
		{"blank org name", "CreateOrganization", `{"org_id":"o2","kind":"team","preset":"ica","actor":"tina","name":"   "}`, []string{"name"}},
		{"project name length", "CreateProject", `{"org_id":"acme","actor":"tina","project_id":"p2","name":"` + long(commands.MaxNameLen+1) + `"}`, []string{"name", "200"}},
		{"NUL in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u0000b"}`, []string{"name", "control"}},
		{"ESC in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u001b[2Jb"}`, []string{"name", "control"}},
		{"BEL in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u0007"}`, []string{"name", "control"}},
		{"newline in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\nb"}`, []string{"name", "control"}},
		{"CR in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\rb"}`, []string{"name", "control"}},
		{"DEL in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u007f"}`, []string{"name", "control"}},
		{"C1 in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u009b"}`, []string{"name", "control"}},
		{"email length", "InviteMember", `{"org_id":"acme","actor":"tina","project_id":"p1","roles":["project_viewer"],"email":"` + long(250) + `@x.test"}`, []string{"email", "254"}},
		{"email header injection", "InviteMember", `{"org_id":"acme","actor":"tina","project_id":"p1","roles":["project_viewer"],"email":"a@b.t\nBcc: x@y.z"}`, []string{"email"}},
		{"email display name", "AddOrgMember", `{"org_id":"acme","actor":"tina","user_id":"u1","email":"Bob <bob@x.test>"}`, []string{"email"}},
		{"partner admin email", "AddPartner", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"P","admin_email":"not-an-address"}`, []string{"admin_email"}},
		{"label length", "DefineRole", `{"org_id":"acme","actor":"tina","role":"r1","label":"` + long(commands.MaxLabelLen+1) + `"}`, []string{"label", "100"}},
		{"description length", "DefineRole", `{"org_id":"acme","actor":"tina","role":"r1","description":"` + long(commands.MaxDescriptionLen+1) + `"}`, []string{"description", "1000"}},
		{"roles list", "AddMember", `{"org_id":"acme","actor":"tina","project_id":"p1","user_id":"u1","roles":` + list(commands.MaxRoles+1) + `}`, []string{"roles", "32"}},
		{"grants list", "SetMemberGrants", `{"org_id":"acme","actor":"tina","project_id":"p1","user_id":"u1","grants":` + list(commands.MaxGrants+1) + `}`, []string{"grants", "64"}},
		{"permissions list", "SetRolePermissions", `{"org_id":"acme","actor":"tina","role":"r1","permissions":` + list(commands.MaxPermissions+1) + `}`, []string{"permissions", "256"}},
		{"actor length", "RenameProject", `{"org_id":"acme","actor":"` + long(commands.MaxIDLen+1) + `","project_id":"p1","name":"x"}`, []string{"actor", "128"}},
		{"csv size", "ImportMembers", `{"org_id":"acme","actor":"tina","project_id":"p1","csv":"` + long(commands.MaxCSVBytes+1) + `"}`, []string{"csv", "1000000"}},
		{"csv rows", "ImportMembers", `{"org_id":"acme","actor":"tina","project_id":"p1","csv":"email,user_id,name,roles,grants\n` + strings.Repeat(",u,,project_viewer,\\n", commands.MaxImportRows+1) + `"}`, []string{"csv", "10000"}},
		{"csv control character", "ImportMembers", `{"org_id":"acme","actor":"tina","project_id":"p1","csv":"email,user_id,name,roles,grants\n,u1,\"a\u001bb\",project_viewer,\n"}`, []string{"csv", "control"}},
		{"preset_version length", "UpgradePreset", `{"org_id":"acme","actor":"tina","preset_version":"` + long(commands.MaxPresetVersionLen+1) + `"}`, []string{"preset_version", "256"}},
		{"duplicate key", "RenameProject", `{"org_id":"acme","actor":"tina","actor":"mallory","project_id":"p1","name":"x"}`, []string{"actor", "twice"}},
		{"wrong-case key", "RenameProject", `{"org_id":"acme","Actor":"tina","project_id":"p1","name":"x"}`, []string{"Actor", "case"}},
		{"duplicate nested key", "CreateProject", `{"org_id":"acme","actor":"tina","project_id":"p3","name":"x","track":{"name":"a","name":"b"}}`, []string{"track.name", "twice"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := store.Head(context.Background())
			rep, code := run(t, svc, tc.cmd, tc.body)
			if code != client.CodeInvalid {
				t.Fatalf("code %q, want invalid: %+v", code, rep)
			}
			for _, w := range tc.want {
				if !strings.Contains(rep.Error.Message, w) {
					t.Errorf("message %q does not name %q", rep.Error.Message, w)
				}
			}
			if after, _ := store.Head(context.Background()); after != before {
				t.Fatalf("head moved from %d to %d", before, after)
			}
		})
	}
}

// An import of the row limit into an organization already holding 20,000 pending
// invitations completes (it used to sort every invitation per row) and still finds a
// duplicate invitation among the existing ones.
func TestImportIntoLargeOrganization(t *testing.T) {
	svc, _ := limitsService(t)
	var b strings.Builder
	b.WriteString("email,user_id,name,roles,grants\n")
	for i := range commands.MaxImportRows {
		fmt.Fprintf(&b, "old%d@x.test,,,project_viewer,\n", i)
	}
	for range 2 {
		if rep, code := run(t, svc, "ImportMembers", mustBody(t, map[string]any{"org_id": "acme", "actor": "tina", "project_id": "p1", "csv": b.String()})); code != "" {
			t.Fatalf("seed import: %+v", rep)
		}
		b.Reset()
		b.WriteString("email,user_id,name,roles,grants\n")
		for i := range commands.MaxImportRows {
			fmt.Fprintf(&b, "more%d@x.test,,,project_viewer,\n", i)
		}
	}
	b.Reset()
	b.WriteString("email,user_id,name,roles,grants\nOLD7@x.test,,,project_viewer,\n")
	for i := range commands.MaxImportRows - 1 {
		fmt.Fprintf(&b, "new%d@x.test,,,project_viewer,\n", i)
	}
	rep, code := run(t, svc, "ImportMembers", mustBody(t, map[string]any{"org_id": "acme", "actor": "tina", "project_id": "p1", "csv": b.String()}))
	if code != "" {
		t.Fatalf("import: %+v", rep)
	}
	var res domain.ImportMembersResult
	if err := json.Unmarshal(rep.Result, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != commands.MaxImportRows || res.Rows[0].OK || res.Rows[0].Code != "conflict" || !res.Rows[1].OK {
		t.Fatalf("rows: %d, first %+v, second %+v", len(res.Rows), res.Rows[0], res.Rows[1])
	}
}

func mustBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
