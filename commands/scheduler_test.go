package commands

import (
	"fmt"
	"sync"
	"testing"

	"roster/domain"
	"roster/eventstore"
)

// A worker's turn takes up to TurnJobs queued commands of one organization, in order, then
// the organization goes behind the others that wait.
func TestSchedulerTurnTakesSeveralCommandsInOrder(t *testing.T) {
	svc, err := New(Config{Presets: domain.MustLoadPresets(), Store: eventstore.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	sch := &scheduler{s: svc, queues: map[string]*orgQueue{}}
	sch.cond = sync.NewCond(&sch.mu)
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
