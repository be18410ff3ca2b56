package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"roster/client"
	"roster/commands"
	"roster/domain"
)

// Limits of one ImportMembers command, as the server enforces them (README "Limits"). The
// CLI splits a larger CSV into chunks that each fit all of them.
const (
	// maxChunkRows is the most data rows one command may carry (the server's limit, and
	// the default and maximum of --chunk-rows).
	maxChunkRows = commands.MaxImportRows
	// maxChunkCSV is the most bytes of CSV (header included) one command may carry.
	maxChunkCSV = commands.MaxCSVBytes
	// maxChunkBody is the most bytes of one command's request body, the CSV JSON-escaped
	// inside it; the connection's max payload, less headerRoom, lowers it further.
	maxChunkBody = commands.DefaultMaxPayload
	// headerRoom is left of the connection's max payload for the NATS headers.
	headerRoom = 1 << 10
)

// importOpts are the flags ImportMembers takes besides its request fields.
type importOpts struct {
	chunkRows int
	retries   int
	quiet     bool
}

// addImportFlags declares ImportMembers' own flags and its aliases.
func addImportFlags(cmd *cobra.Command, opts *importOpts) {
	cmd.Aliases = []string{"import", "import-members"}
	cmd.Flags().IntVar(&opts.chunkRows, "chunk-rows", maxChunkRows,
		fmt.Sprintf("most data rows per command (1 to %d, the server's limit); a larger CSV is sent as several commands", maxChunkRows))
	cmd.Flags().IntVar(&opts.retries, "retries", defaultRetries,
		fmt.Sprintf("times a command refused unavailable (a busy server) is sent again with its command id, after waits growing from %s to at most %s (0 to %d)",
			retryFirst, retryMaxWait, maxRetries))
	cmd.Flags().BoolVar(&opts.quiet, "quiet", false, "no progress bar, chunking notice or retry notice on stderr")
	cmd.Long += fmt.Sprintf("\nA CSV of more than --chunk-rows data rows (default and at most %d), or more than %d bytes,\n"+
		"or whose request would exceed %d bytes (less on a connection with a smaller max payload), is\n"+
		"sent as several ImportMembers commands of whole rows, each repeating the header line. They\n"+
		"carry the command ids <base>-1, <base>-2, … where <base> is --command-id (generated and\n"+
		"printed first when not given): rerunning with the same CSV, --chunk-rows and --command-id\n"+
		"after a failure applies every chunk once. A progress bar (rows sent / total) shows on a\n"+
		"terminal, unless --quiet or --json. Row numbers in the result count the whole CSV.\n"+
		"\nA command refused unavailable (the server is busy: a queue or the big appends in flight are\n"+
		"at their limit, or it is stopping) is sent again with the same command id, which applies it\n"+
		"at most once, up to --retries times (default %d), after waits of %s, then about twice as\n"+
		"long each time, at most %s.\n",
		maxChunkRows, maxChunkCSV, maxChunkBody, defaultRetries, retryFirst, retryMaxWait)
}

// ImportLimitError reports a CSV or an option that no chunking can bring within a limit of
// one ImportMembers command; Limit names it.
type ImportLimitError struct {
	Limit string // "csv bytes", "request body bytes", "command_id length", "--chunk-rows"
	Row   int    // the data row (1-based) that does not fit, 0 when not about a row
	Size  int    // the size found
	Max   int    // the limit
}

func (e *ImportLimitError) Error() string {
	switch {
	case e.Limit == "--chunk-rows":
		return fmt.Sprintf("--chunk-rows %d is out of range; the limit is 1 to %d rows per command", e.Size, e.Max)
	case e.Limit == "command_id length":
		return fmt.Sprintf("the chunk command ids would be %d bytes; the limit of command_id is %d bytes: give a shorter --command-id", e.Size, e.Max)
	case e.Row > 0:
		return fmt.Sprintf("csv row %d with the header needs %d %s; the limit is %d per command, and one row cannot be split", e.Row, e.Size, e.Limit, e.Max)
	}
	return fmt.Sprintf("%d %s; the limit is %d", e.Size, e.Limit, e.Max)
}

// importChunk is a run of whole data rows of a CSV with its header line.
type importChunk struct {
	csv   string
	first int // data rows before it in the whole CSV
	rows  int
}

// chunkLimits bound every chunk.
type chunkLimits struct {
	rows     int // data rows
	csvBytes int // CSV bytes, header included
	body     int // request body bytes, envelope included
	envelope int // bytes of the request body without its CSV
}

// splitCSV cuts data into chunks of whole rows, each starting with the header line and fitting
// every limit. Row boundaries are found with encoding/csv as the server reads the CSV, so a
// quoted field holding a line break stays whole; each chunk is the rows' bytes as given (data
// is normalized first: domain.NormalizeImportCSV). It
// returns the number of data rows, and an error if the CSV does not parse or a single row
// cannot fit a chunk (*ImportLimitError).
func splitCSV(data string, lim chunkLimits) ([]importChunk, int, error) {
	r := csv.NewReader(strings.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, errors.New("csv: header email,user_id,name,roles,grants is missing")
		}
		return nil, 0, fmt.Errorf("csv header: %w", err)
	}
	header := data[:r.InputOffset()]
	hdrEsc := escapedLen(header)
	var chunks []importChunk
	var cur strings.Builder
	curRows, curBytes, curEsc, total := 0, 0, 0, 0
	flush := func() {
		if curRows > 0 {
			chunks = append(chunks, importChunk{csv: header + cur.String(), first: total - curRows, rows: curRows})
		}
		cur.Reset()
		curRows, curBytes, curEsc = 0, 0, 0
	}
	start := r.InputOffset()
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("csv: %w", err)
		}
		end := r.InputOffset()
		row := data[start:end]
		start = end
		rowBytes, rowEsc := len(row), escapedLen(row)
		if n := len(header) + rowBytes; n > lim.csvBytes {
			return nil, 0, &ImportLimitError{Limit: "csv bytes", Row: total + 1, Size: n, Max: lim.csvBytes}
		}
		if n := lim.envelope + hdrEsc + rowEsc; n > lim.body {
			return nil, 0, &ImportLimitError{Limit: "request body bytes", Row: total + 1, Size: n, Max: lim.body}
		}
		if curRows+1 > lim.rows || len(header)+curBytes+rowBytes > lim.csvBytes || lim.envelope+hdrEsc+curEsc+rowEsc > lim.body {
			flush()
		}
		cur.WriteString(row)
		curRows++
		curBytes += rowBytes
		curEsc += rowEsc
		total++
	}
	flush()
	return chunks, total, nil
}

// escapedLen is the length of s inside a JSON string as encoding/json writes it.
func escapedLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b) - 2
}

// importRun is one run of a chunked import.
type importRun struct {
	o      op
	fields map[string]any // the request, csv and command_id replaced per chunk
	base   string         // the base command id
	chunks []importChunk
	total  int
}

// sendImport sends ImportMembers: as one command when the CSV fits one, else as chunks of
// whole rows with derived command ids, aggregating the replies.
func sendImport(ctx context.Context, o op, req *request, args []string, opts *importOpts, g *globals, e env, argv []string) error {
	if opts.chunkRows < 1 || opts.chunkRows > maxChunkRows {
		return fmt.Errorf("%s: %w", o.Name, &ImportLimitError{Limit: "--chunk-rows", Size: opts.chunkRows, Max: maxChunkRows})
	}
	if opts.retries < 0 || opts.retries > maxRetries {
		return fmt.Errorf("%s: %w", o.Name, &ImportLimitError{Limit: "--retries", Size: opts.retries, Max: maxRetries})
	}
	body, id, err := req.body(o, args)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	fields, err := decodeObject(body)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	// The CSV is read as the server reads it: a leading byte order mark dropped (else every
	// chunk would repeat it with the header) and bare-CR line ends made LF, so rows are found.
	data := stringField(fields, "csv")
	if norm := domain.NormalizeImportCSV(data); norm != data {
		data, fields["csv"] = norm, norm
		if body, err = json.Marshal(fields); err != nil {
			return fmt.Errorf("%s: encode request: %w", o.Name, err)
		}
	}
	run := &importRun{o: o, fields: fields, base: id}
	lim := chunkLimits{rows: opts.chunkRows, csvBytes: maxChunkCSV, body: maxChunkBody}
	if err := run.plan(data, lim); err != nil {
		return err
	}
	nc, err := g.connect(ctx, e, nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	if mp := int(nc.MaxPayload()) - headerRoom; mp < lim.body {
		lim.body = mp
		if err := run.plan(data, lim); err != nil {
			return err
		}
	}
	if len(run.chunks) <= 1 {
		// One command, sent as built: the CLI's behaviour for any other command, with retries.
		return sendBody(ctx, o, body, id, nc, g, e, argv, opts.retryPolicy(o.Name, "", e))
	}
	return run.send(ctx, nc, opts, g, e, argv)
}

// plan splits the CSV under lim. A CSV that fits one command (or does not parse but is small
// enough to be one: the server then names its fault) is left whole.
func (run *importRun) plan(data string, lim chunkLimits) error {
	probe := make(map[string]any, len(run.fields))
	for k, v := range run.fields {
		probe[k] = v
	}
	probe["csv"] = ""
	// The longest chunk id: there are fewer chunks than bytes of CSV.
	probe["command_id"] = run.base + "-" + strings.Repeat("9", len(strconv.Itoa(max(1, len(data)))))
	env, err := json.Marshal(probe)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", run.o.Name, err)
	}
	lim.envelope = len(env)
	fitsOne := len(data) <= lim.csvBytes && len(env)+escapedLen(data) <= lim.body
	chunks, total, err := splitCSV(data, lim)
	if err != nil {
		if fitsOne {
			run.chunks, run.total = nil, 0
			return nil
		}
		return fmt.Errorf("%s: %w", run.o.Name, err)
	}
	run.chunks, run.total = chunks, total
	if len(chunks) > 1 {
		if n := len(run.base) + 1 + len(strconv.Itoa(len(chunks))); n > commands.MaxIDLen {
			return fmt.Errorf("%s: %w", run.o.Name, &ImportLimitError{Limit: "command_id length", Size: n, Max: commands.MaxIDLen})
		}
	}
	return nil
}

// chunkID is the command id of chunk i (0-based): <base>-<i+1>.
func (run *importRun) chunkID(i int) string { return run.base + "-" + strconv.Itoa(i+1) }

// importReply is the aggregate of a chunked import's replies: the shape of one ImportMembers
// reply (events and rows of every chunk, rows numbered over the whole CSV; position of the
// last chunk applied) with the chunk counts and the base command id.
type importReply struct {
	OK            bool                      `json:"ok"`
	Position      uint64                    `json:"position"`
	Events        []client.EventRef         `json:"events,omitempty"`
	Result        json.RawMessage           `json:"result,omitempty"`
	DryRun        bool                      `json:"dry_run,omitempty"`
	Planned       []client.PlannedEvent     `json:"planned,omitempty"`
	Changes       []client.PermissionChange `json:"changes,omitempty"`
	Error         *client.ErrorBody         `json:"error,omitempty"`
	BaseCommandID string                    `json:"base_command_id"`
	Chunks        int                       `json:"chunks"`
	ChunksApplied int                       `json:"chunks_applied"`
	FailedChunk   int                       `json:"failed_chunk,omitempty"`
}

// send sends every chunk in order, stopping at the first that fails.
func (run *importRun) send(ctx context.Context, nc *nats.Conn, opts *importOpts, g *globals, e env, argv []string) error {
	name := run.o.Name
	if !opts.quiet {
		fmt.Fprintf(e.stderr, "roster: %s: %d rows in %d commands (at most %d rows each), command ids %s-1 … %s-%d\n",
			name, run.total, len(run.chunks), opts.chunkRows, escape(run.base), escape(run.base), len(run.chunks))
	}
	var bar *progressbar.ProgressBar
	if !opts.quiet && !g.json && isTerminal(e.stderr) {
		bar = progressbar.NewOptions(run.total, progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription("import"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	c := client.New(nc).WithTimeout(g.timeout)
	agg := importReply{OK: true, BaseCommandID: run.base, Chunks: len(run.chunks)}
	var rows []json.RawMessage
	var rest map[string]json.RawMessage
	fail := func(i int, code int, eb *client.ErrorBody, cause string, st chunkState) error {
		if bar != nil {
			_ = bar.Exit()
		}
		agg.OK, agg.Error, agg.FailedChunk = false, eb, i+1
		if st == chunkApplied {
			agg.ChunksApplied = i + 1
		}
		// Failed rows of the chunks applied are counted, but the failed chunk sets the status.
		if err := run.print(agg, rows, rest, g, e); err != nil {
			if ex := (*exitError)(nil); !errors.As(err, &ex) {
				return err
			}
		}
		fmt.Fprintf(e.stderr, "roster: %s: chunk %d of %d (%s, command id %s) %s; %s.\n"+
			"Rerun with the same CSV to finish (chunks already applied are answered from the server's memory, appended once):\n  %s\n",
			name, i+1, len(run.chunks), span("row", "rows", run.chunks[i].first+1, run.chunks[i].first+run.chunks[i].rows), escape(run.chunkID(i)), cause,
			chunksApplied(i, len(run.chunks), st), retryLine(argv, run.base))
		if slices.Contains(argv, "-") || slices.Contains(argv, "@-") {
			fmt.Fprintln(e.stderr, "(with the same CSV on standard input)")
		}
		return exitWith(code)
	}
	for i, ch := range run.chunks {
		run.fields["csv"] = ch.csv
		run.fields["command_id"] = run.chunkID(i)
		body, err := json.Marshal(run.fields)
		if err != nil {
			return fmt.Errorf("%s: encode chunk %d: %w", name, i+1, err)
		}
		what := fmt.Sprintf("chunk %d of %d (command id %s)", i+1, len(run.chunks), escape(run.chunkID(i)))
		retry := opts.retryPolicy(name, what, e)
		if notify := retry.notify; bar != nil && notify != nil {
			retry.notify = func(n int, refusal *client.ErrorBody, wait time.Duration) {
				_ = bar.Clear()
				notify(n, refusal, wait)
			}
		}
		raw, uncertain, err := requestRetrying(ctx, c, subjectOf(run.o), body, g.timeout, retry)
		if err != nil {
			cause := fmt.Sprintf("failed: %v", err)
			st := chunkNotApplied
			switch {
			case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
				cause = fmt.Sprintf("had no reply within %s; it may or may not have been applied", g.timeout)
				st = chunkMaybeApplied
			case uncertain:
				cause += fmt.Sprintf(" after a refusal whose %s; it may or may not have been applied", outcomeUnknown)
				st = chunkMaybeApplied
			}
			return fail(i, exitFailure, &client.ErrorBody{Code: client.CodeUnavailable, Message: cause}, cause, st)
		}
		var rep client.CommandReply
		if err := json.Unmarshal(raw, &rep); err != nil {
			return fail(i, exitFailure, nil, fmt.Sprintf("got a malformed reply, so it may or may not have been applied: %v", err), chunkMaybeApplied)
		}
		if !rep.OK {
			eb := rep.Error
			if eb == nil {
				eb = &client.ErrorBody{Code: client.CodeUnavailable, Message: "refused without an error body"}
			}
			fmt.Fprintf(e.stderr, "error %s: %s\n", escape(eb.Code), escape(eb.Message))
			cause, st := "was refused", chunkNotApplied
			if eb.Code == client.CodeUnavailable && opts.retries > 0 {
				cause = fmt.Sprintf("was refused %s %d times (--retries %d)", client.CodeUnavailable, opts.retries+1, opts.retries)
			}
			if uncertain {
				cause += fmt.Sprintf(", once with its %s, so it may or may not have been applied", outcomeUnknown)
				st = chunkMaybeApplied
			}
			return fail(i, exitRefused, eb, cause, st)
		}
		agg.Position = rep.Position
		agg.DryRun = agg.DryRun || rep.DryRun
		agg.Events = append(agg.Events, rep.Events...)
		agg.Planned = append(agg.Planned, rep.Planned...)
		agg.Changes = append(agg.Changes, rep.Changes...)
		got, others, err := renumberRows(rep.Result, ch.first)
		if err != nil {
			return fail(i, exitFailure, nil, fmt.Sprintf("was applied but got a malformed result: %v", err), chunkApplied)
		}
		rows = append(rows, got...)
		if others != nil {
			rest = others
		}
		agg.ChunksApplied = i + 1
		if bar != nil {
			_ = bar.Add(ch.rows)
		}
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return run.print(agg, rows, rest, g, e)
}

// chunkState is what is known of the chunk a chunked import stopped at.
type chunkState int

const (
	chunkNotApplied   chunkState = iota // refused, or never reached the server
	chunkMaybeApplied                   // no reply in time, or a reply that does not parse
	chunkApplied                        // applied, but its result could not be read
)

// chunksApplied says which of n chunks are applied when the run stopped at chunk i (0-based)
// in state st: "no chunk was applied", "chunk 1 is applied, chunks 2–3 are not", …
func chunksApplied(i, n int, st chunkState) string {
	applied := i // chunks before the failed one
	if st == chunkApplied {
		applied++
	}
	notFrom := applied + 1
	if st == chunkMaybeApplied {
		notFrom++ // the failed chunk is neither
	}
	var parts []string
	switch {
	case applied == 0 && st == chunkMaybeApplied:
		parts = append(parts, "no chunk before it was applied")
	case applied == 0:
		return "no chunk was applied"
	case applied == 1:
		parts = append(parts, "chunk 1 is applied")
	default:
		parts = append(parts, fmt.Sprintf("chunks 1–%d are applied", applied))
	}
	switch {
	case notFrom == n:
		parts = append(parts, fmt.Sprintf("chunk %d is not", n))
	case notFrom < n:
		parts = append(parts, fmt.Sprintf("chunks %d–%d are not", notFrom, n))
	}
	return strings.Join(parts, ", ")
}

// span names the numbers from a to b: "row 4" or "rows 4–6".
func span(one, many string, a, b int) string {
	if a == b {
		return fmt.Sprintf("%s %d", one, a)
	}
	return fmt.Sprintf("%s %d–%d", many, a, b)
}

// renumberRows takes a chunk's result rows, numbering them over the whole CSV (first rows
// precede the chunk), and its other result fields.
func renumberRows(result json.RawMessage, first int) ([]json.RawMessage, map[string]json.RawMessage, error) {
	if len(result) == 0 || string(result) == "null" {
		return nil, nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(result, &obj); err != nil {
		return nil, nil, err
	}
	var rows []map[string]json.RawMessage
	if raw, ok := obj["rows"]; ok {
		if err := json.Unmarshal(raw, &rows); err != nil {
			return nil, nil, err
		}
		delete(obj, "rows")
	}
	out := make([]json.RawMessage, 0, len(rows))
	for _, r := range rows {
		var n int
		if err := json.Unmarshal(r["row"], &n); err != nil {
			return nil, nil, fmt.Errorf("row number: %w", err)
		}
		r["row"] = json.RawMessage(strconv.Itoa(first + n))
		b, err := json.Marshal(r)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, b)
	}
	return out, obj, nil
}

// print writes the aggregate as one reply: raw JSON with --json, else the table of one
// ImportMembers reply and a line naming the chunks. Failed rows are counted on stderr.
func (run *importRun) print(agg importReply, rows []json.RawMessage, rest map[string]json.RawMessage, g *globals, e env) error {
	if agg.ChunksApplied > 0 {
		result := map[string]json.RawMessage{}
		for k, v := range rest {
			result[k] = v
		}
		if rows == nil {
			rows = []json.RawMessage{}
		}
		rb, err := json.Marshal(rows)
		if err != nil {
			return fmt.Errorf("%s: encode result: %w", run.o.Name, err)
		}
		result["rows"] = rb
		if agg.Result, err = json.Marshal(result); err != nil {
			return fmt.Errorf("%s: encode result: %w", run.o.Name, err)
		}
	}
	raw, err := json.Marshal(agg)
	if err != nil {
		return fmt.Errorf("%s: encode reply: %w", run.o.Name, err)
	}
	code := exitOK
	if failed, total := failedRows(raw); failed > 0 {
		fmt.Fprintf(e.stderr, "roster: %s: %d of %d rows failed\n", run.o.Name, failed, total)
		code = exitPartial
	}
	if g.json {
		fmt.Fprintln(e.stdout, string(raw))
		return exitWith(code)
	}
	if agg.ChunksApplied == 0 {
		return exitWith(code)
	}
	if err := renderCommand(e.stdout, raw); err != nil {
		return fmt.Errorf("%s reply: %w", run.o.Name, err)
	}
	fmt.Fprintf(e.stdout, "  chunks=%d of %d (command ids %s-1 … %s-%d)\n", agg.ChunksApplied, agg.Chunks,
		escape(run.base), escape(run.base), agg.Chunks)
	return exitWith(code)
}

// retryPolicy is the retries of one command of an import (what names a chunk, or is empty),
// each told on stderr unless --quiet.
func (opts *importOpts) retryPolicy(name, what string, e env) retryPolicy {
	p := retryPolicy{retries: opts.retries}
	if !opts.quiet {
		p.notify = func(n int, refusal *client.ErrorBody, wait time.Duration) {
			subject := name
			if what != "" {
				subject += ": " + what
			}
			fmt.Fprintf(e.stderr, "roster: %s: %s: %s; retry %d of %d in %s\n", subject, escape(refusal.Code), escape(refusal.Message),
				n, opts.retries, wait.Round(time.Millisecond))
		}
	}
	return p
}

// sendBody sends one command or query body on nc and prints the reply; a command refused
// unavailable is sent again as retry allows (the zero policy: never).
func sendBody(ctx context.Context, o op, body []byte, id string, nc *nats.Conn, g *globals, e env, argv []string, retry retryPolicy) error {
	c := client.New(nc).WithTimeout(g.timeout)
	raw, _, err := requestRetrying(ctx, c, subjectOf(o), body, g.timeout, retry)
	if err != nil {
		if id != "" && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			fmt.Fprintf(e.stderr, "roster: %s: no reply within %s; it may or may not have been applied.\n"+
				"Retry with the same command id (applied at most once):\n  %s\n", o.Name, g.timeout, retryLine(argv, id))
			return exitWith(exitFailure)
		}
		return err
	}
	code := show(o.Name, o.Query, raw, g.json, e.stdout, e.stderr)
	if id != "" && !o.Query && busyRefusal(raw) != nil {
		fmt.Fprintf(e.stderr, "roster: %s: the server is busy or stopping. Retry with the same command id (applied at most once):\n  %s\n",
			o.Name, retryLine(argv, id))
	}
	return exitWith(code)
}
