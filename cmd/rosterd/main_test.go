package main

import (
	"bytes"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func TestHelpAndVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"--help"}, noEnv, &out, &errOut); err != nil {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(errOut.String(), "-nats-config") {
		t.Fatalf("--help printed %q", errOut.String())
	}
	out.Reset()
	if err := run([]string{"--version"}, noEnv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "rosterd 0.") {
		t.Fatalf("--version printed %q", out.String())
	}
}

func TestEnvironmentFillsExternalNATS(t *testing.T) {
	env := map[string]string{"NATS_URL": "nats://n:4222", "NATS_USER": "svc", "NATS_PASSWORD": "pw"}
	var out, errOut bytes.Buffer
	cfg, done, err := parse([]string{"--user-accounts", "PEOPLE,STAFF", "--operator-accounts", "OPS"},
		func(k string) string { return env[k] }, &out, &errOut)
	if err != nil || done {
		t.Fatal(err)
	}
	if cfg.NATSURL != "nats://n:4222" || cfg.NATS.User != "svc" || cfg.NATS.Password != "pw" || !cfg.Secured() {
		t.Fatalf("config %+v", cfg)
	}
	if len(cfg.UserAccounts) != 2 || cfg.OperatorAccounts[0] != "OPS" {
		t.Fatalf("accounts %v %v", cfg.UserAccounts, cfg.OperatorAccounts)
	}
	// With a config file the embedded server is used and NATS_URL is not consulted.
	cfg, _, err = parse([]string{"--nats-config", "x.conf"}, func(k string) string { return env[k] }, &out, &errOut)
	if err != nil || cfg.NATSURL != "" || !cfg.Secured() {
		t.Fatalf("config %+v: %v", cfg, err)
	}
}

func TestNonLoopbackRefusedWithoutInsecure(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run([]string{"--listen", "0.0.0.0:0", "--data-dir", t.TempDir()}, noEnv, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("run: %v", err)
	}
}
