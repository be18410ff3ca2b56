package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/edge"
	"roster/internal/pace"
)

// pacedService is a command service over a memory log with pacer p.
func pacedService(t *testing.T, p *pace.Pacer) *Service {
	t.Helper()
	s, err := New(Config{Presets: domain.MustLoadPresets(), Store: eventstore.NewMemory(), Pacer: p})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func importBody(org string, rows int) []byte {
	var csv strings.Builder
	csv.WriteString("email,user_id,name,roles,grants\n")
	for i := range rows {
		fmt.Fprintf(&csv, "u%d@%s.test,,,project_viewer,\n", i, org)
	}
	b, _ := json.Marshal(map[string]any{"org_id": org, "actor": "tina", "project_id": "p", "csv": csv.String()})
	return b
}

func mustExecute(t *testing.T, s *Service, name, body string) {
	t.Helper()
	if reply, code := s.Execute(context.Background(), name, []byte(body)); code != "" {
		t.Fatalf("%s: %s %s", name, code, reply)
	}
}

// TestImportGivesWayToOtherRequests: an ImportMembers is bulk work (Config.Pacer). While
// another request is being served it waits between its rows (here the pacer's share is so
// small that each wait is its MaxWait, an hour), and it goes on when the request ends.
func TestImportGivesWayToOtherRequests(t *testing.T) {
	p := pace.New(pace.Config{Share: 1e-9, MaxWait: time.Hour, Budget: time.Hour})
	s := pacedService(t, p)
	mustExecute(t, s, client.CmdCreateOrganization, `{"org_id":"a","kind":"team","preset":"ica","actor":"tina","name":"A"}`)
	mustExecute(t, s, client.CmdCreateProject, `{"org_id":"a","actor":"tina","project_id":"p","name":"P"}`)

	end := p.Begin() // another organization's request is being served
	var ended atomic.Bool
	done := make(chan string, 1)
	go func() {
		reply, code := s.Execute(context.Background(), client.CmdImportMembers, importBody("a", 4*domain.YieldRows))
		if !ended.Load() {
			t.Error("the import ended while another request was being served")
		}
		done <- code + string(reply)
	}()
	select {
	case r := <-done: // a wrong import is given the time to end early
		t.Fatalf("the import ended while another request was being served: %.80s", r)
	case <-time.After(200 * time.Millisecond):
	}
	ended.Store(true)
	end()
	if r := <-done; !strings.HasPrefix(r, `{"ok":true`) {
		t.Fatalf("import: %.120s", r)
	}
}

// TestCommandsAreInteractiveImportsAreNot: a command arriving over NATS tells the pacer that
// interactive work wants the processors; an ImportMembers does not (it is the bulk work).
func TestCommandsAreInteractiveImportsAreNot(t *testing.T) {
	p := pace.New(pace.Config{Quiet: time.Hour}) // seen once, contended for the rest of the test
	s := pacedService(t, p)
	nc, _ := serve(t, s)
	request := func(name string, body []byte) {
		t.Helper()
		msg, err := nc.Request(client.CommandPrefix+name, body, 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasPrefix(string(msg.Data), `{"ok":true`) {
			t.Fatalf("%s: %.120s", name, msg.Data)
		}
	}
	// The organization and its project are set up without the pacer seeing them.
	mustExecute(t, s, client.CmdCreateOrganization, `{"org_id":"a","kind":"team","preset":"ica","actor":"tina","name":"A"}`)
	mustExecute(t, s, client.CmdCreateProject, `{"org_id":"a","actor":"tina","project_id":"p","name":"P"}`)
	request(client.CmdImportMembers, importBody("a", 3))
	if p.Contended() {
		t.Fatal("an ImportMembers counted as interactive work")
	}
	request(client.CmdCreateProject, []byte(`{"org_id":"a","actor":"tina","project_id":"q","name":"Q"}`))
	if !p.Contended() {
		t.Fatal("a CreateProject over NATS did not count as interactive work")
	}
}

// refusingStore refuses its failAt-th append before queuing it, as the log does a big append
// beyond eventstore.MaxStaged.
type refusingStore struct {
	eventstore.Store
	calls, failAt int
}

func (r *refusingStore) AppendAsync(ctx context.Context, req eventstore.AppendRequest) (func() (eventstore.AppendResult, error), error) {
	if r.calls++; r.calls == r.failAt {
		return nil, &eventstore.StoreError{Op: "append", Stream: req.Stream, Err: eventstore.ErrStagedBusy}
	}
	return r.Store.AppendAsync(ctx, req)
}

// TestAppendRefusedAtOnceLeavesTheState: an append the log refuses before queuing it (the
// bound on big appends) is answered unavailable naming the limit, and the organization's
// state does not take its events: a command decided right after it, before anything waits for
// the refused one, is decided on what the log holds and succeeds (it had got conflict, its
// expected version counting the refused events).
func TestAppendRefusedAtOnceLeavesTheState(t *testing.T) {
	store := &refusingStore{Store: eventstore.NewMemory(), failAt: 3}
	s, err := New(Config{Presets: domain.MustLoadPresets(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	mustExecute(t, s, client.CmdCreateOrganization, `{"org_id":"a","kind":"team","preset":"ica","actor":"tina","name":"A"}`)
	mustExecute(t, s, client.CmdCreateProject, `{"org_id":"a","actor":"tina","project_id":"p","name":"P"}`)
	ctx := context.Background()
	entry := s.entry("a")
	decode := func(name, body string) domain.Command {
		cmd, err := s.decode(name, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	_, err = s.lockAndStart(ctx, entry, decode(client.CmdImportMembers, string(importBody("a", 3))), principal{})
	if code, _ := edge.CodeOf(err); code != client.CodeUnavailable || !strings.Contains(fmt.Sprint(err), "eventstore.MaxStaged") {
		t.Fatalf("refused import: %v", err)
	}
	wait, err := s.lockAndStart(ctx, entry, decode(client.CmdCreateProject, `{"org_id":"a","actor":"tina","project_id":"q","name":"Q"}`), principal{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wait(); err != nil {
		t.Fatalf("the command after the refused import: %v", err)
	}
}

// TestImportHoldsTheCollectorAllowanceUntilDurable: an ImportMembers is in flight for the
// pacer (pace.Pacer.Hold, which rosterd turns into the collector's allowance) from its decision
// until its events are durable, and a small command is not.
func TestImportHoldsTheCollectorAllowanceUntilDurable(t *testing.T) {
	store := eventstore.NewMemory()
	var told []string
	p := pace.New(pace.Config{OnBulk: func(active bool) {
		head, err := store.Head(context.Background())
		if err != nil {
			t.Error(err)
		}
		told = append(told, fmt.Sprintf("%v@%d", active, head))
	}})
	s, err := New(Config{Presets: domain.MustLoadPresets(), Store: store, Pacer: p})
	if err != nil {
		t.Fatal(err)
	}
	mustExecute(t, s, client.CmdCreateOrganization, `{"org_id":"a","kind":"team","preset":"ica","actor":"tina","name":"A"}`)
	mustExecute(t, s, client.CmdCreateProject, `{"org_id":"a","actor":"tina","project_id":"p","name":"P"}`)
	if len(told) != 0 {
		t.Fatalf("small commands held the allowance: %v", told)
	}
	before, _ := store.Head(context.Background())
	mustExecute(t, s, client.CmdImportMembers, string(importBody("a", 3)))
	after, _ := store.Head(context.Background())
	if after <= before {
		t.Fatalf("the import appended nothing (head %d, then %d)", before, after)
	}
	// Taken before anything of the import was written, given back once all of it was.
	if want := []string{fmt.Sprintf("true@%d", before), fmt.Sprintf("false@%d", after)}; strings.Join(told, " ") != strings.Join(want, " ") {
		t.Fatalf("told %v; want %v", told, want)
	}
	// An import refused by its decision gives it back too.
	told = nil
	bad := strings.Replace(string(importBody("a", 2)), `"project_id":"p"`, `"project_id":"nosuch"`, 1)
	if reply, code := s.Execute(context.Background(), client.CmdImportMembers, []byte(bad)); code != client.CodeNotFound {
		t.Fatalf("an import into an unknown project: %q %s; want not_found", code, reply)
	}
	if want := fmt.Sprintf("true@%d false@%d", after, after); strings.Join(told, " ") != want {
		t.Fatalf("a refused import: told %v; want %s", told, want)
	}
}
