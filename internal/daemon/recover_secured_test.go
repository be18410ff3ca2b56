package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/daemon"
)

// In secured mode the stream lives in the ROSTER account of the embedded server's
// configuration: --recover-from-stream starts the server with that configuration, finds the
// stream and rebuilds the log from it (it looked in the default account and found nothing).
func TestRecoverFromStreamSecured(t *testing.T) {
	conf, _ := accountsFile(t)
	dir := t.TempDir()
	cfg := daemon.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSConfig: conf, UserAccounts: []string{"PEOPLE"},
		OperatorAccounts: []string{"OPS"}, Logger: slog.New(slog.DiscardHandler), FlushEvery: 20 * time.Millisecond}
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(connectAs(t, d, nats.UserInfo("acme", "acme-pw"), nats.CustomInboxPrefix("_INBOX_acme")))
	ctx := context.Background()
	if _, err := c.Command(ctx, client.CmdCreateOrganization, map[string]any{"org_id": "acme-x", "kind": "team", "preset": "neptune", "actor": "ana"}); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Command(ctx, client.CmdAddOrgMember, map[string]any{"org_id": "acme-x", "actor": "ana", "user_id": "bob"})
	if err != nil {
		t.Fatal(err)
	}
	head := rep.Position
	// The relay has published the log once the stream holds its head.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := d.Relay.WaitPublished(wctx, head); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := os.RemoveAll(filepath.Join(dir, "log")); err != nil {
		t.Fatal(err)
	}
	got, err := daemon.RecoverLog(ctx, cfg)
	if err != nil {
		t.Fatalf("recover in secured mode: %v", err)
	}
	if got.Last != head || got.BadPosition != 0 {
		t.Fatalf("recovered up to %d (bad %d: %s), want %d", got.Last, got.BadPosition, got.Reason, head)
	}
	d, err = daemon.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start after the recovery: %v", err)
	}
	defer d.Close()
	if h, err := d.Store.Head(ctx); err != nil || h != head {
		t.Fatalf("head after the recovery %d (%v), want %d", h, err, head)
	}
}
