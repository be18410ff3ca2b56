package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"roster/client"
)

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

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
		fmt.Fprintf(stderr, "error %s: %s\n", e.Code, e.Message)
		return exitRefused
	}
	if asJSON {
		return exitOK
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
	return exitOK
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
			fmt.Fprintf(tw, "  would append %s %s\n", p.Type, compact(p.Data))
		}
		for _, c := range rep.Changes {
			line := "  " + c.UserID
			if c.ProjectID != "" {
				line += " at " + c.ProjectID
				if c.TrackID != "" {
					line += "/" + c.TrackID
				}
			}
			line += ":"
			if len(c.Gained) > 0 {
				line += " " + plusMinus("+", c.Gained)
			}
			if len(c.Lost) > 0 {
				line += " " + plusMinus("-", c.Lost)
			}
			fmt.Fprintln(tw, line)
		}
	} else {
		fmt.Fprintf(tw, "ok position=%d\n", rep.Position)
		for _, e := range rep.Events {
			fmt.Fprintf(tw, "  %s\t#%d\n", e.Type, e.Position)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = newTable(w)
	if err := renderResultFields(tw, rep.Result); err != nil {
		return err
	}
	return tw.Flush()
}

// renderResultFields prints a command's result object one field per line.
func renderResultFields(w io.Writer, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		fmt.Fprintf(w, "  result\t%s\n", compact(raw))
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := obj[k]
		var list []json.RawMessage
		if k == "rows" && json.Unmarshal(v, &list) == nil {
			renderImportRows(w, list)
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			fmt.Fprintf(w, "  %s=%s\n", k, s)
			continue
		}
		fmt.Fprintf(w, "  %s=%s\n", k, compact(v))
	}
	return nil
}

func renderImportRows(w io.Writer, rows []json.RawMessage) {
	for _, r := range rows {
		var row struct {
			Row   int    `json:"row"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if json.Unmarshal(r, &row) != nil {
			fmt.Fprintf(w, "  row\t%s\n", compact(r))
			continue
		}
		if row.OK {
			fmt.Fprintf(w, "  row %d\tok\n", row.Row)
		} else {
			fmt.Fprintf(w, "  row %d\terror\t%s\n", row.Row, row.Error)
		}
	}
}

// ---- queries ----

func renderQuery(w io.Writer, name string, raw []byte) error {
	var rep client.QueryReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return err
	}
	switch name {
	case "Check":
		return renderCheck(w, rep.Result)
	case "ListMembers":
		return renderMembers(w, rep.Result)
	case "ListProjects":
		return renderProjects(w, rep.Result)
	case "Catalog":
		return renderCatalog(w, rep.Result)
	case "Status":
		return renderStatus(w, rep.Result)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, rep.Result, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

func renderCheck(w io.Writer, raw json.RawMessage) error {
	var res client.CheckResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s  %s\n", res.Decision, res.Permission)
	for _, v := range res.Via {
		line := "  via " + v.Kind
		for _, kv := range [][2]string{{"role", v.Role}, {"group", v.GroupID}, {"scope", v.Scope},
			{"project", v.ProjectID}, {"track", v.TrackID}, {"condition", v.Condition}} {
			if kv[1] != "" {
				line += " " + kv[0] + "=" + kv[1]
			}
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

func renderMembers(w io.Writer, raw json.RawMessage) error {
	var page client.MembersPage
	if err := json.Unmarshal(raw, &page); err != nil {
		return err
	}
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", orDash(who), orDash(m.Email), orDash(m.Name), orDash(roles), orDash(m.Status), orDash(m.PartnerID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextPageToken != "" {
		fmt.Fprintf(w, "more: --page-token %s\n", page.NextPageToken)
	}
	return nil
}

func renderProjects(w io.Writer, raw json.RawMessage) error {
	var res struct {
		Projects []struct {
			OrgID      string   `json:"org_id"`
			ProjectID  string   `json:"project_id"`
			Name       string   `json:"name"`
			Status     string   `json:"status"`
			Visibility string   `json:"visibility"`
			Roles      []string `json:"roles"`
		} `json:"projects"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ORG\tPROJECT\tNAME\tSTATUS\tVISIBILITY\tROLES")
	for _, p := range res.Projects {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.OrgID, p.ProjectID, orDash(p.Name), orDash(p.Status), orDash(p.Visibility), orDash(strings.Join(p.Roles, ",")))
	}
	return tw.Flush()
}

func renderCatalog(w io.Writer, raw json.RawMessage) error {
	var res struct {
		Preset      string `json:"preset"`
		Label       string `json:"label"`
		Permissions []struct {
			ID    string `json:"id"`
			Label string `json:"label"`
			Scope string `json:"scope"`
		} `json:"permissions"`
		Roles []struct {
			ID          string   `json:"id"`
			Label       string   `json:"label"`
			Scope       string   `json:"scope"`
			Category    string   `json:"category"`
			Permissions []string `json:"permissions"`
		} `json:"roles"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	if res.Preset != "" {
		fmt.Fprintf(w, "preset %s", res.Preset)
		if res.Label != "" && res.Label != res.Preset {
			fmt.Fprintf(w, " (%s)", res.Label)
		}
		fmt.Fprint(w, "\n\n")
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tLABEL\tSCOPE")
	for _, p := range res.Permissions {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.ID, orDash(p.Label), orDash(p.Scope))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "ID\tLABEL\tSCOPE\tCATEGORY\tPERMISSIONS")
	for _, r := range res.Roles {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.ID, orDash(r.Label), orDash(r.Scope), orDash(r.Category), len(r.Permissions))
	}
	return tw.Flush()
}

func renderStatus(w io.Writer, raw json.RawMessage) error {
	var res struct {
		client.Status
		DeadLetters *uint64 `json:"dead_letters"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	fmt.Fprintf(w, "head %d\n", res.Head)
	tw := newTable(w)
	fmt.Fprintln(tw, "PROJECTION\tPOSITION\tLAG")
	for _, p := range res.Projections {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", p.Name, p.Position, p.Lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.DeadLetters != nil {
		fmt.Fprintf(w, "dead letters %d\n", *res.DeadLetters)
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
