package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/daemon"
)

// readCSV parses a CSV as the server does.
func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("chunk does not parse: %v\n%s", err, s)
	}
	return recs
}

// Chunks hold whole rows: a quoted field with line breaks, commas and quotes is never cut,
// each chunk starts with the header, and the chunks' rows are the CSV's rows in order.
func TestSplitCSVKeepsRowsWhole(t *testing.T) {
	header := "email,user_id,name,roles,grants\r\n"
	var b strings.Builder
	b.WriteString(header)
	for i := range 9 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "u%d@example.org,,\"Line one\nline two\nline three %d\",viewer,\n", i, i)
		case 1:
			fmt.Fprintf(&b, "u%d@example.org,,\"Doe, \"\"J\"\"\r\n%d\",viewer,\r\n", i, i)
		default:
			fmt.Fprintf(&b, "\nu%d@example.org,,Plain %d,viewer,\n", i, i) // a blank line before the row
		}
	}
	data := b.String()
	want := readCSV(t, data)
	for _, rows := range []int{1, 2, 4, 9} {
		chunks, total, err := splitCSV(data, chunkLimits{rows: rows, csvBytes: maxChunkCSV, body: maxChunkBody})
		if err != nil {
			t.Fatal(err)
		}
		if total != 9 || len(chunks) != (9+rows-1)/rows {
			t.Fatalf("%d rows per chunk: %d rows in %d chunks", rows, total, len(chunks))
		}
		got := [][]string{want[0]}
		for i, c := range chunks {
			if !strings.HasPrefix(c.csv, header) {
				t.Fatalf("chunk %d does not start with the header line: %q", i, c.csv)
			}
			recs := readCSV(t, c.csv)
			if !slices.Equal(recs[0], want[0]) || len(recs)-1 != c.rows || c.first != len(got)-1 {
				t.Fatalf("chunk %d: %d records, first %d: %q", i, len(recs), c.first, c.csv)
			}
			got = append(got, recs[1:]...)
		}
		if len(got) != len(want) {
			t.Fatalf("%d records, want %d", len(got), len(want))
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("record %d: %q, want %q", i, got[i], want[i])
			}
		}
	}
	// A naive split on "\n" would cut the quoted field; the byte bounds never do either.
	chunks, _, err := splitCSV(data, chunkLimits{rows: maxChunkRows, csvBytes: len(header) + 80, body: maxChunkBody})
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 3 {
		t.Fatalf("byte bound made %d chunks", len(chunks))
	}
	for _, c := range chunks {
		if len(c.csv) > len(header)+80 {
			t.Fatalf("chunk of %d bytes over the bound", len(c.csv))
		}
		readCSV(t, c.csv)
	}
}

// A single row that does not fit one command is refused, naming the limit.
func TestSplitCSVRowOverLimit(t *testing.T) {
	data := "email,user_id,name,roles,grants\na@example.org,,A,viewer,\nb@example.org,,\"" + strings.Repeat("<", 100) + "\",viewer,\n"
	_, _, err := splitCSV(data, chunkLimits{rows: 10, csvBytes: 1000, body: 200, envelope: 50})
	var le *ImportLimitError
	if !errors.As(err, &le) || le.Limit != "request body bytes" || le.Row != 2 || le.Max != 200 ||
		!strings.Contains(err.Error(), "the limit is 200") {
		t.Fatalf("err = %v", err)
	}
}

// importEnv is a daemon with organization acme and project p1, and the CLI against it.
type importEnv struct {
	t   *testing.T
	d   *daemon.Daemon
	c   *client.Client
	dir string
}

func newImportEnv(t *testing.T) *importEnv {
	t.Helper()
	d, err := daemon.Start(context.Background(), daemon.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	nc, err := nats.Connect(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	mustRun(t, d.URL, "CreateOrganization", "--org-id", "acme", "--name", "Acme", "--kind", "team", "--preset", "ica",
		"--actor", "ana", "--actor-email", "ana@acme.io")
	mustRun(t, d.URL, "CreateProject", "--org-id", "acme", "--project-id", "p1", "--name", "P1", "--actor", "ana")
	return &importEnv{t: t, d: d, c: client.New(nc).WithTimeout(30 * time.Second), dir: t.TempDir()}
}

func (ie *importEnv) roster(args ...string) cliResult {
	ie.t.Helper()
	return ie.rosterAt(ie.d.URL, args...)
}

// rosterAt runs the CLI against the NATS server at url.
func (ie *importEnv) rosterAt(url string, args ...string) cliResult {
	ie.t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"--server", url, "--timeout", "60s"}, args...), &out, &errOut)
	return cliResult{code, out.String(), errOut.String()}
}

func (ie *importEnv) head() uint64 {
	ie.t.Helper()
	st, err := ie.c.Status(context.Background(), client.StatusRequest{})
	if err != nil {
		ie.t.Fatal(err)
	}
	return st.Head
}

func (ie *importEnv) file(name, content string) string {
	ie.t.Helper()
	p := filepath.Join(ie.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		ie.t.Fatal(err)
	}
	return p
}

// invitations lists p1's invitations by e-mail, every page.
func (ie *importEnv) invitations() map[string]client.Invitation {
	ie.t.Helper()
	out := map[string]client.Invitation{}
	req := client.ListInvitations{OrgID: "acme", ProjectID: "p1", Limit: 1000, MinPosition: ie.head()}
	for {
		page, err := ie.c.ListInvitations(context.Background(), req)
		if err != nil {
			ie.t.Fatal(err)
		}
		for _, inv := range page.Invitations {
			if _, dup := out[inv.Email]; dup {
				ie.t.Fatalf("%s invited twice", inv.Email)
			}
			out[inv.Email] = inv
		}
		if page.NextPageToken == "" {
			return out
		}
		req.PageToken = page.NextPageToken
	}
}

func memberCSV(from, n int) string {
	var b strings.Builder
	b.WriteString("email,user_id,name,roles,grants\n")
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "u%05d@example.org,,User %d,project_viewer,\n", i, i)
	}
	return b.String()
}

// A 25,001-row CSV goes as three commands of at most 10,000 rows, with command ids
// <base>-1..3, and every row is imported once.
func TestImportSplitsLargeCSV(t *testing.T) {
	ie := newImportEnv(t)
	path := ie.file("big.csv", memberCSV(0, 25001))
	before := ie.head()
	r := ie.roster("import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--command-id", "big-import", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "25001 rows in 3 commands") {
		t.Errorf("no chunking notice on stderr: %q", r.stderr)
	}
	var rep struct {
		importReply
		Result client.ImportMembersResult `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %.300s", err, r.stdout)
	}
	if !rep.OK || rep.Chunks != 3 || rep.ChunksApplied != 3 || rep.BaseCommandID != "big-import" || len(rep.Result.Rows) != 25001 {
		t.Fatalf("reply: ok %v chunks %d/%d base %q rows %d", rep.OK, rep.ChunksApplied, rep.Chunks, rep.BaseCommandID, len(rep.Result.Rows))
	}
	for i, row := range rep.Result.Rows {
		if row.Row != i+1 || !row.OK {
			t.Fatalf("row %d: %+v", i+1, row)
		}
	}
	after := ie.head()
	if after-before != 25001 || rep.Position != after {
		t.Fatalf("head %d → %d (reply position %d), want 25001 events", before, after, rep.Position)
	}
	// The log holds three commands, 10,000 + 10,000 + 5,001 events, under the derived ids.
	perCommand := map[string]int{}
	req := client.Audit{OrgID: "acme", AfterPosition: before, Limit: 1000}
	for {
		page, _, err := ie.c.Audit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			perCommand[ev.CommandID]++
		}
		if page.NextAfterPosition == 0 || len(page.Events) == 0 {
			break
		}
		req.AfterPosition = page.NextAfterPosition
	}
	want := map[string]int{"big-import-1": 10000, "big-import-2": 10000, "big-import-3": 5001}
	if fmt.Sprint(perCommand) != fmt.Sprint(want) {
		t.Fatalf("events per command id: %v, want %v", perCommand, want)
	}
	if invs := ie.invitations(); len(invs) != 25001 {
		t.Fatalf("%d invitations, want 25001", len(invs))
	}
}

// Quoted fields with commas and doubled quotes survive chunking; the table output numbers
// rows over the whole CSV and names the chunks.
func TestImportChunksKeepQuotedFields(t *testing.T) {
	ie := newImportEnv(t)
	csvText := "email,user_id,name,roles,grants\n" +
		"q1@example.org,,\"Doe, Jane\",project_viewer,\n" +
		"q2@example.org,,\"O\"\"Brien, \"\"Pat\"\"\",project_viewer,\n" +
		"q3@example.org,,Plain,\"project_viewer\",\n" +
		"q4@example.org,,\"Smith,\n Jr\"\"\",project_viewer,\n" // a line break inside quotes: refused by the server, in its own chunk
	path := ie.file("quoted.csv", csvText)
	before := ie.head()
	r := ie.roster("ImportMembers", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--chunk-rows", "1", "--command-id", "quoted")
	// Chunk 4 is refused as a whole (a line break in a name), after chunks 1-3 were applied.
	if r.code != exitRefused || !strings.Contains(r.stderr, "chunk 4 of 4 (row 4, command id quoted-4) was refused; chunks 1–3 are applied, chunk 4 is not.") ||
		!strings.Contains(r.stderr, "control character") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"row 1", "row 2", "row 3", "chunks=3 of 4"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if ie.head()-before != 3 {
		t.Fatalf("head moved by %d, want 3", ie.head()-before)
	}
	invs := ie.invitations()
	for email, name := range map[string]string{"q1@example.org": "Doe, Jane", "q2@example.org": `O"Brien, "Pat"`, "q3@example.org": "Plain"} {
		if invs[email].Name != name {
			t.Errorf("%s named %q, want %q", email, invs[email].Name, name)
		}
	}
}

// A chunk that fails stops the run with the line to rerun; the rerun sends every chunk again,
// the applied ones are answered from the server's memory (nothing appended for them), and a
// rerun of the finished import appends nothing at all.
func TestImportRerunAppendsOnce(t *testing.T) {
	ie := newImportEnv(t)
	good := memberCSV(0, 5)
	bad := strings.Replace(good, "User 2,", "User\a2,", 1) // row 3 (chunk 2) holds a BEL
	path := ie.file("members.csv", bad)
	base := "0197a000-0000-7000-8000-0000000000aa"
	h0 := ie.head()
	r := ie.roster("import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--chunk-rows", "2", "--command-id", base)
	if r.code != exitRefused || !strings.Contains(r.stderr, "chunk 2 of 3") || !strings.Contains(r.stderr, "chunk 1 is applied, chunks 2–3 are not.") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`(?m)^  (roster .*)$`).FindStringSubmatch(r.stderr)
	if m == nil || !strings.HasSuffix(m[1], "--command-id "+base) || !strings.Contains(m[1], " import ") {
		t.Fatalf("no rerun line in:\n%s", r.stderr)
	}
	rerun := strings.Fields(m[1])[1:]
	h1 := ie.head()
	if h1-h0 != 2 {
		t.Fatalf("first run appended %d events, want 2 (chunk 1)", h1-h0)
	}

	// The operator fixes the row and runs the printed line: chunk 1 is not appended again.
	ie.file("members.csv", good)
	var out, errOut bytes.Buffer
	if code := run(append(rerun, "--json"), &out, &errOut); code != 0 {
		t.Fatalf("rerun: exit %d: %s", code, errOut.String())
	}
	h2 := ie.head()
	if h2-h1 != 3 {
		t.Fatalf("rerun appended %d events, want 3 (chunks 2 and 3)", h2-h1)
	}
	var rep struct {
		importReply
		Result client.ImportMembersResult `json:"result"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Chunks != 3 || len(rep.Result.Rows) != 5 {
		t.Fatalf("rerun reply %v: %s", err, out.String())
	}

	// Once more: every chunk is answered from memory, the log head does not move.
	out.Reset()
	if code := run(append(rerun, "--json"), &out, &errOut); code != 0 {
		t.Fatalf("second rerun: exit %d: %s", code, errOut.String())
	}
	if h3 := ie.head(); h3 != h2 {
		t.Fatalf("second rerun moved the head %d → %d", h2, h3)
	}
	var again struct {
		importReply
		Result client.ImportMembersResult `json:"result"`
	}
	if err := json.Unmarshal(out.Bytes(), &again); err != nil || len(again.Result.Rows) != 5 {
		t.Fatalf("second rerun reply %v: %s", err, out.String())
	}
	for i, row := range again.Result.Rows {
		if !row.OK || row.Row != i+1 {
			t.Fatalf("second rerun row %+v", row)
		}
	}
	if n := len(ie.invitations()); n != 5 {
		t.Fatalf("%d invitations, want 5", n)
	}
}

// Failed rows are counted over every chunk, and exit 3 is kept.
func TestImportFailedRowsAcrossChunks(t *testing.T) {
	ie := newImportEnv(t)
	csvText := "email,user_id,name,roles,grants\n" +
		"f1@example.org,,One,project_viewer,\nf2@example.org,,Two,no-such-role,\n" +
		"f3@example.org,,Three,project_viewer,\nf4@example.org,,Four,no-such-role,\nf5@example.org,,Five,project_viewer,\n"
	r := ie.roster("ImportMembers", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+ie.file("f.csv", csvText),
		"--chunk-rows", "2", "--quiet")
	if r.code != exitPartial || !strings.Contains(r.stderr, "2 of 5 rows failed") || strings.Contains(r.stderr, "commands") ||
		!regexp.MustCompile(`row 2\s+error`).MatchString(r.stdout) || !regexp.MustCompile(`row 4\s+error`).MatchString(r.stdout) ||
		!regexp.MustCompile(`row 5\s+ok`).MatchString(r.stdout) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "import") {
		t.Errorf("progress output on a non-terminal stderr: %q", r.stderr)
	}
}

// A row that cannot fit one command, whatever the chunking, is refused before anything is
// sent, naming the limit; so is --chunk-rows over the server's limit.
func TestImportUnsplittableRow(t *testing.T) {
	ie := newImportEnv(t)
	h0 := ie.head()
	cases := []struct {
		name, csv, want string
	}{
		{"csv bytes", "email,user_id,name,roles,grants\na@example.org,,A,project_viewer,\nb@example.org,,B" + strings.Repeat("x", maxChunkCSV) + ",project_viewer,\n",
			"csv bytes; the limit is 1000000 per command"},
		{"request body bytes", "email,user_id,name,roles,grants\na@example.org,,A,project_viewer,\nb@example.org,,\"" + strings.Repeat("<", 200000) + "\",project_viewer,\n",
			"request body bytes; the limit is 1048576 per command"},
	}
	for _, c := range cases {
		r := ie.roster("import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+ie.file("row.csv", c.csv))
		if r.code != exitFailure || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "one row cannot be split") {
			t.Errorf("%s: exit %d, stderr %q", c.name, r.code, r.stderr)
		}
	}
	r := ie.roster("import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+ie.file("ok.csv", memberCSV(0, 2)),
		"--chunk-rows", "10001")
	if r.code != exitFailure || !strings.Contains(r.stderr, "--chunk-rows 10001 is out of range; the limit is 1 to 10000 rows per command") {
		t.Errorf("--chunk-rows 10001: exit %d, stderr %q", r.code, r.stderr)
	}
	r = ie.roster("import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+ie.file("ok.csv", memberCSV(0, 2)),
		"--chunk-rows", "1", "--command-id", strings.Repeat("i", 127))
	if r.code != exitFailure || !strings.Contains(r.stderr, "the limit of command_id is 128 bytes") {
		t.Errorf("long base id: exit %d, stderr %q", r.code, r.stderr)
	}
	if h := ie.head(); h != h0 {
		t.Fatalf("refused imports moved the head %d → %d", h0, h)
	}
}

// The line naming what a stopped run applied reads right for every count: no chunk, one, a
// range; a failed chunk that may or may not be applied is counted neither way.
func TestChunksAppliedWording(t *testing.T) {
	for _, tc := range []struct {
		i, n int
		st   chunkState
		want string
	}{
		{0, 3, chunkNotApplied, "no chunk was applied"},
		{0, 2, chunkMaybeApplied, "no chunk before it was applied, chunk 2 is not"},
		{0, 3, chunkMaybeApplied, "no chunk before it was applied, chunks 2–3 are not"},
		{0, 3, chunkApplied, "chunk 1 is applied, chunks 2–3 are not"},
		{1, 3, chunkNotApplied, "chunk 1 is applied, chunks 2–3 are not"},
		{2, 3, chunkNotApplied, "chunks 1–2 are applied, chunk 3 is not"},
		{2, 3, chunkMaybeApplied, "chunks 1–2 are applied"},
		{2, 3, chunkApplied, "chunks 1–3 are applied"},
		{4, 9, chunkNotApplied, "chunks 1–4 are applied, chunks 5–9 are not"},
	} {
		if got := chunksApplied(tc.i, tc.n, tc.st); got != tc.want {
			t.Errorf("chunksApplied(%d, %d, %d) = %q, want %q", tc.i, tc.n, tc.st, got, tc.want)
		}
	}
	if got := span("row", "rows", 4, 4); got != "row 4" {
		t.Errorf("span = %q", got)
	}
	if got := span("row", "rows", 1, 2); got != "rows 1–2" {
		t.Errorf("span = %q", got)
	}
}

// A run whose first chunk is refused says no chunk was applied (not "chunks 1–0") and
// appends nothing.
func TestImportFirstChunkRefused(t *testing.T) {
	ie := newImportEnv(t)
	bad := strings.Replace(memberCSV(0, 5), "User 0,", "User\a0,", 1) // row 1 (chunk 1) holds a BEL
	path := ie.file("members.csv", bad)
	h0 := ie.head()
	r := ie.roster("import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--chunk-rows", "2", "--command-id", "first")
	want := "chunk 1 of 3 (rows 1–2, command id first-1) was refused; no chunk was applied.\n"
	if r.code != exitRefused || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "1–0") {
		t.Fatalf("exit %d, want %d and %q\nstderr %s", r.code, exitRefused, want, r.stderr)
	}
	if h := ie.head(); h != h0 {
		t.Fatalf("head moved %d → %d", h0, h)
	}
}

// A CSV saved by Excel (byte order mark), one with classic Mac OS line ends, and one with both
// are split into chunks of whole rows, none repeating the byte order mark, and every row is
// imported once.
func TestImportChunksBOMAndBareCR(t *testing.T) {
	for name, csvText := range map[string]string{
		"byte order mark": "\ufeff" + memberCSV(0, 5),
		"bare CR":         strings.ReplaceAll(memberCSV(0, 5), "\n", "\r"),
		"both":            "\ufeff" + strings.ReplaceAll(memberCSV(0, 5), "\n", "\r"),
	} {
		t.Run(name, func(t *testing.T) { importChunksNormalized(t, csvText) })
	}
}

func importChunksNormalized(t *testing.T, csvText string) {
	ie := newImportEnv(t)
	path := ie.file("members.csv", csvText)
	nc, err := nats.Connect(ie.d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	seen := make(chan string, 16)
	sub, err := nc.Subscribe(client.CommandPrefix+client.CmdImportMembers, func(m *nats.Msg) {
		var req client.ImportMembers
		if err := json.Unmarshal(m.Data, &req); err != nil {
			seen <- "undecodable: " + err.Error()
			return
		}
		seen <- req.CSV
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	h0 := ie.head()
	r := ie.roster("import", "--org-id", "acme", "--project-id", "p1", "--actor", "ana", "--csv", "@"+path,
		"--chunk-rows", "2", "--command-id", "mac", "--json")
	if r.code != 0 || !strings.Contains(r.stderr, "5 rows in 3 commands") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if h := ie.head(); h-h0 != 5 {
		t.Fatalf("appended %d events, want 5", h-h0)
	}
	invs := ie.invitations()
	for i := range 5 {
		if inv := invs[fmt.Sprintf("u%05d@example.org", i)]; inv.Name != fmt.Sprintf("User %d", i) {
			t.Errorf("row %d invited as %+v", i+1, inv)
		}
	}
	for i := range 3 {
		got := <-seen
		if !strings.HasPrefix(got, "email,user_id,name,roles,grants\n") || strings.ContainsAny(got, "\r\ufeff") {
			t.Errorf("chunk %d sent as %q", i+1, got)
		}
	}
}
