// Package natstest starts a real NATS server for tests.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"roster/internal/embeddednats"
)

// StartForTest starts a server on a random loopback port with JetStream in a
// temporary directory, and a connection to it; both are closed at cleanup.
func StartForTest(tb testing.TB) (*server.Server, *nats.Conn) {
	tb.Helper()
	ns, err := embeddednats.Start(embeddednats.Config{Host: "127.0.0.1", Port: 0, StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("start nats: %v", err)
	}
	tb.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		tb.Fatalf("connect nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	return ns, nc
}
