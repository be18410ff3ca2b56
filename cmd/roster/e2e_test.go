package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"roster/internal/daemon"
)

type cliResult struct {
	code           int
	stdout, stderr string
}

func TestEndToEnd(t *testing.T) {
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	roster := func(args ...string) cliResult {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(append([]string{"--server", d.URL}, args...), &out, &errOut)
		return cliResult{code, out.String(), errOut.String()}
	}
	mustOK := func(r cliResult) cliResult {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		return r
	}
	positionRE := regexp.MustCompile(`(?m)^ok position=(\d+)$`)
	position := func(r cliResult) string {
		t.Helper()
		m := positionRE.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no 'ok position=N' line in:\n%s", r.stdout)
		}
		return m[1]
	}

	// Given an organization on the Neptune preset, with bob as a member and contributor of p1.
	r := mustOK(roster("CreateOrganization", "--org-id", "acme", "--name", "Acme", "--kind", "team", "--preset", "neptune",
		"--actor", "ana", "--actor-email", "ana@acme.io"))
	if !strings.Contains(r.stdout, "OrganizationCreated") || !regexp.MustCompile(`(?m)^  OrganizationCreated\s+#\d+$`).MatchString(r.stdout) {
		t.Fatalf("CreateOrganization output lacks its event line:\n%s", r.stdout)
	}
	mustOK(roster("AddOrgMember", `{"org_id":"acme","user_id":"bob","email":"bob@acme.io","name":"Bob","actor":"ana"}`))
	r = mustOK(roster("CreateProject", "--org-id", "acme", "--project-id", "p1", "--name", "Project One", "--actor", "ana"))
	if !strings.Contains(r.stdout, "ProjectCreated") {
		t.Fatalf("CreateProject output:\n%s", r.stdout)
	}
	r = mustOK(roster("AddMember", "--org-id", "acme", "--project-id", "p1", "--user-id", "bob", "--roles", "contributor", "--actor", "ana", "--dry-run"))
	if !strings.Contains(r.stdout, "nothing appended") || !strings.Contains(r.stdout, "would append MemberAdded") ||
		!strings.Contains(r.stdout, "bob at p1: +") {
		t.Fatalf("AddMember --dry-run output:\n%s", r.stdout)
	}
	r = mustOK(roster("AddMember", "--org-id", "acme", "--project-id", "p1", "--user-id", "bob", "--roles", "contributor", "--actor", "ana"))
	if !strings.Contains(r.stdout, "MemberAdded") {
		t.Fatalf("AddMember output:\n%s", r.stdout)
	}
	pos := position(r)

	// Check: a contributor edits content but not members.
	r = mustOK(roster("Check", "--org-id", "acme", "--project-id", "p1", "--user-id", "bob",
		"--permission", "Editing project content", "--min-position", pos))
	if first := strings.Fields(r.stdout); len(first) == 0 || first[0] != "allowed" {
		t.Fatalf("Check content edit: want allowed, got:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "via direct role=contributor") {
		t.Errorf("Check should show the membership behind it:\n%s", r.stdout)
	}
	r = mustOK(roster("Check", "--org-id", "acme", "--project-id", "p1", "--user-id", "bob",
		"--permission", "Editing project members", "--min-position", pos))
	if first := strings.Fields(r.stdout); len(first) == 0 || first[0] != "denied" {
		t.Fatalf("Check members edit: want denied, got:\n%s", r.stdout)
	}

	// ListMembers is a table that holds bob.
	r = mustOK(roster("ListMembers", "--org-id", "acme", "--project-id", "p1", "--min-position", pos))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "USER/GROUP") || !strings.Contains(lines[0], "PARTNER") {
		t.Fatalf("ListMembers table:\n%s", r.stdout)
	}
	var bobRow string
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "bob ") {
			bobRow = l
		}
	}
	if bobRow == "" || !strings.Contains(bobRow, "bob@acme.io") || !strings.Contains(bobRow, "contributor") {
		t.Fatalf("ListMembers has no row for bob:\n%s", r.stdout)
	}

	// Catalog and Status render as tables.
	r = mustOK(roster("Catalog", "--org-id", "acme", "--min-position", pos))
	for _, want := range []string{"preset neptune", "project.content.edit", "Editing project content", "CATEGORY", "contributor"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("Catalog output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustOK(roster("Status", "--min-position", pos))
	if !strings.HasPrefix(r.stdout, "head "+pos) || !strings.Contains(r.stdout, "PROJECTION") {
		t.Errorf("Status output:\n%s", r.stdout)
	}
	// GetProject renders as a table of fields.
	r = mustOK(roster("GetProject", "--org-id", "acme", "--project-id", "p1", "--min-position", pos))
	if !regexp.MustCompile(`(?m)^project\s+p1$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^name\s+Project One$`).MatchString(r.stdout) {
		t.Errorf("GetProject output is not the project table:\n%s", r.stdout)
	}

	// A refusal: bob, a contributor, may not add members.
	r = roster("AddMember", "--org-id", "acme", "--project-id", "p1", "--user-id", "ana", "--roles", "viewer", "--actor", "bob")
	if r.code != exitRefused || !strings.HasPrefix(r.stderr, "error forbidden: ") {
		t.Fatalf("refused AddMember: exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}

	// --json prints the reply as received, before or after the name.
	for _, args := range [][]string{
		{"--json", "AddOrgMember", "--org-id", "acme", "--user-id", "carol", "--actor", "ana"},
		{"AddOrgMember", "--org-id", "acme", "--user-id", "dave", "--actor", "ana", "--json"},
	} {
		r = mustOK(roster(args...))
		var reply struct {
			OK       bool   `json:"ok"`
			Position uint64 `json:"position"`
			Events   []any  `json:"events"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &reply); err != nil || !reply.OK || reply.Position == 0 || len(reply.Events) == 0 {
			t.Fatalf("--json output %q: %v", r.stdout, err)
		}
	}

	// A request read from stdin.
	var out, errOut bytes.Buffer
	code := runWith([]string{"--server", d.URL, "Check", "-", "--min-position", pos}, strings.NewReader(
		`{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.view"}`), &out, &errOut, func(string) string { return "" })
	if code != 0 || !strings.HasPrefix(out.String(), "allowed") {
		t.Fatalf("Check from stdin: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	// An unknown name is refused locally, with a suggestion.
	r = roster("addmember", "--org-id", "acme")
	if r.code != exitFailure || !strings.Contains(r.stderr, "unknown command") || !strings.Contains(r.stderr, "AddMember") {
		t.Fatalf("unknown name: exit %d, stderr %q", r.code, r.stderr)
	}
	// A usage error never reaches the server.
	r = roster("AddMember", "{not json")
	if r.code != exitFailure || !strings.Contains(r.stderr, "request JSON") {
		t.Fatalf("bad JSON: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestTransportError(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"--server", "nats://127.0.0.1:1", "--timeout", "1s", "Status"}, &out, &errOut)
	if code != exitFailure || !strings.Contains(errOut.String(), "connect nats://127.0.0.1:1") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	// ROSTER_SERVER is the default server; --server wins over it.
	errOut.Reset()
	env := func(k string) string {
		if k == "ROSTER_SERVER" {
			return "nats://127.0.0.1:2"
		}
		return ""
	}
	if code := runWith([]string{"--timeout", "1s", "Status"}, nil, &out, &errOut, env); code != exitFailure ||
		!strings.Contains(errOut.String(), "connect nats://127.0.0.1:2") {
		t.Fatalf("ROSTER_SERVER: exit %d, stderr %q", code, errOut.String())
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
		for _, o := range wireOps() {
			if !regexp.MustCompile(`(?m)^  ` + o.Name + `\s+\S`).MatchString(out.String()) {
				t.Errorf("%v: help lacks a line for %s", args, o.Name)
			}
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"help", "AddMember"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "roster.cmd.AddMember") {
		t.Fatalf("help AddMember: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"Check", "--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "roster.query.Check") {
		t.Fatalf("Check --help: exit %d, %q", code, out.String())
	}
}
