package commands_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

var fuzzPresets = domain.MustLoadPresets()

// wireCodes are the error codes of API.md.
var wireCodes = []string{client.CodeInvalid, client.CodeNotFound, client.CodeForbidden, client.CodeConflict,
	client.CodePreconditionFailed, client.CodeUnavailable}

// fuzzOrgs are the organizations of the fixture; they share user, project, workgroup and
// invitation ids on purpose, so that a command leaking across organizations shows.
var fuzzOrgs = []string{"acme", "globex", "solo"}

// fixture is a command service over a memory log holding three organizations.
func fixture(tb testing.TB) (*commands.Service, *eventstore.MemoryStore) {
	tb.Helper()
	store := eventstore.NewMemory()
	n := 0
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	svc, err := commands.New(commands.Config{Presets: fuzzPresets, Store: store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    func() time.Time { return now },
		NewID:  func() string { n++; return fmt.Sprintf("id-%d", n) }})
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range fixtureCommands() {
		body, _ := json.Marshal(c.body)
		if reply, code := svc.Execute(context.Background(), c.name, body); code != "" {
			tb.Fatalf("fixture %s %s: %s", c.name, body, reply)
		}
	}
	return svc, store
}

type namedCommand struct {
	name string
	body map[string]any
}

func fixtureCommands() []namedCommand {
	type obj = map[string]any
	var out []namedCommand
	add := func(name string, body obj) { out = append(out, namedCommand{name, body}) }
	// acme: Neptune team.
	add("CreateOrganization", obj{"org_id": "acme", "actor": "ann", "kind": "team", "preset": "neptune", "actor_email": "ann@shared.test"})
	add("AddOrgMember", obj{"org_id": "acme", "actor": "ann", "user_id": "bob", "email": "bob@shared.test", "name": "Bob"})
	add("AddOrgMember", obj{"org_id": "acme", "actor": "ann", "user_id": "cy", "email": "cy@shared.test", "name": "Cy"})
	add("CreateWorkgroup", obj{"org_id": "acme", "actor": "ann", "group_id": "g1", "name": "Group"})
	add("AddWorkgroupMember", obj{"org_id": "acme", "actor": "ann", "group_id": "g1", "user_id": "bob"})
	add("CreateProject", obj{"org_id": "acme", "actor": "ann", "project_id": "p1", "name": "Acme P1"})
	add("AddMember", obj{"org_id": "acme", "actor": "ann", "project_id": "p1", "user_id": "bob", "roles": []string{"contributor"}})
	add("AddMember", obj{"org_id": "acme", "actor": "ann", "project_id": "p1", "group_id": "g1", "roles": []string{"viewer"}})
	add("InviteMember", obj{"org_id": "acme", "actor": "ann", "project_id": "p1", "user_id": "cy", "roles": []string{"viewer"}, "invitation_id": "i1"})
	add("CreateProject", obj{"org_id": "acme", "actor": "ann", "project_id": "p2", "name": "Acme P2", "visibility": "public"})
	add("ArchiveProject", obj{"org_id": "acme", "actor": "ann", "project_id": "p2"})
	// globex: Dataloop team, same ids.
	add("CreateOrganization", obj{"org_id": "globex", "actor": "ann", "kind": "team", "preset": "dataloop", "actor_email": "ann@shared.test"})
	add("AddOrgMember", obj{"org_id": "globex", "actor": "ann", "user_id": "bob", "email": "bob@shared.test", "name": "Bob"})
	add("AddOrgMember", obj{"org_id": "globex", "actor": "ann", "user_id": "cy", "email": "cy@shared.test", "name": "Cy"})
	add("CreateWorkgroup", obj{"org_id": "globex", "actor": "ann", "group_id": "g1", "name": "Group"})
	add("CreateProject", obj{"org_id": "globex", "actor": "ann", "project_id": "p1", "name": "Globex P1"})
	add("AddMember", obj{"org_id": "globex", "actor": "ann", "project_id": "p1", "user_id": "bob", "roles": []string{"developer"}})
	add("AddPartner", obj{"org_id": "globex", "actor": "ann", "project_id": "p1", "partner_id": "pa1", "name": "Labelers",
		"admin_email": "shared@x.test", "invitation_id": "i1"})
	add("InviteMember", obj{"org_id": "globex", "actor": "ann", "project_id": "p1", "email": "guest@x.test", "roles": []string{"annotator"}, "invitation_id": "i2"})
	// solo: Neptune individual.
	add("CreateOrganization", obj{"org_id": "solo", "actor": "ann", "kind": "individual", "preset": "neptune"})
	add("CreateProject", obj{"org_id": "solo", "actor": "ann", "project_id": "p1", "name": "Solo P1", "visibility": "public"})
	return out
}

// FuzzCommandDecoding sends any name and body to Service.Execute over a log holding three
// organizations. The reply is always JSON: ok:true, or ok:false with an API.md error code.
// A refusal or a dry run appends nothing; an accepted command appends only to the stream of
// the organization it names; a repeated command_id returns the first reply and appends
// nothing; no organization is left breaking a rule of SPEC §2.
func FuzzCommandDecoding(f *testing.F) {
	for _, c := range fixtureCommands() {
		body, _ := json.Marshal(c.body)
		f.Add(c.name, body)
	}
	f.Add("AddMember", []byte(`{"org_id":"acme","actor":"ann","project_id":"p1","user_id":"cy","roles":["owner"],"command_id":"c1"}`))
	f.Add("RemoveOrgMember", []byte(`{"org_id":"globex","actor":"ann","user_id":"ann"}`))
	f.Add("ChangeRole", []byte(`{"org_id":"acme","actor":"bob","project_id":"p1","user_id":"ann","roles":["viewer"],"dry_run":true}`))
	f.Add("AcceptInvite", []byte(`{"org_id":"globex","actor":"zed","invitation_id":"i1","actor_email":"shared@x.test"}`))
	f.Add("ImportMembers", []byte(`{"org_id":"acme","actor":"ann","project_id":"p1","csv":"email,user_id,name,roles,grants\n,cy,Cy,viewer,\n"}`))
	f.Add("AddMember", []byte(`{"org_id":"acme.>","actor":"ann","project_id":"p1","user_id":"cy","roles":["viewer"]}`))
	f.Add("Nope", []byte(`{}`))
	f.Add("AddMember", []byte(`{"org_id":"acme","org_id":"globex","actor":"ann","project_id":"p1","user_id":"cy","roles":["developer"]}`))
	f.Add("AddMember", []byte(`{"org_id":"acme","actor":"ann","project_id":"p1","user_id":"cy","roles":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`))
	f.Add("RenameProject", []byte("{\"org_id\":\"acme\",\"actor\":\"ann\",\"project_id\":\"p1\",\"name\":\"a\\u202e\\ud800\xffb\"}"))
	f.Add("CreateProject", []byte(`{"org_id":"acme","actor":"ann","name":"x"} {}`))
	f.Add("AddMember", []byte(`[1,2,3]`))
	f.Add("InviteMember", []byte(`{"ORG_ID":"acme","actor":"ann","email":"x@y.z","project_id":"p1","roles":"viewer"}`))
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		svc, store := fixture(t)
		ctx := context.Background()
		before := head(t, store)
		reply, code := svc.Execute(ctx, name, body)
		rep := checkReply(t, name, body, reply, code)
		after := head(t, store)
		var meta struct {
			OrgID     string `json:"org_id"`
			CommandID string `json:"command_id"`
			DryRun    bool   `json:"dry_run"`
		}
		metaOK := json.Unmarshal(body, &meta) == nil
		switch {
		case !rep.OK || rep.DryRun:
			if after != before {
				t.Fatalf("%s %q: refused or dry run, yet the log moved from %d to %d: %s", name, body, before, after, reply)
			}
		default:
			if got := after - before; got != uint64(len(rep.Events)) {
				t.Fatalf("%s %q: reply names %d events, the log grew by %d: %s", name, body, len(rep.Events), got, reply)
			}
			recs, err := store.Read(ctx, before+1, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range recs {
				if r.Position != rep.Events[i].Position || r.Type != rep.Events[i].Type || r.ID != rep.Events[i].ID {
					t.Fatalf("%s: reply event %d %+v, log has %s at %d", name, i, rep.Events[i], r.Type, r.Position)
				}
				if !metaOK || r.OrgID != meta.OrgID || r.Stream != commands.StreamOf(meta.OrgID) {
					t.Fatalf("%s %q: accepted command appended %s to stream %s (org %s)", name, body, r.Type, r.Stream, r.OrgID)
				}
			}
			if len(recs) > 0 && rep.Position != after {
				t.Fatalf("%s: reply position %d, log head %d", name, rep.Position, after)
			}
			if metaOK && meta.CommandID != "" {
				again, code2 := svc.Execute(ctx, name, body)
				if code2 != "" || !bytes.Equal(again, reply) {
					t.Fatalf("%s %q: repeated command_id answered %s (code %q), first reply %s", name, body, again, code2, reply)
				}
				if h := head(t, store); h != after {
					t.Fatalf("%s: repeated command_id appended (head %d -> %d)", name, after, h)
				}
			}
		}
		orgs := slices.Clone(fuzzOrgs)
		if metaOK && domain.ValidID(meta.OrgID) && !slices.Contains(orgs, meta.OrgID) {
			orgs = append(orgs, meta.OrgID)
		}
		for _, id := range orgs {
			o, err := commands.LoadOrg(ctx, store, fuzzPresets, id)
			if err != nil {
				t.Fatalf("reload %s: %v", id, err)
			}
			if v := o.Violations(); len(v) > 0 {
				t.Fatalf("%s %q left organization %s breaking §2: %v", name, body, id, v)
			}
		}
	})
}

func head(t *testing.T, store eventstore.Store) uint64 {
	t.Helper()
	h, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkReply asserts a reply is a well-formed CommandReply that agrees with the returned code.
func checkReply(t *testing.T, name string, body, reply []byte, code string) client.CommandReply {
	t.Helper()
	if !json.Valid(reply) {
		t.Fatalf("%s %q: reply is not JSON: %q", name, body, reply)
	}
	var rep client.CommandReply
	dec := json.NewDecoder(bytes.NewReader(reply))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%s %q: reply %s does not decode as a command reply: %v", name, body, reply, err)
	}
	if rep.OK {
		if code != "" || rep.Error != nil {
			t.Fatalf("%s %q: ok reply with code %q: %s", name, body, code, reply)
		}
		return rep
	}
	if rep.Error == nil || !slices.Contains(wireCodes, rep.Error.Code) || rep.Error.Code != code || rep.Error.Message == "" {
		t.Fatalf("%s %q: refusal %s (code %q) lacks an API.md error", name, body, reply, code)
	}
	if code == client.CodeUnavailable {
		// The memory log never fails: unavailable here is an internal error.
		t.Fatalf("%s %q: internal error: %s", name, body, reply)
	}
	return rep
}
