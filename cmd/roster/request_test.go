package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/pflag"
)

func TestBuildRequest(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "members.csv")
	csv := "email,user_id,name,roles,grants\nbob@x.io,bob,Bob,contributor,\n"
	if err := os.WriteFile(csvPath, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	namePath := filepath.Join(dir, "name.txt")
	if err := os.WriteFile(namePath, []byte("Acme Inc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reqPath := filepath.Join(dir, "req.json")
	if err := os.WriteFile(reqPath, []byte(`{"org_id": "acme", "actor": "ana"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		op    string
		args  []string
		stdin string
		want  string // JSON, compared structurally
		exact string // compared byte for byte (passthrough)
	}{
		{name: "no arguments", op: "Status", want: `{}`},
		{name: "dash and underscore flags", op: "AddOrgMember",
			args: []string{"--org-id", "acme", "--user_id", "bob", "--actor", "ana"},
			want: `{"org_id":"acme","user_id":"bob","actor":"ana"}`},
		{name: "flag=value", op: "AddOrgMember", args: []string{"--org-id=acme", "--name=Bob Smith"},
			want: `{"org_id":"acme","name":"Bob Smith"}`},
		{name: "empty value with =", op: "AddOrgMember", args: []string{"--email="}, want: `{"email":""}`},
		{name: "JSON passthrough", op: "Check", args: []string{`{"org_id":"acme", "roles":["a"], "n": 1.50}`},
			exact: `{"org_id":"acme","roles":["a"],"n":1.50}`},
		{name: "command JSON with its id passes through", op: "AddMember", args: []string{`{"org_id":"acme", "command_id": "c1"}`},
			exact: `{"org_id":"acme","command_id":"c1"}`},
		{name: "command JSON gets a command_id", op: "AddMember", args: []string{`{"org_id":"acme", "n": 1.50}`},
			want: `{"org_id":"acme","n":1.50}`},
		{name: "stdin", op: "Check", args: []string{"-"}, stdin: "{\"org_id\": \"acme\"}\n",
			exact: `{"org_id":"acme"}`},
		{name: "JSON file", op: "Catalog", args: []string{"@" + reqPath}, exact: `{"org_id":"acme","actor":"ana"}`},
		{name: "JSON then flags laid over", op: "AddMember",
			args: []string{`{"org_id":"acme","user_id":"x","min_position":12345678901234567890}`, "--user-id", "bob", "--roles", "viewer"},
			want: `{"org_id":"acme","user_id":"bob","roles":["viewer"],"min_position":12345678901234567890}`},
		{name: "stdin then flags", op: "Check", args: []string{"-", "--explain"}, stdin: `{"org_id":"acme"}`,
			want: `{"org_id":"acme","explain":true}`},
		{name: "lists", op: "AddMember", args: []string{"--roles", "owner, viewer", "--grants", "Editing project content"},
			want: `{"roles":["owner","viewer"],"grants":["Editing project content"]}`},
		{name: "repeated list appends", op: "AddMember", args: []string{"--roles", "owner", "--roles", "viewer"},
			want: `{"roles":["owner","viewer"]}`},
		{name: "empty list", op: "SetMemberGrants", args: []string{"--grants", ""}, want: `{"grants":[]}`},
		{name: "other list fields", op: "Audit",
			args: []string{"--types", "MemberAdded,MemberRemoved"}, want: `{"types":["MemberAdded","MemberRemoved"]}`},
		{name: "permissions list", op: "SetRolePermissions", args: []string{"--permissions", "a"}, want: `{"permissions":["a"]}`},
		{name: "previous owner roles", op: "TransferProjectOwnership", args: []string{"--previous-owner-roles", "viewer"},
			want: `{"previous_owner_roles":["viewer"]}`},
		{name: "numbers", op: "Audit",
			args: []string{"--min-position", "12", "--wait_ms", "500", "--limit", "10", "--after-position", "3"},
			want: `{"min_position":12,"wait_ms":500,"limit":10,"after_position":3}`},
		{name: "position", op: "AccessAt", args: []string{"--position", "7"}, want: `{"position":7}`},
		{name: "relative since", op: "Audit", args: []string{"--since", "2001-02-03T04:05:06Z", "--until", "2001-02-03T05:00:00+01:00"},
			want: `{"since":"2001-02-03T04:05:06Z","until":"2001-02-03T05:00:00+01:00"}`},
		{name: "bool alone", op: "ListProjects", args: []string{"--include-archived", "--user-id", "bob"},
			want: `{"include_archived":true,"user_id":"bob"}`},
		{name: "bool at the end", op: "AddMember", args: []string{"--org-id", "acme", "--dry-run"},
			want: `{"org_id":"acme","dry_run":true}`},
		{name: "bool with false", op: "Check", args: []string{"--explain", "false", "--org-id", "acme"},
			want: `{"explain":false,"org_id":"acme"}`},
		{name: "bool with =true", op: "Check", args: []string{"--explain=true"}, want: `{"explain":true}`},
		{name: "context map", op: "Check", args: []string{"--context", "created_by=u1,task_type=qa"},
			want: `{"context":{"created_by":"u1","task_type":"qa"}}`},
		{name: "context JSON", op: "Check", args: []string{"--context", `{"created_by":"u1"}`},
			want: `{"context":{"created_by":"u1"}}`},
		{name: "context repeated merges", op: "Check", args: []string{"--context", "created_by=u1", "--context", "task_type=qa"},
			want: `{"context":{"created_by":"u1","task_type":"qa"}}`},
		{name: "csv from @file kept verbatim", op: "ImportMembers", args: []string{"--org-id", "acme", "--csv", "@" + csvPath},
			want: `{"org_id":"acme","csv":` + jsonString(csv) + `}`},
		{name: "@ is literal where a flag takes no file", op: "CreateOrganization", args: []string{"--name", "@" + namePath},
			want: `{"name":` + jsonString("@"+namePath) + `}`},
		{name: "@handle is a literal name", op: "AddOrgMember", args: []string{"--name", "@handle"}, want: `{"name":"@handle"}`},
		{name: "@- reads stdin", op: "ImportMembers", args: []string{"--csv", "@-"}, stdin: "a,b\n",
			want: `{"csv":"a,b\n"}`},
		{name: "@@ is a literal @ in a file flag", op: "ImportMembers", args: []string{"--csv", "@@bob"}, want: `{"csv":"@bob"}`},
		{name: "CreateProject track nesting", op: "CreateProject",
			args: []string{"--org-id", "acme", "--project-id", "p1", "--name", "P1", "--track-id", "t1", "--track-name", "Main",
				"--compute", "gpu", "--notebook_env", "py3"},
			want: `{"org_id":"acme","project_id":"p1","name":"P1","track":{"track_id":"t1","name":"Main","compute":"gpu","notebook_env":"py3"}}`},
		{name: "CreateProject JSON track merged with flags", op: "CreateProject",
			args: []string{`{"track":{"track_id":"t1"}}`, "--compute", "gpu"},
			want: `{"track":{"track_id":"t1","compute":"gpu"}}`},
		{name: "track flags stay flat outside CreateProject", op: "CreateTrack",
			args: []string{"--track-id", "t2", "--compute", "cpu"},
			want: `{"track_id":"t2","compute":"cpu"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := buildRequest(tt.op, tt.args, strings.NewReader(tt.stdin))
			if err != nil {
				t.Fatalf("buildRequest: %v", err)
			}
			if tt.exact != "" {
				if string(got) != tt.exact {
					t.Fatalf("got %s\nwant %s", got, tt.exact)
				}
				return
			}
			assertSameJSON(t, got, tt.want)
		})
	}
}

func TestBuildRequestErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{name: "bad JSON", args: []string{`{"org_id": }`}, want: "request JSON"},
		{name: "truncated JSON", args: []string{`{"org_id": "acme"`}, want: "request JSON"},
		{name: "trailing data", args: []string{`{"a":"b"} {"c":"d"}`}, want: "trailing"},
		{name: "JSON array", args: []string{`["a"]`}, want: "unexpected argument"},
		{name: "null from stdin", args: []string{"-"}, stdin: "null", want: "expected an object"},
		{name: "bad JSON from stdin", args: []string{"-"}, stdin: "{nope", want: "request JSON"},
		{name: "empty stdin", args: []string{"-"}, stdin: "  \n", want: "empty"},
		{name: "stray word", args: []string{"acme"}, want: "unexpected argument"},
		{name: "two JSON objects", args: []string{`{}`, `{}`}, want: "unexpected argument"},
		{name: "missing value", args: []string{"--org-id"}, want: "needs an argument: --org-id"},
		{name: "unknown flag", args: []string{"--colour", "blue"}, want: "unknown flag: --colour"},
		{name: "single dash long flag", args: []string{"-org-id", "acme"}, want: "unknown shorthand"},
		{name: "flag as value", args: []string{"--org-id", "--user-id", "bob"}, want: "needs a value (use --org-id="},
		{name: "bad relative time", args: []string{"--since", "yesterday"}, want: "neither RFC 3339 nor a time ago"},
		{name: "not a number", args: []string{"--limit", "ten"}, want: "not a whole number"},
		{name: "not a bool", args: []string{"--dry-run=maybe"}, want: "not true or false"},
		{name: "bad context", args: []string{"--context", "created_by"}, want: "not key=value"},
		{name: "scalar twice", args: []string{"--org-id", "a", "--org-id", "b"}, want: "given twice"},
		{name: "missing file", args: []string{"--csv", "@/nonexistent/roster.csv"}, want: "--csv"},
		{name: "missing JSON file", args: []string{"@/nonexistent/req.json"}, want: "nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := "AddMember"
			if strings.Contains(strings.Join(tt.args, " "), "--since") || strings.Contains(strings.Join(tt.args, " "), "--limit") {
				op = "Audit"
			} else if strings.Contains(strings.Join(tt.args, " "), "--context") {
				op = "Check"
			} else if strings.Contains(strings.Join(tt.args, " "), "--csv") {
				op = "ImportMembers"
			}
			got, err := buildRequest(op, tt.args, strings.NewReader(tt.stdin))
			if err == nil {
				t.Fatalf("want an error containing %q, got request %s", tt.want, got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestResolveTime(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"2h":                   "2026-11-22T08:00:00Z",
		"30m":                  "2026-11-22T09:30:00Z",
		"7d":                   "2026-11-15T10:00:00Z",
		"1w":                   "2026-11-15T10:00:00Z",
		"1h30m":                "2026-11-22T08:30:00Z",
		"2026-01-02T03:04:05Z": "2026-01-02T03:04:05Z",
	} {
		got, err := resolveTime(in, now)
		if err != nil || got != want {
			t.Errorf("resolveTime(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-2h", "2x", "d"} {
		if got, err := resolveTime(bad, now); err == nil {
			t.Errorf("resolveTime(%q) = %q, want an error", bad, got)
		}
	}
}

func TestJoinBoolValues(t *testing.T) {
	got := joinBoolValues([]string{"--explain", "false", "--org-id", "true", "--dry_run", "true", "--", "--json", "false"}, []string{"explain", "dry-run", "json"})
	want := []string{"--explain=false", "--org-id", "true", "--dry_run=true", "--", "--json", "false"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// buildRequest parses args with op name's flags, as the CLI does, and builds the request
// JSON; a generated command_id is dropped so that results compare.
func buildRequest(name string, args []string, stdin io.Reader) ([]byte, error) {
	var o op
	for _, x := range wireOps() {
		if x.Name == name {
			o = x
		}
	}
	if o.Name == "" {
		return nil, fmt.Errorf("unknown command or query %q", name)
	}
	req := newRequest(stdin, time.Now)
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, n string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.ReplaceAll(n, "_", "-"))
	})
	bindFlags(fs, o, req)
	if err := fs.Parse(joinBoolValues(args, boolFlags([]op{o}))); err != nil {
		return nil, err
	}
	o.Flags = nil // required fields are checked elsewhere
	body, id, err := req.body(o, fs.Args())
	if err != nil || id == "" || strings.Contains(strings.Join(args, " "), id) {
		return body, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(id); err != nil || m["command_id"] != id {
		return nil, fmt.Errorf("command_id %q is not a UUID in the request", id)
	}
	delete(m, "command_id")
	return json.Marshal(m)
}

func assertSameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("result is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
