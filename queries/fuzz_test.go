package queries_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/edge"
	"roster/projections"
	"roster/queries"
)

var wireCodes = []string{client.CodeInvalid, client.CodeNotFound, client.CodeForbidden, client.CodeConflict,
	client.CodePreconditionFailed, client.CodeUnavailable}

type obj = map[string]any

// queryFixture is a small history of three organizations with overlapping ids
// (users, projects, workgroups, invitations, e-mails), folded into both views.
type queryFixture struct {
	q        *queries.Queries
	store    *eventstore.MemoryStore
	members  *projections.View
	perms    *projections.View
	head     uint64
	digestM  string
	digestP  string
	recordAt map[string][]uint64 // org -> positions of its events
}

var (
	fixtureOnce sync.Once
	fixtureVal  *queryFixture
	fixtureErr  error
)

func historyCommands() []struct {
	name string
	body obj
} {
	var out []struct {
		name string
		body obj
	}
	add := func(name string, body obj) {
		out = append(out, struct {
			name string
			body obj
		}{name, body})
	}
	for _, org := range []struct{ id, preset, role string }{{"acme", "neptune", "contributor"}, {"globex", "dataloop", "developer"}} {
		add("CreateOrganization", obj{"org_id": org.id, "actor": "ann", "kind": "team", "preset": org.preset, "actor_email": "ann@shared.test"})
		add("AddOrgMember", obj{"org_id": org.id, "actor": "ann", "user_id": "bob", "email": "bob@shared.test", "name": "Bob " + org.id})
		add("AddOrgMember", obj{"org_id": org.id, "actor": "ann", "user_id": "cy", "email": "cy@shared.test", "name": "Cy"})
		add("CreateWorkgroup", obj{"org_id": org.id, "actor": "ann", "group_id": "g1", "name": "Group " + org.id})
		add("AddWorkgroupMember", obj{"org_id": org.id, "actor": "ann", "group_id": "g1", "user_id": "cy"})
		add("CreateProject", obj{"org_id": org.id, "actor": "ann", "project_id": "p1", "name": "P1 of " + org.id})
		add("CreateProject", obj{"org_id": org.id, "actor": "ann", "project_id": "p2", "name": "P2 of " + org.id, "visibility": "public"})
		add("AddMember", obj{"org_id": org.id, "actor": "ann", "project_id": "p1", "user_id": "bob", "roles": []string{org.role}})
		add("AddMember", obj{"org_id": org.id, "actor": "ann", "project_id": "p1", "group_id": "g1", "roles": []string{org.role}})
		add("InviteMember", obj{"org_id": org.id, "actor": "ann", "project_id": "p2", "user_id": "cy", "roles": []string{org.role}, "invitation_id": "i1"})
		add("ArchiveProject", obj{"org_id": org.id, "actor": "ann", "project_id": "p2"})
	}
	add("AddPartner", obj{"org_id": "globex", "actor": "ann", "project_id": "p1", "partner_id": "pa1", "name": "Labelers",
		"admin_email": "shared@x.test", "invitation_id": "i2"})
	add("InviteMember", obj{"org_id": "globex", "actor": "ann", "project_id": "p1", "email": "cy@shared.test", "roles": []string{"annotator"}, "invitation_id": "i3"})
	add("InviteMember", obj{"org_id": "acme", "actor": "ann", "project_id": "p1", "email": "cy@shared.test", "roles": []string{"viewer"}, "invitation_id": "i3"})
	add("CreateOrganization", obj{"org_id": "solo", "actor": "ann", "kind": "individual", "preset": "neptune"})
	add("CreateProject", obj{"org_id": "solo", "actor": "ann", "project_id": "p1", "name": "Solo", "visibility": "public"})
	add("InviteMember", obj{"org_id": "solo", "actor": "ann", "project_id": "p1", "user_id": "bob", "roles": []string{"viewer"}, "invitation_id": "i1"})
	add("AcceptInvite", obj{"org_id": "solo", "actor": "bob", "invitation_id": "i1"})
	return out
}

func loadFixture() (*queryFixture, error) {
	fixtureOnce.Do(func() { fixtureVal, fixtureErr = buildFixture() })
	return fixtureVal, fixtureErr
}

func buildFixture() (*queryFixture, error) {
	ctx := context.Background()
	presets := domain.MustLoadPresets()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := eventstore.NewMemory()
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	n := 0
	svc, err := commands.New(commands.Config{Presets: presets, Store: store, Logger: logger,
		Now: func() time.Time { now = now.Add(time.Minute); return now }, NewID: func() string { n++; return fmt.Sprintf("id-%d", n) }})
	if err != nil {
		return nil, err
	}
	for _, c := range historyCommands() {
		body, _ := json.Marshal(c.body)
		if reply, code := svc.Execute(ctx, c.name, body); code != "" {
			return nil, fmt.Errorf("history %s %s: %s", c.name, body, reply)
		}
	}
	fx := &queryFixture{store: store, recordAt: map[string][]uint64{}}
	fx.members = projections.NewView("members", presets, nil, logger)
	fx.perms = projections.NewView("permissions", presets, nil, logger)
	for _, v := range []*projections.View{fx.members, fx.perms} {
		if err := v.CatchUp(ctx, store); err != nil {
			return nil, err
		}
	}
	if fx.head, err = store.Head(ctx); err != nil {
		return nil, err
	}
	recs, _ := store.Read(ctx, 1, 0)
	for _, r := range recs {
		fx.recordAt[r.OrgID] = append(fx.recordAt[r.OrgID], r.Position)
	}
	if _, fx.digestM, err = fx.members.Digest(); err != nil {
		return nil, err
	}
	if _, fx.digestP, err = fx.perms.Digest(); err != nil {
		return nil, err
	}
	fx.q, err = queries.NewQueries(queries.Config{Members: fx.members, Permissions: fx.perms, History: projections.StoreHistory{Store: store}, Presets: presets,
		Logger: logger, Now: func() time.Time { return time.Date(2026, 1, 6, 9, 0, 0, 0, time.UTC) }})
	return fx, err
}

// queryDeadline bounds one query of the fuzz target: a min_position past the head waits at
// most this long (the request's own wait_ms is capped by the context) and answers unavailable.
const queryDeadline = 50 * time.Millisecond

// FuzzQueryDecoding asks any query name and body of Queries.Execute over views of a small history.
// The reply is always JSON: ok:true with a result, or ok:false with an API.md code; it never hangs;
// it never changes the views; and a query naming an organization answers only with that
// organization's data (every org_id and stream in the result is that organization's).
func FuzzQueryDecoding(f *testing.F) {
	for _, seed := range querySeeds() {
		f.Add(seed.name, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		fx, err := loadFixture()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), queryDeadline)
		defer cancel()
		start := time.Now()
		reply, code := fx.q.Execute(ctx, name, body)
		if d := time.Since(start); d > queryDeadline+5*time.Second {
			t.Fatalf("%s %q took %s", name, body, d)
		}
		rep := checkQueryReply(t, name, body, reply, code)
		// The views are read-only to queries.
		if _, d, _ := fx.members.Digest(); d != fx.digestM {
			t.Fatalf("%s %q changed the members view", name, body)
		}
		if _, d, _ := fx.perms.Digest(); d != fx.digestP {
			t.Fatalf("%s %q changed the permissions view", name, body)
		}
		if !rep.OK {
			return
		}
		var req struct {
			OrgID string `json:"org_id"`
		}
		if json.Unmarshal(body, &req) != nil || req.OrgID == "" {
			return
		}
		var result any
		if err := json.Unmarshal(rep.Result, &result); err != nil {
			t.Fatalf("%s: result %s: %v", name, rep.Result, err)
		}
		assertOneOrg(t, name, body, req.OrgID, fx.recordAt[req.OrgID], result)
	})
}

// assertOneOrg walks a result: every org_id must be org's, every stream org's stream, and
// every event position one of org's events.
func assertOneOrg(t *testing.T, name string, body []byte, org string, positions []uint64, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			s, isStr := val.(string)
			switch {
			case k == "org_id" && isStr && s != org:
				t.Fatalf("%s %q names org %s but answers with org %s data: %v", name, body, org, s, x)
			case k == "stream" && isStr && s != edge.StreamOf(org):
				t.Fatalf("%s %q names org %s but answers with stream %s: %v", name, body, org, s, x)
			}
		}
		if _, isEvent := x["stream"]; isEvent {
			if p, ok := x["position"].(float64); ok && !slices.Contains(positions, uint64(p)) {
				t.Fatalf("%s %q names org %s but answers with the event at %v: %v", name, body, org, p, x)
			}
		}
		for _, val := range x {
			assertOneOrg(t, name, body, org, positions, val)
		}
	case []any:
		for _, val := range x {
			assertOneOrg(t, name, body, org, positions, val)
		}
	}
}

func checkQueryReply(t *testing.T, name string, body, reply []byte, code string) client.QueryReply {
	t.Helper()
	if !json.Valid(reply) {
		t.Fatalf("%s %q: reply is not JSON: %q", name, body, reply)
	}
	var rep client.QueryReply
	dec := json.NewDecoder(bytes.NewReader(reply))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%s %q: reply %s does not decode as a query reply: %v", name, body, reply, err)
	}
	if rep.OK {
		if code != "" || rep.Error != nil || len(rep.Result) == 0 {
			t.Fatalf("%s %q: ok reply with code %q or no result: %s", name, body, code, reply)
		}
		return rep
	}
	if rep.Error == nil || !slices.Contains(wireCodes, rep.Error.Code) || rep.Error.Code != code || rep.Error.Message == "" {
		t.Fatalf("%s %q: refusal %s (code %q) lacks an API.md error", name, body, reply, code)
	}
	return rep
}

type querySeed struct{ name, body string }

func querySeeds() []querySeed {
	return []querySeed{
		{"Check", `{"org_id":"acme","project_id":"p1","user_id":"bob","permission":"Editing project content"}`},
		{"Check", `{"org_id":"globex","project_id":"p1","user_id":"bob","permission":"task.delete","context":{"created_by":"bob"}}`},
		{"Permissions", `{"org_id":"acme","project_id":"p1","user_id":"cy"}`},
		{"WhoCan", `{"org_id":"globex","project_id":"p1","permission":"annotation.create"}`},
		{"ListMembers", `{"org_id":"globex","project_id":"p1","viewer":"bob","q":"b","limit":1}`},
		{"ListProjects", `{"user_id":"bob","include_archived":true}`},
		{"GetProject", `{"org_id":"acme","project_id":"p2"}`},
		{"ListInvitations", `{"email":"cy@shared.test"}`},
		{"ListInvitations", `{"org_id":"globex","email":"CY@shared.test"}`},
		{"ListInvitations", `{"org_id":"acme","user_id":"cy","status":"pending"}`},
		{"Catalog", `{"org_id":"solo"}`},
		{"Audit", `{"org_id":"acme","project_id":"p1","actor":"ann","since":"2026-01-01T00:00:00Z","limit":3}`},
		{"AccessAt", `{"org_id":"acme","project_id":"p1","user_id":"bob","position":9}`},
		{"AccessAt", `{"org_id":"globex","user_id":"bob","at":"2026-01-05T09:30:00Z"}`},
		{"Status", `{"digests":true}`},
		{"Status", `{"min_position":999999,"wait_ms":30000}`},
		{"Check", `{"org_id":"acme.*","user_id":"bob","permission":"x"}`},
		{"ListMembers", `{"org_id":"acme","page_token":"!!"}`},
		{"Nope", ``},
	}
}
