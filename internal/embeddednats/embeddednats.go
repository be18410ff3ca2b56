// Package embeddednats starts an in-process NATS server with JetStream. It is
// used by rosterd when no external NATS is given and by the tests, which run
// against a real server on a random loopback port.
package embeddednats

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config says where the embedded server listens and keeps its JetStream data.
type Config struct {
	// Host and Port of the client listener; Port 0 picks a free port.
	Host string
	Port int
	// StoreDir holds JetStream's files.
	StoreDir string
	// ServerName names the server; empty gives "roster".
	ServerName string
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, errors.New("embedded nats: host is empty"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("embedded nats: port %d out of range", c.Port))
	}
	if c.StoreDir == "" {
		errs = append(errs, errors.New("embedded nats: store dir is empty"))
	}
	return errors.Join(errs...)
}

// ParseListen splits a HOST:PORT listen address.
func ParseListen(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: port: %w", addr, err)
	}
	return host, port, nil
}

// Start runs a NATS server with JetStream and waits until it accepts clients.
func Start(cfg Config) (*server.Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	name := cfg.ServerName
	if name == "" {
		name = "roster"
	}
	opts := &server.Options{
		ServerName: name,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// Roster requests stay well under this; it bounds the oversized-payload check.
		MaxPayload: 8 << 20,
	}
	if cfg.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return ns, nil
}
