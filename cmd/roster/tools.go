package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"roster/client"
)

// auditPageSize is how many events roster audit asks for per request: the server's maximum
// page (a larger limit is refused).
const auditPageSize = 1000

// auditCommand: roster audit --org-id X [--project-id P] [--actor A] [--user-id U] [--type T,…]
// [--since T] [--until T] [--after N] [--follow] [--json].
func auditCommand(g *globals, e env) *cobra.Command {
	var req client.Audit
	var since, until string
	var follow bool
	cmd := &cobra.Command{
		Use:     "audit --org-id X",
		Short:   "stream the audit trail in log order, with filters; --follow keeps going",
		Long:    "audit: stream an organization's audit trail in log order, with filters; --json prints one\nenvelope per line; --follow keeps printing new events until interrupted.\n\nRequired flags: --org-id\n",
		GroupID: "tool",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.OrgID == "" {
				return errors.New("audit: required flag(s) --org-id not set")
			}
			var err error
			if req.Since, err = resolveTime(since, e.now()); err != nil {
				return fmt.Errorf("audit: --since: %w", err)
			}
			if req.Until, err = resolveTime(until, e.now()); err != nil {
				return fmt.Errorf("audit: --until: %w", err)
			}
			return runAudit(cmd.Context(), g, e, req, follow)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.OrgID, "org-id", "", "organization (required)")
	f.StringVar(&req.ProjectID, "project-id", "", "only events about this project")
	f.StringVar(&req.Actor, "actor", "", "only events by this actor")
	f.StringVar(&req.UserID, "user-id", "", "only events affecting this user")
	f.StringSliceVar(&req.Types, "type", nil, "only these event types (comma-separated)")
	f.StringVar(&since, "since", "", "from this time: RFC 3339 or a time ago (30m, 2h, 7d)")
	f.StringVar(&until, "until", "", "up to this time: RFC 3339 or a time ago (30m, 2h, 7d)")
	f.Uint64Var(&req.AfterPosition, "after", 0, "only events after this log position")
	f.BoolVar(&follow, "follow", false, "keep printing new events as they are appended")
	return cmd
}

func runAudit(ctx context.Context, g *globals, e env, req client.Audit, follow bool) error {
	nc, err := g.connect(ctx, e, nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	// A follow request waits up to client.MaxFollowWait on the server: give it room.
	c := client.New(nc).WithTimeout(max(g.timeout, client.MaxFollowWait+5*time.Second))
	req.Limit = auditPageSize
	if follow {
		for ev, err := range c.FollowAudit(ctx, req) {
			if err != nil {
				return reportErr(err, e.stderr)
			}
			printEvent(e.stdout, ev, g.json)
		}
		return nil
	}
	for {
		page, _, err := c.Audit(ctx, req)
		if err != nil {
			return reportErr(err, e.stderr)
		}
		for _, ev := range page.Events {
			printEvent(e.stdout, ev, g.json)
		}
		if page.NextAfterPosition == 0 {
			return nil
		}
		req.AfterPosition = page.NextAfterPosition
	}
}

// reportErr prints a refusal as "error <code>: <message>" (exit 2), anything else as a failure.
func reportErr(err error, stderr io.Writer) error {
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Fprintf(stderr, "error %s: %s\n", escape(e.Code), escape(e.Message))
		return exitWith(exitRefused)
	}
	return err
}

// printEvent writes one event: its envelope as a JSON line, or a readable line.
func printEvent(w io.Writer, ev client.Event, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(ev)
		fmt.Fprintln(w, string(b))
		return
	}
	data := dataFields(ev.Data)
	if data != "" {
		data = " " + data
	}
	fmt.Fprintf(w, "#%-6d %s  %-22s by %-10s%s\n", ev.Position, fmtTime(ev.Time), escape(ev.Type), escape(ev.Actor), escape(data))
}

// rebuildCommand: roster rebuild [VIEW…] rebuilds the views in the running rosterd, showing
// progress (events done, rate, time left) on a terminal.
func rebuildCommand(g *globals, e env) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:     "rebuild [VIEW…]",
		Short:   "rebuild views from the log and swap them in (all views, or the ones named)",
		GroupID: "tool",
		RunE: func(cmd *cobra.Command, views []string) error {
			return runRebuild(cmd.Context(), g, e, views, wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Minute, "how long to wait for the rebuild")
	return cmd
}

func runRebuild(ctx context.Context, g *globals, e env, views []string, wait time.Duration) error {
	nc, err := g.connect(ctx, e)
	if err != nil {
		return err
	}
	defer nc.Close()
	stdout := e.stdout
	inbox := nc.NewRespInbox()
	showBar := !g.json && isTerminal(stdout)
	bars := map[string]*progressbar.ProgressBar{}
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		var p client.RebuildProgress
		if json.Unmarshal(m.Data, &p) != nil || !showBar {
			return
		}
		bar, ok := bars[p.View]
		if !ok {
			bar = progressbar.NewOptions64(int64(p.Total), progressbar.OptionSetWriter(stdout), progressbar.OptionSetDescription(escape(p.View)),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
			bars[p.View] = bar
		}
		bar.ChangeMax64(int64(max(p.Total, p.Done)))
		_ = bar.Set64(int64(p.Done))
	})
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	defer sub.Unsubscribe()
	body, err := json.Marshal(client.Rebuild{Views: views, Progress: inbox})
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	raw, err := client.New(nc).Request(rctx, client.AdminRebuild, body)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	_ = sub.Unsubscribe()
	for _, bar := range bars {
		_ = bar.Finish()
	}
	if g.json {
		fmt.Fprintln(stdout, strings.TrimRight(string(raw), "\n"))
	}
	var rep struct {
		OK     bool                 `json:"ok"`
		Error  *client.ErrorBody    `json:"error"`
		Result client.RebuildResult `json:"result"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("rebuild: decode reply: %w", err)
	}
	if !rep.OK {
		if rep.Error == nil {
			rep.Error = &client.ErrorBody{Code: client.CodeUnavailable, Message: "refused without an error body"}
		}
		fmt.Fprintf(e.stderr, "error %s: %s\n", escape(rep.Error.Code), escape(rep.Error.Message))
		return exitWith(exitRefused)
	}
	if !g.json {
		for _, v := range rep.Result.Views {
			fmt.Fprintf(stdout, "rebuilt %-12s position %-8d %.2fs  %.0f events/s  digest %s\n", escape(v.Name), v.Position, v.Seconds, v.EventsPerSec, escape(v.Digest[:min(16, len(v.Digest))]))
		}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
