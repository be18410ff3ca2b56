package domain

// The CSV format of ImportMembers: header email,user_id,name,roles,grants; lists split on ";".

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

func parseImportCSV(text string) ([]importRow, error) {
	r := csv.NewReader(strings.NewReader(text))
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
