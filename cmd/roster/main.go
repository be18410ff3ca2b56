package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"roster/client"
	"roster/internal/natsconn"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // usage, connection or transport error
	exitRefused = 2 // the server answered with ok=false
	exitPartial = 3 // an import answered with failed rows
)

// defaultServer is used when no flag, environment variable or nats context names a server.
const defaultServer = "nats://127.0.0.1:4222"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runCtx(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// env is what the CLI reads and writes besides its arguments.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
}

// run is the whole CLI, reading standard input and the environment of the process.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(args, os.Stdin, stdout, stderr, os.Getenv)
}

func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return runCtx(context.Background(), args, env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv})
}

// exitError ends the CLI with a status once its message has been printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func exitWith(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

// globals are the flags every subcommand takes.
type globals struct {
	server  string
	json    bool
	timeout time.Duration
	conn    natsconn.Options // URL unused: server resolves it
}

func runCtx(ctx context.Context, args []string, e env) int {
	if e.now == nil {
		e.now = time.Now
	}
	if e.getenv == nil {
		e.getenv = func(string) string { return "" }
	}
	g := &globals{timeout: client.DefaultTimeout}
	ops := wireOps()
	root := newRoot(g, e, ops, args)
	root.SetArgs(joinBoolValues(args, boolFlags(ops)))
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	_, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ex *exitError
	if errors.As(err, &ex) {
		return ex.code
	}
	fmt.Fprintln(e.stderr, "roster:", err)
	if strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintln(e.stderr, "Run 'roster help' for usage.")
	}
	return exitFailure
}

func newRoot(g *globals, e env, ops []op, argv []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "roster",
		Short: "command-line client of Roster (NATS wire contract, API.md)",
		Long: `roster: command-line client of Roster (NATS wire contract, API.md).

Commands go to roster.cmd.<Name>, queries to roster.query.<Name>. Each takes its fields as
flags (roster help <Name> lists them, required ones marked), or one JSON object ('{…}',
- for stdin, @request.json) with flags laid over it. Replies print as text and tables;
--json prints the reply as received.

Exit status: 0 ok; 1 usage, connection or transport error; 2 refused by the server
(error <code>: <message> on stderr); 3 an import answered with failed rows.`,
		Version:           versionString(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	root.SetGlobalNormalizationFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", "", "NATS URL of Roster (default $ROSTER_SERVER, else $NATS_URL, else the nats context's, else "+defaultServer+")")
	pf.BoolVar(&g.json, "json", false, "print the reply JSON as received instead of a table")
	pf.DurationVar(&g.timeout, "timeout", g.timeout, "request timeout")
	pf.StringVar(&g.conn.Creds, "creds", "", "NATS credentials file (default $NATS_CREDS)")
	pf.StringVar(&g.conn.NKey, "nkey", "", "NATS nkey seed file (default $NATS_NKEY)")
	pf.StringVar(&g.conn.User, "user", "", "NATS user (default $NATS_USER)")
	pf.StringVar(&g.conn.Password, "password", "", "NATS password (default $NATS_PASSWORD)")
	pf.StringVar(&g.conn.TLSCert, "tls-cert", "", "TLS client certificate (default $NATS_CERT)")
	pf.StringVar(&g.conn.TLSKey, "tls-key", "", "TLS client key (default $NATS_KEY)")
	pf.StringVar(&g.conn.TLSCA, "tls-ca", "", "TLS CA certificate (default $NATS_CA)")
	pf.StringVar(&g.conn.InboxPrefix, "inbox-prefix", "", "prefix of this client's reply subjects, e.g. _INBOX_alice where the server lets each user read only their own (default $NATS_INBOX_PREFIX)")
	pf.StringVar(&g.conn.Context, "context", "", "nats CLI context name (default $NATS_CONTEXT); on Check, --context is the request's context and this is --nats-context")
	pf.StringVar(&g.conn.Context, "nats-context", "", "nats CLI context name (same as --context)")
	root.SetFlagErrorFunc(flagError)

	root.AddGroup(&cobra.Group{ID: "cmd", Title: "Commands (roster.cmd.<Name>):"},
		&cobra.Group{ID: "query", Title: "Queries (roster.query.<Name>):"},
		&cobra.Group{ID: "tool", Title: "Operator tools:"})
	for _, o := range ops {
		root.AddCommand(wireCommand(o, g, e, argv))
	}
	root.AddCommand(auditCommand(g, e), rebuildCommand(g, e), verifyCommand(g, e), backupCommand(g, e), restoreCommand(g, e), recoverCommand(g, e))
	return root
}

// versionString is the module version and VCS revision the binary was built from.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// flagError adds "did you mean" to an unknown flag and points at the command's help.
func flagError(c *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		if s := suggestFlag(c, name); s != "" {
			return fmt.Errorf("%s: %w\n\nDid you mean this?\n\t--%s", c.Name(), err, s)
		}
	}
	return fmt.Errorf("%s: %w (see roster help %s)", c.Name(), err, c.Name())
}

// suggestFlag is the command's flag closest to name: within two edits, or one a prefix of the other.
func suggestFlag(c *cobra.Command, name string) string {
	name = strings.ReplaceAll(name, "_", "-")
	best, bestD := "", 3
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := levenshtein(strings.ToLower(name), strings.ToLower(f.Name))
		if strings.HasPrefix(f.Name, name) || strings.HasPrefix(name, f.Name) {
			d = min(d, 1)
		}
		if d < bestD || (d == bestD && f.Name < best) {
			best, bestD = f.Name, d
		}
	})
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// boolFlags are the flags that take no value, so "--explain false" can be read as --explain=false.
func boolFlags(ops []op) []string {
	names := []string{"json", "follow", "help", "version", "quiet"}
	for _, o := range ops {
		for _, s := range o.Flags {
			if s.Kind == kindBool {
				names = append(names, s.Flag)
			}
		}
	}
	return names
}

// joinBoolValues turns "--flag true|false" into "--flag=true|false" for boolean flags.
func joinBoolValues(args []string, bools []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name, isLong := strings.CutPrefix(a, "--")
		if isLong && !strings.Contains(name, "=") && i+1 < len(args) && (args[i+1] == "true" || args[i+1] == "false") &&
			slices.Contains(bools, strings.ReplaceAll(name, "_", "-")) {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// connect opens the NATS connection: --server, else $ROSTER_SERVER, else $NATS_URL, else the
// nats context's URL, else the default; credentials from flags over environment over context.
func (g *globals) connect(ctx context.Context, e env, extra ...nats.Option) (*nats.Conn, error) {
	o := g.conn
	o.URL = g.server
	if o.URL == "" {
		o.URL = e.getenv("ROSTER_SERVER")
	}
	o, err := o.Resolve(e.getenv)
	if err != nil {
		return nil, err
	}
	if o.URL == "" {
		o.URL = defaultServer
	}
	if g.timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	return natsconn.Connect(ctx, o, append([]nats.Option{nats.Name("roster-cli"), nats.Timeout(g.timeout)}, extra...)...)
}

// wireCommand declares one command or query: its flags come from the request type.
func wireCommand(o op, g *globals, e env, argv []string) *cobra.Command {
	req := newRequest(e.stdin, e.now)
	group := "cmd"
	if o.Query {
		group = "query"
	}
	cmd := &cobra.Command{
		Use:     o.Name + " ['{json}' | - | @request.json]",
		Short:   o.Help,
		Long:    longHelp(o),
		GroupID: group,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return sendOp(cmd.Context(), o, req, args, g, e, argv)
		},
	}
	cmd.Flags().SortFlags = false
	bindFlags(cmd.Flags(), o, req)
	if o.Name == client.CmdImportMembers {
		opts := &importOpts{}
		addImportFlags(cmd, opts)
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return sendImport(cmd.Context(), o, req, args, opts, g, e, argv)
		}
	}
	return cmd
}

// bindFlags declares one flag per request field, each writing into req.
func bindFlags(fs *pflag.FlagSet, o op, req *request) {
	for _, s := range o.Flags {
		f := fs.VarPF(&fieldFlag{req: req, spec: s}, s.Flag, "", s.usage())
		if s.Kind == kindBool {
			f.NoOptDefVal = "true"
		}
	}
}

// longHelp is the help text of a command or query, naming its subject and required flags.
func longHelp(o op) string {
	var b strings.Builder
	kind := "command"
	if o.Query {
		kind = "query"
	}
	fmt.Fprintf(&b, "%s (%s on %s): %s\n", o.Name, kind, subjectOf(o), o.Help)
	var req []string
	for _, s := range o.Flags {
		if s.Required {
			req = append(req, "--"+s.Flag)
		}
	}
	if len(req) > 0 {
		fmt.Fprintf(&b, "\nRequired flags: %s\n", strings.Join(req, ", "))
	} else {
		fmt.Fprintf(&b, "\nRequired flags: none\n")
	}
	if !o.Query {
		b.WriteString("\nEvery command carries a command_id: a new UUIDv7 unless --command-id is given. A command\n" +
			"repeated with the same id is applied once, so a timed-out command is safe to retry with it.\n")
	}
	return b.String()
}

// sendOp builds the request, sends it and prints the reply.
func sendOp(ctx context.Context, o op, req *request, args []string, g *globals, e env, argv []string) error {
	body, id, err := req.body(o, args)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	nc, err := g.connect(ctx, e, nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	return sendBody(ctx, o, body, id, nc, g, e, argv, retryPolicy{})
}

// retryLine is the command line to run again with the command id sent; a password given on
// the command line is left out (set $NATS_PASSWORD).
func retryLine(argv []string, id string) string {
	parts := []string{"roster"}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		name = strings.ReplaceAll(name, "_", "-")
		if strings.HasPrefix(a, "--") && (name == "password" || name == "command-id") {
			if !hasVal && i+1 < len(argv) {
				i++
			}
			_ = val
			continue
		}
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(append(parts, "--command-id", id), " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r == '@' || r == '=' || r == ',' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(escape(s), "'", `'\''`) + "'"
}
