package queries_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"roster/client"
	"roster/domain"
	"roster/internal/edge"
	"roster/projections"
	"roster/queries"
)

func newQueries(t *testing.T) *queries.Queries { return newQueriesWith(t, nil) }

// newQueriesWith is newQueries with its configuration changed by edit.
func newQueriesWith(t *testing.T, edit func(*queries.Config)) *queries.Queries {
	t.Helper()
	store, presets := history(t)
	quiet := slog.New(slog.DiscardHandler)
	members := projections.NewView("members", presets, nil, quiet)
	perms := projections.NewView("permissions", presets, nil, quiet)
	for _, v := range []*projections.View{members, perms} {
		if err := v.CatchUp(context.Background(), store); err != nil {
			t.Fatal(err)
		}
	}
	cfg := queries.Config{Members: members, Permissions: perms, History: projections.StoreHistory{Store: store}, Presets: presets}
	if edit != nil {
		edit(&cfg)
	}
	q, err := queries.NewQueries(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Whether a query may be answered on the subscription's goroutine is a value the caller
// reads and passes: the table says which queries always read the log, and Answer with
// mayBlock false leaves unanswered (no reply, no code) what would wait or read the log.
func TestAnswerSaysWhenAQueryWouldBlock(t *testing.T) {
	q := newQueries(t)
	ctx := context.Background()
	for _, name := range client.QueryNames() {
		want := name == client.QAudit || name == client.QAccessAt || name == client.QStatus
		if got := q.Blocks(name); got != want {
			t.Errorf("Blocks(%s) = %v, want %v", name, got, want)
		}
	}
	if q.Blocks("Nope") {
		t.Error("an unknown query blocks")
	}
	cases := []struct {
		name, query, body string
		answered          bool
	}{
		{"held by the view", client.QCheck, `{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.view"}`, true},
		{"min_position reached", client.QCheck, `{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.view","min_position":3}`, true},
		{"min_position ahead", client.QCheck, `{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.view","min_position":99,"wait_ms":1}`, false},
		{"explain reads the log", client.QCheck, `{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"project.content.view","explain":true}`, false},
		{"list ahead", client.QListMembers, `{"org_id":"acme","min_position":99,"wait_ms":1}`, false},
		{"audit", client.QAudit, `{"org_id":"acme"}`, false},
		{"refused at once", client.QCheck, `{"org_id":"acme"}`, true},
		{"unknown query", "Nope", `{}`, true},
	}
	for _, c := range cases {
		reply, code, answered := q.Answer(ctx, c.query, []byte(c.body), false)
		if answered != c.answered {
			t.Errorf("%s: answered = %v, want %v (%s %s)", c.name, answered, c.answered, code, reply)
		}
		if !answered && (reply != nil || code != "") {
			t.Errorf("%s: unanswered but replied %q %q", c.name, code, reply)
		}
		// Allowed to block, every query is answered.
		if _, _, answered := q.Answer(ctx, c.query, []byte(c.body), true); !answered {
			t.Errorf("%s: not answered with mayBlock", c.name)
		}
	}
}

// The views return a Go error for an organization they do not hold; the edge maps it to
// not_found with the message the wire has always carried.
func TestOrgNotFoundIsMappedAtTheEdge(t *testing.T) {
	q := newQueries(t)
	_, _, _, err := projections.NewView("p", nil, nil, slog.New(slog.DiscardHandler)).Check("ghost", "bob", "x", domain.Scope{}, nil)
	if !errors.Is(err, projections.ErrOrgNotFound) {
		t.Fatalf("view error %v does not match ErrOrgNotFound", err)
	}
	if code, msg := edge.CodeOf(err); code != client.CodeNotFound || msg != "organization ghost not found" {
		t.Fatalf("edge maps it to %s %q", code, msg)
	}
	reply, code := q.Execute(context.Background(), client.QCheck, []byte(`{"org_id":"ghost","user_id":"bob","permission":"project.content.view"}`))
	if code != client.CodeNotFound || string(reply) != `{"ok":false,"error":{"code":"not_found","message":"organization ghost not found"}}` {
		t.Fatalf("Check of an unknown organization: %s %s", code, reply)
	}
}
