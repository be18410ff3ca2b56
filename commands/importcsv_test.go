package commands_test

import (
	"encoding/json"
	"strings"
	"testing"

	"roster/client"
)

// A CSV as Excel saves it (a byte order mark first) and one with classic Mac OS line ends (bare
// CR) import like the plain CSV; a U+FEFF anywhere but first is refused naming it and its byte.
func TestImportMembersCSVEncodings(t *testing.T) {
	const rows = "a@x.test,,Ann,project_viewer,\rb@x.test,,Bob,project_viewer,\r"
	accepted := []struct{ name, csv string }{
		{"byte order mark", "\ufeffemail,user_id,name,roles,grants\n" + strings.ReplaceAll(rows, "\r", "\n")},
		{"byte order mark and CRLF", "\ufeffemail,user_id,name,roles,grants\r\n" + strings.ReplaceAll(rows, "\r", "\r\n")},
		{"bare CR line ends", "email,user_id,name,roles,grants\r" + rows},
		{"byte order mark and bare CR", "\ufeffemail,user_id,name,roles,grants\r" + rows},
		{"bare CR without a final line end", "email,user_id,name,roles,grants\r" + strings.TrimSuffix(rows, "\r")},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := limitsService(t)
			rep, code := run(t, svc, "ImportMembers", mustBody(t, map[string]any{"org_id": "acme", "actor": "tina", "project_id": "p1", "csv": tc.csv}))
			if code != "" {
				t.Fatalf("refused %s: %+v", code, rep.Error)
			}
			res := decodeImport(t, rep)
			if len(res.Rows) != 2 || !res.Rows[0].OK || !res.Rows[1].OK {
				t.Fatalf("rows %+v, want 2 imported", res.Rows)
			}
			if len(rep.Events) != 2 {
				t.Fatalf("%d events, want 2 invitations", len(rep.Events))
			}
		})
	}
	refused := []struct {
		name, csv string
		want      []string
	}{
		{"byte order mark on a data row", "email,user_id,name,roles,grants\n\ufeffa@x.test,,Ann,project_viewer,\n", []string{"csv", "U+FEFF", "byte 32"}},
		{"second byte order mark", "\ufeff\ufeffemail,user_id,name,roles,grants\n", []string{"csv", "U+FEFF", "byte 3"}},
		{"byte order mark in a value", "\ufeffemail,user_id,name,roles,grants\na@x.test,,A\ufeffnn,project_viewer,\n", []string{"csv", "U+FEFF"}},
		{"bare CR inside a quoted value", "email,user_id,name,roles,grants\ra@x.test,,\"A\rnn\",project_viewer,\r", []string{"csv row 1, column 3", "U+000D"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			svc, store := limitsService(t)
			before, _ := store.Head(t.Context())
			rep, code := run(t, svc, "ImportMembers", mustBody(t, map[string]any{"org_id": "acme", "actor": "tina", "project_id": "p1", "csv": tc.csv}))
			if code != client.CodeInvalid {
				t.Fatalf("code %q, want invalid: %+v", code, rep)
			}
			for _, w := range tc.want {
				if !strings.Contains(rep.Error.Message, w) {
					t.Errorf("message %q does not name %q", rep.Error.Message, w)
				}
			}
			if after, _ := store.Head(t.Context()); after != before {
				t.Fatalf("head moved from %d to %d", before, after)
			}
		})
	}
}

func decodeImport(t *testing.T, rep client.CommandReply) client.ImportMembersResult {
	t.Helper()
	var res client.ImportMembersResult
	if err := json.Unmarshal(rep.Result, &res); err != nil {
		t.Fatalf("result %s: %v", rep.Result, err)
	}
	return res
}
