package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"roster/client"
	"roster/commands"
	"roster/eventstore"
	"roster/internal/daemon"
)

// adminCall sends an operator request and decodes its result; a refusal prints as error <code>.
func adminCall(ctx context.Context, g *globals, e env, subject string, req any, wait time.Duration, out any) error {
	nc, err := g.connect(ctx, e)
	if err != nil {
		return err
	}
	defer nc.Close()
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	raw, err := client.New(nc).Request(rctx, subject, body)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	return decodeAdminReply(subject, raw, e, out)
}

// decodeAdminReply decodes an admin reply's result into out; a refusal is printed and exits
// with exitRefused.
func decodeAdminReply(subject string, raw []byte, e env, out any) error {
	var rep struct {
		OK     bool              `json:"ok"`
		Error  *client.ErrorBody `json:"error"`
		Result json.RawMessage   `json:"result"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("%s: decode reply: %w", subject, err)
	}
	if !rep.OK {
		if rep.Error == nil {
			rep.Error = &client.ErrorBody{Code: client.CodeUnavailable, Message: "refused without an error body"}
		}
		fmt.Fprintf(e.stderr, "error %s: %s\n", escape(rep.Error.Code), escape(rep.Error.Message))
		return exitWith(exitRefused)
	}
	if err := json.Unmarshal(rep.Result, out); err != nil {
		return fmt.Errorf("%s: decode result: %w", subject, err)
	}
	return nil
}

// verifyCommand: roster verify [--from N] checks the running rosterd's log and stream;
// --file checks an exported Audit (JSON lines) or a backup offline; --data-dir checks a
// stopped rosterd's log on disk.
func verifyCommand(g *globals, e env) *cobra.Command {
	var from uint64
	var file, dataDir string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "verify [--from N] | --file AUDIT.jsonl | --data-dir DIR",
		Short: "check the hash chain of the log and of the stream; name the first bad position",
		Long: `verify: check the hash chain (docs/INTEGRITY.md).

Without --file or --data-dir it asks the running rosterd (roster.admin.Verify, operators only) to
check its log and its stream ROSTER_EVENTS from --from, and its log's keys as its background
checksum pass does (from 1; damage found there also refuses further commands). --file checks a
file of envelopes (one JSON object per line: roster audit --json, or a roster backup) offline. --data-dir checks the log
of a stopped rosterd on disk, its keys too. Exit status 4 when a check fails.`,
		GroupID: "tool",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var reports []namedReport
			switch {
			case file != "":
				rep, err := verifyFile(file)
				if err != nil {
					return err
				}
				reports = append(reports, namedReport{"file " + file, rep})
			case dataDir != "":
				rep, keys, err := verifyDataDir(cmd.Context(), dataDir, from, e.stderr)
				if err != nil {
					return err
				}
				reports = append(reports, namedReport{"log " + filepath.Join(dataDir, "log"), rep},
					namedReport{"log keys " + filepath.Join(dataDir, "log"), keys})
			default:
				var res client.VerifyResult
				if err := adminCall(cmd.Context(), g, e, client.AdminVerify, client.Verify{From: from}, wait, &res); err != nil {
					return err
				}
				reports = append(reports, namedReport{"log", res.Log}, namedReport{"stream", res.Stream})
				if res.Keys != nil {
					reports = append(reports, namedReport{"log keys", *res.Keys})
				}
			}
			return printReports(e.stdout, g.json, reports)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&from, "from", 0, "first position to check (1 when unset)")
	f.StringVar(&file, "file", "", "check this file of envelopes offline (audit --json output or a backup)")
	f.StringVar(&dataDir, "data-dir", "", "check the log of a stopped rosterd in this data dir")
	f.DurationVar(&wait, "wait", 30*time.Minute, "how long to wait for the check")
	return cmd
}

type namedReport struct {
	Name   string             `json:"name"`
	Report client.ChainReport `json:"report"`
}

// exitChainBroken is the exit status of roster verify when a chain fails.
const exitChainBroken = 4

func printReports(w io.Writer, asJSON bool, reps []namedReport) error {
	broken := false
	for _, r := range reps {
		broken = broken || !r.Report.OK
		if asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintln(w, string(b))
			continue
		}
		if r.Report.OK {
			hash := "" // the key checks report no hash
			if r.Report.LastHash != "" {
				hash = " (last hash " + escape(r.Report.LastHash) + ")"
			}
			fmt.Fprintf(w, "%s: ok, %d records checked from %d to %d%s\n", escape(r.Name), r.Report.Checked, r.Report.From, r.Report.Last, hash)
		} else {
			fmt.Fprintf(w, "%s: BROKEN at position %d: %s (%d records good before it)\n", escape(r.Name), r.Report.BadPosition, escape(r.Report.Reason), r.Report.Checked)
		}
	}
	if broken {
		return exitWith(exitChainBroken)
	}
	return nil
}

func toChainReport(r eventstore.Report) client.ChainReport {
	return client.ChainReport{BadPosition: r.BadPosition, Checked: r.Checked, From: r.From, Last: r.Last, LastHash: r.LastHash, OK: r.OK(), Reason: r.Reason}
}

// verifyFile checks a file of envelopes, one per line; a backup's header line is checked too.
func verifyFile(path string) (client.ChainReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return client.ChainReport{}, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), eventstore.MaxBackupLine)
	var recs []eventstore.Record
	var header struct {
		Format   string `json:"format"`
		UpTo     uint64 `json:"up_to"`
		HeadHash string `json:"head_hash"`
	}
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if line == 1 && json.Unmarshal(sc.Bytes(), &header) == nil && header.Format != "" {
			continue
		}
		var r eventstore.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return client.ChainReport{}, fmt.Errorf("verify: %s line %d: %w", path, line, err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		return client.ChainReport{}, fmt.Errorf("verify: %s: %w", path, err)
	}
	rep, _ := eventstore.VerifyRecords(recs)
	out := toChainReport(rep)
	if out.OK && header.Format != "" && (rep.Last != header.UpTo || rep.LastHash != header.HeadHash) {
		out.OK, out.BadPosition = false, rep.Last+1
		out.Reason = fmt.Sprintf("the header says up to %d (hash %.12s); the file holds up to %d (hash %.12s): truncated or altered",
			header.UpTo, header.HeadHash, rep.Last, rep.LastHash)
	}
	return out, nil
}

// verifyDataDir checks the log of a stopped rosterd: its hash chain (against the verified
// marker), then what rosterd's background checksum pass checks (keys: every block and value
// readable, every record at its position and in the stream index, every command with its
// stored reply).
//
// The log is opened as rosterd opens it, with the open's repairs (a migration, a format key
// written again, an append cut short removed): their warnings go to stderr.
func verifyDataDir(ctx context.Context, dir string, from uint64, stderr io.Writer) (chain, keys client.ChainReport, err error) {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := eventstore.OpenBadger(filepath.Join(dir, "log"), eventstore.BadgerOptions{Logger: logger, StagedReply: commands.AppendReplyOf, ReplySpan: commands.ReplySpan})
	if err != nil {
		if strings.Contains(err.Error(), "directory lock") {
			return chain, keys, fmt.Errorf("verify: open the log (is rosterd running on it? stop it first): %w", err)
		}
		return chain, keys, fmt.Errorf("verify: open the log: %w", err)
	}
	defer s.Close()
	rep, err := s.Verify(ctx, from)
	if err != nil && rep.OK() {
		return chain, keys, fmt.Errorf("verify: %w", err)
	}
	if rep.OK() {
		if rep, err = checkMarker(ctx, s, rep); err != nil {
			return chain, keys, fmt.Errorf("verify: %w", err)
		}
	}
	if keys, err = s.VerifyKeys(ctx); err != nil {
		keys = client.ChainReport{From: 1, Reason: err.Error()}
	}
	return toChainReport(rep), keys, nil
}

// checkMarker holds a chain that verified against the log's verified marker, as rosterd's
// start does (eventstore.CheckMarker): a log whose head is behind the position verified before
// lost its last records, and one whose record there has another hash was altered, however
// whole its chain is now.
func checkMarker(ctx context.Context, s *eventstore.BadgerStore, rep eventstore.Report) (eventstore.Report, error) {
	m, err := s.CheckMarker(ctx)
	if err != nil {
		return rep, fmt.Errorf("hold the log against its verified marker: %w", err)
	}
	if !m.OK() {
		rep.BadPosition, rep.Reason = m.BadPosition, m.Reason
	}
	return rep, nil
}

// exporter reads export pages for roster backup on one connection. A page refused unavailable
// (the server's export pages in flight at their limit, MaxConcurrentExports) is asked again after
// a growing wait, as roster import does (retry.go); each page is decoded fresh: decoding into
// the last one kept, in each reused record, the fields this one omits (command_id,
// correlation_id, principal), and the chain check took the record for altered.
type exporter struct {
	c       *client.Client
	g       *globals
	e       env
	retries int
}

func (x exporter) page(ctx context.Context, req client.Export) (client.ExportPage, error) {
	var page client.ExportPage
	body, err := json.Marshal(req)
	if err != nil {
		return page, err
	}
	retry := retryPolicy{retries: x.retries, notify: func(n int, refusal *client.ErrorBody, wait time.Duration) {
		fmt.Fprintf(x.e.stderr, "roster: backup: %s: %s; retry %d of %d in %s\n", escape(refusal.Code), escape(refusal.Message),
			n, x.retries, wait.Round(time.Millisecond))
	}}
	raw, _, err := requestRetrying(ctx, x.c, client.AdminExport, body, x.g.timeout, retry)
	if err != nil {
		return page, fmt.Errorf("%s: %w", client.AdminExport, err)
	}
	err = decodeAdminReply(client.AdminExport, raw, x.e, &page)
	return page, err
}

// openCommands tracks, per stream, the command of the last record a backup took and the
// position of that command's first record: a backup that ends inside a command (--up-to in
// the middle of its events) would restore it in part, and a repeat of it would then be
// answered as applied.
type openCommands map[string]openCommand

// openCommand is a stream's last command in a backup: its id and its first record's position.
type openCommand struct {
	id    string
	first uint64
}

func (o openCommands) add(ev client.Event) {
	if cur, ok := o[ev.Stream]; ok && cur.id == ev.CommandID && ev.CommandID != "" {
		return
	}
	o[ev.Stream] = openCommand{ev.CommandID, ev.Position}
}

// checkWhole refuses a backup up to upTo that ends inside a command: it reads the log after
// upTo until the next record of each stream whose last record carried a command (a command's
// records are that stream's next versions, perhaps with other streams' records between them).
func (o openCommands) checkWhole(ctx context.Context, exp exporter, upTo, head uint64) error {
	open := map[string]bool{}
	for stream, c := range o {
		if c.id != "" {
			open[stream] = true
		}
	}
	after := upTo
	for len(open) > 0 && after < head {
		page, err := exp.page(ctx, client.Export{AfterPosition: after})
		if err != nil {
			return err
		}
		if len(page.Records) == 0 {
			return nil
		}
		for _, ev := range page.Records {
			if !open[ev.Stream] {
				continue
			}
			c := o[ev.Stream]
			if ev.CommandID == c.id {
				return fmt.Errorf("backup: position %d is inside command %s of stream %s, whose events run from %d past it: a restore would hold the command in part. Back up to %d (--up-to), before it, or to a position after its last event",
					upTo, escape(c.id), escape(ev.Stream), c.first, c.first-1)
			}
			delete(open, ev.Stream)
		}
		after = page.Records[len(page.Records)-1].Position
		head = max(head, page.Head)
	}
	return nil
}

// backupCommand: roster backup --out FILE [--up-to N] copies the running rosterd's log.
func backupCommand(g *globals, e env) *cobra.Command {
	var out string
	var upTo uint64
	var retries int
	cmd := &cobra.Command{
		Use:   "backup --out FILE [--up-to N]",
		Short: "copy the running rosterd's log up to a position into a backup file (roster restore reads it)",
		Long: `backup: copy positions 1..N of the running rosterd's log (N: --up-to, else the head when the
backup starts) into FILE, in the log's backup format (docs/INTEGRITY.md), while commands go on.
It pages through roster.admin.Export (operators only) and checks the hash chain as it writes;
FILE is written beside as FILE.partial and renamed when complete.`,
		GroupID: "tool",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("backup: required flag(s) --out not set")
			}
			if retries < 0 || retries > maxRetries {
				return fmt.Errorf("backup: --retries %d is out of bounds: 0 to %d", retries, maxRetries)
			}
			n, hash, err := runBackup(cmd.Context(), g, e, out, upTo, retries)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "backed up positions 1..%d to %s (head hash %s)\n", n, escape(out), escape(hash))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "backup file to write (required)")
	cmd.Flags().Uint64Var(&upTo, "up-to", 0, "last position to copy (the head when unset)")
	cmd.Flags().IntVar(&retries, "retries", defaultBackupRetries, fmt.Sprintf(
		"times a page refused unavailable (the server's export pages at their limit) is asked again, after waits growing from %s to at most %s (0 to %d)",
		retryFirst, retryMaxWait, maxRetries))
	return cmd
}

// defaultBackupRetries is roster backup's --retries: a backup reads many pages, and one refused
// too often loses the whole run.
const defaultBackupRetries = 10

func runBackup(ctx context.Context, g *globals, e env, out string, upTo uint64, retries int) (uint64, string, error) {
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp)
	defer f.Close()
	nc, err := g.connect(ctx, e)
	if err != nil {
		return 0, "", err
	}
	defer nc.Close()
	exp := exporter{c: client.New(nc).WithTimeout(g.timeout), g: g, e: e, retries: retries}
	page, err := exp.page(ctx, client.Export{UpTo: upTo, Limit: 1})
	if err != nil {
		return 0, "", err
	}
	upTo = page.UpTo
	bw, err := eventstore.NewBackupWriter(f, upTo, page.UpToHash)
	if err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	after := uint64(0)
	cmds := openCommands{}
	for after < upTo {
		if page, err = exp.page(ctx, client.Export{AfterPosition: after, UpTo: upTo}); err != nil {
			return 0, "", err
		}
		if len(page.Records) == 0 {
			return 0, "", fmt.Errorf("backup: the server returned no records after %d (up to %d)", after, upTo)
		}
		for _, ev := range page.Records {
			if err := bw.Add(eventstore.Record(ev)); err != nil {
				return 0, "", fmt.Errorf("backup: %w", err)
			}
			after = ev.Position
			cmds.add(ev)
		}
	}
	if err := cmds.checkWhole(ctx, exp, upTo, page.Head); err != nil {
		return 0, "", err
	}
	if err := bw.Close(); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, "", fmt.Errorf("backup: %w", err)
	}
	return upTo, page.UpToHash, nil
}

// restoreCommand: roster restore FILE --data-dir DIR fills an empty data dir's log, offline.
func restoreCommand(_ *globals, e env) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "restore FILE --data-dir DIR",
		Short: "fill an empty data dir's log from a backup file (offline); rosterd then rebuilds the views",
		Long: `restore: write the records of a roster backup into DIR/log, which must be empty or absent,
checking positions, stream versions and the hash chain (eventstore.Restore). Offline: no rosterd
runs on DIR. Start rosterd on DIR afterwards: it rebuilds its views from the restored log and the
relay fills the stream (use a fresh NATS store, or delete ROSTER_EVENTS, if it holds another history).`,
		GroupID: "tool",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataDir == "" {
				return errors.New("restore: required flag(s) --data-dir not set")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			defer f.Close()
			head, err := eventstore.Restore(cmd.Context(), f, filepath.Join(dataDir, "log"), eventstore.BadgerOptions{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "restored positions 1..%d into %s\n", head, escape(filepath.Join(dataDir, "log")))
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "data dir to fill (required; its log must be empty)")
	return cmd
}

// recoverCommand: roster recover --data-dir DIR rebuilds a lost or damaged log from the stream.
func recoverCommand(g *globals, e env) *cobra.Command {
	var dataDir, natsURL string
	var explain bool
	cmd := &cobra.Command{
		Use:     "recover --data-dir DIR [--nats-url URL] [--explain]",
		Short:   "rebuild a lost or damaged log from the stream ROSTER_EVENTS (offline)",
		Long:    recoverHelp,
		GroupID: "tool",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if explain {
				fmt.Fprint(e.stdout, recoverHelp)
				return nil
			}
			if dataDir == "" {
				return errors.New("recover: required flag(s) --data-dir not set")
			}
			fmt.Fprintf(e.stdout, "recovering %s from the stream %s (rosterd must not run on it)…\n", escape(filepath.Join(dataDir, "log")), client.EventStream)
			rep, err := daemon.RecoverLog(cmd.Context(), daemon.Config{DataDir: dataDir, NATSURL: natsURL, Role: daemon.RoleAll,
				Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "recovered positions 1..%d (head hash %s); start rosterd on %s: it checks the log and rebuilds what it must\n",
				rep.Last, escape(rep.LastHash), escape(dataDir))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "rosterd's data dir (required)")
	f.StringVar(&natsURL, "nats-url", "", "external NATS holding ROSTER_EVENTS (default: the embedded server's store in DIR/nats)")
	f.BoolVar(&explain, "explain", false, "print when and how to recover, and do nothing")
	return cmd
}

const recoverHelp = `recover: rebuild rosterd's log (DIR/log) from its copy, the JetStream stream ROSTER_EVENTS.

When: rosterd refused to start saying the log was lost, cannot be opened, failed its checksums or
its hash chain, or lost events the stream holds. Not when the stream holds forged or foreign
messages (rosterd says so): then the log is the truth; remove those messages or delete the stream.

How (offline): stop rosterd, then run
  roster recover --data-dir DIR                 (embedded NATS: reads DIR/nats)
  roster recover --data-dir DIR --nats-url URL  (external NATS)
or start rosterd with --recover-from-stream, which does the same before serving. The stream is
copied into DIR/log.recovering, checking sequence = position, event ids, stream versions and the
hash chain, and refusing a stream with a gap; only then is the old log moved to
DIR/log.damaged-<time> and the copy put in its place. If anything fails nothing is moved.
Start rosterd afterwards: its start-up checks run again and damaged views are rebuilt.
`
