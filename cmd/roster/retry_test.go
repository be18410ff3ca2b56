package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/natstest"
)

// busyFront stands on a NATS server of its own between the CLI and a real rosterd (ie): it
// answers ImportMembers with the refusal its rule gives for the command id and attempt (from
// 0), and relays every other request to rosterd; after a refusal the rule may make it go away
// (no responders from then on). It records each command id it was sent, in order.
type busyFront struct {
	url    string
	mu     sync.Mutex
	sent   []string
	bodies map[string][]byte
}

// frontRule is a busyFront's answer to an attempt: a refusal body ("" relays it to rosterd), and
// whether the front goes away after giving it.
type frontRule func(id string, attempt int) (refusal string, gone bool)

// busyRefusalBody is rosterd's refusal when its big appends in flight are at their limit.
const busyRefusalBody = `{"ok":false,"error":{"code":"unavailable","message":"4 big appends are staged or waiting (the limit is 4); retry"}}`

// busyWhen refuses as a busy rosterd whenever refuse says so.
func busyWhen(refuse func(id string, attempt int) bool) frontRule {
	return func(id string, attempt int) (string, bool) {
		if refuse(id, attempt) {
			return busyRefusalBody, false
		}
		return "", false
	}
}

func newBusyFront(t *testing.T, ie *importEnv, rule frontRule) *busyFront {
	t.Helper()
	return newBusyFrontOn(t, ie, client.CommandPrefix+client.CmdImportMembers, rule)
}

// newBusyFrontOn is newBusyFront on subject (its rule is given the request's command_id, empty
// for a request without one).
func newBusyFrontOn(t *testing.T, ie *importEnv, subject string, rule frontRule) *busyFront {
	t.Helper()
	ns, nc := natstest.StartForTest(t)
	upstream, err := nats.Connect(ie.d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(upstream.Close)
	f := &busyFront{url: ns.ClientURL(), bodies: map[string][]byte{}}
	var sub *nats.Subscription
	sub, err = nc.Subscribe(subject, func(m *nats.Msg) {
		var meta client.Meta
		if err := json.Unmarshal(m.Data, &meta); err != nil {
			t.Errorf("request: %v", err)
			return
		}
		f.mu.Lock()
		attempt := 0
		for _, id := range f.sent {
			if id == meta.CommandID {
				attempt++
			}
		}
		f.sent = append(f.sent, meta.CommandID)
		if prev, ok := f.bodies[meta.CommandID]; ok && meta.CommandID != "" && string(prev) != string(m.Data) {
			t.Errorf("command %s sent again with another body", meta.CommandID)
		}
		f.bodies[meta.CommandID] = m.Data
		f.mu.Unlock()
		if refusal, gone := rule(meta.CommandID, attempt); refusal != "" {
			_ = m.Respond([]byte(refusal))
			if gone {
				_ = sub.Unsubscribe()
			}
			return
		}
		rep, err := upstream.Request(subject, m.Data, 30*time.Second)
		if err != nil {
			t.Errorf("relay: %v", err)
			return
		}
		_ = m.Respond(rep.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *busyFront) commandIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

func (f *busyFront) roster(ie *importEnv, args ...string) cliResult {
	ie.t.Helper()
	return ie.rosterAt(f.url, args...)
}

// A chunk refused unavailable is sent again, with the same command id and body, until it is
// taken; every row is imported once and the run succeeds.
func TestImportRetriesBusyRefusals(t *testing.T) {
	ie := newImportEnv(t)
	f := newBusyFront(t, ie, busyWhen(func(id string, attempt int) bool {
		return (id == "busy-2" && attempt < 1) || (id == "busy-3" && attempt < 2)
	}))
	path := ie.file("members.csv", memberCSV(0, 5))
	r := f.roster(ie, "import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--chunk-rows", "2", "--command-id", "busy")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if got, want := strings.Join(f.commandIDs(), " "), "busy-1 busy-2 busy-2 busy-3 busy-3 busy-3"; got != want {
		t.Fatalf("sent %s, want %s", got, want)
	}
	for _, want := range []string{
		"roster: ImportMembers: chunk 2 of 3 (command id busy-2): unavailable: 4 big appends are staged or waiting (the limit is 4); retry; retry 1 of 5 in ",
		"roster: ImportMembers: chunk 3 of 3 (command id busy-3): unavailable: ",
		"; retry 2 of 5 in ",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := len(ie.invitations()); n != 5 {
		t.Fatalf("%d invitations, want 5", n)
	}
}

// An import that fits one command is retried too; with --quiet the retries are not told.
func TestImportRetriesOneCommand(t *testing.T) {
	ie := newImportEnv(t)
	f := newBusyFront(t, ie, busyWhen(func(id string, attempt int) bool { return attempt < 2 }))
	path := ie.file("members.csv", memberCSV(0, 3))
	r := f.roster(ie, "import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--command-id", "one", "--quiet")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if got := strings.Join(f.commandIDs(), " "); got != "one one one" {
		t.Fatalf("sent %s, want the command three times", got)
	}
	if strings.Contains(r.stderr, "retry") {
		t.Fatalf("--quiet told of retries:\n%s", r.stderr)
	}
	if n := len(ie.invitations()); n != 3 {
		t.Fatalf("%d invitations, want 3", n)
	}
}

// Retries are bounded: once --retries are spent the refusal is the answer, the run stops at
// that chunk with the resume line, and nothing of it is applied. --retries 0 sends once.
func TestImportRetriesAreBounded(t *testing.T) {
	ie := newImportEnv(t)
	f := newBusyFront(t, ie, busyWhen(func(id string, attempt int) bool { return id != "spent-1" }))
	path := ie.file("members.csv", memberCSV(0, 4))
	r := f.roster(ie, "import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--chunk-rows", "2", "--command-id", "spent", "--retries", "2")
	if r.code != exitRefused {
		t.Fatalf("exit %d, want %d\nstderr %s", r.code, exitRefused, r.stderr)
	}
	if got := strings.Join(f.commandIDs(), " "); got != "spent-1 spent-2 spent-2 spent-2" {
		t.Fatalf("sent %s, want chunk 2 three times", got)
	}
	want := "chunk 2 of 2 (rows 3–4, command id spent-2) was refused unavailable 3 times (--retries 2); chunk 1 is applied, chunk 2 is not."
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "Rerun with the same CSV") {
		t.Fatalf("stderr lacks %q and the resume line:\n%s", want, r.stderr)
	}
	if n := len(ie.invitations()); n != 2 {
		t.Fatalf("%d invitations, want the first chunk's 2", n)
	}

	f = newBusyFront(t, ie, busyWhen(func(string, int) bool { return true }))
	r = f.roster(ie, "import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--command-id", "never", "--retries", "0")
	if r.code != exitRefused || strings.Join(f.commandIDs(), " ") != "never" {
		t.Fatalf("--retries 0: exit %d, sent %v\nstderr %s", r.code, f.commandIDs(), r.stderr)
	}
	for _, bad := range []string{"-1", "21"} {
		r = ie.roster("import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path, "--retries", bad)
		if r.code == 0 || !strings.Contains(r.stderr, "--retries") {
			t.Fatalf("--retries %s: exit %d\nstderr %s", bad, r.code, r.stderr)
		}
	}
}

// A refusal whose outcome is unknown (the server stopped while the chunk was being written)
// followed by a failure to reach the server leaves the chunk's fate unknown: the run says it
// may or may not have been applied, never that it was not.
func TestImportRetryAfterUnknownOutcome(t *testing.T) {
	ie := newImportEnv(t)
	f := newBusyFront(t, ie, func(id string, _ int) (string, bool) {
		if id == "gone-2" { // the server goes away: this refusal is its last answer
			return `{"ok":false,"error":{"code":"unavailable","message":"append to org:acme: outcome unknown (a repeat with the same command id is safe): context canceled"}}`, true
		}
		return "", false
	})
	path := ie.file("members.csv", memberCSV(0, 6))
	r := f.roster(ie, "import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--chunk-rows", "2", "--command-id", "gone")
	if r.code == 0 {
		t.Fatalf("exit 0\nstderr %s", r.stderr)
	}
	for _, want := range []string{"retry 1 of 5", "it may or may not have been applied", "chunk 1 is applied, chunk 3 is not"} {
		if !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "chunk 2 is not") || strings.Contains(r.stderr, "chunks 2–3 are not") {
		t.Fatalf("chunk 2 said not applied:\n%s", r.stderr)
	}
}

// An import that fits one command and is still refused unavailable ends with the line that
// retries it with the same command id.
func TestImportOneCommandBusyPrintsRetryLine(t *testing.T) {
	ie := newImportEnv(t)
	f := newBusyFront(t, ie, busyWhen(func(string, int) bool { return true }))
	path := ie.file("members.csv", memberCSV(0, 2))
	r := f.roster(ie, "import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--command-id", "solo", "--retries", "0")
	if r.code != exitRefused || !strings.Contains(r.stderr, "Retry with the same command id") || !strings.Contains(r.stderr, "--command-id solo") {
		t.Fatalf("exit %d\nstderr %s", r.code, r.stderr)
	}
}

// roster backup asks again for an export page refused unavailable (the server's pages in flight
// at their limit), after a growing wait, and the backup is taken whole.
func TestBackupRetriesBusyExportPages(t *testing.T) {
	ie := newImportEnv(t)
	refused := 0
	f := newBusyFrontOn(t, ie, client.AdminExport, func(string, int) (string, bool) {
		if refused < 2 {
			refused++
			return `{"ok":false,"error":{"code":"unavailable","message":"4 export pages are being read or sent (at most 4 at once, MaxConcurrentExports); retry shortly"}}`, false
		}
		return "", false
	})
	file := filepath.Join(t.TempDir(), "roster.backup")
	r := f.roster(ie, "backup", "--out", file)
	if r.code != 0 || !strings.Contains(r.stdout, "backed up positions 1..") || !strings.Contains(r.stderr, "retry 2 of 10") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}
