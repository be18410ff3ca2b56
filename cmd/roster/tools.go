package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"roster/client"
	"roster/eventstore"
	"roster/queries"
)

// tools are the operator commands beside the wire's commands and queries.
var toolNames = map[string]string{
	"audit":   "stream the audit trail in log order, with filters; --follow keeps going",
	"rebuild": "rebuild views from the log and swap them in (all views, or the ones named)",
}

func connect(server string, timeout time.Duration, stderr io.Writer) (*nats.Conn, bool) {
	nc, err := nats.Connect(server, nats.Name("roster-cli"), nats.Timeout(timeout), nats.MaxReconnects(-1))
	if err != nil {
		fmt.Fprintf(stderr, "roster: connect %s: %v\n", server, err)
		return nil, false
	}
	return nc, true
}

// runAudit: roster audit --org-id X [--project-id P] [--actor A] [--user-id U] [--type T,…]
// [--since T] [--until T] [--after N] [--follow] [--json].
func runAudit(args []string, opts options, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runAuditCtx(ctx, args, opts, stdout, stderr)
}

func runAuditCtx(ctx context.Context, args []string, opts options, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roster audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var org, project, actor, user, typ, since, until string
	var after uint64
	var follow bool
	fs.StringVar(&opts.server, "server", opts.server, "NATS URL of Roster")
	fs.BoolVar(&opts.json, "json", opts.json, "print one JSON envelope per line")
	fs.DurationVar(&opts.timeout, "timeout", opts.timeout, "request timeout")
	fs.StringVar(&org, "org-id", "", "organization (required)")
	fs.StringVar(&project, "project-id", "", "only events about this project")
	fs.StringVar(&actor, "actor", "", "only events by this actor")
	fs.StringVar(&user, "user-id", "", "only events affecting this user")
	fs.StringVar(&typ, "type", "", "only these event types (comma-separated)")
	fs.StringVar(&since, "since", "", "from this time (RFC 3339)")
	fs.StringVar(&until, "until", "", "up to this time (RFC 3339)")
	fs.Uint64Var(&after, "after", 0, "only events after this log position")
	fs.BoolVar(&follow, "follow", false, "keep printing new events as they are appended")
	if err := fs.Parse(args); err != nil {
		return exitFailure
	}
	if org == "" {
		fmt.Fprintln(stderr, "roster audit: --org-id is required")
		return exitFailure
	}
	var types []string
	if typ != "" {
		types = strings.Split(typ, ",")
	}
	filter := queries.AuditFilter{ProjectID: project, Actor: actor, UserID: user, Types: types}
	var err error
	if filter.Since, err = parseFlagTime(since); err != nil {
		fmt.Fprintln(stderr, "roster audit: --since:", err)
		return exitFailure
	}
	if filter.Until, err = parseFlagTime(until); err != nil {
		fmt.Fprintln(stderr, "roster audit: --until:", err)
		return exitFailure
	}
	nc, ok := connect(opts.server, opts.timeout, stderr)
	if !ok {
		return exitFailure
	}
	defer nc.Close()
	c := client.New(nc).WithTimeout(opts.timeout)
	req := map[string]any{"org_id": org, "limit": queries.MaxLimit}
	for k, v := range map[string]string{"project_id": project, "actor": actor, "user_id": user, "since": since, "until": until} {
		if v != "" {
			req[k] = v
		}
	}
	if len(types) > 0 {
		req["types"] = types
	}
	last := after
	for {
		req["after_position"] = last
		var page struct {
			Events []eventstore.Record `json:"events"`
			Next   uint64              `json:"next_after_position"`
		}
		if _, err := c.Query(ctx, queries.QAudit, req, &page); err != nil {
			return reportErr(err, stderr)
		}
		for _, e := range page.Events {
			printEvent(stdout, e, opts.json)
			last = e.Position
		}
		if page.Next == 0 {
			if !follow {
				return exitOK
			}
			break
		}
	}
	// Follow: read the stream from the next position on, filtered on the organization's subjects.
	if err := followStream(ctx, nc, org, last, filter, opts.json, stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "roster audit:", err)
		return exitFailure
	}
	return exitOK
}

func reportErr(err error, stderr io.Writer) int {
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Fprintf(stderr, "error %s: %s\n", e.Code, e.Message)
		return exitRefused
	}
	fmt.Fprintln(stderr, "roster:", err)
	return exitFailure
}

func parseFlagTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func followStream(ctx context.Context, nc *nats.Conn, org string, after uint64, f queries.AuditFilter, asJSON bool, out io.Writer) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	s, err := js.Stream(ctx, client.EventStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", client.EventStream, err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{client.EventPrefix + org + ".>"},
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1})
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	defer it.Stop()
	stopIt := context.AfterFunc(ctx, it.Stop)
	defer stopIt()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("follow: %w", err)
		}
		var r eventstore.Record
		if err := json.Unmarshal(msg.Data(), &r); err != nil {
			continue
		}
		if r.Position > after && f.Match(r) {
			printEvent(out, r, asJSON)
		}
	}
}

// printEvent writes one event: its envelope as a JSON line, or a readable line.
func printEvent(w io.Writer, r eventstore.Record, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(w, string(b))
		return
	}
	var data map[string]any
	_ = json.Unmarshal(r.Data, &data)
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, _ := json.Marshal(data[k])
		fmt.Fprintf(&b, " %s=%s", k, strings.Trim(string(v), `"`))
	}
	fmt.Fprintf(w, "#%-6d %s  %-22s by %-10s%s\n", r.Position, r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Type, r.Actor, b.String())
}

// runRebuild: roster rebuild [VIEW…] rebuilds the views in the running rosterd, showing
// progress (events done, rate, time left) on a terminal.
func runRebuild(args []string, opts options, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roster rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.server, "server", opts.server, "NATS URL of Roster")
	fs.BoolVar(&opts.json, "json", opts.json, "print the raw reply JSON")
	wait := fs.Duration("wait", 30*time.Minute, "how long to wait for the rebuild")
	if err := fs.Parse(args); err != nil {
		return exitFailure
	}
	nc, ok := connect(opts.server, opts.timeout, stderr)
	if !ok {
		return exitFailure
	}
	defer nc.Close()
	inbox := nc.NewRespInbox()
	showBar := !opts.json && isTerminal(stdout)
	bars := map[string]*progressbar.ProgressBar{}
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		var p queries.RebuildProgress
		if json.Unmarshal(m.Data, &p) != nil || !showBar {
			return
		}
		bar, ok := bars[p.View]
		if !ok {
			bar = progressbar.NewOptions64(int64(p.Total), progressbar.OptionSetWriter(stdout), progressbar.OptionSetDescription(p.View),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			bars[p.View] = bar
		}
		bar.ChangeMax64(int64(max(p.Total, p.Done)))
		_ = bar.Set64(int64(p.Done))
	})
	if err != nil {
		fmt.Fprintln(stderr, "roster rebuild:", err)
		return exitFailure
	}
	defer sub.Unsubscribe()
	body, _ := json.Marshal(queries.RebuildRequest{Views: fs.Args(), Progress: inbox})
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	raw, err := client.New(nc).Request(ctx, queries.AdminRebuild, body)
	if err != nil {
		fmt.Fprintln(stderr, "roster rebuild:", err)
		return exitFailure
	}
	_ = sub.Unsubscribe()
	for _, bar := range bars {
		_ = bar.Finish()
	}
	if opts.json {
		fmt.Fprintln(stdout, string(raw))
	}
	var rep struct {
		OK     bool              `json:"ok"`
		Error  *client.ErrorBody `json:"error"`
		Result struct {
			Views []queries.RebuiltView `json:"views"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		fmt.Fprintln(stderr, "roster rebuild: decode reply:", err)
		return exitFailure
	}
	if !rep.OK {
		fmt.Fprintf(stderr, "error %s: %s\n", rep.Error.Code, rep.Error.Message)
		return exitRefused
	}
	if !opts.json {
		for _, v := range rep.Result.Views {
			fmt.Fprintf(stdout, "rebuilt %-12s position %-8d %.2fs  %.0f events/s  digest %s\n", v.Name, v.Position, v.Seconds, v.EventsPerSec, v.Digest[:16])
		}
	}
	return exitOK
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
