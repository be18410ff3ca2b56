package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"roster/client"
)

// escape makes a value safe to print: control characters (newlines, tabs, ANSI escapes,
// C1 codes), Unicode line separators, bidirectional overrides and invalid UTF-8 are written
// as Go escapes (\n, \x1b, \u202e), so a name cannot fake table rows or move the cursor.
// Every renderer passes every value through it.
func escape(s string) string {
	safe := true
	for _, r := range s {
		if unsafeRune(r) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// row writes one table row, every cell escaped (an empty cell shows as -).
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = orDash(escape(c))
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// show prints a reply and returns the exit status.
func show(name string, query bool, raw []byte, asJSON bool, stdout, stderr io.Writer) int {
	var head struct {
		OK    bool              `json:"ok"`
		Error *client.ErrorBody `json:"error"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		fmt.Fprintf(stderr, "roster: malformed %s reply: %v\n", name, err)
		return exitFailure
	}
	if asJSON {
		stdout.Write(bytes.TrimRight(raw, "\n"))
		fmt.Fprintln(stdout)
	}
	if !head.OK {
		e := head.Error
		if e == nil {
			e = &client.ErrorBody{Code: client.CodeUnavailable, Message: "refused without an error body"}
		}
		fmt.Fprintf(stderr, "error %s: %s\n", escape(e.Code), escape(e.Message))
		return exitRefused
	}
	code := exitOK
	if !query {
		if failed, total := failedRows(raw); failed > 0 {
			fmt.Fprintf(stderr, "roster: %s: %d of %d rows failed\n", name, failed, total)
			code = exitPartial
		}
	}
	if asJSON {
		return code
	}
	var err error
	if query {
		err = renderQuery(stdout, name, raw)
	} else {
		err = renderCommand(stdout, raw)
	}
	if err != nil {
		fmt.Fprintf(stderr, "roster: %s reply: %v\n", name, err)
		return exitFailure
	}
	return code
}

// importRow is one row of ImportMembers' result.
type importRow struct {
	Row   int    `json:"row"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// failedRows counts the rows of a command result with ok=false (ImportMembers).
func failedRows(raw []byte) (failed, total int) {
	var rep struct {
		Result struct {
			Rows []importRow `json:"rows"`
		} `json:"result"`
	}
	if json.Unmarshal(raw, &rep) != nil {
		return 0, 0
	}
	for _, r := range rep.Result.Rows {
		if !r.OK {
			failed++
		}
	}
	return failed, len(rep.Result.Rows)
}

// ---- commands ----

func renderCommand(w io.Writer, raw []byte) error {
	var rep client.CommandReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return err
	}
	tw := newTable(w)
	if rep.DryRun {
		fmt.Fprintf(tw, "ok dry run, nothing appended (log head %d)\n", rep.Position)
		for _, p := range rep.Planned {
			fmt.Fprintf(tw, "  would append %s %s\n", escape(p.Type), escape(compact(p.Data)))
		}
		for _, c := range rep.Changes {
			line := "  " + escape(c.UserID)
			if c.ProjectID != "" {
				line += " at " + escape(c.ProjectID)
				if c.TrackID != "" {
					line += "/" + escape(c.TrackID)
				}
			}
			line += ":"
			if len(c.Gained) > 0 {
				line += " " + escape(plusMinus("+", c.Gained))
			}
			if len(c.Lost) > 0 {
				line += " " + escape(plusMinus("-", c.Lost))
			}
			fmt.Fprintln(tw, line)
		}
	} else {
		fmt.Fprintf(tw, "ok position=%d\n", rep.Position)
		for _, e := range rep.Events {
			fmt.Fprintf(tw, "  %s\t#%d\n", escape(e.Type), e.Position)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = newTable(w)
	renderResultFields(tw, rep.Result)
	return tw.Flush()
}

// renderResultFields prints a command's result object one field per line.
func renderResultFields(w io.Writer, raw json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		fmt.Fprintf(w, "  result\t%s\n", escape(compact(raw)))
		return
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := obj[k]
		var rows []importRow
		if k == "rows" && json.Unmarshal(v, &rows) == nil {
			for _, r := range rows {
				if r.OK {
					fmt.Fprintf(w, "  row %d\tok\n", r.Row)
				} else {
					fmt.Fprintf(w, "  row %d\terror\t%s\n", r.Row, escape(r.Error))
				}
			}
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			fmt.Fprintf(w, "  %s=%s\n", escape(k), escape(s))
			continue
		}
		fmt.Fprintf(w, "  %s=%s\n", escape(k), escape(compact(v)))
	}
}

// ---- queries ----

func renderQuery(w io.Writer, name string, raw []byte) error {
	var rep client.QueryReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return err
	}
	decode := func(out any) error { return json.Unmarshal(rep.Result, out) }
	switch name {
	case client.QCheck:
		var res client.CheckResult
		if err := decode(&res); err != nil {
			return err
		}
		return renderCheck(w, res)
	case client.QPermissions:
		var res client.PermissionsResult
		if err := decode(&res); err != nil {
			return err
		}
		return renderPermissions(w, res.Roles, res.Permissions, res.Conditional)
	case client.QAccessAt:
		var res client.AccessAtResult
		if err := decode(&res); err != nil {
			return err
		}
		fmt.Fprintf(w, "as of position %d\n", res.Position)
		return renderPermissions(w, res.Roles, res.Permissions, res.Conditional)
	case client.QWhoCan:
		var res client.WhoCanResult
		if err := decode(&res); err != nil {
			return err
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "USER")
		for _, u := range res.Users {
			row(tw, u)
		}
		return tw.Flush()
	case client.QListMembers:
		var res client.MembersPage
		if err := decode(&res); err != nil {
			return err
		}
		return renderMembers(w, res)
	case client.QListProjects:
		var res client.ProjectsList
		if err := decode(&res); err != nil {
			return err
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "ORG\tPROJECT\tNAME\tSTATUS\tVISIBILITY\tROLES")
		for _, p := range res.Projects {
			row(tw, p.OrgID, p.ProjectID, p.Name, p.Status, p.Visibility, strings.Join(p.Roles, ","))
		}
		return tw.Flush()
	case client.QGetProject:
		var res client.Project
		if err := decode(&res); err != nil {
			return err
		}
		return renderProject(w, res)
	case client.QListInvitations:
		var res client.InvitationsList
		if err := decode(&res); err != nil {
			return err
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "INVITATION\tEMAIL/USER\tPROJECT\tTRACK\tROLES\tSTATUS\tINVITED BY\tEXPIRES")
		for _, i := range res.Invitations {
			who := i.Email
			if who == "" {
				who = i.UserID
			}
			row(tw, i.InvitationID, who, i.ProjectID, i.TrackID, strings.Join(i.Roles, ","), i.Status, i.InvitedBy, fmtTime(i.ExpiresAt))
		}
		return tw.Flush()
	case client.QCatalog:
		var res client.CatalogResult
		if err := decode(&res); err != nil {
			return err
		}
		return renderCatalog(w, res)
	case client.QAudit:
		var res client.AuditPage
		if err := decode(&res); err != nil {
			return err
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "POSITION\tTIME\tTYPE\tACTOR\tDATA")
		for _, e := range res.Events {
			row(tw, "#"+strconv.FormatUint(e.Position, 10), fmtTime(e.Time), e.Type, e.Actor, dataFields(e.Data))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if res.NextAfterPosition > 0 {
			fmt.Fprintf(w, "more: --after-position %d\n", res.NextAfterPosition)
		}
		return nil
	case client.QStatus:
		var res client.Status
		if err := decode(&res); err != nil {
			return err
		}
		return renderStatus(w, res)
	}
	// A query this CLI has no table for: one field per line.
	tw := newTable(w)
	renderResultFields(tw, rep.Result)
	return tw.Flush()
}

func renderCheck(w io.Writer, res client.CheckResult) error {
	fmt.Fprintf(w, "%s  %s\n", escape(res.Decision), escape(res.Permission))
	for _, v := range res.Via {
		line := "  via " + escape(v.Kind)
		for _, kv := range [][2]string{{"role", v.Role}, {"group", v.GroupID}, {"scope", v.Scope},
			{"project", v.ProjectID}, {"track", v.TrackID}, {"condition", v.Condition}} {
			if kv[1] != "" {
				line += " " + kv[0] + "=" + escape(kv[1])
			}
		}
		fmt.Fprintln(w, line)
		if len(v.Events) > 0 {
			tw := newTable(w)
			fmt.Fprintln(tw, "    POSITION\tTIME\tEVENT\tACTOR\tCOMMAND")
			for _, p := range v.Events {
				row(tw, "    #"+strconv.FormatUint(p.Position, 10), fmtTime(p.Time), p.Type, p.Actor, p.CommandID)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	if res.ExplainedAt > 0 {
		fmt.Fprintf(w, "explained at position %d\n", res.ExplainedAt)
	}
	return nil
}

func renderPermissions(w io.Writer, roles, perms, conditional []string) error {
	fmt.Fprintf(w, "roles: %s\n", orDash(escape(strings.Join(roles, ", "))))
	tw := newTable(w)
	fmt.Fprintln(tw, "PERMISSION\tCONDITIONAL")
	for _, p := range perms {
		row(tw, p, "")
	}
	for _, p := range conditional {
		row(tw, p, "yes")
	}
	return tw.Flush()
}

func renderMembers(w io.Writer, page client.MembersPage) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "USER/GROUP\tEMAIL\tNAME\tROLES\tSTATUS\tPARTNER")
	for _, m := range page.Members {
		who := m.UserID
		if who == "" && m.GroupID != "" {
			who = "group:" + m.GroupID
		}
		if who == "" && m.InvitationID != "" {
			who = "invitation:" + m.InvitationID
		}
		roles := strings.Join(m.Roles, ",")
		if len(m.Grants) > 0 {
			roles = strings.TrimPrefix(roles+",+"+strings.Join(m.Grants, ",+"), ",")
		}
		row(tw, who, m.Email, m.Name, roles, m.Status, m.PartnerID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextPageToken != "" {
		fmt.Fprintf(w, "more: --page-token %s\n", escape(page.NextPageToken))
	}
	return nil
}

func renderProject(w io.Writer, p client.Project) error {
	tw := newTable(w)
	row(tw, "project", p.ProjectID)
	row(tw, "org", p.OrgID)
	row(tw, "name", p.Name)
	row(tw, "status", p.Status)
	row(tw, "visibility", p.Visibility)
	row(tw, "owners", strings.Join(p.Owners, ", "))
	if len(p.AdminOwners) > 0 {
		row(tw, "admin owners", strings.Join(p.AdminOwners, ", "))
	}
	row(tw, "created by", p.CreatedBy)
	row(tw, "members", strconv.Itoa(p.Members))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Tracks) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "TRACK\tNAME\tCOMPUTE\tNOTEBOOK ENV\tMEMBERS")
		for _, t := range p.Tracks {
			row(tw, t.TrackID, t.Name, t.Compute, t.NotebookEnv, strconv.Itoa(t.Members))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(p.Partners) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "PARTNER\tNAME\tADMIN EMAIL")
		for _, pa := range p.Partners {
			row(tw, pa.PartnerID, pa.Name, pa.AdminEmail)
		}
		return tw.Flush()
	}
	return nil
}

func renderCatalog(w io.Writer, res client.CatalogResult) error {
	if res.Preset != "" {
		fmt.Fprintf(w, "preset %s", escape(res.Preset))
		if res.Label != "" && res.Label != res.Preset {
			fmt.Fprintf(w, " (%s)", escape(res.Label))
		}
		fmt.Fprint(w, "\n\n")
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tLABEL\tSCOPE")
	for _, p := range res.Permissions {
		row(tw, p.ID, p.Label, p.Scope)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "ID\tLABEL\tSCOPE\tCATEGORY\tPERMISSIONS")
	for _, r := range res.Roles {
		row(tw, r.ID, r.Label, r.Scope, r.Category, strconv.Itoa(len(r.Permissions)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.Conditions) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "ROLE\tPERMISSION\tCONDITION")
		for _, c := range res.Conditions {
			row(tw, c.Role, c.Permission, c.Attribute+" = "+c.Equals)
		}
		return tw.Flush()
	}
	return nil
}

func renderStatus(w io.Writer, res client.Status) error {
	fmt.Fprintf(w, "head %d\n", res.Head)
	digests := slices.ContainsFunc(res.Projections, func(p client.ProjectionStatus) bool { return p.Digest != "" })
	tw := newTable(w)
	if digests {
		fmt.Fprintln(tw, "PROJECTION\tPOSITION\tLAG\tDIGEST")
	} else {
		fmt.Fprintln(tw, "PROJECTION\tPOSITION\tLAG")
	}
	for _, p := range res.Projections {
		cells := []string{p.Name, strconv.FormatUint(p.Position, 10), strconv.FormatInt(p.Lag, 10)}
		if digests {
			cells = append(cells, p.Digest)
		}
		row(tw, cells...)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.DeadLetters != nil {
		fmt.Fprintf(w, "dead letters %d\n", *res.DeadLetters)
	}
	if res.Relay != nil {
		fmt.Fprintf(w, "relay %s, published %d", escape(res.Relay.State), res.Relay.Published)
		if res.Relay.Reason != "" {
			fmt.Fprintf(w, ": %s", escape(res.Relay.Reason))
		}
		fmt.Fprintln(w)
	}
	if h := res.HistoryIndex; h != nil {
		fmt.Fprintf(w, "history index at %d (lag %d), from %s, saved copy at %d", h.Position, h.Lag, escape(orDash(h.Source)), h.Saved)
		if h.Discarded > 0 {
			fmt.Fprintf(w, "; %d saved copies refused at start, last: %s", h.Discarded, escape(h.LastDiscard))
		}
		fmt.Fprintln(w)
	}
	for _, a := range res.Alarms {
		fmt.Fprintf(w, "ALARM %s\n", escape(a))
	}
	return nil
}

// ---- helpers ----

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// dataFields shows an event's data as k=v pairs in key order.
func dataFields(raw json.RawMessage) string {
	var data map[string]json.RawMessage
	if json.Unmarshal(raw, &data) != nil {
		return compact(raw)
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		var s string
		v := compact(data[k])
		if json.Unmarshal(data[k], &s) == nil {
			v = s
		}
		fmt.Fprintf(&b, "%s=%s", k, v)
	}
	return b.String()
}

func plusMinus(sign string, perms []string) string {
	if len(perms) == 0 {
		return ""
	}
	return sign + strings.Join(perms, ","+sign)
}

func compact(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}
