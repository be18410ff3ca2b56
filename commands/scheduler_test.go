package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/caller"
	"roster/internal/edge"
)

// A worker's turn takes up to TurnJobs queued commands of one organization, in order, then
// the organization goes behind the others that wait.
func TestSchedulerTurnTakesSeveralCommandsInOrder(t *testing.T) {
	sch := idleScheduler(t, 0)
	submit := func(org string, i int) {
		cmd := &domain.AddOrgMember{Meta: domain.Meta{OrgID: org, CommandID: fmt.Sprintf("%s-%d", org, i)}}
		if err := sch.submit(&job{org: org, cmd: cmd}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range TurnJobs + 2 {
		submit("a", i)
	}
	submit("b", 0)
	ids := func(turn []*job) (out []string) {
		for _, j := range turn {
			out = append(out, j.cmd.CommandMeta().CommandID)
		}
		return out
	}
	var got []string
	for range 3 {
		q, turn, ok := sch.next()
		if !ok {
			t.Fatal("scheduler stopped")
		}
		got = append(got, q.id+" "+fmt.Sprint(ids(turn)))
		sch.turnDone(q)
	}
	want := []string{"a [a-0 a-1 a-2 a-3 a-4 a-5 a-6 a-7]", "b [b-0]", "a [a-8 a-9]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("turns %q; want %q", got, want)
	}
	if sch.queued != 0 || len(sch.queues) != 0 || len(sch.ready) != 0 {
		t.Fatalf("after the turns: %d queued, %d queues, %d ready", sch.queued, len(sch.queues), len(sch.ready))
	}
}

// A caller may hold at most half of an organization's queue bound, over all organizations: a
// tenant naming another's organization cannot fill its queue (the decider's not_found comes only
// when the command is decided). Persons count one by one; insecure mode's anonymous caller is
// bound by the organization's queue only.
func TestOneCallerCannotFillAnotherOrganizationsQueue(t *testing.T) {
	sch := idleScheduler(t, 8)
	evil := caller.Caller{Account: "EVIL", Kind: caller.Application}
	owner := caller.Caller{Account: "VICTIM", Kind: caller.Application}
	submit := func(who caller.Caller, org string) error {
		return sch.submit(&job{org: org, who: who, cmd: &domain.AddOrgMember{Meta: domain.Meta{OrgID: org}}})
	}
	for i := range 4 {
		org := "victim"
		if i%2 == 1 {
			org = fmt.Sprintf("elsewhere%d", i) // the bound is over all organizations
		}
		if err := submit(evil, org); err != nil {
			t.Fatalf("command %d of the hostile caller: %v", i, err)
		}
	}
	err := submit(evil, "victim")
	if codeOf(err) != client.CodeUnavailable || !strings.Contains(err.Error(), "per-caller limit is 4") {
		t.Fatalf("fifth command of one caller: %v", err)
	}
	// The victim's own commands still find room: 2 of the hostile's are in its queue of 8.
	for i := range 4 {
		if err := submit(owner, "victim"); err != nil {
			t.Fatalf("the owner's command %d: %v", i, err)
		}
	}
	// Two persons of one user account are two callers.
	ann := caller.Caller{Account: "PEOPLE", User: "ann", Kind: caller.User}
	bob := caller.Caller{Account: "PEOPLE", User: "bob", Kind: caller.User}
	for range 4 {
		if err := submit(ann, "p"); err != nil {
			t.Fatal(err)
		}
	}
	if err := submit(bob, "p"); err != nil {
		t.Fatalf("another person of the same account: %v", err)
	}
	// Taking a turn frees the hostile caller's slots.
	for len(sch.ready) > 0 {
		q, _, _ := sch.next()
		sch.turnDone(q)
	}
	if err := submit(evil, "victim"); err != nil {
		t.Fatalf("after its commands were taken: %v", err)
	}
	// Insecure mode: no per-caller bound, the organization's queue bounds.
	anon := caller.Caller{Account: caller.AnonymousAccount, Kind: caller.Application, Anonymous: true}
	for i := range 8 {
		if err := submit(anon, "open"); err != nil {
			t.Fatalf("anonymous command %d: %v", i, err)
		}
	}
	if err := submit(anon, "open"); codeOf(err) != client.CodeUnavailable || !strings.Contains(err.Error(), "per-organization limit is 8") {
		t.Fatalf("ninth anonymous command: %v", err)
	}
}

// Commands naming organizations that do not exist leave no state behind once answered; an
// organization created keeps its state.
func TestUnknownOrganizationsLeaveNoState(t *testing.T) {
	svc, err := New(Config{Presets: domain.MustLoadPresets(), Store: eventstore.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sch := svc.scheduler(ctx)
	var wg sync.WaitGroup
	replies := make(chan string, 1001)
	submit := func(cmd domain.Command) {
		wg.Add(1)
		j := &job{org: cmd.CommandMeta().OrgID, cmd: cmd, name: "cmd", arrived: time.Now(), reply: func(body []byte, _ string) { replies <- string(body); wg.Done() }}
		j.as = svc.as(j.who)
		if err := sch.submit(j); err != nil {
			t.Fatal(err)
		}
	}
	submit(&domain.CreateOrganization{Meta: domain.Meta{OrgID: "real", Actor: "ana"}, Kind: "team", Preset: "neptune"})
	wg.Wait()
	if r := <-replies; !strings.Contains(r, `"ok":true`) {
		t.Fatalf("CreateOrganization: %s", r)
	}
	for i := range 1000 {
		submit(&domain.AddOrgMember{Meta: domain.Meta{OrgID: fmt.Sprintf("ghost%d", i), Actor: "ana"}, UserID: "bob"})
	}
	wg.Wait()
	for range 1000 {
		if r := <-replies; !strings.Contains(r, "not_found") {
			t.Fatalf("a command naming an unknown organization: %s", r)
		}
	}
	// The last turn's bookkeeping runs after its replies: wait for the workers to go idle.
	for {
		sch.mu.Lock()
		idle := len(sch.queues) == 0
		sch.mu.Unlock()
		if idle {
			break
		}
		runtime.Gosched()
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if _, ok := svc.orgs["real"]; !ok || len(svc.orgs) != 1 {
		t.Fatalf("%d organization states kept after 1,000 unknown ones, want only the real one", len(svc.orgs))
	}
}

func codeOf(err error) string {
	code, _ := edge.CodeOf(err)
	return code
}

// Within an organization each caller has a queue of its own and a turn takes them round-robin:
// the owner's command queued behind twenty of a stranger's is decided second, not twenty-first;
// one caller's commands keep their order.
func TestCallersOfOneOrganizationTakeTurns(t *testing.T) {
	sch := idleScheduler(t, 0)
	evil := caller.Caller{Account: "EVIL", Kind: caller.Application}
	owner := caller.Caller{Account: "VICTIM", Kind: caller.Application}
	submit := func(who caller.Caller, id string) {
		t.Helper()
		cmd := &domain.AddOrgMember{Meta: domain.Meta{OrgID: "victim", CommandID: id}}
		if err := sch.submit(&job{org: "victim", who: who, cmd: cmd}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		submit(evil, fmt.Sprintf("evil-%d", i))
	}
	submit(owner, "owner-0")
	submit(owner, "owner-1")
	q, turn, _ := sch.next()
	var got []string
	for _, j := range turn {
		got = append(got, j.cmd.CommandMeta().CommandID)
	}
	want := []string{"evil-0", "owner-0", "evil-1", "owner-1", "evil-2", "evil-3", "evil-4", "evil-5"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("turn %v, want %v", got, want)
	}
	sch.turnDone(q)
	if q.n != 14 || sch.queued != 14 || sch.byCaller["EVIL"].jobs != 14 || sch.byCaller["VICTIM"] != nil {
		t.Fatalf("after the turn: org %d, queued %d, EVIL %+v, VICTIM %+v", q.n, sch.queued, sch.byCaller["EVIL"], sch.byCaller["VICTIM"])
	}
}

// Queued commands are bounded in bytes too, per caller and over all: a command is queued with
// its body, so a count alone would let a few callers hold gigabytes.
func TestQueuedBytesAreBounded(t *testing.T) {
	sch := idleScheduler(t, 0)
	big := 3 << 20
	submit := func(who caller.Caller, org string) error {
		return sch.submit(&job{org: org, who: who, size: big, cmd: &domain.AddOrgMember{Meta: domain.Meta{OrgID: org}}})
	}
	evil := caller.Caller{Account: "EVIL", Kind: caller.Application}
	for i := range 2 {
		if err := submit(evil, fmt.Sprintf("o%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	err := submit(evil, "o3")
	if codeOf(err) != client.CodeUnavailable || !strings.Contains(err.Error(), fmt.Sprintf("per-caller limit is %d", MaxCallerQueuedBytes)) {
		t.Fatalf("third 3 MiB command of one caller: %v", err)
	}
	if err := sch.admit(evil, big); codeOf(err) != client.CodeUnavailable {
		t.Fatalf("admit before reading the body: %v", err)
	}
	// Over all callers: the anonymous caller has no per-caller bound, the global one holds.
	anon := caller.Caller{Account: caller.AnonymousAccount, Kind: caller.Application, Anonymous: true}
	n := 0
	for ; n < 100; n++ {
		if err = submit(anon, fmt.Sprintf("a%d", n)); err != nil {
			break
		}
	}
	if codeOf(err) != client.CodeUnavailable || !strings.Contains(err.Error(), fmt.Sprintf("the limit is %d", MaxQueuedBytes)) || sch.bytes > MaxQueuedBytes {
		t.Fatalf("after %d more commands: %v (%d bytes queued)", n, err, sch.bytes)
	}
}

// A large body queued under an organization its caller cannot reach is refused before it is
// decoded, with the same bytes as the decoded path's answer (an unknown organization's
// not_found); the owner's own large body is decoded and decided.
func TestStrangersLargeBodyRefusedBeforeDecode(t *testing.T) {
	svc, err := New(Config{Presets: domain.MustLoadPresets(), Store: eventstore.NewMemory(), Policy: mustPolicy(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sch := svc.scheduler(ctx)
	decoded := make(chan string, 8)
	svc.beforeDecode = func(name string) { decoded <- name }
	owner := caller.Caller{Account: "ACME", Kind: caller.Application}
	stranger := caller.Caller{Account: "GLOBEX", Kind: caller.Application}
	run := func(j *job) (string, string) {
		t.Helper()
		type answer struct{ body, code string }
		got := make(chan answer, 1)
		j.arrived, j.as = time.Now(), svc.as(j.who)
		j.reply = func(body []byte, code string) { got <- answer{string(body), code} }
		if err := sch.submit(j); err != nil {
			t.Fatal(err)
		}
		a := <-got
		return a.body, a.code
	}
	if body, code := run(&job{org: "acme", who: owner, name: "CreateOrganization",
		cmd: &domain.CreateOrganization{Meta: domain.Meta{OrgID: "acme", Actor: "ana"}, Kind: "team", Preset: "ica"}}); code != "" {
		t.Fatalf("CreateOrganization: %s", body)
	}
	if body, code := run(&job{org: "acme", who: owner, name: "CreateProject",
		cmd: &domain.CreateProject{Meta: domain.Meta{OrgID: "acme", Actor: "ana"}, ProjectID: "p"}}); code != "" {
		t.Fatalf("CreateProject: %s", body)
	}
	csv := "email,user_id,name,roles,grants\n" + strings.Repeat("x@a.test,,X,project_viewer,\n", 1000)
	big, _ := json.Marshal(map[string]any{"org_id": "acme", "actor": "ana", "project_id": "p", "csv": csv})
	strangerBody, strangerCode := run(&job{org: "acme", who: stranger, name: "ImportMembers", body: big, size: len(big)})
	select {
	case name := <-decoded:
		t.Fatalf("the stranger's %s was decoded", name)
	default:
	}
	// The decoded path's answer to the same stranger: the same bytes.
	small, smallCode := run(&job{org: "acme", who: stranger, name: "AddOrgMember",
		cmd: &domain.AddOrgMember{Meta: domain.Meta{OrgID: "acme", Actor: "ana"}, UserID: "bob"}})
	if strangerCode != client.CodeNotFound || strangerBody != small || smallCode != strangerCode {
		t.Fatalf("stranger's large body: %s %s; decoded path: %s %s", strangerCode, strangerBody, smallCode, small)
	}
	if body, code := run(&job{org: "acme", who: owner, name: "ImportMembers", body: big, size: len(big)}); code != "" {
		t.Fatalf("the owner's import: %s", body)
	}
	if name := <-decoded; name != "ImportMembers" {
		t.Fatalf("decoded %s", name)
	}
}

func mustPolicy(t *testing.T) *caller.Policy {
	t.Helper()
	p, err := caller.NewPolicy(true, []string{"PEOPLE"}, []string{"OPS"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// idleScheduler is a scheduler over a memory log without workers: the test takes the turns
// itself (next, turnDone). A queue bound of 0 keeps MaxOrgQueue.
func idleScheduler(t *testing.T, queueBound int) *scheduler {
	t.Helper()
	svc, err := New(Config{Presets: domain.MustLoadPresets(), Store: eventstore.NewMemory(), OrgQueue: queueBound})
	if err != nil {
		t.Fatal(err)
	}
	sch := &scheduler{s: svc, queues: map[string]*orgQueue{}}
	sch.cond = sync.NewCond(&sch.mu)
	return sch
}

// An append the log cannot hold at its memtable size fails the same way on every retry: it is
// invalid (the caller must split it), not unavailable (which clients retry).
func TestAppendTooBigIsNotRetryable(t *testing.T) {
	_, err := afterAppend(nil, fmt.Errorf("append: %w", eventstore.ErrAppendTooBig))
	if got := codeOf(err); got != string(client.CodeInvalid) {
		t.Fatalf("code %q for an append too big, want %q (%v)", got, client.CodeInvalid, err)
	}
	_, err = afterAppend(nil, fmt.Errorf("append: %w", eventstore.ErrClosed))
	if got := codeOf(err); got == string(client.CodeInvalid) {
		t.Fatalf("a closed store is answered %q", got)
	}
}

// A command whose deadline passed before it found a waiter slot is answered and gives back no
// slot it did not take: it used to take another command's, and once none was left its waiter
// blocked for good, so commands went unanswered after one overran its deadline (found by a
// hostile pass under heavy imports).
func TestExpiredCommandGivesBackNoWaiterSlot(t *testing.T) {
	sch := idleScheduler(t, 0)
	sch.ctx = context.Background()
	ctx := context.Background()
	if _, code := sch.s.Execute(ctx, "CreateOrganization", []byte(`{"org_id":"acme","kind":"team","preset":"ica","actor":"tina","name":"Acme"}`)); code != "" {
		t.Fatalf("create organization: %s", code)
	}
	sch.waiters = make(chan struct{}, 1)
	sch.waiters <- struct{}{} // the one slot is another command's
	answered := make(chan string, 1)
	j := &job{org: "acme", name: "AddOrgMember", arrived: time.Now().Add(-2 * CommandTimeout),
		cmd:   &domain.AddOrgMember{Meta: domain.Meta{OrgID: "acme", Actor: "tina"}, UserID: "late", Role: "member"},
		reply: func(_ []byte, code string) { answered <- code }}
	sch.process(sch.s.entry("acme"), j)
	if code := <-answered; code == "" {
		t.Fatal("a command past its deadline was answered ok")
	}
	if n := len(sch.waiters); n != 1 {
		t.Fatalf("%d waiter slots held after the expired command; want 1, the other command's", n)
	}
}
