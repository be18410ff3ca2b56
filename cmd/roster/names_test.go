package main

import (
	"slices"
	"testing"

	"roster/domain"
	"roster/queries"
)

// The CLI's name lists must follow the server's: every public command and every query.
func TestNamesMatchServer(t *testing.T) {
	var cmds []string
	for _, o := range commandOps() {
		cmds = append(cmds, o.Name)
	}
	var want []string
	for _, n := range domain.CommandNames() {
		if n != domain.CmdExpireInvites { // run by the service's own timer, not on the wire
			want = append(want, n)
		}
	}
	slices.Sort(cmds)
	slices.Sort(want)
	if !slices.Equal(cmds, want) {
		t.Errorf("commands:\n got %v\nwant %v", cmds, want)
	}

	var qs []string
	for _, o := range queryOps() {
		qs = append(qs, o.Name)
		if !isQuery(o.Name) {
			t.Errorf("isQuery(%s) = false", o.Name)
		}
	}
	wantQ := []string{queries.QCheck, queries.QPermissions, queries.QWhoCan, queries.QListMembers,
		queries.QListProjects, queries.QGetProject, queries.QListInvitations, queries.QCatalog,
		queries.QAudit, queries.QAccessAt, queries.QStatus}
	slices.Sort(qs)
	slices.Sort(wantQ)
	if !slices.Equal(qs, wantQ) {
		t.Errorf("queries:\n got %v\nwant %v", qs, wantQ)
	}
	for _, c := range commandOps() {
		if isQuery(c.Name) {
			t.Errorf("command %s is taken for a query", c.Name)
		}
		if c.Help == "" || c.Fields == "" {
			t.Errorf("%s has no description", c.Name)
		}
	}
	if isQuery("Frobnicate") {
		t.Error("an unknown name must be sent as a command")
	}
}
