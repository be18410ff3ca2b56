package powerfs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/oracle"
	"roster/internal/powerfs"
)

// A power cut while an import is written in slices (an append larger than one Badger
// transaction, eventstore addSliced) leaves either the whole import or none of it: the open
// removes slices whose tail never reached the disk, and every acknowledged command survives.

const (
	sliceChildEnv = "ROSTER_POWERFS_SLICES_CHILD_DIR"
	importRows    = 600 // ~300 KiB of records: three transactions or more of a 1 MiB memtable
	startPrefix   = "START\t"
	// rowsEnv, when set, is the child's rows per import: stagedRows makes each import a staged
	// append (eventstore staged.go).
	rowsEnv    = "ROSTER_POWERFS_IMPORT_ROWS"
	stagedRows = eventstore.BigAppend + 76
)

// slicedStoreOptions give the log a 1 MiB memtable (a transaction holds ~150 KiB), records
// inline, so that every import is written in slices; staged imports are completed with the
// commands' reply.
func slicedStoreOptions(logger *slog.Logger) eventstore.BadgerOptions {
	return eventstore.BadgerOptions{Logger: logger, MemTableSize: 1 << 20, NumMemtables: 2, ValueThreshold: 1 << 10,
		StagedReply: commands.AppendReplyOf}
}

// rowsPerImport is the child's rows per import.
func rowsPerImport() int {
	if n, err := strconv.Atoi(os.Getenv(rowsEnv)); err == nil && n > 0 {
		return n
	}
	return importRows
}

func importCSV(org string, n int) string {
	var b strings.Builder
	b.WriteString("email,user_id,name,roles,grants\n")
	for i := range rowsPerImport() {
		fmt.Fprintf(&b, "%s-%d-%d@corp.test,,Guest %d %d,project_viewer,\n", org, n, i, n, i)
	}
	return b.String()
}

// TestPowerLossSlicesChild is the store side of TestPowerLossDuringSlicedImport (see
// TestPowerLossChild for why it runs in a child process): one organization imports 600 rows
// at a time, announcing each import before it starts; another adds members one at a time.
func TestPowerLossSlicesChild(t *testing.T) {
	dir := os.Getenv(sliceChildEnv)
	if dir == "" {
		t.Skip("helper process of TestPowerLossDuringSlicedImport")
	}
	ctx := context.Background()
	store, err := eventstore.OpenBadger(dir, slicedStoreOptions(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("open Badger on powerfs: %v", err)
	}
	svc, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 64)
	go func() {
		for line := range out {
			fmt.Fprintln(os.Stdout, line)
		}
	}()
	report := func(a ack) {
		line, err := json.Marshal(a)
		if err != nil {
			t.Error(err)
			return
		}
		out <- ackPrefix + string(line)
	}
	for _, org := range []string{"org-import", "org-small"} {
		id := "create-" + org
		reply, code := execCommand(ctx, t, svc, "CreateOrganization", map[string]any{"org_id": org, "actor": "admin",
			"command_id": id, "kind": domain.KindTeam, "preset": "ica", "name": "Org " + org,
			"actor_email": "admin@corp.test", "actor_name": "Admin"})
		if code != "" {
			t.Fatalf("CreateOrganization %s: %s %s", org, code, reply)
		}
		report(ack{Org: org, CommandID: id, User: "admin", Reply: reply})
	}
	if reply, code := execCommand(ctx, t, svc, "CreateProject", map[string]any{"org_id": "org-import", "actor": "admin",
		"command_id": "project", "project_id": "p", "name": "Imports", "visibility": "private"}); code != "" {
		t.Fatalf("CreateProject: %s %s", code, reply)
	}
	go func() {
		for i := 0; ; i++ {
			user := fmt.Sprintf("u%04d", i)
			id := fmt.Sprintf("add-org-small-%d", i)
			reply, code := execCommand(ctx, t, svc, "AddOrgMember", addMember("org-small", id, user))
			if code != "" {
				t.Errorf("AddOrgMember %s: %s %s", id, code, reply)
				return
			}
			report(ack{Org: "org-small", CommandID: id, User: user, Reply: reply})
		}
	}()
	for n := 0; ; n++ { // until the parent cuts the power and kills the process
		id := fmt.Sprintf("import-%d", n)
		out <- startPrefix + id
		reply, code := execCommand(ctx, t, svc, "ImportMembers", map[string]any{"org_id": "org-import", "actor": "admin",
			"command_id": id, "project_id": "p", "csv": importCSV("org-import", n)})
		if code != "" {
			t.Fatalf("ImportMembers %s: %s %s", id, code, reply)
		}
		report(ack{Org: "org-import", CommandID: id, Reply: reply})
	}
}

func TestPowerLossDuringSlicedImport(t *testing.T) {
	cutDuringImport(t, importRows, 0, 40*time.Millisecond)
}

// A power cut while a staged import (eventstore staged.go) is staged or chained between other
// organizations' commands leaves the whole import after the open, which completes it, or none
// of it; every acknowledged command survives, and every import in the log has the reply its
// records give. The cuts fall early and late in the third import.
func TestPowerLossDuringStagedImport(t *testing.T) {
	t.Setenv(rowsEnv, strconv.Itoa(stagedRows))
	for _, window := range [][2]time.Duration{{0, 15 * time.Millisecond}, {15 * time.Millisecond, 60 * time.Millisecond},
		{60 * time.Millisecond, 150 * time.Millisecond}} {
		t.Run(fmt.Sprintf("%s-%s", window[0], window[1]), func(t *testing.T) {
			store, recs := cutDuringImport(t, stagedRows, window[0], window[1])
			checkImportReplies(t, store, recs)
		})
	}
}

// cutDuringImport runs the child until a random moment between from and to into its third
// import, cuts the power, reopens the image and checks that no acknowledged command is lost
// and that every import is whole or absent.
func cutDuringImport(t *testing.T, rows int, from, to time.Duration) (*eventstore.BadgerStore, []eventstore.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p := powerfs.New(nil)
	dir, srv := mountOrSkip(t, p)
	starts := 0
	acked, img := runUntilCut(ctx, t, p, srv, "TestPowerLossSlicesChild", sliceChildEnv, dir, func(line string, _ []ack) bool {
		if !strings.HasPrefix(line, startPrefix) {
			return false
		}
		if starts++; starts < 3 {
			return false
		}
		time.Sleep(from + time.Duration(rand.Int64N(int64(to-from))))
		return true
	})
	var logged bytes.Buffer
	store, recs := reopenImage(ctx, t, img, slicedStoreOptions(slog.New(slog.NewTextHandler(&logged, nil))))
	perCommand := map[string]int{}
	for _, r := range recs {
		perCommand[r.OrgID+"/"+r.CommandID]++
	}
	for _, a := range acked {
		if perCommand[a.Org+"/"+a.CommandID] == 0 {
			t.Errorf("LOST: command %s of %s was acknowledged before the power cut but is not in the log", a.CommandID, a.Org)
		}
	}
	imports := 0
	for key, n := range perCommand {
		if strings.HasPrefix(key, "org-import/import-") {
			imports++
			if n != rows {
				t.Errorf("import %s has %d of its %d records in the log after the power cut: not all or nothing", key, n, rows)
			}
		}
	}
	if imports < 2 {
		t.Errorf("%d imports in the log; the two acknowledged before the cut must be there", imports)
	}
	for _, v := range oracle.CheckRecords(recs) {
		t.Errorf("VIOLATION (independent oracle) after recovery: %s", v)
	}
	head, _ := store.Head(ctx)
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: commands.StreamOf("org-small"), ExpectedVersion: mustVersion(ctx, t, store, "org-small"),
		Events: []eventstore.Record{{ID: "after-cut", Type: "Note", Time: time.Now(), OrgID: "org-small", Data: json.RawMessage(`{}`)}}}); err != nil {
		t.Errorf("after recovery an append is refused: %v", err)
	}
	for _, a := range acked {
		if stored, ok, err := store.CommandReply(ctx, commands.StreamOf(a.Org), a.CommandID); err != nil || !ok || !bytes.Equal(stored, a.Reply) {
			t.Errorf("command %s of %s: stored reply %.80q (%v, %v) is not the acknowledged %.80q", a.CommandID, a.Org, stored, ok, err, a.Reply)
		}
	}
	removed := strings.Contains(logged.String(), "cut short before its commit")
	completed := strings.Contains(logged.String(), "completed an append that was cut short")
	t.Logf("power cut during the third import: %d records (head %d), %d imports whole, slices of a cut-short import removed at open: %v, a staged import completed at open: %v",
		len(recs), head, imports, removed, completed)
	return store, recs
}

// checkImportReplies checks that every import in the log has a stored reply naming exactly its
// records: one the open completed has the reply its command would have had.
func checkImportReplies(t *testing.T, store *eventstore.BadgerStore, recs []eventstore.Record) {
	t.Helper()
	byCommand := map[string][]eventstore.Record{}
	for _, r := range recs {
		if r.OrgID == "org-import" && strings.HasPrefix(r.CommandID, "import-") {
			byCommand[r.CommandID] = append(byCommand[r.CommandID], r)
		}
	}
	for id, own := range byCommand {
		stored, ok, err := store.CommandReply(context.Background(), commands.StreamOf("org-import"), id)
		if err != nil || !ok {
			t.Errorf("import %s is in the log without a stored reply (%v)", id, err)
			continue
		}
		var rep client.CommandReply
		if err := json.Unmarshal(stored, &rep); err != nil || !rep.OK || len(rep.Events) != len(own) {
			t.Errorf("import %s: reply %.80q (%v) does not name its %d records", id, stored, err, len(own))
			continue
		}
		for i, e := range rep.Events {
			if e.ID != own[i].ID || e.Position != own[i].Position || e.Type != own[i].Type {
				t.Errorf("import %s: reply event %d is %+v; the log has %s at %d", id, i, e, own[i].ID, own[i].Position)
				break
			}
		}
		if rep.Position != own[len(own)-1].Position {
			t.Errorf("import %s: reply position %d; its last record is at %d", id, rep.Position, own[len(own)-1].Position)
		}
	}
}

func mustVersion(ctx context.Context, t *testing.T, s eventstore.Store, org string) uint64 {
	t.Helper()
	v, err := s.StreamVersion(ctx, commands.StreamOf(org))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
