// Command roster is the command-line client of Roster's NATS wire contract (API.md):
//
//	roster [--server URL] [--json] [--timeout D] <Command|Query> ['{json}' | - | @file | --field value …]
//
// Commands go to roster.cmd.<Name>, queries to roster.query.<Name>. The reply is shown as a
// readable table or summary, or as the raw reply JSON with --json.
//
// Exit status: 0 on success, 2 when the server refuses (error <code>: <message> on stderr),
// 1 on a usage, connection or transport error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // usage, connection or transport error
	exitRefused = 2 // the server answered with ok=false
)

// defaultServer is used when neither --server nor ROSTER_SERVER is set.
const defaultServer = "nats://127.0.0.1:4222"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole CLI; it reads standard input for '-' and ROSTER_SERVER from the environment.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(args, os.Stdin, stdout, stderr, os.Getenv)
}

// options are the global flags.
type options struct {
	server  string
	json    bool
	timeout time.Duration
	help    bool
}

func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	opts := options{server: getenv("ROSTER_SERVER"), timeout: client.DefaultTimeout}
	if opts.server == "" {
		opts.server = defaultServer
	}
	fs := flag.NewFlagSet("roster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	fs.StringVar(&opts.server, "server", opts.server, "NATS URL of Roster")
	fs.BoolVar(&opts.json, "json", false, "print the raw reply JSON")
	fs.DurationVar(&opts.timeout, "timeout", opts.timeout, "request timeout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout)
			return exitOK
		}
		fmt.Fprintln(stderr, "roster: run 'roster help' for usage")
		return exitFailure
	}
	rest := fs.Args()
	if len(rest) == 0 {
		printHelp(stderr)
		return exitFailure
	}
	name := rest[0]
	if name == "help" {
		if len(rest) > 1 {
			return printOpHelp(rest[1], stdout, stderr)
		}
		printHelp(stdout)
		return exitOK
	}
	switch name {
	case "audit":
		return runAudit(rest[1:], opts, stdout, stderr)
	case "rebuild":
		return runRebuild(rest[1:], opts, stdout, stderr)
	}
	reqArgs, err := extractGlobals(rest[1:], &opts)
	if err != nil {
		fmt.Fprintln(stderr, "roster:", err)
		return exitFailure
	}
	if opts.help {
		return printOpHelp(name, stdout, stderr)
	}
	if opts.timeout <= 0 {
		fmt.Fprintln(stderr, "roster: --timeout must be positive")
		return exitFailure
	}
	body, err := buildRequest(name, reqArgs, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "roster %s: %v\n", name, err)
		return exitFailure
	}

	nc, err := nats.Connect(opts.server, nats.Name("roster-cli"), nats.Timeout(opts.timeout), nats.NoReconnect())
	if err != nil {
		fmt.Fprintf(stderr, "roster: connect %s: %v\n", opts.server, err)
		return exitFailure
	}
	defer nc.Close()
	c := client.New(nc).WithTimeout(opts.timeout)
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout)
	defer cancel()

	query := isQuery(name)
	subject := client.CommandPrefix + name
	if query {
		subject = client.QueryPrefix + name
	}
	raw, err := c.Request(ctx, subject, body)
	if err != nil {
		// No reply at all (no responders, timeout, closed connection) is a transport failure.
		fmt.Fprintf(stderr, "roster: %v\n", err)
		return exitFailure
	}
	code := show(name, query, raw, opts.json, stdout, stderr)
	if code == exitRefused && !isKnown(name) {
		if s := suggest(name); s != "" {
			fmt.Fprintf(stderr, "did you mean %s?\n", s)
		}
	}
	return code
}

func isKnown(name string) bool {
	_, ok := lookup(name)
	return ok
}

// extractGlobals takes --json, --server, --timeout and --help/-h out of the arguments after the
// name, so that `roster ListMembers --org-id acme --json` works; the rest build the request.
func extractGlobals(args []string, opts *options) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !isFlag(arg) {
			rest = append(rest, arg)
			continue
		}
		key, val, hasVal := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch key {
		case "json":
			opts.json = true
			if hasVal {
				opts.json = val == "true"
			}
		case "help", "h":
			opts.help = true
		case "server", "timeout":
			if !hasVal {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("--%s needs a value", key)
				}
				i++
				val = args[i]
			}
			if key == "server" {
				opts.server = val
				continue
			}
			d, err := time.ParseDuration(val)
			if err != nil {
				return nil, fmt.Errorf("--timeout: %w", err)
			}
			opts.timeout = d
		default:
			rest = append(rest, arg)
		}
	}
	return rest, nil
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `roster: command-line client of Roster (NATS wire contract, API.md)

Usage:
  roster [--server URL] [--json] [--timeout D] <Command|Query> [arguments]
  roster help [Command|Query]

Global flags (before or after the name):
  --server URL   NATS URL of Roster (default $ROSTER_SERVER, else `+defaultServer+`)
  --json         print the reply JSON as received instead of a table
  --timeout D    request timeout (default 10s)

Arguments, either:
  '{"org_id":"acme",…}'   one JSON object (- reads it from stdin, @file.json from a file)
  --field value …         build the object: --org-id acme and --org_id acme set "org_id"
    lists (roles, grants, permissions, previous_owner_roles, types): --roles owner,viewer
    numbers (min_position, wait_ms, limit, position, after_position): --min-position 12
    booleans (dry_run, include_archived, explain): --dry-run, --explain false
    objects: --context created_by=u1,task_type=qa (or a JSON object)
    CreateProject: --track-id, --track-name, --compute, --notebook-env build "track"
    any value @path reads a file (@- stdin, @@x is a literal @x): --csv @members.csv
  Flags after a JSON object are laid over it. Unknown fields are sent as strings;
  the server refuses fields it does not know.

Commands (roster.cmd.<Name>; each also takes --actor, --command-id, --correlation-id, --dry-run):
`)
	printOps(w, commandOps())
	fmt.Fprint(w, `
Queries (roster.query.<Name>; each also takes --min-position and --wait-ms):
`)
	printOps(w, queryOps())
	fmt.Fprint(w, `
Operator tools:
  audit    --org-id X [--project-id P] [--actor A] [--user-id U] [--type T,…] [--since T] [--until T]
           [--after N] [--follow] [--json]: `+toolNames["audit"]+`
  rebuild  [VIEW…] [--wait D] [--json]: `+toolNames["rebuild"]+`

Exit status: 0 ok; 2 refused by the server (error <code>: <message> on stderr);
1 usage, connection or transport error.
`)
}

func printOps(w io.Writer, ops []op) {
	tw := newTable(w)
	for _, o := range ops {
		fmt.Fprintf(tw, "  %s\t%s\n", o.Name, o.Help)
	}
	_ = tw.Flush()
}

func printOpHelp(name string, stdout, stderr io.Writer) int {
	o, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "roster: unknown command or query %q", name)
		if s := suggest(name); s != "" {
			fmt.Fprintf(stderr, "; did you mean %s?", s)
		}
		fmt.Fprintln(stderr)
		return exitFailure
	}
	kind, subject := "command", client.CommandPrefix+name
	if isQuery(name) {
		kind, subject = "query", client.QueryPrefix+name
	}
	fmt.Fprintf(stdout, "%s (%s on %s): %s\n  fields: %s\n", o.Name, kind, subject, o.Help, o.Fields)
	return exitOK
}
