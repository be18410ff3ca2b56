package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/daemon"
	"roster/projections"
)

// cutLog is the log as it was at a position.
type cutLog struct {
	eventstore.Store
	head uint64
}

func (c cutLog) Head(context.Context) (uint64, error) { return c.head, nil }
func (c cutLog) Scan(ctx context.Context, from uint64, fn func(eventstore.Record) error) error {
	return c.Store.Scan(ctx, from, func(r eventstore.Record) error {
		if r.Position > c.head {
			return nil
		}
		return fn(r)
	})
}

// roster backup under concurrent commands, roster restore into a new data dir, rosterd started
// there: its views' digests equal the original's views folded to the same position; roster
// verify passes on both and pinpoints an altered line in the backup file.
func TestBackupRestoreVerifyCommands(t *testing.T) {
	d := startDaemon(t)
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "acme", "--kind", "team", "--preset", "neptune", "--actor", "ana")
	for i := range 20 {
		mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", fmt.Sprintf("u%d", i))
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // load while the backup runs
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var out, errb bytes.Buffer
			_ = run([]string{"--server", d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", fmt.Sprintf("load%d", i)}, &out, &errb)
		}
	}()
	file := filepath.Join(t.TempDir(), "roster.backup")
	out := mustRun(t, d.URL, "backup", "--out", file)
	close(stop)
	wg.Wait()
	var upTo uint64
	if _, err := fmt.Sscanf(out, "backed up positions 1..%d", &upTo); err != nil || upTo < 21 {
		t.Fatalf("backup said %q", out)
	}

	// Expected digests: the original's log folded to upTo.
	want := projections.NewView("members", domain.MustLoadPresets(), nil, slog.New(slog.DiscardHandler))
	if err := want.CatchUp(ctx, cutLog{d.Store, upTo}); err != nil {
		t.Fatal(err)
	}
	_, wantDigest, err := want.Digest()
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if o := mustRun(t, d.URL, "restore", file, "--data-dir", dir); !strings.Contains(o, fmt.Sprintf("1..%d", upTo)) {
		t.Fatalf("restore said %q", o)
	}
	var o2, e2 bytes.Buffer
	if code := run([]string{"restore", file, "--data-dir", dir}, &o2, &e2); code == 0 || !strings.Contains(e2.String(), "not empty") {
		t.Fatalf("restore over a restored log: exit %d %s", code, e2.String())
	}
	d2, err := daemon.Start(ctx, daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	st := mustRun(t, d2.URL, "Status", "--digests", "--min-position", fmt.Sprint(upTo), "--json")
	if !strings.Contains(st, wantDigest) || strings.Count(st, wantDigest) != 2 {
		t.Fatalf("restored digests %s, want %s for both views", st, wantDigest)
	}

	if v := mustRun(t, d2.URL, "verify"); !strings.Contains(v, "log: ok") {
		t.Fatalf("verify: %s", v)
	}
	if v := mustRun(t, d.URL, "verify", "--file", file); !strings.Contains(v, fmt.Sprintf("to %d", upTo)) {
		t.Fatalf("verify --file: %s", v)
	}
	// One event edited in the file: verify names its position.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	lines[7] = strings.Replace(lines[7], `"actor":"ana"`, `"actor":"eve"`, 1) // position 7
	bad := filepath.Join(t.TempDir(), "bad.backup")
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	var vo, ve bytes.Buffer
	if code := run([]string{"verify", "--file", bad}, &vo, &ve); code != exitChainBroken || !strings.Contains(vo.String(), "BROKEN at position 7") {
		t.Fatalf("verify of an altered backup: exit %d %s %s", code, vo.String(), ve.String())
	}
}

// verify --data-dir holds the log against its verified marker, as rosterd's start does: a
// log that lost its last record has a whole chain, but the position verified before is gone.
// And it checks what rosterd's background pass checks: a command whose stored reply was
// deleted is damage, named at the record that carries it.
func TestVerifyDataDirFindsLostLastRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := daemon.Start(ctx, daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "acme", "--kind", "team", "--preset", "ica", "--actor", "ana",
		"--actor-email", "ana@acme.io", "--name", "Acme")
	for i := range 3 {
		mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", fmt.Sprintf("u%d", i),
			"--command-id", fmt.Sprintf("add-u%d", i))
	}
	// A big append (staged, its reply naming 1,100 records): the whole dir's keys pass with it.
	mustRun(t, d.URL, "CreateProject", "--org-id", "acme", "--actor", "ana", "--project-id", "p1", "--name", "P1")
	csv := filepath.Join(t.TempDir(), "members.csv")
	if err := os.WriteFile(csv, []byte(memberCSV(0, 1100)), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, d.URL, "import", "--org-id", "acme", "--actor", "ana", "--project-id", "p1", "--csv", "@"+csv, "--command-id", "imp", "--quiet")
	head, err := d.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	verify := func() (int, string) {
		var out, errb bytes.Buffer
		code := run([]string{"verify", "--data-dir", dir}, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := verify(); code != 0 || strings.Count(out, ": ok") != 2 {
		t.Fatalf("verify of a whole data dir: exit %d %s", code, out)
	}
	damage := func(key []byte) {
		t.Helper()
		db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "log")).WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(key) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The format key lost: the open writes it again, and verify tells so on stderr.
	damage([]byte{'f'})
	if code, out := verify(); code != 0 || strings.Count(out, ": ok") != 2 || !strings.Contains(out, "no format key") {
		t.Fatalf("verify of a data dir whose format key was lost: exit %d %s", code, out)
	}
	// The log's command key: 'c', the stream, 0, the command id.
	damage(append(append([]byte{'c'}, commands.StreamOf("acme")+"\x00"...), "add-u1"...))
	if code, out := verify(); code != exitChainBroken || !strings.Contains(out, "keys") || !strings.Contains(out, "BROKEN at position 3") ||
		!strings.Contains(out, "add-u1") {
		t.Fatalf("verify after a stored reply was deleted: exit %d %s", code, out)
	}
	key := make([]byte, 9)
	key[0] = 'e' // the log's record key: 'e' and the position, big-endian
	binary.BigEndian.PutUint64(key[1:], head)
	damage(key)
	if code, out := verify(); code != exitChainBroken || !strings.Contains(out, "verified before") {
		t.Fatalf("verify after the last record was lost: exit %d %s", code, out)
	}
}

// The logs of earlier formats (eventstore/testdata), their replies written by the code of
// their day, pass verify --data-dir, keys included: the checks of stored replies against their
// records raise no alarm on what older releases wrote.
func TestVerifyDataDirPassesOlderFormats(t *testing.T) {
	for _, fixture := range []string{"v1log", "v3log"} {
		t.Run(fixture, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(filepath.Join(dir, "log"), os.DirFS(filepath.Join("..", "..", "eventstore", "testdata", fixture))); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run([]string{"verify", "--data-dir", dir}, &out, &errb); code != 0 || strings.Count(out.String(), ": ok") != 2 {
				t.Fatalf("verify: exit %d %s %s", code, out.String(), errb.String())
			}
		})
	}
}

// roster backup pages through the log: a page's records that carry no command id, after a page
// whose records did, are written as they are (each page is decoded fresh; reusing the last one
// kept the earlier records' command ids and the backup took the log for altered).
func TestBackupPagesOfMixedRecords(t *testing.T) {
	d := startDaemon(t)
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "acme", "--kind", "team", "--preset", "ica", "--actor", "ana",
		"--actor-email", "ana@acme.io", "--name", "Acme")
	mustRun(t, d.URL, "CreateProject", "--org-id", "acme", "--actor", "ana", "--project-id", "p1", "--name", "P1")
	csv := filepath.Join(t.TempDir(), "members.csv")
	if err := os.WriteFile(csv, []byte(memberCSV(0, client.MaxExportPage+100)), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, d.URL, "import", "--org-id", "acme", "--actor", "ana", "--project-id", "p1", "--csv", "@"+csv, "--command-id", "imp", "--quiet")
	nc, err := nats.Connect(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := range 3 { // commands without a command id: their records carry none
		body := fmt.Sprintf(`{"org_id":"acme","actor":"ana","user_id":"plain%d"}`, i)
		msg, err := nc.Request(client.CommandPrefix+"AddOrgMember", []byte(body), 10*time.Second)
		if err != nil || !strings.HasPrefix(string(msg.Data), `{"ok":true`) {
			t.Fatalf("AddOrgMember: %v %s", err, msg.Data)
		}
	}
	file := filepath.Join(t.TempDir(), "roster.backup")
	if out := mustRun(t, d.URL, "backup", "--out", file); !strings.Contains(out, "backed up positions 1..") {
		t.Fatalf("backup said %q", out)
	}
	if v := mustRun(t, d.URL, "verify", "--file", file); !strings.Contains(v, ": ok") {
		t.Fatalf("verify --file: %s", v)
	}

	// --up-to inside the import's events is refused, naming the command and where to cut; at the
	// position before the import, or at its last event, the backup is taken.
	var out, errb bytes.Buffer
	part := filepath.Join(t.TempDir(), "part.backup")
	code := run([]string{"--server", d.URL, "backup", "--out", part, "--up-to", "500"}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "inside command imp") || !strings.Contains(errb.String(), "Back up to 3") {
		t.Fatalf("backup --up-to 500: exit %d %s %s", code, out.String(), errb.String())
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Fatalf("a refused backup left %s: %v", part, err)
	}
	for _, upTo := range []string{"3", fmt.Sprint(3 + client.MaxExportPage + 100)} { // before the import, its last event
		if o := mustRun(t, d.URL, "backup", "--out", part+upTo, "--up-to", upTo); !strings.Contains(o, "1.."+upTo) {
			t.Fatalf("backup --up-to %s said %q", upTo, o)
		}
	}
}

// The online verify checks the log's keys too, as the background checksum pass does: a
// running rosterd whose log lost a command's stored reply is reported broken at the record
// that carries the command, where the chains alone said ok.
func TestVerifyOnlineChecksKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := func() *daemon.Daemon {
		d, err := daemon.Start(ctx, daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := start()
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "acme", "--kind", "team", "--preset", "ica", "--actor", "ana",
		"--actor-email", "ana@acme.io", "--name", "Acme")
	for i := range 3 {
		mustRun(t, d.URL, "AddOrgMember", "--org-id", "acme", "--actor", "ana", "--user-id", fmt.Sprintf("u%d", i),
			"--command-id", fmt.Sprintf("add-u%d", i))
	}
	if v := mustRun(t, d.URL, "verify"); !strings.Contains(v, "log keys: ok") || strings.Contains(v, "(last hash )") {
		t.Fatalf("verify of a whole log (the key checks have no hash to print): %s", v)
	}
	d.Close()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "log")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	key := append(append([]byte{'c'}, commands.StreamOf("acme")+"\x00"...), "add-u1"...) // 'c', stream, 0, command id
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(key) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	d = start()
	defer d.Close()
	var out, errb bytes.Buffer
	code := run([]string{"--server", d.URL, "verify"}, &out, &errb)
	if code != exitChainBroken || !strings.Contains(out.String(), "log keys: BROKEN at position 3") || !strings.Contains(out.String(), "add-u1") {
		t.Fatalf("verify after a stored reply was lost: exit %d %s %s", code, out.String(), errb.String())
	}
}
