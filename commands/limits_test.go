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
		{"right-to-left override in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"abc\u202Etxt.exe"}`, []string{"name", "U+202E", "format"}},
		{"raw right-to-left override in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"abc` + "\u202e" + `txt"}`, []string{"name", "U+202E"}},
		{"left-to-right mark in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u200Eb"}`, []string{"name", "U+200E"}},
		{"isolate in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u2067b"}`, []string{"name", "U+2067"}},
		{"zero-width space in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u200Bb"}`, []string{"name", "U+200B"}},
		{"byte order mark in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"\uFEFFab"}`, []string{"name", "U+FEFF"}},
		{"line separator in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u2028b"}`, []string{"name", "U+2028", "separator"}},
		{"paragraph separator in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\u2029b"}`, []string{"name", "U+2029"}},
		{"bidi control in role label", "DefineRole", `{"org_id":"acme","actor":"tina","role":"r1","label":"a\u202Db"}`, []string{"label", "U+202D"}},
		{"bidi control in e-mail", "InviteMember", `{"org_id":"acme","actor":"tina","project_id":"p1","roles":["project_viewer"],"email":"a\u202E@x.test"}`, []string{"email", "U+202E"}},
		{"bidi control in csv", "ImportMembers", `{"org_id":"acme","actor":"tina","project_id":"p1","csv":"email,user_id,name,roles,grants\n,u1,a\u202Eb,project_viewer,\n"}`, []string{"csv", "U+202E"}},
		{"lone surrogate in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a\ud800b"}`, []string{"name", "U+FFFD", "surrogate"}},
		{"invalid UTF-8 in name", "RenameProject", `{"org_id":"acme","actor":"tina","project_id":"p1","name":"a` + "\xff" + `b"}`, []string{"UTF-8", "offset"}},
		{"invalid UTF-8 in csv", "ImportMembers", `{"org_id":"acme","actor":"tina","project_id":"p1","csv":"email,user_id,name,roles,grants\n,u1,a` + "\xc3" + `,project_viewer,\n"}`, []string{"UTF-8"}},
		{"deeply nested roles", "AddMember", `{"org_id":"acme","actor":"tina","project_id":"p1","user_id":"u1","roles":` + strings.Repeat("[", 17) + strings.Repeat("]", 17) + `}`, []string{"MaxJSONDepth", "16", "roles[0]"}},
		{"deeply nested track", "CreateProject", `{"org_id":"acme","actor":"tina","project_id":"p3","name":"x","track":` + strings.Repeat(`{"x":`, 16) + "1" + strings.Repeat("}", 16) + `}`, []string{"MaxJSONDepth", "16", "track.x.x"}},
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

// Stored text that is plainly printable, in any script, is still accepted.
func TestPrintableUnicodeNamesAccepted(t *testing.T) {
	svc, _ := limitsService(t)
	for _, name := range []string{"Zoë Ångström", "مشروع", "プロジェクト", "Проект 7", "emoji 🚀", "مى\u200cخواهم", "dev 👩\u200d💻"} {
		if rep, code := run(t, svc, "RenameProject", mustBody(t, map[string]any{"org_id": "acme", "actor": "tina", "project_id": "p1", "name": name})); code != "" {
			t.Errorf("%q refused: %+v", name, rep)
		}
	}
}

// A request nesting 300,000 arrays (600 KB, under the body limit) is refused invalid naming
// the nesting limit, and nothing is appended. The key check used to recurse through every
// level building the full path each time: 30,000 levels took 2 s and 2 GB, 330,000 stalled
// every organization and grew the process to 24 GB.
func TestDeeplyNestedCommandIsRefused(t *testing.T) {
	svc, store := limitsService(t)
	const levels = 300_000
	for _, tc := range []struct{ cmd, body string }{
		{"AddMember", `{"org_id":"acme","actor":"tina","project_id":"p1","user_id":"u1","roles":` + strings.Repeat("[", levels) + strings.Repeat("]", levels) + `}`},
		{"CreateProject", `{"org_id":"acme","actor":"tina","project_id":"p9","name":"x","track":` + strings.Repeat(`{"a":`, levels/3) + "1" + strings.Repeat("}", levels/3) + `}`},
	} {
		before, _ := store.Head(context.Background())
		if len(tc.body) < 600_000 {
			t.Fatalf("%s body is %d bytes", tc.cmd, len(tc.body))
		}
		rep, code := run(t, svc, tc.cmd, tc.body)
		if code != client.CodeInvalid {
			t.Fatalf("%s: code %q, want invalid: %+v", tc.cmd, code, rep)
		}
		for _, w := range []string{"MaxJSONDepth", "16"} {
			if !strings.Contains(rep.Error.Message, w) {
				t.Errorf("%s: message %q does not name %q", tc.cmd, rep.Error.Message, w)
			}
		}
		if len(rep.Error.Message) > 1000 {
			t.Errorf("%s: message is %d bytes", tc.cmd, len(rep.Error.Message))
		}
		if after, _ := store.Head(context.Background()); after != before {
			t.Fatalf("%s: head moved from %d to %d", tc.cmd, before, after)
		}
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
