package natsconn_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"roster/internal/natsconn"
)

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"nats://127.0.0.1:4222":                              "nats://127.0.0.1:4222",
		"nats://u:pw@h:4222":                                 "nats://u:xxxxx@h:4222",
		"tls://u:p%40ss@h:4222,nats://v:q@k":                 "tls://u:xxxxx@h:4222,nats://v:xxxxx@k",
		"nats://tok3n@h:4222":                                "nats://xxxxx@h:4222",
		`connect "nats://u:pw@h:1": authorization violation`: `connect "nats://u:xxxxx@h:1": authorization violation`,
		"ws://u:p@w@h/path?x=1":                              "ws://u:xxxxx@h/path?x=1",
		"no url here":                                        "no url here",
	}
	for in, want := range cases {
		if got := natsconn.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactedInSlogOutput(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("connected", "url", natsconn.Redact("nats://admin:hunter2@10.0.0.1:4222"))
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), "admin:xxxxx@10.0.0.1") {
		t.Fatalf("log line %q", buf.String())
	}
}

func TestFlagsWinOverEnvironmentOverContext(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, ".config", "nats", "context")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctxJSON := `{"url":"nats://ctx:4222","creds":"/ctx.creds","user":"","cert":"/c.pem","key":"/k.pem","ca":"/ca.pem","description":"x"}`
	if err := os.WriteFile(filepath.Join(dir, "prod.json"), []byte(ctxJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home, "NATS_URL": "nats://env:4222", "NATS_CONTEXT": "prod", "NATS_CA": "/env-ca.pem"}
	o, err := natsconn.Options{TLSCert: "/flag.pem"}.Resolve(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := natsconn.Options{URL: "nats://env:4222", Creds: "/ctx.creds", TLSCert: "/flag.pem", TLSKey: "/k.pem", TLSCA: "/env-ca.pem", Context: "prod"}
	if o != want {
		t.Fatalf("resolved %+v, want %+v", o, want)
	}
	if !o.Authenticated() {
		t.Fatal("a creds file is a credential")
	}
	if _, err := (natsconn.Options{Context: "../etc/passwd"}).WithContext(dir); err == nil {
		t.Fatal("a context name with a path was read")
	}
	if _, err := (natsconn.Options{Context: "missing"}).WithContext(dir); err == nil {
		t.Fatal("a missing context was not reported")
	}
}

func TestValidateAndAuthenticated(t *testing.T) {
	bad := []natsconn.Options{
		{},
		{URL: "nats://h", Creds: "a", NKey: "b"},
		{URL: "nats://h", Creds: "a", User: "u"},
		{URL: "nats://h", Password: "p"},
		{URL: "nats://h", TLSCert: "c"},
	}
	for _, o := range bad {
		if o.Validate() == nil {
			t.Errorf("%+v validated", o)
		}
	}
	if (natsconn.Options{URL: "nats://h:4222"}).Authenticated() {
		t.Error("a bare URL is a credential")
	}
	if !(natsconn.Options{URL: "nats://u:p@h:4222"}).Authenticated() {
		t.Error("a URL with a user is not a credential")
	}
}

func TestConnectWithUserAndPassword(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, Username: "app", Password: "pw-1"})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	t.Cleanup(ns.Shutdown)
	nc, err := natsconn.Connect(context.Background(), natsconn.Options{URL: ns.ClientURL(), User: "app", Password: "pw-1"})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	url := strings.Replace(ns.ClientURL(), "nats://", "nats://app:wrong-pw@", 1)
	_, err = natsconn.Connect(context.Background(), natsconn.Options{URL: url})
	if err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("error %v", err)
	}
}

// The inbox prefix comes from the flag, else NATS_INBOX_PREFIX, else the context's
// inbox_prefix; a request's reply subject then starts with it.
func TestInboxPrefixResolvedAndUsed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "people.json"), []byte(`{"inbox_prefix":"_INBOX_ctx"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := natsconn.Options{Context: "people"}.WithContext(dir)
	if err != nil || o.InboxPrefix != "_INBOX_ctx" {
		t.Fatalf("context: %+v %v", o, err)
	}
	env := map[string]string{"NATS_INBOX_PREFIX": "_INBOX_env"}
	if o := (natsconn.Options{}).FromEnv(func(k string) string { return env[k] }); o.InboxPrefix != "_INBOX_env" {
		t.Fatalf("environment: %+v", o)
	}
	if o := (natsconn.Options{InboxPrefix: "_INBOX_flag"}).FromEnv(func(k string) string { return env[k] }); o.InboxPrefix != "_INBOX_flag" {
		t.Fatalf("flag: %+v", o)
	}
	for _, bad := range []string{"_INBOX_a.>", "_INBOX.*", "_INBOX_a.", "has space"} {
		if (natsconn.Options{URL: "nats://h", InboxPrefix: bad}).Validate() == nil {
			t.Errorf("inbox prefix %q validated", bad)
		}
	}

	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	t.Cleanup(ns.Shutdown)
	echo, err := natsconn.Connect(context.Background(), natsconn.Options{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	if _, err := echo.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond([]byte(m.Reply)) }); err != nil {
		t.Fatal(err)
	}
	if err := echo.Flush(); err != nil {
		t.Fatal(err)
	}
	nc, err := natsconn.Connect(context.Background(), natsconn.Options{URL: ns.ClientURL(), InboxPrefix: "_INBOX_alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request("echo", nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg.Data), "_INBOX_alice.") {
		t.Fatalf("reply subject %s", msg.Data)
	}
}
