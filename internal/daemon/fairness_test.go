package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/commands"
	"roster/internal/daemon"
	"roster/internal/embeddednats"
)

// While organization A imports the row limit, organization B's small commands are all
// answered before A's import is: commands of different organizations never wait for each
// other's decisions. B's commands keep their order (each builds on the previous one).
func TestNoisyNeighbour(t *testing.T) {
	r := newRig(t)
	r.ok(client.CmdCreateOrganization, obj{"org_id": "a", "kind": "team", "preset": "ica", "actor": "tina", "name": "A"})
	r.ok(client.CmdCreateProject, obj{"org_id": "a", "actor": "tina", "project_id": "p", "name": "P"})
	r.ok(client.CmdCreateOrganization, obj{"org_id": "b", "kind": "team", "preset": "ica", "actor": "bob", "name": "B"})
	r.ok(client.CmdCreateProject, obj{"org_id": "b", "actor": "bob", "project_id": "q", "name": "Q"})

	var csv strings.Builder
	csv.WriteString("email,user_id,name,roles,grants\n")
	for i := range commands.MaxImportRows {
		fmt.Fprintf(&csv, "u%d@a.test,,,project_viewer,\n", i)
	}
	replies := make(chan *nats.Msg, 64)
	sub, err := r.nc.ChanSubscribe("reply.>", replies)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	send := func(reply, name string, req obj) {
		b, _ := json.Marshal(req)
		if err := r.nc.PublishRequest(client.CommandPrefix+name, reply, b); err != nil {
			t.Fatal(err)
		}
	}
	send("reply.a", client.CmdImportMembers, obj{"org_id": "a", "actor": "tina", "project_id": "p", "csv": csv.String()})
	const small = 20
	for i := range small {
		// each renames the project; the last name wins only if order is kept
		send(fmt.Sprintf("reply.b.%d", i), client.CmdRenameProject, obj{"org_id": "b", "actor": "bob", "project_id": "q", "name": fmt.Sprintf("Q%d", i)})
	}
	var order []string
	positions := map[string]uint64{}
	for len(order) < small+1 {
		select {
		case m := <-replies:
			if code := m.Header.Get("Nats-Service-Error-Code"); code != "" {
				t.Fatalf("%s refused: %s", m.Subject, m.Data)
			}
			var rep client.CommandReply
			if err := json.Unmarshal(m.Data, &rep); err != nil {
				t.Fatal(err)
			}
			positions[m.Subject] = rep.Position
			order = append(order, m.Subject)
		case <-time.After(2 * time.Minute):
			t.Fatalf("replies so far: %v", order)
		}
	}
	if order[small] != "reply.a" {
		t.Fatalf("the import was answered before organization B's commands: %v", order)
	}
	// replies go out from the fsync waiters in any order; the log order is arrival order
	for i := 1; i < small; i++ {
		if positions[fmt.Sprintf("reply.b.%d", i)] <= positions[fmt.Sprintf("reply.b.%d", i-1)] {
			t.Fatalf("organization B's commands recorded out of order: %v", positions)
		}
	}
}

// A second rosterd on the same data dir fails at once, naming the lock and the holder.
func TestSecondDaemonOnSameDataDir(t *testing.T) {
	r := newRig(t)
	_, err := daemon.Start(context.Background(), daemon.Config{DataDir: r.dir, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	var inUse *daemon.DataDirInUseError
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), daemon.LockFile) || inUse.PID == 0 {
		t.Fatalf("got %v, want a data-dir-in-use error naming the lock and process", err)
	}
}

// A --listen port already taken fails at once, saying so.
func TestListenPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: l.Addr().String(), Logger: slog.New(slog.DiscardHandler)})
	var inUse *embeddednats.PortInUseError
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("got %v, want a port-in-use error", err)
	}
}
