package embeddednats_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roster/internal/embeddednats"
)

func writeConf(t *testing.T, conf string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileMustDeclareRosterWithExports(t *testing.T) {
	for name, conf := range map[string]string{
		"no ROSTER":  `accounts { ACME { users [ {user: a, password: b} ] } }`,
		"no exports": "accounts {\n ROSTER { users [ {user: r, password: s} ] }\n ACME { users [ {user: a, password: b} ] }\n}",
	} {
		_, err := embeddednats.Open(embeddednats.Config{Host: "127.0.0.1", StoreDir: t.TempDir(), ConfigFile: writeConf(t, conf)})
		if err == nil || !strings.Contains(err.Error(), "ROSTER") {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestFileListenWinsAndJetStreamEnabledForRoster(t *testing.T) {
	conf := `listen: "127.0.0.1:-1"
accounts { ROSTER { exports [ {service: "roster.cmd.>"}, {service: "roster.query.>"} ] } }`
	e, err := embeddednats.Open(embeddednats.Config{Host: "127.0.0.2", Port: 1, StoreDir: t.TempDir(), ConfigFile: writeConf(t, conf)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Server.Shutdown()
	if !strings.HasPrefix(e.Listen, "127.0.0.1:") || !e.Secured {
		t.Fatalf("listen %q secured %v", e.Listen, e.Secured)
	}
	acc, err := e.Server.LookupAccount(embeddednats.RosterAccount)
	if err != nil || !acc.JetStreamEnabled() {
		t.Fatalf("ROSTER JetStream not enabled: %v", err)
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "localhost": true, "0.0.0.0": false, "": false, "10.1.2.3": false} {
		if embeddednats.IsLoopback(host) != want {
			t.Errorf("IsLoopback(%q) != %v", host, want)
		}
	}
}
