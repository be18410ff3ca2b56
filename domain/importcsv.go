package domain

// The CSV format of ImportMembers: header email,user_id,name,roles,grants; lists split on ";".
// One leading byte order mark (U+FEFF, which Excel writes) is dropped; lines end with LF, CRLF
// or a bare CR (classic Mac OS), read alike.

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
)

type importRow struct {
	email, userID, name string
	roles, grants       []string
}

// MaxImportRows bounds one ImportMembers command.
const MaxImportRows = 10000

// NormalizeImportCSV is an ImportMembers CSV as it is parsed: one leading byte order mark
// dropped, and each bare CR (not followed by LF) outside a quoted field made LF, so a CSV with
// classic Mac OS line ends reads as lines. A CR inside a quoted field is left (a control
// character in a value, refused as such); CRLF is left to encoding/csv.
func NormalizeImportCSV(text string) string {
	text = strings.TrimPrefix(text, "\ufeff")
	if !strings.Contains(text, "\r") {
		return text
	}
	b := []byte(text)
	quoted := false
	for i, c := range b {
		switch {
		case c == '"':
			// A doubled quote inside a quoted field flips twice: the state is right after it.
			quoted = !quoted
		case c == '\r' && !quoted && (i+1 == len(b) || b[i+1] != '\n'):
			b[i] = '\n'
		}
	}
	return string(b)
}

func parseImportCSV(text string) ([]importRow, error) {
	r := csv.NewReader(strings.NewReader(NormalizeImportCSV(text)))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, invalidf("csv: header email,user_id,name,roles,grants is missing")
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"email", "user_id", "name", "roles", "grants"} {
		if _, ok := col[need]; !ok {
			return nil, invalidf("csv: header needs column %q (email,user_id,name,roles,grants)", need)
		}
	}
	var rows []importRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalidf("csv: %v", err)
		}
		if len(rows) >= MaxImportRows {
			return nil, invalidf("csv has more than %d rows; the limit is %d rows per command: split the import", MaxImportRows, MaxImportRows)
		}
		for i, field := range rec {
			for _, r := range field {
				if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
					return nil, invalidf("csv row %d, column %d holds the control character %U; control characters are not allowed", len(rows)+1, i+1, r)
				}
			}
		}
		get := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		rows = append(rows, importRow{email: get("email"), userID: get("user_id"), name: get("name"),
			roles: splitList(get("roles")), grants: splitList(get("grants"))})
	}
	return rows, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
