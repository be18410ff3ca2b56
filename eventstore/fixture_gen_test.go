package eventstore

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestGenerateFixture writes a small log to ROSTER_WRITE_FIXTURE (skipped
// without it). It was run once with the version-1 format to produce
// testdata/v1log, and once with format 3 for testdata/v3log (its DISCARD file,
// which Badger makes again, left out); a future format change adds a fixture of its own.
func TestGenerateFixture(t *testing.T) {
	dir := os.Getenv("ROSTER_WRITE_FIXTURE")
	if dir == "" {
		t.Skip("set ROSTER_WRITE_FIXTURE to a directory to write a fixture log")
	}
	s, err := OpenBadger(dir, BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := testCtx(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	add := func(stream, org, typ, cmd string, data any) {
		t.Helper()
		v, err := s.StreamVersion(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(data)
		id, _ := uuid.NewV7()
		n++
		ev := Record{ID: id.String(), Type: typ, Time: base.Add(time.Duration(n) * time.Second), OrgID: org, Actor: "ana",
			CommandID: cmd, CorrelationID: cmd, Data: b}
		if _, err := s.Append(ctx, AppendRequest{Stream: stream, ExpectedVersion: v, CommandID: cmd, Events: []Record{ev}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, org := range []string{"acme", "globex", "initech"} {
		stream := "org-" + org
		add(stream, org, "OrganizationCreated", "create-"+org, map[string]string{"org_id": org, "kind": "team", "preset": "neptune"})
		for i := range 8 {
			add(stream, org, "MemberAdded", fmt.Sprintf("add-%s-%d", org, i), map[string]any{"user_id": fmt.Sprintf("user%d", i), "role": "member"})
		}
		for i := range 4 {
			add(stream, org, "ProjectCreated", fmt.Sprintf("proj-%s-%d", org, i), map[string]any{"project_id": fmt.Sprintf("p%d", i), "name": "Project ünïcode"})
		}
		add(stream, org, "RoleChanged", "", map[string]any{"user_id": "user1", "role": "admin"})
		add(stream, org, "MemberRemoved", "", map[string]any{"user_id": "user7"})
	}
	t.Logf("wrote %d events", n)
}
