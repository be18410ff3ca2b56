package queries_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"roster/client"
)

// Each query decodes into the client's request type of the same name: every key of that
// type is accepted (with a value of its type) and a key outside it is refused, so the wire
// and the typed client cannot drift apart.
func TestQueriesDecodeTheClientRequestTypes(t *testing.T) {
	q := newQueries(t)
	types := map[string]any{
		client.QCheck: client.Check{}, client.QPermissions: client.Permissions{}, client.QWhoCan: client.WhoCan{},
		client.QListMembers: client.ListMembers{}, client.QListProjects: client.ListProjects{}, client.QGetProject: client.GetProject{},
		client.QListInvitations: client.ListInvitations{}, client.QCatalog: client.Catalog{}, client.QAudit: client.Audit{},
		client.QAccessAt: client.AccessAt{}, client.QStatus: client.StatusRequest{},
	}
	for _, name := range client.QueryNames() {
		req, ok := types[name]
		if !ok {
			t.Fatalf("query %s has no client request type in this test", name)
		}
		body := map[string]any{}
		rt := reflect.TypeOf(req)
		for i := range rt.NumField() {
			key, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			body[key] = reflect.Zero(rt.Field(i).Type).Interface()
			if rt.Field(i).Type.Kind() == reflect.Map {
				body[key] = map[string]any{}
			}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reply, _, _ := q.Answer(context.Background(), name, raw, true)
		if s := string(reply); strings.Contains(s, "malformed JSON") || strings.Contains(s, "key ") {
			t.Errorf("%s refused the keys of client.%s: %s", name, rt.Name(), s)
		}
		body["not_a_field"] = 1
		raw, _ = json.Marshal(body)
		reply, code, _ := q.Answer(context.Background(), name, raw, true)
		if code != client.CodeInvalid || !strings.Contains(string(reply), "not_a_field") {
			t.Errorf("%s accepted a key outside client.%s: %s %s", name, rt.Name(), code, reply)
		}
	}
}
