// Package embeddednats starts an in-process NATS server with JetStream. It is
// used by rosterd when no external NATS is given and by the tests, which run
// against a real server on a random loopback port.
//
// Without a configuration file the server has no authentication (the quick
// start). With one (a standard nats-server file: accounts, users, nkeys, TLS,
// imports and exports, limits) the file must declare the account ROSTER, which
// exports Roster's service subjects; rosterd joins ROSTER as a user generated
// at start that only it knows, over an in-process connection, and JetStream is
// enabled for ROSTER whether or not the file says so.
package embeddednats

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// RosterAccount is the account that holds Roster's service, streams and connection.
const RosterAccount = "ROSTER"

// RequiredExports are the service exports the ROSTER account must declare; without them no
// other account could reach the service. roster.admin.> and $SRV.> are recommended too.
var RequiredExports = []string{"roster.cmd.>", "roster.query.>"}

// Config says where the embedded server listens and keeps its JetStream data.
type Config struct {
	// Host and Port of the client listener; Port 0 picks a free port.
	Host string
	Port int
	// StoreDir holds JetStream's files.
	StoreDir string
	// ServerName names the server; empty gives "roster".
	ServerName string
	// ConfigFile is a nats-server configuration file. Its listen/host/port wins over Host and
	// Port when it sets either; its store_dir wins over StoreDir when set.
	ConfigFile string
	// MaxMemoryStore and MaxFileStore bound JetStream's memory and file storage in bytes
	// (max_memory_store, max_file_store); 0 leaves the file's value or the server's default
	// (a share of the machine's memory and disk).
	MaxMemoryStore, MaxFileStore int64
	// Logger, when set, receives the server's warnings and errors, and its notices of slow
	// consumers (a client it disconnected for not reading fast enough: rosterd's own connections
	// included); its other notices go at debug level.
	Logger *slog.Logger
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
	if c.MaxMemoryStore < 0 || c.MaxFileStore < 0 {
		errs = append(errs, errors.New("embedded nats: JetStream storage limits must not be negative"))
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
	e, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	return e.Server, nil
}

// Embedded is a running embedded server and the way rosterd connects to it.
type Embedded struct {
	Server *server.Server
	// Secured is true when the server was configured from a file (accounts and authentication).
	Secured bool
	// Listen is the client address the server listens on (HOST:PORT).
	Listen string
	user   string
	pass   string
}

// ConnectOptions are the nats.go options for rosterd's own connection: in process and, with a
// configuration file, as the ROSTER user generated at start.
func (e *Embedded) ConnectOptions() []nats.Option {
	opts := []nats.Option{nats.InProcessServer(e.Server)}
	if e.user != "" {
		opts = append(opts, nats.UserInfo(e.user, e.pass))
	}
	return opts
}

// Open runs the server as Start does and also returns how rosterd connects to it.
func Open(cfg Config) (*Embedded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	name := cfg.ServerName
	if name == "" {
		name = "roster"
	}
	opts := &server.Options{}
	e := &Embedded{}
	if cfg.ConfigFile != "" {
		var err error
		opts, err = server.ProcessConfigFile(cfg.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: config file: %w", err)
		}
		if err := e.joinRoster(opts); err != nil {
			return nil, fmt.Errorf("embedded nats: config file %s: %w", cfg.ConfigFile, err)
		}
		e.Secured = true
	}
	if opts.Host == "" && opts.Port == 0 {
		opts.Host, opts.Port = cfg.Host, cfg.Port
		if cfg.Port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	if opts.ServerName == "" {
		opts.ServerName = name
	}
	if opts.StoreDir == "" {
		opts.StoreDir = cfg.StoreDir
	}
	if opts.MaxPayload == 0 {
		// Roster requests stay well under this; it bounds the oversized-payload check.
		opts.MaxPayload = 8 << 20
	}
	if cfg.MaxMemoryStore > 0 {
		opts.JetStreamMaxMemory = cfg.MaxMemoryStore
	}
	if cfg.MaxFileStore > 0 {
		opts.JetStreamMaxStore = cfg.MaxFileStore
	}
	opts.JetStream = true
	opts.NoSigs = true
	opts.NoLog = true
	if err := checkPortFree(opts.Host, opts.Port); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(serverLog{cfg.Logger.With("component", "nats-server")}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	e.Server = ns
	if addr, ok := ns.Addr().(*net.TCPAddr); ok {
		e.Listen = net.JoinHostPort(opts.Host, strconv.Itoa(addr.Port))
	}
	if e.Secured {
		if err := checkRoster(ns); err != nil {
			ns.Shutdown()
			return nil, fmt.Errorf("embedded nats: config file %s: %w", cfg.ConfigFile, err)
		}
	}
	return e, nil
}

// joinRoster adds rosterd's own user, with a random name and password, to the ROSTER account
// of a parsed configuration.
func (e *Embedded) joinRoster(opts *server.Options) error {
	if len(opts.TrustedOperators) > 0 || len(opts.TrustedKeys) > 0 {
		return errors.New("operator (JWT) mode is not supported by the embedded server: run nats-server and give rosterd --nats-url and --creds")
	}
	var roster *server.Account
	for _, a := range opts.Accounts {
		if a.Name == RosterAccount {
			roster = a
		}
	}
	if roster == nil {
		return fmt.Errorf("no account %s: declare it with the service exports %v", RosterAccount, RequiredExports)
	}
	user, err := randomHex(8)
	if err != nil {
		return err
	}
	pass, err := randomHex(32)
	if err != nil {
		return err
	}
	e.user, e.pass = "rosterd-"+user, pass
	opts.Users = append(opts.Users, &server.User{Username: e.user, Password: e.pass, Account: roster})
	return nil
}

// checkRoster verifies the running server's ROSTER account exports the service and enables
// JetStream for it when the file did not (dynamic limits: the server's own limits apply).
func checkRoster(ns *server.Server) error {
	acc, err := ns.LookupAccount(RosterAccount)
	if err != nil {
		return fmt.Errorf("account %s: %w", RosterAccount, err)
	}
	var missing []string
	for _, subj := range RequiredExports {
		if !acc.IsExportService(subj) {
			missing = append(missing, subj)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("account %s does not export the services %v", RosterAccount, missing)
	}
	if !acc.JetStreamEnabled() {
		if err := acc.EnableJetStream(nil, nil); err != nil {
			return fmt.Errorf("enable JetStream for account %s: %w", RosterAccount, err)
		}
	}
	return nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("embedded nats: random credentials: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// IsLoopback reports whether a listen host only accepts local clients.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// PortInUseError says the embedded server's listen address is taken.
type PortInUseError struct {
	Listen string
	Err    error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("embedded nats: listen %s: the address is already in use (another rosterd or nats-server?); give another --listen: %v", e.Listen, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// checkPortFree fails at once when a fixed listen address is taken (the server itself would
// only log it, and rosterd would wait for it to become ready).
func checkPortFree(host string, port int) error {
	if port <= 0 {
		return nil
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &PortInUseError{Listen: addr, Err: err}
		}
		return fmt.Errorf("embedded nats: listen %s: %w", addr, err)
	}
	return l.Close()
}

// serverLog passes the embedded server's log lines to slog (server.Logger).
type serverLog struct{ log *slog.Logger }

func (l serverLog) Noticef(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "Slow Consumer") {
		l.log.Warn(msg)
		return
	}
	l.log.Debug(msg)
}
func (l serverLog) Warnf(format string, v ...any)  { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLog) Errorf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Fatalf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Debugf(format string, v ...any) {}
func (l serverLog) Tracef(format string, v ...any) {}
