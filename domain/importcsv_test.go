package domain

import "testing"

// One leading byte order mark is dropped; a bare CR outside quotes ends a line, CRLF and a CR
// inside a quoted value are left as they are.
func TestNormalizeImportCSV(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a,b\nc,d\n", "a,b\nc,d\n"},
		{"\ufeffa,b\nc,d\n", "a,b\nc,d\n"},
		{"\ufeff\ufeffa,b\n", "\ufeffa,b\n"},
		{"a,b\rc,d\r", "a,b\nc,d\n"},
		{"a,b\rc,d", "a,b\nc,d"},
		{"a,b\r\nc,d\r\n", "a,b\r\nc,d\r\n"},
		{"a,b\r\r\nc", "a,b\n\r\nc"},
		{"a,\"x\ry\"\rc,\"\"\"q\"\"\"\rd", "a,\"x\ry\"\nc,\"\"\"q\"\"\"\nd"},
		{"a,\ufeffb\n", "a,\ufeffb\n"},
	} {
		if got := NormalizeImportCSV(tc.in); got != tc.want {
			t.Errorf("NormalizeImportCSV(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// parseImportCSV reads a bare-CR CSV with a byte order mark as rows.
func TestParseImportCSVBareCRAndBOM(t *testing.T) {
	rows, err := parseImportCSV("\ufeffemail,user_id,name,roles,grants\ra@x.test,,Ann,viewer;editor,\r,u2,Bob,viewer,")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].email != "a@x.test" || len(rows[0].roles) != 2 || rows[1].userID != "u2" || rows[1].name != "Bob" {
		t.Fatalf("rows %+v", rows)
	}
}
