package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"roster/internal/syncbuf"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"roster/domain"
	"roster/internal/caller"
	"roster/internal/daemon"
)

// accountsFile writes a nats-server configuration with ROSTER (no JetStream line: rosterd must
// enable it), two application accounts (ACME with a password, GLOBEX with an nkey), a user
// account PEOPLE and an operator account OPS. It returns the path and GLOBEX's nkey pair.
func accountsFile(t *testing.T) (string, nkeys.KeyPair) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	imports := `imports [
      { service: { account: ROSTER, subject: "roster.cmd.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.query.>" }, share: true }
    ]`
	conf := fmt.Sprintf(`
accounts {
  ROSTER {
    exports [
      { service: "roster.cmd.>" }
      { service: "roster.query.>" }
      { service: "roster.admin.>", accounts: [OPS] }
      { service: "$SRV.>", response_type: stream }
    ]
  }
  ACME { users [ { user: acme, password: acme-pw } ]
    %[1]s
    jetstream: enabled
  }
  GLOBEX { users [ { nkey: %[2]s } ]
    %[1]s
  }
  PEOPLE { users [ { user: alice, password: alice-pw } ]
    %[1]s
  }
  OPS { users [ { user: ops, password: ops-pw } ]
    imports [
      { service: { account: ROSTER, subject: "roster.cmd.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.query.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.admin.>" }, share: true }
    ]
  }
}
`, imports, pub)
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, kp
}

func startSecured(t *testing.T, confPath string, logs *syncbuf.Buffer) *daemon.Daemon {
	t.Helper()
	var h slog.Handler = slog.DiscardHandler
	if logs != nil {
		h = slog.NewTextHandler(logs, nil)
	}
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		NATSConfig: confPath, UserAccounts: []string{"PEOPLE"}, OperatorAccounts: []string{"OPS"},
		Logger: slog.New(h), FlushEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("start rosterd: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

func connectAs(t *testing.T, d *daemon.Daemon, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(d.URL, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func globexOption(t *testing.T, kp nkeys.KeyPair) nats.Option {
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return nats.Nkey(pub, kp.Sign)
}

// status asks roster.query.Status and checks the reply is the service's.
func status(t *testing.T, nc *nats.Conn) map[string]any {
	t.Helper()
	msg, err := nc.Request("roster.query.Status", []byte(`{}`), 5*time.Second)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	var rep map[string]any
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		t.Fatalf("Status reply %q: %v", msg.Data, err)
	}
	if rep["ok"] != true {
		t.Fatalf("Status reply %s", msg.Data)
	}
	return rep
}

// command sends a command over the wire and returns its position.
func command(t *testing.T, nc *nats.Conn, name string, req map[string]any) uint64 {
	t.Helper()
	body, _ := json.Marshal(req)
	msg, err := nc.Request("roster.cmd."+name, body, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var rep struct {
		OK       bool   `json:"ok"`
		Position uint64 `json:"position"`
	}
	if err := json.Unmarshal(msg.Data, &rep); err != nil || !rep.OK {
		t.Fatalf("%s reply %s (%v)", name, msg.Data, err)
	}
	return rep.Position
}

// probe captures what rosterd's own connection receives on subject, as the service would.
func probe(t *testing.T, d *daemon.Daemon, subject string) *nats.Subscription {
	t.Helper()
	sub, err := d.NC.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

func TestSecuredApplicationReachesStatusThroughImport(t *testing.T) {
	path, kp := accountsFile(t)
	d := startSecured(t, path, nil)
	status(t, connectAs(t, d, nats.UserInfo("acme", "acme-pw")))
	status(t, connectAs(t, d, globexOption(t, kp)))
	if _, err := nats.Connect(d.URL, nats.UserInfo("acme", "wrong")); err == nil {
		t.Fatal("a wrong password connected")
	}
	if _, err := nats.Connect(d.URL); err == nil {
		t.Fatal("a client without credentials connected to the secured server")
	}
}

func TestSecuredCallerIsTheServersStamp(t *testing.T) {
	path, kp := accountsFile(t)
	d := startSecured(t, path, nil)
	sub := probe(t, d, "roster.query.IdentityProbe")
	cases := []struct {
		name string
		nc   *nats.Conn
		want caller.Caller
	}{
		{"application with password", connectAs(t, d, nats.UserInfo("acme", "acme-pw")), caller.Caller{Account: "ACME", User: "acme", Kind: caller.Application}},
		{"user account", connectAs(t, d, nats.UserInfo("alice", "alice-pw")), caller.Caller{Account: "PEOPLE", User: "alice", Kind: caller.User}},
		{"operator account", connectAs(t, d, nats.UserInfo("ops", "ops-pw")), caller.Caller{Account: "OPS", User: "ops", Kind: caller.Operator}},
	}
	gpub, _ := kp.PublicKey()
	cases = append(cases, struct {
		name string
		nc   *nats.Conn
		want caller.Caller
	}{"application with nkey", connectAs(t, d, globexOption(t, kp)), caller.Caller{Account: "GLOBEX", User: gpub, Kind: caller.Application}})
	forged, _ := json.Marshal(server.ClientInfo{Account: "OPS", User: "ops"})
	for _, c := range cases {
		for _, forge := range []bool{false, true} {
			msg := nats.NewMsg("roster.query.IdentityProbe")
			msg.Data = []byte(`{}`)
			if forge {
				msg.Header.Set(caller.Header, string(forged))
			}
			if err := c.nc.PublishMsg(msg); err != nil {
				t.Fatal(err)
			}
			got, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("%s: the service side received nothing: %v", c.name, err)
			}
			if vals := got.Header.Values(caller.Header); len(vals) != 1 {
				t.Fatalf("%s (forged %v): %d %s headers, want the server's one", c.name, forge, len(vals), caller.Header)
			}
			who, err := d.Policy.FromHeader(got.Header)
			if err != nil {
				t.Fatalf("%s (forged %v): %v", c.name, forge, err)
			}
			if who != c.want {
				t.Fatalf("%s (forged %v): caller %+v, want %+v", c.name, forge, who, c.want)
			}
		}
	}
	// A request that did not come through an import (here rosterd's own account) has no stamp: refused.
	if err := d.NC.Publish("roster.query.IdentityProbe", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Policy.FromHeader(got.Header)
	var ie *caller.IdentityError
	if !errors.As(err, &ie) || domain.CodeOf(err) != domain.CodeForbidden {
		t.Fatalf("unstamped request: %v, want an IdentityError that is forbidden", err)
	}
}

func TestSecuredApplicationCannotTouchTheStreamOrTheService(t *testing.T) {
	path, kp := accountsFile(t)
	d := startSecured(t, path, nil)
	ctx := context.Background()
	acme := connectAs(t, d, nats.UserInfo("acme", "acme-pw")) // ACME has JetStream of its own
	globex := connectAs(t, d, globexOption(t, kp))            // GLOBEX has none
	ops := connectAs(t, d, nats.UserInfo("ops", "ops-pw"))

	rosterJS, err := jetstream.New(d.NC)
	if err != nil {
		t.Fatal(err)
	}
	// Events seen by rosterd's own account, the reference point for "nothing arrived elsewhere".
	own, err := d.NC.SubscribeSync("roster.events.>")
	if err != nil {
		t.Fatal(err)
	}
	spies := map[string]*nats.Subscription{}
	for name, nc := range map[string]*nats.Conn{"ACME": acme, "GLOBEX": globex} {
		for _, subj := range []string{"roster.events.>", "roster.deadletter.>", "roster.admin.>", "$SRV.>"} {
			s, err := nc.SubscribeSync(subj)
			if err != nil {
				t.Fatal(err)
			}
			spies[name+" "+subj] = s
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// A service impostor in GLOBEX joins the micro queue group on the query and command subjects.
	impostor, err := globex.QueueSubscribeSync("roster.query.>", "q")
	if err != nil {
		t.Fatal(err)
	}
	impostorCmd, err := globex.QueueSubscribeSync("roster.cmd.>", "q")
	if err != nil {
		t.Fatal(err)
	}
	if err := globex.Flush(); err != nil {
		t.Fatal(err)
	}

	pos := command(t, acme, "CreateOrganization", map[string]any{"org_id": "acme-org", "kind": "team", "preset": "dataloop", "actor": "a0"})
	if _, err := own.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("rosterd's account did not see the event: %v", err)
	}
	for i := 0; i < 10; i++ {
		status(t, acme)
		status(t, ops)
	}

	// Reading, purging or deleting ROSTER_EVENTS from an application account.
	for name, nc := range map[string]*nats.Conn{"ACME": acme, "GLOBEX": globex} {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Stream(ctx, "ROSTER_EVENTS"); err == nil {
			t.Fatalf("%s reached ROSTER_EVENTS", name)
		}
		for _, api := range []string{"$JS.API.STREAM.PURGE.ROSTER_EVENTS", "$JS.API.STREAM.DELETE.ROSTER_EVENTS",
			"$JS.API.STREAM.MSG.GET.ROSTER_EVENTS", "$JS.API.STREAM.MSG.DELETE.ROSTER_EVENTS"} {
			msg, err := nc.Request(api, []byte(`{"seq":1}`), 2*time.Second)
			if err == nil && !bytes.Contains(msg.Data, []byte(`"error"`)) {
				t.Fatalf("%s %s answered %s", name, api, msg.Data)
			}
		}
		// Publishing an event into the stream's subjects lands in the publisher's own account.
		if err := nc.Publish("roster.events.acme-org.OrganizationCreated", []byte(`{"forged":true}`)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// A second real command after the forgeries: the stream holds exactly the two real events.
	pos2 := command(t, acme, "CreateOrganization", map[string]any{"org_id": "acme-org-2", "kind": "team", "preset": "dataloop", "actor": "a0"})
	if _, err := own.NextMsg(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if pos2 != pos+1 {
		t.Fatalf("positions %d then %d: something else was appended", pos, pos2)
	}
	st, err := rosterJS.Stream(ctx, "ROSTER_EVENTS")
	if err != nil {
		t.Fatalf("ROSTER_EVENTS gone: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != pos2 || info.State.LastSeq != pos2 || info.State.FirstSeq != 1 {
		t.Fatalf("stream state %+v, want exactly the %d real events", info.State, pos2)
	}
	if m, err := st.GetMsg(ctx, pos2); err != nil || bytes.Contains(m.Data, []byte("forged")) {
		t.Fatalf("last stream message %v: %v", m, err)
	}

	// Everything above has been delivered in ROSTER; a round trip on each spy's connection
	// orders its view after that, and nothing reached the other accounts.
	for _, nc := range []*nats.Conn{acme, globex} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for name, s := range spies {
		if n, _, _ := s.Pending(); n != 0 && !strings.HasPrefix(name, "ACME roster.events") && !strings.HasPrefix(name, "GLOBEX roster.events") {
			t.Fatalf("%s received %d messages", name, n)
		}
	}
	// The only roster.events messages an application sees are the ones it published itself.
	for _, name := range []string{"ACME roster.events.>", "GLOBEX roster.events.>"} {
		for {
			m, err := spies[name].NextMsg(0)
			if err != nil {
				break
			}
			if !bytes.Contains(m.Data, []byte("forged")) {
				t.Fatalf("%s received a real event: %s", name, m.Data)
			}
		}
	}
	if n, _, _ := impostor.Pending(); n != 0 {
		t.Fatalf("the impostor in GLOBEX received %d of ACME's and OPS's queries", n)
	}
	if n, _, _ := impostorCmd.Pending(); n != 0 {
		t.Fatalf("the impostor in GLOBEX received %d of ACME's commands", n)
	}
}

func TestSecuredAdminOnlyForOperatorAccount(t *testing.T) {
	path, _ := accountsFile(t)
	d := startSecured(t, path, nil)
	sub := probe(t, d, "roster.admin.IdentityProbe")
	acme := connectAs(t, d, nats.UserInfo("acme", "acme-pw"))
	ops := connectAs(t, d, nats.UserInfo("ops", "ops-pw"))
	// ACME has no import of roster.admin.>: its publish stays in ACME.
	if err := acme.Publish("roster.admin.IdentityProbe", nil); err != nil {
		t.Fatal(err)
	}
	if err := acme.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ops.Publish("roster.admin.IdentityProbe", nil); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	who, err := d.Policy.FromHeader(got.Header)
	if err != nil || who.Account != "OPS" {
		t.Fatalf("first admin request from %+v (%v), want OPS only", who, err)
	}
}

func TestExampleSecureConfigFile(t *testing.T) {
	logs := &syncbuf.Buffer{}
	d := startSecured(t, filepath.Join("..", "..", "docs", "nats-secure.conf"), logs)
	sub := probe(t, d, "roster.query.IdentityProbe")
	for _, c := range []struct{ user, pass, account string }{
		{"acme-backend", "acme-change-me", "ACME"}, {"globex-backend", "globex-change-me", "GLOBEX"},
		{"alice", "alice-change-me", "PEOPLE"}, {"ops", "ops-change-me", "OPS"},
	} {
		nc := connectAs(t, d, nats.UserInfo(c.user, c.pass), nats.CustomInboxPrefix("_INBOX_"+c.user))
		status(t, nc)
		if err := nc.Publish("roster.query.IdentityProbe", nil); err != nil {
			t.Fatal(err)
		}
		got, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if who, err := d.Policy.FromHeader(got.Header); err != nil || who.Account != c.account || who.User != c.user {
			t.Fatalf("%s: caller %+v (%v)", c.user, who, err)
		}
	}
	// nats micro discovery works through the $SRV.> import.
	acme := connectAs(t, d, nats.UserInfo("acme-backend", "acme-change-me"), nats.CustomInboxPrefix("_INBOX_acme-backend"))
	if msg, err := acme.Request("$SRV.INFO.roster", nil, 5*time.Second); err != nil || !bytes.Contains(msg.Data, []byte(`"roster"`)) {
		t.Fatalf("$SRV.INFO.roster: %v", err)
	}
	// rosterd itself does not warn; the example's passwords are in plain text (it says to use
	// nkeys or bcrypt hashes in production), which the server itself points out.
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") && !strings.Contains(line, `msg="Plaintext passwords detected, use nkeys or bcrypt" component=nats-server`) {
			t.Fatalf("a secured start warned:\n%s", logs)
		}
	}
}

func TestQuickStartWarnsOnceAndRefusesNonLoopback(t *testing.T) {
	logs := &syncbuf.Buffer{}
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	nc := connectAs(t, d)
	status(t, nc)
	who, err := d.Policy.FromHeader(nil)
	if err != nil || !who.Anonymous || who.Kind != caller.Application {
		t.Fatalf("insecure caller %+v (%v)", who, err)
	}
	d.Close()
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "insecure") {
		t.Fatalf("%d warnings, want exactly one about being insecure:\n%s", n, logs)
	}

	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		_, err = daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: listen, Logger: slog.New(slog.DiscardHandler)})
		var ie *daemon.InsecureListenError
		if !errors.As(err, &ie) {
			t.Fatalf("listen %s without a config file: %v, want InsecureListenError", listen, err)
		}
	}
	d, err = daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: "0.0.0.0:0", Insecure: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("--insecure: %v", err)
	}
	d.Close()
	path, _ := accountsFile(t)
	d, err = daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: "0.0.0.0:0", NATSConfig: path,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("non-loopback with a config file: %v", err)
	}
	d.Close()
}

func TestExternalNATSPasswordNeverLogged(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, Username: "rosterd", Password: secret})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(ns.Shutdown)
	port := ns.Addr().(interface{ String() string }).String()
	url := "nats://rosterd:" + secret + "@" + port

	logs := &syncbuf.Buffer{}
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), NATSURL: url,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Policy.Secured {
		t.Fatal("an external NATS reached with a password is not secured mode")
	}
	d.Close()
	out := logs.String()
	if strings.Contains(out, secret) {
		t.Fatalf("the password is in the log:\n%s", out)
	}
	if !strings.Contains(out, "rosterd:xxxxx@") {
		t.Fatalf("the log does not show the redacted URL:\n%s", out)
	}

	// A refused connection's error names the URL without its password.
	_, err = daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(),
		NATSURL: "nats://rosterd:wrong-" + secret + "@" + port, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("error %v", err)
	}
}
