package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/domain"
)

// Every command and query of the client has a CLI command and a typed client method, and
// the client's command names are the server's public ones.
func TestCompleteness(t *testing.T) {
	root := newRoot(&globals{}, env{}, wireOps(), nil)
	names := append(client.CommandNames(), client.QueryNames()...)
	for _, name := range names {
		if _, ok := clientMethod(name); !ok {
			t.Errorf("client.Client has no method %s", name)
		}
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd == root || cmd.Name() != name {
			t.Errorf("the CLI has no command %s", name)
			continue
		}
		if cmd.Short == "send "+name {
			t.Errorf("%s has no description in opHelp", name)
		}
	}
	var want []string
	for _, n := range domain.CommandNames() {
		if !domain.InternalCommand(n) { // run by the service's own timer, not on the wire
			want = append(want, n)
		}
	}
	got := slices.Clone(client.CommandNames())
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("client commands:\n got %v\nwant %v", got, want)
	}
}

// Flags are derived from the request types: typed, required ones marked.
func TestFlagsFromTypes(t *testing.T) {
	specs := map[string]map[string]flagSpec{}
	for _, o := range wireOps() {
		specs[o.Name] = map[string]flagSpec{}
		for _, s := range o.Flags {
			specs[o.Name][s.Flag] = s
		}
	}
	for _, c := range []struct {
		op, flag string
		kind     fieldKind
		required bool
	}{
		{"AddMember", "org-id", kindString, true}, {"AddMember", "actor", kindString, true},
		{"AddMember", "roles", kindList, true}, {"AddMember", "grants", kindList, false},
		{"AddMember", "dry-run", kindBool, false}, {"AddMember", "command-id", kindString, false},
		{"Check", "context", kindObject, false}, {"Check", "permission", kindString, true},
		{"ListMembers", "limit", kindNumber, false}, {"Status", "digests", kindBool, false},
		{"CreateOrganization", "name", kindString, false}, {"CreateOrganization", "preset", kindString, true},
		{"CreateProject", "track-name", kindString, false}, {"CreateProject", "compute", kindString, false},
		{"ImportMembers", "csv", kindString, true}, {"ListProjects", "user-id", kindString, true},
	} {
		s, ok := specs[c.op][c.flag]
		if !ok || s.Kind != c.kind || s.Required != c.required {
			t.Errorf("%s --%s: got %+v (found %v), want kind %d required %v", c.op, c.flag, s, ok, c.kind, c.required)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"Bob":                          "Bob",
		"Zoë 山田":                       "Zoë 山田",
		"evil\nbob  bob@x  owner":      `evil\nbob  bob@x  owner`,
		"\x1b[31mred\x1b[0m":           `\x1b[31mred\x1b[0m`,
		"tab\there":                    `tab\there`,
		"rtl\u202eevil":                `rtl\u202eevil`,
		"bad\xffutf8":                  `bad\xffutf8`,
		"c1\u0085next\u2028line\r\x7f": `c1\u0085next\u2028line\r\x7f`,
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
	// A member whose name holds a newline and an ANSI escape stays on one row.
	reply := `{"ok":true,"position":1,"result":{"members":[{"user_id":"u1","email":"a@x","name":"x\n\u001b[2Jfake  row","roles":["r"],"grants":[],"status":"active"}]}}`
	var out bytes.Buffer
	if code := show("ListMembers", true, []byte(reply), false, &out, &bytes.Buffer{}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || strings.Contains(out.String(), "\x1b") {
		t.Fatalf("ListMembers with a hostile name:\n%q", out.String())
	}
}

// The CLI, in-process against a real server.
func TestCLI(t *testing.T) {
	d := startDaemon(t)
	roster := func(args ...string) cliResult {
		t.Helper()
		var out, errOut bytes.Buffer
		code := runWith(append([]string{"--server", d.URL}, args...), nil, &out, &errOut, func(string) string { return "" })
		return cliResult{code, out.String(), errOut.String()}
	}
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "acme", "--kind", "team", "--preset", "neptune", "--actor", "ana")
	mustRun(t, d.URL, "CreateProject", "--org-id", "acme", "--project-id", "p1", "--name", "P1", "--actor", "ana")

	t.Run("a typo in a command gets a suggestion", func(t *testing.T) {
		r := roster("Chek", "--org-id", "acme")
		if r.code != exitFailure || !strings.Contains(r.stderr, `unknown command "Chek"`) ||
			!regexp.MustCompile(`(?i)did you mean this\?\s+Check\b`).MatchString(r.stderr) {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("a typo in a flag gets a suggestion", func(t *testing.T) {
		r := roster("AddMember", "--org-id", "acme", "--project-id", "p1", "--user-id", "bob", "--role", "viewer", "--actor", "ana")
		if r.code != exitFailure || !strings.Contains(r.stderr, "unknown flag: --role") ||
			!regexp.MustCompile(`(?i)did you mean this\?\s+--roles\b`).MatchString(r.stderr) {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("help X lists the required flags, the same as X --help", func(t *testing.T) {
		a, b := roster("help", "AddMember"), roster("AddMember", "--help")
		if a.code != 0 || b.code != 0 || a.stdout != b.stdout {
			t.Fatalf("help AddMember (exit %d) and AddMember --help (exit %d) differ:\n%s\n---\n%s", a.code, b.code, a.stdout, b.stdout)
		}
		if !strings.Contains(a.stdout, "Required flags: --org-id, --actor, --project-id, --roles\n") ||
			!regexp.MustCompile(`--roles strings .*\(required\)`).MatchString(a.stdout) {
			t.Fatalf("help AddMember:\n%s", a.stdout)
		}
		// A missing required field is refused before anything is sent.
		r := roster("AddMember", "--org-id", "acme", "--actor", "ana", "--user-id", "bob")
		if r.code != exitFailure || !strings.Contains(r.stderr, "required flag(s) --project-id, --roles not set") {
			t.Fatalf("missing required: exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("--version", func(t *testing.T) {
		r := roster("--version")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "roster version ") {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}
	})
	t.Run("completion", func(t *testing.T) {
		for _, sh := range []string{"bash", "zsh", "fish"} {
			if r := roster("completion", sh); r.code != 0 || !strings.Contains(r.stdout, "roster") {
				t.Fatalf("completion %s: exit %d, stderr %q", sh, r.code, r.stderr)
			}
		}
	})
	t.Run("a failed import row gives a non-zero exit", func(t *testing.T) {
		csv := filepath.Join(t.TempDir(), "members.csv")
		if err := os.WriteFile(csv, []byte("email,user_id,name,roles,grants\n,carol,Carol,viewer,\n,dan,Dan,no-such-role,\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", "carol")
		mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", "dan")
		r := roster("ImportMembers", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+csv)
		if r.code != exitPartial || !strings.Contains(r.stderr, "1 of 2 rows failed") || !regexp.MustCompile(`row 2\s+error`).MatchString(r.stdout) {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("a repeated command with the same id appends once", func(t *testing.T) {
		head := func() uint64 {
			t.Helper()
			var rep struct {
				Result client.Status `json:"result"`
			}
			if err := json.Unmarshal([]byte(mustRun(t, d.URL, "Status", "--json")), &rep); err != nil {
				t.Fatal(err)
			}
			return rep.Result.Head
		}
		// The generated id is a UUIDv7 sent with the command.
		out := mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", "gen", "--dry-run", "--json")
		if !strings.Contains(out, `"ok":true`) {
			t.Fatalf("dry run: %s", out)
		}
		before := head()
		args := []string{"AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", "erin", "--command-id", "0197a000-0000-7000-8000-000000000001"}
		first := mustRun(t, d.URL, args...)
		afterFirst := head()
		second := mustRun(t, d.URL, args...)
		afterSecond := head()
		if afterFirst != before+1 || afterSecond != afterFirst || first != second {
			t.Fatalf("head %d → %d → %d; replies\n%s\n%s", before, afterFirst, afterSecond, first, second)
		}
	})
	t.Run("every command carries a generated command_id", func(t *testing.T) {
		out := mustRun(t, d.URL, "audit", "--org-id", "acme", "--json", "--type", "OrgMemberAdded", "--user-id", "carol")
		var ev client.Event
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ev); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-`).MatchString(ev.CommandID) {
			t.Fatalf("event %+v has no UUIDv7 command_id", ev)
		}
	})
}

// A command that gets no reply prints the line to retry it with, same command id.
func TestTimeoutPrintsRetryLine(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan string, 1)
	// A responder that swallows the request: the CLI times out.
	if _, err := nc.Subscribe(client.CommandPrefix+"AddOrgMember", func(m *nats.Msg) { got <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := runCtx(context.Background(), []string{"--server", ns.ClientURL(), "--timeout", "300ms", "AddOrgMember",
		"--org-id", "acme", "--actor", "ana", "--user-id", "bob", "--name", "Bob Smith", "--password", "s3cret", "--user", "u"},
		env{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }})
	var sent struct {
		CommandID string `json:"command_id"`
	}
	if err := json.Unmarshal([]byte(<-got), &sent); err != nil || sent.CommandID == "" {
		t.Fatalf("request had no command_id (%v)", err)
	}
	if code != exitFailure || !strings.Contains(errOut.String(), "--name 'Bob Smith'") ||
		!strings.Contains(errOut.String(), "--command-id "+sent.CommandID+"\n") || strings.Contains(errOut.String(), "s3cret") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut.String())
	}
}
