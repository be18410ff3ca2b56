package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"roster/client"
	"roster/eventstore"
)

// A short torture run: five SIGKILLs of a real rosterd under load, then the
// lost-write check. It builds rosterd, so it needs the go tool.
func TestFiveKillsLoseAndDuplicateNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills rosterd five times")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"--kills", "5", "--min-delay", "30ms", "--max-delay", "200ms", "--settle", "200ms",
		"--resend", "50", "--seed", "42"}, &stdout, &stderr)
	out := strings.TrimRight(stdout.String(), "\n")
	t.Logf("output:\n%s\n%s", out, stderr.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	last := out[strings.LastIndexByte(out, '\n')+1:]
	m := regexp.MustCompile(`^acked (\d+), lost 0, duplicated 0, views equal: yes$`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line %q, want acked N, lost 0, duplicated 0, views equal: yes", last)
	}
	if m[1] == "0" {
		t.Fatal("nothing was acknowledged: the load did not run")
	}
}

// The checker itself finds a lost and a duplicated command (it is not vacuous).
func TestCheckerFindsLostAndDuplicated(t *testing.T) {
	tr := &torture{out: &printer{w: &bytes.Buffer{}}}
	rec := func(pos, ver uint64, id, cmd string) eventstore.Record {
		return eventstore.Record{ID: id, Position: pos, Version: ver, Stream: "org-o", OrgID: "o", Type: "MemberAdded", CommandID: cmd}
	}
	acked := func(cmd string, pos uint64, id string) *cmdRecord {
		return &cmdRecord{id: cmd, org: "o", name: "AddOrgMember", state: stateAcked,
			reply: &client.CommandReply{OK: true, Position: pos, Events: []client.EventRef{{ID: id, Type: "MemberAdded", Position: pos}}}}
	}
	cmds := []*cmdRecord{acked("c1", 1, "e1"), acked("c2", 2, "e2"), acked("c3", 3, "e3"),
		{id: "c4", org: "o", name: "AddOrgMember", state: stateRefused, message: "conflict"}}
	recs := []eventstore.Record{
		rec(1, 1, "e1", "c1"),
		// c2 is lost: another event sits at its position.
		rec(2, 2, "x2", "c9"),
		rec(3, 3, "e3", "c3"),
		rec(4, 4, "e3b", "c3"), // c3 appended twice
		rec(5, 5, "e4", "c4"),  // c4 was refused on a retry but applied
	}
	rep := &report{}
	tr.checkLog(rep, recs, cmds)
	if rep.lost != 1 || rep.duplicated != 2 {
		t.Fatalf("lost %d, duplicated %d; want 1 and 2", rep.lost, rep.duplicated)
	}
	// Gaps in positions and versions are problems too.
	rep = &report{}
	tr.checkLog(rep, []eventstore.Record{rec(1, 1, "e1", "c1"), rec(3, 3, "e3", "c3")}, cmds[:1])
	if len(rep.problems) != 2 {
		t.Fatalf("problems %q, want a position gap and a version gap", rep.problems)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"--kills", "-1"}, {"--workers", "0"}, {"--min-delay", "2s", "--max-delay", "1s"}, {"extra"}} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	c, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || c.kills != 50 || c.external || c.seed == 0 {
		t.Fatalf("defaults %+v, %v", c, err)
	}
}
