package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/daemon"
)

// vlogConfig is testConfig with the log's records in Badger's value log
// (--log-value-threshold 64; rosterd keeps them inline by default).
func vlogConfig(dir string) daemon.Config {
	cfg := testConfig(dir)
	cfg.LogValueThreshold = 64
	return cfg
}

func startCfg(t *testing.T, cfg daemon.Config) *rig {
	t.Helper()
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start rosterd: %v", err)
	}
	nc, err := nats.Connect(d.URL)
	if err != nil {
		d.Close()
		t.Fatalf("connect: %v", err)
	}
	r := &rig{t: t, d: d, c: client.New(nc), nc: nc, dir: cfg.DataDir}
	t.Cleanup(r.stop)
	r.watch()
	return r
}

// overwrite writes 0xff over 4 bytes in the middle of file (the report's
// printf '\xff\xff\xff\xff' | dd of=000001.vlog bs=1 seek=3000 conv=notrunc).
func overwrite(t *testing.T, file string) {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 1024 {
		t.Fatalf("%s has %d bytes: the records are not in the value log", file, fi.Size())
	}
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// vlogPopulated writes three organizations of six members each with the records in the
// value log, then runs rosterd once more and writes one event (Badger starts a value-log
// file at every open, so 000001.vlog is then no longer the one written last).
func vlogPopulated(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	r := startCfg(t, vlogConfig(dir))
	for i := range 3 {
		org := fmt.Sprintf("org%d", i)
		r.ok("CreateOrganization", obj{"org_id": org, "kind": "team", "preset": "neptune", "actor": "ana"})
		for j := range 5 {
			r.ok("AddOrgMember", obj{"org_id": org, "actor": "ana", "user_id": fmt.Sprintf("u%d", j), "role": "member"})
		}
	}
	r.members("org2", "")
	r.stop()
	r = startCfg(t, vlogConfig(dir))
	r.ok("AddOrgMember", obj{"org_id": "org0", "actor": "ana", "user_id": "second-run", "role": "member"})
	r.members("org0", "")
	r.stop()
	return dir
}

// Damage in a value-log file before the last one: rosterd starts (the start-up checks read
// the head and what follows the verified marker), then the first read of a damaged record
// or the background checksum pass finds it: Status alarm naming the fix, every command
// refused unavailable naming the damage and the fix, nothing appended.
func TestFaultLogVlogDamagedBeforeTheLastFile(t *testing.T) {
	dir := vlogPopulated(t)
	overwrite(t, filepath.Join(dir, "log", "000001.vlog"))

	r := startCfg(t, vlogConfig(dir))
	ctx := context.Background()
	for i := range 3 {
		_, err := r.c.Command(ctx, "AddOrgMember", obj{"org_id": fmt.Sprintf("org%d", i), "actor": "ana", "user_id": "late", "role": "member"})
		if err != nil && (client.CodeOf(err) != client.CodeUnavailable || !strings.Contains(err.Error(), "recover-from-stream") ||
			!strings.Contains(err.Error(), "cannot be read")) {
			t.Fatalf("command on org%d: %v (want unavailable naming the damage and the fix)", i, err)
		}
		// Accepted: an intact organization answered before the damage was known.
	}
	alarm := waitAlarm(t, r, "cannot be read from the value log")
	if !strings.Contains(alarm, "recover-from-stream") {
		t.Fatalf("alarm %q does not name the fix", alarm)
	}
	head, err := r.d.Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := r.c.Command(ctx, "AddOrgMember", obj{"org_id": fmt.Sprintf("org%d", i), "actor": "ana", "user_id": "later", "role": "member"})
		if client.CodeOf(err) != client.CodeUnavailable || !strings.Contains(err.Error(), "recover-from-stream") {
			t.Fatalf("command on org%d after the alarm: %v (want unavailable naming the fix)", i, err)
		}
	}
	if now, _ := r.d.Store.Head(ctx); now != head {
		t.Fatalf("the log grew from %d to %d after the alarm", head, now)
	}
	t.Logf("alarm: %s", alarm)
}

// Damage in the value-log file written last is met when Badger opens the log (it cuts the
// file at the first entry that fails its checksum): the head's record is then unreadable and
// the start is refused naming the fix.
func TestFaultLogVlogDamagedInTheLastFile(t *testing.T) {
	dir := vlogPopulated(t)
	// The first run's records are in 000001.vlog; the second run wrote one event into
	// 000002.vlog, the file written last.
	file := filepath.Join(dir, "log", "000002.vlog")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, fi.Size()-40); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	refusedStartWith(t, vlogConfig(dir), "recover-from-stream")
}

// An intact log with its records in the value log: the pass finds nothing.
func TestValuePassIntactLogNoAlarm(t *testing.T) {
	dir := vlogPopulated(t)
	r := startCfg(t, vlogConfig(dir))
	r.pos = 19
	r.ok("AddOrgMember", obj{"org_id": "org1", "actor": "ana", "user_id": "third-run", "role": "member"})
	if m := r.members("org1", ""); len(m) != 7 {
		t.Fatalf("org1 has %d members, want 7", len(m))
	}
	st, err := r.c.Status(context.Background(), client.StatusRequest{})
	if err != nil || len(st.Alarms) != 0 {
		t.Fatalf("status: %v alarms %v", err, st.Alarms)
	}
}

func refusedStartWith(t *testing.T, cfg daemon.Config, want string) {
	t.Helper()
	d, err := daemon.Start(context.Background(), cfg)
	if err == nil {
		d.Close()
		t.Fatal("rosterd started on a damaged store")
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("start: %v (want a refusal mentioning %q)", err, want)
	}
	t.Logf("refused: %v", err)
}
