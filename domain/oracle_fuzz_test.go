package domain

import (
	"encoding/json"
	"fmt"

	"roster/internal/oracle"
)

// The independent judges of FuzzDomainSequence: the oracle package (written from SPEC §2
// alone, reading the events as JSON, sharing no code with the guard or with Evolve) folds every
// accepted command's events and judges the rules after each command; and a read property
// judged from the oracle's own model, not from the decider: on a deleted project nothing is
// allowed, on an archived one nothing but views, and a user the oracle sees on no path to a
// project (not in the organization, not a member of the project or its track, directly or
// through a workgroup) gets nothing there but the views of a public project.

// judgeEvents hands an accepted command's events to the oracle and fails on any problem it finds.
func (s *fzRun) judgeEvents(cmd Command, evs []Event) {
	s.steps++
	batch := fmt.Sprintf("step-%d", s.steps)
	var list []oracle.Event
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			s.fatalf("marshal %s: %v", ev.EventType(), err)
		}
		list = append(list, oracle.Event{Type: ev.EventType(), Data: data, Actor: cmd.CommandMeta().Actor, Batch: batch})
	}
	s.judge.ApplyAll(list)
	if p := s.judge.Problems(); len(p) > 0 {
		s.fatalf("the independent oracle finds, after %s: %v", cmd.CommandName(), p)
	}
}

// judgeRead checks one answer of Check against the oracle's model.
func (s *fzRun) judgeRead(user string, perm Permission, sc Scope, decision string) {
	if sc.ProjectID == "" || perm.Scope == ScopeOrg {
		return
	}
	m := s.judge
	st, known := m.ProjectStatus(sc.ProjectID)
	if !known {
		return
	}
	switch {
	case st == "deleted" && decision != Denied:
		s.fatalf("oracle: %s is %s %s on deleted project %s", user, decision, perm.ID, sc.ProjectID)
	case st == "archived" && decision != Denied && !perm.View:
		s.fatalf("oracle: %s is %s %s (not a view) on archived project %s", user, decision, perm.ID, sc.ProjectID)
	}
	if decision == Denied || m.OnPath(user, sc.ProjectID, sc.TrackID) {
		return
	}
	if !(perm.View && m.Public(sc.ProjectID)) {
		s.fatalf("oracle: %s, on no path to project %s (track %q), is %s %s", user, sc.ProjectID, sc.TrackID, decision, perm.ID)
	}
}

func newJudge() *oracle.Model { return oracle.NewModel(fzOrg) }
