package powerfs_test

// Power loss, not SIGKILL: SIGKILL keeps the OS page cache, so a missing fsync would pass every
// kill test. Here rosterd's log (the Badger store behind commands.Service) runs on powerfs, a
// FUSE filesystem that keeps written-but-unsynced data in memory; at the cut only what was
// fsync'd (or msync'd: Badger writes its memtable WAL through a shared mapping and DB.Sync
// msyncs it, which reaches FUSE as WRITE + FSYNC) survives. The durable image is mounted again,
// the store reopened, and the torture checks run: every acknowledged command is in the log with
// its reply, the hash chain verifies, and the independent SPEC oracle finds nothing.
//
// Why FUSE and not a fault-injecting vfs: Badger has no pluggable file layer, and its WAL goes
// through mmap, so only a real filesystem sees what the kernel is told to make durable.
// The test mounts with mount(2) directly (root and /dev/fuse; no fusermount helper, nothing to
// install); it skips, saying why, only when FUSE cannot be mounted here.
//
// It proves itself: with the committer's DB.Sync removed (eventstore/badger.go), every
// acknowledged command is lost at the cut and this test fails (a process kill keeps the page
// cache and would not notice).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/daemon"
	"roster/internal/oracle"
	"roster/internal/powerfs"
)

const (
	powerOrgs     = 4  // organizations written concurrently (one writer goroutine each)
	powerAckedCut = 80 // acknowledged commands before the power is cut
)

// mountOrSkip mounts p under a temp dir, or skips when FUSE is not available here.
func mountOrSkip(t *testing.T, p *powerfs.FS) (string, *fuse.Server) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("FUSE unavailable: /dev/fuse: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("FUSE unavailable: mount(2) of a FUSE filesystem needs root here (no fusermount helper is used)")
	}
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, err := powerfs.Mount(dir, p)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENODEV) {
			t.Skipf("FUSE unavailable: %v", err)
		}
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() { _ = srv.Unmount() })
	return dir, srv
}

// TestPowerFSDropsUnsyncedData shows the shim itself: unsynced contents and names are gone
// after a cut, synced ones stay.
func TestPowerFSDropsUnsyncedData(t *testing.T) {
	p := powerfs.New(nil)
	dir, srv := mountOrSkip(t, p)
	write := func(name, text string, sync bool) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write("synced", "durable", true)
	write("unsynced", "lost", false)
	f, err := os.OpenFile(filepath.Join(dir, "synced"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(" and more"); err != nil { // after the sync: lost
		t.Fatal(err)
	}
	_ = f.Close()
	if got, _ := os.ReadFile(filepath.Join(dir, "synced")); string(got) != "durable and more" {
		t.Fatalf("before the cut, synced reads %q", got)
	}
	img := p.Cut()
	if err := srv.Unmount(); err != nil {
		t.Fatal(err)
	}
	dir2, _ := mountOrSkip(t, powerfs.New(img))
	if got, err := os.ReadFile(filepath.Join(dir2, "synced")); err != nil || string(got) != "durable" {
		t.Fatalf("after the cut, synced reads %q, %v; want %q", got, err, "durable")
	}
	if _, err := os.Stat(filepath.Join(dir2, "unsynced")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after the cut, a never-synced file exists (stat: %v)", err)
	}
}

type ack struct {
	Org       string          `json:"org"`
	CommandID string          `json:"command_id"`
	User      string          `json:"user"`
	Reply     json.RawMessage `json:"reply"`
}

const (
	childEnv  = "ROSTER_POWERFS_CHILD_DIR"
	ackPrefix = "ACK\t"
)

// storeOptions are rosterd's sizes of the log (daemon.WithMemoryDefaults): records of 64 bytes
// or more live in Badger's value log, whose writes the power cut must not lose either.
func storeOptions() eventstore.BadgerOptions {
	return eventstore.BadgerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		MemTableSize: daemon.DefaultLogMemTableMiB << 20, NumMemtables: daemon.DefaultLogMemtables,
		BlockCacheSize: daemon.DefaultLogCacheMiB << 20, ValueThreshold: daemon.DefaultLogValueThreshold}
}

func execCommand(ctx context.Context, t *testing.T, svc *commands.Service, name string, body map[string]any) ([]byte, string) {
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return svc.Execute(ctx, name, raw)
}

func addMember(org, id, user string) map[string]any {
	b := map[string]any{"org_id": org, "actor": "admin", "user_id": user, "email": user + "@corp.test", "name": "User " + user}
	if id != "" {
		b["command_id"] = id
	}
	return b
}

// TestPowerLossChild is the rosterd side of TestPowerLossLosesNoAcknowledgedCommand, run in a
// child process (it does nothing otherwise). The store must not run in the process that serves
// the FUSE filesystem: Badger touches its files through mmap, and a page fault on a FUSE file is
// not a syscall, so a Go stop-the-world would wait for the faulting thread while the threads that
// must answer the fault are stopped. The child writes commands until it is killed and prints one
// line per acknowledged command.
func TestPowerLossChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("helper process of TestPowerLossLosesNoAcknowledgedCommand")
	}
	ctx := context.Background()
	store, err := eventstore.OpenBadger(dir, storeOptions())
	if err != nil {
		t.Fatalf("open Badger on powerfs: %v", err)
	}
	svc, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	report := func(a ack) {
		line, err := json.Marshal(a)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, "%s%s\n", ackPrefix, line)
	}
	var wg sync.WaitGroup
	for o := range powerOrgs {
		wg.Go(func() {
			org := fmt.Sprintf("org-%d", o)
			id := "create-" + org
			reply, code := execCommand(ctx, t, svc, "CreateOrganization", map[string]any{"org_id": org, "actor": "admin",
				"command_id": id, "kind": domain.KindTeam, "preset": "neptune", "name": "Org " + org,
				"actor_email": "admin@corp.test", "actor_name": "Admin"})
			if code != "" {
				t.Errorf("CreateOrganization %s: %s %s", org, code, reply)
				return
			}
			report(ack{Org: org, CommandID: id, User: "admin", Reply: reply})
			for i := 0; ; i++ { // until the parent kills the process
				user := fmt.Sprintf("u%04d", i)
				id := fmt.Sprintf("add-%s-%d", org, i)
				reply, code := execCommand(ctx, t, svc, "AddOrgMember", addMember(org, id, user))
				if code != "" {
					t.Errorf("AddOrgMember %s: %s %s", id, code, reply)
					return
				}
				report(ack{Org: org, CommandID: id, User: user, Reply: reply})
			}
		})
	}
	wg.Wait()
	t.Fatal("the writers stopped before the power cut")
}

// runUntilCut runs the child test named childTest with env=dir, reads its lines (ackPrefix
// lines are acknowledged commands, in order), and cuts the power when cut says so for a line;
// it returns the commands acknowledged before the cut and the durable image.
func runUntilCut(ctx context.Context, t *testing.T, p *powerfs.FS, srv *fuse.Server, childTest, env, dir string,
	cut func(line string, acked []ack) bool) ([]ack, powerfs.Image) {
	t.Helper()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1")
	child.Env = append(os.Environ(), env+"="+dir)
	var stderr bytes.Buffer
	child.Stderr = &stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// Every ack line was written after the child's command was acknowledged, so after the sync
	// that preceded the ack: it must be in the image cut after it is read.
	var acked []ack
	var img powerfs.Image
	var childOut strings.Builder
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // an import's reply is one long line
	for sc.Scan() {
		line := sc.Text()
		if text, ok := strings.CutPrefix(line, ackPrefix); ok {
			var a ack
			if err := json.Unmarshal([]byte(text), &a); err != nil {
				t.Fatalf("child line %q: %v", line, err)
			}
			acked = append(acked, a)
		} else if !strings.HasPrefix(line, startPrefix) {
			childOut.WriteString(line + "\n")
		}
		if cut(line, acked) {
			img = p.Cut() // power loss
			break
		}
	}
	_ = child.Process.Kill()
	go func() { _, _ = io.Copy(io.Discard, out) }()
	_ = child.Wait()
	if img == nil {
		t.Fatalf("the child stopped after %d acknowledged commands, before the cut:\n%s%s", len(acked), childOut.String(), stderr.String())
	}
	writes, syncs := p.Stats()
	if err := srv.Unmount(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	t.Logf("power cut after %d acknowledged commands; powerfs had served %d writes and %d fsyncs", len(acked), writes, syncs)
	return acked, img
}

// reopenImage writes the durable image to an ordinary directory (Badger maps its files, so it
// does not run in this process on a FUSE mount; see TestPowerLossChild), reopens the store,
// reads the whole log and checks its hash chain and positions.
func reopenImage(ctx context.Context, t *testing.T, img powerfs.Image, opts eventstore.BadgerOptions) (*eventstore.BadgerStore, []eventstore.Record) {
	t.Helper()
	dir := t.TempDir()
	if err := img.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	store, err := eventstore.OpenBadger(dir, opts)
	if err != nil {
		t.Fatalf("recovery: reopen Badger from the durable image: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	recs, err := store.Read(ctx, 1, 0)
	if err != nil {
		t.Fatalf("recovery: read the log: %v", err)
	}
	if _, err := eventstore.VerifyRecords(recs); err != nil {
		t.Errorf("recovery: the hash chain does not verify: %v", err)
	}
	for i, r := range recs {
		if r.Position != uint64(i+1) {
			t.Fatalf("recovery: record %d has position %d (gap or reorder)", i, r.Position)
		}
	}
	return store, recs
}

func TestPowerLossLosesNoAcknowledgedCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p := powerfs.New(nil)
	dir, srv := mountOrSkip(t, p)
	acked, img := runUntilCut(ctx, t, p, srv, "TestPowerLossChild", childEnv, dir,
		func(_ string, acked []ack) bool { return len(acked) == powerAckedCut })
	opts := storeOptions()
	store2, recs := reopenImage(ctx, t, img, opts)
	byCommand := map[string]eventstore.Record{}
	for _, r := range recs {
		byCommand[r.OrgID+"/"+r.CommandID] = r
	}
	lost := 0
	for _, a := range acked {
		if _, ok := byCommand[a.Org+"/"+a.CommandID]; !ok {
			lost++
			if lost <= 10 {
				t.Errorf("LOST: command %s of %s was acknowledged before the power cut but is not in the log", a.CommandID, a.Org)
			}
			continue
		}
		reply, ok, err := store2.CommandReply(ctx, commands.StreamOf(a.Org), a.CommandID)
		if err != nil || !ok || string(reply) != string(a.Reply) {
			t.Errorf("command %s of %s: stored reply %s (found %v, %v); acknowledged %s", a.CommandID, a.Org, reply, ok, err, a.Reply)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged commands lost at the power cut", lost, len(acked))
	}
	for _, v := range oracle.CheckRecords(recs) {
		t.Errorf("VIOLATION (independent oracle) after recovery: %s", v)
	}
	// The restarted service answers on the recovered log: a repeat of an acknowledged command
	// gets its first reply, a new command is accepted.
	svc2, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store2, Logger: opts.Logger})
	if err != nil {
		t.Fatal(err)
	}
	last := acked[len(acked)-1]
	if last.User != "admin" {
		if reply, code := execCommand(ctx, t, svc2, "AddOrgMember", addMember(last.Org, last.CommandID, last.User)); code != "" || string(reply) != string(last.Reply) {
			t.Errorf("after recovery, repeating %s gives %s %s; want the first reply %s", last.CommandID, code, reply, last.Reply)
		}
	}
	if reply, code := execCommand(ctx, t, svc2, "AddOrgMember", addMember("org-0", "", "after")); code != "" {
		t.Errorf("after recovery, a new command is refused: %s %s", code, reply)
	}
	t.Logf("after recovery: %d records (%d beyond the acknowledged ones survived), all %d acknowledged commands present",
		len(recs), len(byCommand)-len(acked), len(acked))
}
