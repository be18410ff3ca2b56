package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"roster/internal/syncbuf"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"roster/client"
	"roster/eventstore"
	"roster/internal/daemon"
)

// Fault injection: a data dir is populated by a real rosterd, stopped, damaged
// on disk (or in its stream), and started again. Each case ends in its
// documented outcome (docs/INTEGRITY.md): refused with a message naming the
// fix, repaired, or rebuilt; never a second history, a panic or a loop.

func testConfig(dir string) daemon.Config {
	return daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), FlushEvery: 20 * time.Millisecond}
}

// populated runs rosterd on a new data dir, writes a few organizations and
// members, and stops it. It returns the dir and the log's records.
func populated(t *testing.T) (string, []eventstore.Record) {
	t.Helper()
	r := newRig(t)
	for i := range 3 {
		org := fmt.Sprintf("org%d", i)
		r.ok("CreateOrganization", obj{"org_id": org, "kind": "team", "preset": "neptune", "actor": "ana"})
		for j := range 5 {
			r.ok("AddOrgMember", obj{"org_id": org, "actor": "ana", "user_id": fmt.Sprintf("u%d", j), "role": "member"})
		}
	}
	r.members("org2", "") // the views have applied everything
	ctx := context.Background()
	if err := r.d.Relay.WaitPublished(ctx, r.pos); err != nil {
		t.Fatal(err)
	}
	recs, err := r.d.Store.Read(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.stop()
	return r.dir, recs
}

// refusedStart starts rosterd on dir and requires an integrity refusal whose message contains want.
func refusedStart(t *testing.T, dir, want string) {
	t.Helper()
	d, err := daemon.Start(context.Background(), testConfig(dir))
	if err == nil {
		d.Close()
		t.Fatal("rosterd started on a damaged store")
	}
	if !errors.Is(err, daemon.ErrStoreDamaged) || !strings.Contains(err.Error(), want) {
		t.Fatalf("start: %v (want ErrStoreDamaged mentioning %q)", err, want)
	}
	t.Logf("refused: %v", err)
}

// assertSameLog checks that the running rosterd's log holds exactly recs (then maybe more) and verifies.
func assertSameLog(t *testing.T, r *rig, recs []eventstore.Record) {
	t.Helper()
	ctx := context.Background()
	got, err := r.d.Store.Read(ctx, 1, len(recs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("log has %d records, want %d", len(got), len(recs))
	}
	seen := map[string]bool{}
	for i := range recs {
		if got[i].ID != recs[i].ID || got[i].Hash != recs[i].Hash || seen[got[i].ID] {
			t.Fatalf("position %d: got %s/%s, want %s/%s", i+1, got[i].ID, got[i].Hash, recs[i].ID, recs[i].Hash)
		}
		seen[got[i].ID] = true
	}
	if rep, err := eventstore.VerifyStore(ctx, r.d.Store, 1); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// assertServes checks that the views answer from the full history and a write lands after it.
func assertServes(t *testing.T, r *rig, head uint64) {
	t.Helper()
	r.pos = head
	if m := r.members("org1", ""); len(m) != 6 {
		t.Fatalf("org1 has %d members, want 6: %v", len(m), m)
	}
	rep := r.ok("AddOrgMember", obj{"org_id": "org0", "actor": "ana", "user_id": "late", "role": "member"})
	if rep.Position != head+1 {
		t.Fatalf("write after restart at position %d, want %d", rep.Position, head+1)
	}
}

func TestFaultLogManifestRemoved(t *testing.T) {
	dir, recs := populated(t)
	if err := os.Remove(filepath.Join(dir, "log", "MANIFEST")); err != nil {
		t.Fatal(err)
	}
	refusedStart(t, dir, "recover-from-stream")
	// Refused again: the refusal wrote nothing.
	refusedStart(t, dir, "the log is empty")
	if _, err := daemon.RecoverLog(context.Background(), testConfig(dir)); err != nil {
		t.Fatalf("recover: %v", err)
	}
	r := start(t, dir)
	assertSameLog(t, r, recs)
	assertServes(t, r, uint64(len(recs)))
}

func TestFaultLogDeletedRecovered(t *testing.T) {
	dir, recs := populated(t)
	if err := os.RemoveAll(filepath.Join(dir, "log")); err != nil {
		t.Fatal(err)
	}
	refusedStart(t, dir, "recover-from-stream")
	if _, err := daemon.RecoverLog(context.Background(), testConfig(dir)); err != nil {
		t.Fatalf("recover: %v", err)
	}
	r := start(t, dir)
	assertSameLog(t, r, recs)
	assertServes(t, r, uint64(len(recs)))
}

func garble(t *testing.T, pattern string) {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Skipf("%s is empty", files[0])
	}
	for i := len(b) / 3; i < len(b)/3+256 && i < len(b); i++ {
		b[i] ^= 0xa5
	}
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A garbled table is refused at start when its index or its first or last
// block is hit (CheckTables) or the chain after the verified marker reads it;
// otherwise the background checksum pass finds it after ready: Status shows
// the alarm and every command is refused (unavailable, naming the fix).
func TestFaultLogTableGarbled(t *testing.T) {
	dir, _ := populated(t)
	garble(t, filepath.Join(dir, "log", "*.sst"))
	d, err := daemon.Start(context.Background(), testConfig(dir))
	if err != nil {
		if !errors.Is(err, daemon.ErrStoreDamaged) || !strings.Contains(err.Error(), "recover-from-stream") {
			t.Fatalf("start: %v (want ErrStoreDamaged naming the fix)", err)
		}
		t.Logf("refused at start: %v", err)
		return
	}
	d.Close()
	r := start(t, dir)
	alarm := waitAlarm(t, r, "failed its checksums")
	if !strings.Contains(alarm, "recover-from-stream") {
		t.Fatalf("alarm %q does not name the fix", alarm)
	}
	_, err = r.c.Command(context.Background(), "AddOrgMember", obj{"org_id": "org0", "actor": "ana", "user_id": "late", "role": "member"})
	if client.CodeOf(err) != client.CodeUnavailable || !strings.Contains(err.Error(), "failed its checksums") ||
		!strings.Contains(err.Error(), "recover-from-stream") {
		t.Fatalf("command on a damaged log: %v (want unavailable naming the damage and the fix)", err)
	}
}

// waitAlarm polls Status until one of its alarms contains want and returns it.
func waitAlarm(t *testing.T, r *rig, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		st, err := r.c.Status(ctx, client.StatusRequest{})
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		for _, a := range st.Alarms {
			if strings.Contains(a, want) {
				return a
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no alarm containing %q in Status: %v", want, st.Alarms)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The value log holds no record at Roster's sizes (they live in the tables),
// so garbage in it either fails Badger's checks (refused) or touches nothing:
// then the full log must still be there and verify.
func TestFaultLogVlogGarbled(t *testing.T) {
	dir, recs := populated(t)
	garble(t, filepath.Join(dir, "log", "*.vlog"))
	d, err := daemon.Start(context.Background(), testConfig(dir))
	if err != nil {
		if !errors.Is(err, daemon.ErrStoreDamaged) || !strings.Contains(err.Error(), "recover-from-stream") {
			t.Fatalf("start: %v", err)
		}
		t.Logf("refused: %v", err)
		return
	}
	d.Close()
	r := start(t, dir)
	assertSameLog(t, r, recs)
}

func TestFaultViewsDeleted(t *testing.T) {
	dir, recs := populated(t)
	if err := os.RemoveAll(filepath.Join(dir, "views")); err != nil {
		t.Fatal(err)
	}
	r := start(t, dir)
	assertServes(t, r, uint64(len(recs)))
}

func TestFaultViewsTableTruncated(t *testing.T) {
	dir, recs := populated(t)
	ssts, _ := filepath.Glob(filepath.Join(dir, "views", "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("views wrote no table")
	}
	for _, f := range ssts {
		fi, _ := os.Stat(f)
		if err := os.Truncate(f, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, dir)
	assertServes(t, r, uint64(len(recs)))
	aside, _ := filepath.Glob(filepath.Join(dir, "views.damaged-*"))
	if len(aside) != 1 {
		t.Fatalf("damaged views not moved aside: %v", aside)
	}
}

// streamOf opens the event stream of a running rig.
func streamOf(t *testing.T, r *rig) jetstream.Stream {
	t.Helper()
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), eventstore.DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The stream purged or deleted (while rosterd is down): the relay refills it from the log.
func TestFaultStreamPurgedOrDeleted(t *testing.T) {
	for _, how := range []string{"purge", "delete"} {
		t.Run(how, func(t *testing.T) {
			dir, recs := populated(t)
			// Damage the stream with rosterd up, then restart so the start-up check runs.
			r := start(t, dir)
			js, err := jetstream.New(r.nc)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if how == "purge" {
				err = streamOf(t, r).Purge(ctx)
			} else {
				err = js.DeleteStream(ctx, eventstore.DefaultStreamName)
			}
			if err != nil {
				t.Fatal(err)
			}
			r.stop()
			r = start(t, dir)
			head := uint64(len(recs))
			assertServes(t, r, head)
			if err := r.d.Relay.WaitPublished(ctx, head+1); err != nil {
				t.Fatal(err)
			}
			info, err := streamOf(t, r).Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// A purge keeps the sequence: the stream resumes after it and holds only the new event.
			want := head + 1
			if how == "purge" {
				want = 1
			}
			if info.State.LastSeq != head+1 || info.State.Msgs != want {
				t.Fatalf("stream after %s: %+v", how, info.State)
			}
		})
	}
}

// A backup taken under load restores into a new data dir whose rosterd
// rebuilds its views from it; the same backup put under the original views
// and stream (a log that lost its tail) is refused: views and stream are ahead.
func TestBackupRestoreAndLogBehindCopies(t *testing.T) {
	r := newRig(t)
	for i := range 3 {
		r.ok("CreateOrganization", obj{"org_id": fmt.Sprintf("org%d", i), "kind": "team", "preset": "neptune", "actor": "ana"})
		for j := range 5 {
			r.ok("AddOrgMember", obj{"org_id": fmt.Sprintf("org%d", i), "actor": "ana", "user_id": fmt.Sprintf("u%d", j), "role": "member"})
		}
	}
	ctx := context.Background()
	done := make(chan struct{})
	go func() { // concurrent commands while the backup runs
		defer close(done)
		for k := range 20 {
			if _, err := r.c.Command(ctx, "AddOrgMember", obj{"org_id": "org2", "actor": "ana", "user_id": fmt.Sprintf("x%d", k), "role": "member"}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var buf strings.Builder
	upTo, err := eventstore.Backup(ctx, r.d.Store, &buf, 12) // org0 and org1 complete
	<-done
	if err != nil || upTo != 12 {
		t.Fatalf("backup: %d %v", upTo, err)
	}
	want, _ := r.d.Store.Read(ctx, 1, 12)
	if err := r.d.Relay.WaitPublished(ctx, 38); err != nil {
		t.Fatal(err)
	}
	r.members("org2", "")
	r.stop()

	fresh := t.TempDir()
	if _, err := eventstore.Restore(ctx, strings.NewReader(buf.String()), filepath.Join(fresh, "log"), eventstore.BadgerOptions{}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	r2 := start(t, fresh)
	assertSameLog(t, r2, want)
	r2.pos = 12
	if m := r2.members("org1", ""); len(m) != 6 {
		t.Fatalf("restored org1 has %d members", len(m))
	}
	r2.stop()

	// The original dir with its log replaced by the shorter backup.
	if err := os.RemoveAll(filepath.Join(r.dir, "log")); err != nil {
		t.Fatal(err)
	}
	if _, err := eventstore.Restore(ctx, strings.NewReader(buf.String()), filepath.Join(r.dir, "log"), eventstore.BadgerOptions{}); err != nil {
		t.Fatal(err)
	}
	refusedStart(t, r.dir, "ahead of the log head 12")
}

// A forged event published into the stream puts the stream ahead of the log:
// the next start is refused instead of serving a second history.
func TestFaultForgedEventInStream(t *testing.T) {
	dir, recs := populated(t)
	r := start(t, dir)
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.d.Relay.WaitPublished(ctx, uint64(len(recs))); err != nil {
		t.Fatal(err)
	}
	forged := fmt.Sprintf(`{"id":"forged","position":%d,"stream":"org-evil","version":1,"type":"OrganizationCreated","time":"2026-01-01T00:00:00Z","org_id":"evil","actor":"mallory","data":{}}`, len(recs)+1)
	if _, err := js.Publish(ctx, "roster.events.evil.OrganizationCreated", []byte(forged)); err != nil {
		t.Fatal(err)
	}
	r.stop()
	refusedStart(t, dir, "forged or foreign")
}

// A recovery from a stream shorter than the old log (acknowledged records the relay had not
// copied, such as commands answered while a large import was chained) says so, with both
// heads and where the old log is: the recovered log lacks those records. It used to say nothing.
func TestRecoverSaysWhatTheStreamLacked(t *testing.T) {
	dir, recs := populated(t)
	store, err := eventstore.OpenBadger(filepath.Join(dir, "log"), eventstore.BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v, err := store.StreamVersion(ctx, "org-org0")
	if err != nil {
		t.Fatal(err)
	}
	late := eventstore.Record{ID: "late-1", Type: "Note", Time: time.Now(), OrgID: "org0", Data: []byte(`{}`)}
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: "org-org0", ExpectedVersion: v, Events: []eventstore.Record{late}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	cfg := testConfig(dir)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	rep, err := daemon.RecoverLog(ctx, cfg)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	if rep.Last != uint64(len(recs)) {
		t.Fatalf("recovered up to %d; want %d, the stream's", rep.Last, len(recs))
	}
	want := fmt.Sprintf("old_head=%d recovered_head=%d lacking=1", len(recs)+1, len(recs))
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("the recovery does not say the stream lacked a record (%q):\n%s", want, logs.String())
	}
}
