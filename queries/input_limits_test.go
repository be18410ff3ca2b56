package queries_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"roster/client"
	"roster/internal/edge"
)

// A Check whose context nests 300,000 objects deep (600 KB) is refused invalid naming the
// nesting limit; the key check used to walk it recursively, building the whole path at every
// level, for seconds and gigabytes.
func TestDeeplyNestedQueryIsRefused(t *testing.T) {
	q := newQueries(t)
	const levels = 100_000
	body := `{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.view","context":` +
		strings.Repeat(`{"a":`, levels) + "1" + strings.Repeat("}", levels) + "}"
	if len(body) < 600_000 {
		t.Fatalf("body is %d bytes", len(body))
	}
	reply, code := q.Execute(context.Background(), client.QCheck, []byte(body))
	if code != client.CodeInvalid {
		t.Fatalf("code %q, want invalid: %s", code, reply)
	}
	msg := replyMessage(t, reply)
	for _, w := range []string{"MaxJSONDepth", fmt.Sprint(edge.MaxJSONDepth), "context.a.a"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not name %q", msg, w)
		}
	}
}

// validQueries is a request each query answers ok on the test history (its closing brace
// left off, to add fields).
var validQueries = map[string]string{
	client.QCheck:           `{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.view"`,
	client.QPermissions:     `{"org_id":"acme","project_id":"p1","user_id":"bob"`,
	client.QWhoCan:          `{"org_id":"acme","project_id":"p1","permission":"project.content.view"`,
	client.QListMembers:     `{"org_id":"acme"`,
	client.QListProjects:    `{"org_id":"acme","user_id":"bob"`,
	client.QGetProject:      `{"org_id":"acme","project_id":"p1"`,
	client.QListInvitations: `{"org_id":"acme"`,
	client.QCatalog:         `{"org_id":"acme"`,
	client.QAudit:           `{"org_id":"acme"`,
	client.QAccessAt:        `{"org_id":"acme","project_id":"p1","user_id":"bob","position":1`,
	client.QStatus:          `{`,
}

// wait_ms must be 0 (the default) to 30,000 in every query: -5 used to mean 2 s, 31,000 30 s,
// and 9223372036854775 overflowed to a negative wait answered at once.
func TestWaitMSOutOfRangeIsRefused(t *testing.T) {
	q := newQueries(t)
	for _, name := range client.QueryNames() {
		valid, ok := validQueries[name]
		if !ok {
			t.Errorf("no valid request for %s", name)
			continue
		}
		sep := ","
		if valid == "{" {
			sep = ""
		}
		for _, ms := range []string{"0", "1", "30000"} {
			body := valid + sep + `"min_position":1,"wait_ms":` + ms + `}`
			if reply, code := q.Execute(context.Background(), name, []byte(body)); code != "" {
				t.Errorf("%s wait_ms %s: %s %s", name, ms, code, reply)
			}
		}
		for _, ms := range []string{"-5", "30001", "31000", "9223372036854775"} {
			body := valid + sep + `"min_position":99,"wait_ms":` + ms + `}`
			reply, code := q.Execute(context.Background(), name, []byte(body))
			if code != client.CodeInvalid {
				t.Errorf("%s wait_ms %s: code %q, want invalid: %s", name, ms, code, reply)
				continue
			}
			msg := replyMessage(t, reply)
			if !strings.Contains(msg, "wait_ms") || !strings.Contains(msg, "30000") {
				t.Errorf("%s wait_ms %s: message %q does not name wait_ms and 30000", name, ms, msg)
			}
		}
	}
}

// Every list query's limit must be 0 (the default) to its documented maximum: a larger one
// used to be clamped silently, and a negative one refused only by some.
func TestPageLimitOutOfRangeIsRefused(t *testing.T) {
	q := newQueries(t)
	for _, name := range []string{client.QListMembers, client.QAudit, client.QListProjects, client.QListInvitations, client.QWhoCan} {
		body := validQueries[name] + `,"limit":%s}`
		for _, n := range []string{"-1", "1001", "99999", "100000000"} {
			reply, code := q.Execute(context.Background(), name, []byte(fmt.Sprintf(body, n)))
			if code != client.CodeInvalid {
				t.Errorf("%s limit %s: code %q, want invalid: %s", name, n, code, reply)
				continue
			}
			msg := replyMessage(t, reply)
			if !strings.Contains(msg, "limit") || !strings.Contains(msg, "1000") {
				t.Errorf("%s limit %s: message %q does not name limit and 1000", name, n, msg)
			}
		}
		for _, n := range []string{"0", "1", "1000"} {
			if reply, code := q.Execute(context.Background(), name, []byte(fmt.Sprintf(body, n))); code != "" {
				t.Errorf("%s limit %s: %s %s", name, n, code, reply)
			}
		}
	}
}

// A query body that is not UTF-8 is refused rather than read with U+FFFD in place.
func TestQueryNotUTF8IsRefused(t *testing.T) {
	q := newQueries(t)
	body := []byte("{\"org_id\":\"acme\",\"project_id\":\"p1\",\"user_id\":\"bob\xff\",\"permission\":\"project.content.view\"}")
	reply, code := q.Execute(context.Background(), client.QCheck, body)
	if code != client.CodeInvalid || !strings.Contains(replyMessage(t, reply), "UTF-8") {
		t.Fatalf("code %q, want invalid naming UTF-8: %s", code, reply)
	}
}

func replyMessage(t *testing.T, reply []byte) string {
	t.Helper()
	var r struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	return r.Error.Message
}
