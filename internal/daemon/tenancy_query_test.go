package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/daemon"
	"roster/internal/edge"
)

// The query edge (issue 9): every answer is scoped to the caller. These tests run over a real
// in-process NATS server configured with accounts: applications ACME and GLOBEX, the user
// account PEOPLE (alice), the operator account OPS; here ACME also imports roster.admin.> so that
// an application's rebuild reaches rosterd and is refused there.

func tenancyConfig(t *testing.T) string {
	t.Helper()
	imports := `imports [
      { service: { account: ROSTER, subject: "roster.cmd.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.query.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.admin.>" }, share: true }
    ]`
	conf := fmt.Sprintf(`
accounts {
  ROSTER {
    exports [
      { service: "roster.cmd.>" }
      { service: "roster.query.>" }
      { service: "roster.admin.>", accounts: [OPS, ACME] }
    ]
  }
  ACME { users [ { user: acme, password: acme-pw } ]
    %[1]s
  }
  GLOBEX { users [ { user: globex, password: globex-pw } ]
    imports [
      { service: { account: ROSTER, subject: "roster.cmd.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.query.>" }, share: true }
    ]
  }
  PEOPLE { users [ { user: alice, password: alice-pw } ]
    imports [
      { service: { account: ROSTER, subject: "roster.cmd.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.query.>" }, share: true }
    ]
  }
  OPS { users [ { user: ops, password: ops-pw } ]
    %[1]s
  }
}
`, imports)
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// createOwned records CreateOrganization as decided for a caller of account: the organization
// belongs to that account (domain.Env.Account), whatever the command edge does with callers.
func createOwned(t *testing.T, d *daemon.Daemon, account, orgID, preset, actor string) uint64 {
	t.Helper()
	ctx := context.Background()
	presets, err := domain.LoadPresets()
	if err != nil {
		t.Fatal(err)
	}
	o, err := commands.LoadOrg(ctx, d.Store, presets, orgID)
	if err != nil {
		t.Fatal(err)
	}
	cmd := &domain.CreateOrganization{Kind: "team", Preset: preset}
	cmd.OrgID, cmd.Actor = orgID, actor
	out, err := domain.Decide(o, cmd, domain.Env{Now: time.Now(), InviteTTL: domain.DefaultInviteTTL, Account: account,
		NewID: commands.NewUUIDv7})
	if err != nil {
		t.Fatal(err)
	}
	var recs []eventstore.Record
	for _, ev := range out.Events {
		data, _ := json.Marshal(ev)
		recs = append(recs, eventstore.Record{ID: commands.NewUUIDv7(), Stream: edge.StreamOf(orgID), Type: ev.EventType(),
			Time: time.Now().UTC(), OrgID: orgID, Actor: actor, Data: data})
	}
	res, err := d.Store.Append(ctx, eventstore.AppendRequest{Stream: edge.StreamOf(orgID), Events: recs,
		Reply: func([]eventstore.Record) ([]byte, error) { return []byte(`{"ok":true}`), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return res.Records[len(res.Records)-1].Position
}

// reply is one raw answer: the body and the micro error code header.
type reply struct {
	Body string
	Code string
}

func ask(t *testing.T, nc *nats.Conn, subject string, req any) reply {
	t.Helper()
	body, _ := json.Marshal(req)
	msg, err := nc.Request(subject, body, 10*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	return reply{Body: string(msg.Data), Code: msg.Header.Get("Nats-Service-Error-Code")}
}

// result asks a query that must succeed and decodes its result.
func askOK(t *testing.T, nc *nats.Conn, name string, req map[string]any, out any) {
	t.Helper()
	rep := ask(t, nc, "roster.query."+name, req)
	var qr client.QueryReply
	if err := json.Unmarshal([]byte(rep.Body), &qr); err != nil || !qr.OK {
		t.Fatalf("%s %v: %s", name, req, rep.Body)
	}
	if err := json.Unmarshal(qr.Result, out); err != nil {
		t.Fatalf("%s result %s: %v", name, qr.Result, err)
	}
}

func cmdOK(t *testing.T, nc *nats.Conn, name string, req map[string]any) *client.CommandReply {
	t.Helper()
	rep := ask(t, nc, "roster.cmd."+name, req)
	var cr client.CommandReply
	if err := json.Unmarshal([]byte(rep.Body), &cr); err != nil || !cr.OK {
		t.Fatalf("%s %v: %s", name, req, rep.Body)
	}
	return &cr
}

func refusedWith(t *testing.T, what string, rep reply, code string) {
	t.Helper()
	var e struct {
		OK    bool `json:"ok"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(rep.Body), &e); err != nil || e.OK || e.Error.Code != code {
		t.Fatalf("%s: %s, want %s", what, rep.Body, code)
	}
}

// orgQueries asks every query about orgID (project p1, user dave).
func orgQueries(orgID string) map[string]map[string]any {
	return map[string]map[string]any{
		"Check":           {"org_id": orgID, "user_id": "dave", "permission": "Delete a task"},
		"Check explain":   {"org_id": orgID, "user_id": "dave", "permission": "Delete a task", "explain": true},
		"Permissions":     {"org_id": orgID, "user_id": "dave"},
		"WhoCan":          {"org_id": orgID, "permission": "Delete a task"},
		"ListMembers":     {"org_id": orgID},
		"ListProjects":    {"org_id": orgID, "user_id": "dave"},
		"GetProject":      {"org_id": orgID, "project_id": "p1"},
		"ListInvitations": {"org_id": orgID},
		"Catalog":         {"org_id": orgID},
		"Audit":           {"org_id": orgID},
		"AccessAt":        {"org_id": orgID, "user_id": "dave", "position": 1},
	}
}

func queryName(key string) string {
	if n, _, ok := bytes.Cut([]byte(key), []byte(" ")); ok {
		return string(n)
	}
	return key
}

type tenancyRig struct {
	d                        *daemon.Daemon
	acme, globex, alice, ops *nats.Conn
	head                     uint64
}

// dataloopTenant builds ACME's Dataloop organization dl: olga owns it, dave and amy work on
// project p1, the labeling company labelco (lead, alice) and otherco are its partners; PEOPLE is
// granted access. GLOBEX owns gx.
func dataloopTenant(t *testing.T) *tenancyRig {
	d := startSecured(t, tenancyConfig(t), nil)
	r := &tenancyRig{d: d, acme: connectAs(t, d, nats.UserInfo("acme", "acme-pw")), globex: connectAs(t, d, nats.UserInfo("globex", "globex-pw")),
		alice: connectAs(t, d, nats.UserInfo("alice", "alice-pw")), ops: connectAs(t, d, nats.UserInfo("ops", "ops-pw"))}
	createOwned(t, d, "ACME", "dl", "dataloop", "olga")
	cmd := func(name string, req map[string]any) *client.CommandReply {
		req["org_id"] = "dl"
		rep := cmdOK(t, r.acme, name, req)
		r.head = rep.Position
		return rep
	}
	accept := func(inv *client.CommandReply, actor, email string) {
		req := map[string]any{"actor": actor, "invitation_id": inv.InvitationID(), "actor_email": email}
		if tok := inv.InvitationToken(); tok != "" {
			req["token"] = tok
		}
		cmd("AcceptInvite", req)
	}
	cmd("AddOrgMember", map[string]any{"actor": "olga", "user_id": "dave", "email": "dave@dl.test", "name": "Dave"})
	cmd("AddOrgMember", map[string]any{"actor": "olga", "user_id": "amy", "email": "amy@dl.test", "name": "Amy"})
	cmd("CreateProject", map[string]any{"actor": "olga", "project_id": "p1", "name": "Cars"})
	cmd("AddMember", map[string]any{"actor": "olga", "project_id": "p1", "user_id": "dave", "roles": []string{"developer"}})
	cmd("AddMember", map[string]any{"actor": "olga", "project_id": "p1", "user_id": "amy", "roles": []string{"Annotation Manager"}})
	lc := cmd("AddPartner", map[string]any{"actor": "olga", "project_id": "p1", "partner_id": "labelco", "name": "LabelCo", "admin_email": "lead@labelco.test"})
	cmd("AddPartner", map[string]any{"actor": "olga", "project_id": "p1", "partner_id": "otherco", "name": "OtherCo", "admin_email": "boss@otherco.test"})
	accept(lc, "lead", "lead@labelco.test")
	inv := cmd("InviteMember", map[string]any{"actor": "lead", "project_id": "p1", "email": "alice@labelco.test", "roles": []string{"annotator"}})
	accept(inv, "alice", "alice@labelco.test")
	cmd("InviteMember", map[string]any{"actor": "lead", "project_id": "p1", "email": "bea@labelco.test", "roles": []string{"annotator"}})
	cmd("InviteMember", map[string]any{"actor": "olga", "project_id": "p1", "email": "carl@dl.test", "roles": []string{"developer"}})
	cmd("GrantOrganizationAccess", map[string]any{"actor": "olga", "account": "PEOPLE"})
	r.head = max(r.head, createOwned(t, d, "GLOBEX", "gx", "dataloop", "gina"))
	// Every view has applied everything before the tests read.
	var st client.Status
	askOK(t, r.ops, "Status", map[string]any{"min_position": r.head, "wait_ms": 10000}, &st)
	return r
}

func TestTenancyForeignOrganizationIsNotFoundByEveryQuery(t *testing.T) {
	d := startSecured(t, tenancyConfig(t), nil)
	globex := connectAs(t, d, nats.UserInfo("globex", "globex-pw"))
	acme := connectAs(t, d, nats.UserInfo("acme", "acme-pw"))
	// The replies for an organization that does not exist yet...
	before := map[string]reply{}
	for name, req := range orgQueries("dl") {
		before[name] = ask(t, globex, "roster.query."+queryName(name), req)
		refusedWith(t, "unknown "+name, before[name], client.CodeNotFound)
	}
	createOwned(t, d, "ACME", "dl", "dataloop", "olga")
	cmdOK(t, acme, "CreateProject", map[string]any{"org_id": "dl", "actor": "olga", "project_id": "p1", "name": "Cars"})
	pos := cmdOK(t, acme, "AddOrgMember", map[string]any{"org_id": "dl", "actor": "olga", "user_id": "dave", "email": "dave@dl.test"}).Position
	var st client.Status
	askOK(t, acme, "Status", map[string]any{"min_position": pos, "wait_ms": 10000}, &st)
	// ...are byte for byte the replies another tenant gets for it once it exists.
	for name, req := range orgQueries("dl") {
		req["min_position"] = pos
		got := ask(t, globex, "roster.query."+queryName(name), req)
		delete(req, "min_position")
		if got != before[name] {
			t.Fatalf("%s on ACME's organization from GLOBEX:\n got %+v\nwant %+v (an unknown id)", name, got, before[name])
		}
		// The owner is answered.
		if rep := ask(t, acme, "roster.query."+queryName(name), req); bytes.Contains([]byte(rep.Body), []byte(`"not_found"`)) {
			t.Fatalf("%s from the owner: %s", name, rep.Body)
		}
	}
}

func TestTenancyCrossOrganizationQueriesAnswerOwnOrganizations(t *testing.T) {
	r := dataloopTenant(t)
	projects := func(nc *nats.Conn, user string) []string {
		var l client.ProjectsList
		askOK(t, nc, "ListProjects", map[string]any{"user_id": user}, &l)
		out := []string{}
		for _, p := range l.Projects {
			out = append(out, p.OrgID+"/"+p.ProjectID)
		}
		return out
	}
	cmdOK(t, r.globex, "CreateProject", map[string]any{"org_id": "gx", "actor": "gina", "project_id": "g1", "name": "G"})
	cmdOK(t, r.globex, "AddOrgMember", map[string]any{"org_id": "gx", "actor": "gina", "user_id": "dave", "email": "dave@gx.test"})
	pos := cmdOK(t, r.globex, "AddMember", map[string]any{"org_id": "gx", "actor": "gina", "project_id": "g1", "user_id": "dave", "roles": []string{"developer"}}).Position
	var st client.Status
	askOK(t, r.ops, "Status", map[string]any{"min_position": pos, "wait_ms": 10000}, &st)
	for _, c := range []struct {
		who  string
		nc   *nats.Conn
		want []string
	}{
		{"ACME", r.acme, []string{"dl/p1"}},
		{"GLOBEX", r.globex, []string{"gx/g1"}},
		{"OPS", r.ops, []string{"dl/p1", "gx/g1"}},
	} {
		if got := projects(c.nc, "dave"); !slices.Equal(got, c.want) {
			t.Fatalf("%s ListProjects dave: %v, want %v", c.who, got, c.want)
		}
	}
	invitations := func(nc *nats.Conn, email string) int {
		var l client.InvitationsList
		askOK(t, nc, "ListInvitations", map[string]any{"email": email}, &l)
		return len(l.Invitations)
	}
	if n := invitations(r.globex, "carl@dl.test"); n != 0 {
		t.Fatalf("GLOBEX sees %d of ACME's invitations", n)
	}
	if n := invitations(r.acme, "carl@dl.test"); n != 1 {
		t.Fatalf("ACME sees %d of its invitations, want 1", n)
	}
	if n := invitations(r.ops, "carl@dl.test"); n != 1 {
		t.Fatalf("OPS sees %d invitations, want 1", n)
	}
	// Status: positions for everyone; digests and dead letters for operators only.
	var full, app client.Status
	askOK(t, r.ops, "Status", map[string]any{"digests": true}, &full)
	askOK(t, r.acme, "Status", map[string]any{}, &app)
	if full.DeadLetters == nil || full.Projections[0].Digest == "" {
		t.Fatalf("operator status %+v", full)
	}
	if app.DeadLetters != nil || app.Projections[0].Digest != "" {
		t.Fatalf("application status %+v shows operator details", app)
	}
	refusedWith(t, "application digests", ask(t, r.acme, "roster.query.Status", map[string]any{"digests": true}), client.CodeForbidden)
}

func TestTenancyGrantedAccountAndLabelingCompanyViewer(t *testing.T) {
	r := dataloopTenant(t)
	// PEOPLE was granted dl; alice is a labelco annotator on p1 and sees only labelco.
	var page client.MembersPage
	askOK(t, r.alice, "ListMembers", map[string]any{"org_id": "dl", "project_id": "p1"}, &page)
	got := []string{}
	for _, m := range page.Members {
		id := m.UserID
		if id == "" {
			id = m.Email
		}
		got = append(got, id+"@"+m.PartnerID)
	}
	want := []string{"alice@labelco", "lead@labelco", "bea@labelco.test@labelco"}
	if !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Fatalf("alice's ListMembers p1: %v, want %v", got, want)
	}
	// The same through an application passing viewer; without a viewer ACME sees everyone.
	var appPage client.MembersPage
	askOK(t, r.acme, "ListMembers", map[string]any{"org_id": "dl", "project_id": "p1", "viewer": "alice"}, &appPage)
	if !slices.EqualFunc(appPage.Members, page.Members, func(a, b client.Member) bool { return a.UserID == b.UserID && a.Email == b.Email }) {
		t.Fatalf("application with viewer alice: %+v", appPage.Members)
	}
	askOK(t, r.acme, "ListMembers", map[string]any{"org_id": "dl", "project_id": "p1"}, &appPage)
	if len(appPage.Members) <= len(page.Members) {
		t.Fatalf("the application without viewer sees %d members", len(appPage.Members))
	}
	// Organization-wide: the organization's own people are outside alice's company.
	askOK(t, r.alice, "ListMembers", map[string]any{"org_id": "dl"}, &page)
	if len(page.Members) != 0 {
		t.Fatalf("alice's organization-wide ListMembers: %+v", page.Members)
	}

	var proj client.Project
	askOK(t, r.alice, "GetProject", map[string]any{"org_id": "dl", "project_id": "p1"}, &proj)
	wantProj := client.Project{OrgID: "dl", ProjectID: "p1", Name: "Cars", Status: proj.Status, Visibility: proj.Visibility,
		CreatedBy: "", Owners: []string{}, Members: 2, Tracks: []client.TrackEntry{},
		Partners: []client.PartnerEntry{{PartnerID: "labelco", Name: "LabelCo", AdminEmail: "lead@labelco.test"}}}
	if gotJ, wantJ := mustJSON(t, proj), mustJSON(t, wantProj); !bytes.Equal(gotJ, wantJ) {
		t.Fatalf("alice's GetProject:\n got %s\nwant %s", gotJ, wantJ)
	}
	var fullProj client.Project
	askOK(t, r.acme, "GetProject", map[string]any{"org_id": "dl", "project_id": "p1"}, &fullProj)
	if fullProj.CreatedBy != "olga" || len(fullProj.Partners) != 2 || fullProj.Members != 5 {
		t.Fatalf("the owner's GetProject: %+v", fullProj)
	}

	var invs client.InvitationsList
	askOK(t, r.alice, "ListInvitations", map[string]any{"org_id": "dl"}, &invs)
	for _, inv := range invs.Invitations {
		if inv.PartnerID != "labelco" {
			t.Fatalf("alice sees invitation %+v", inv)
		}
	}
	if len(invs.Invitations) != 3 { // lead's (accepted), alice's (accepted), bea's (pending)
		t.Fatalf("alice sees %d invitations, want labelco's 3: %+v", len(invs.Invitations), invs.Invitations)
	}

	var who, whoAll client.WhoCanResult
	askOK(t, r.alice, "WhoCan", map[string]any{"org_id": "dl", "project_id": "p1", "permission": "annotation.edit"}, &who)
	askOK(t, r.acme, "WhoCan", map[string]any{"org_id": "dl", "project_id": "p1", "permission": "annotation.edit"}, &whoAll)
	if !slices.Equal(who.Users, []string{"alice", "lead"}) || !slices.Contains(whoAll.Users, "dave") {
		t.Fatalf("WhoCan View project: alice sees %v, the application %v", who.Users, whoAll.Users)
	}

	var audit, auditAll client.AuditPage
	askOK(t, r.alice, "Audit", map[string]any{"org_id": "dl"}, &audit)
	askOK(t, r.acme, "Audit", map[string]any{"org_id": "dl"}, &auditAll)
	types := []string{}
	for _, e := range audit.Events {
		if e.Actor != "lead" && e.Actor != "alice" {
			t.Fatalf("alice sees event %s by %s", e.Type, e.Actor)
		}
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []string{"InvitationAccepted", "MemberAdded", "InvitationCreated", "InvitationAccepted", "MemberAdded", "InvitationCreated"}) || len(auditAll.Events) <= len(audit.Events) {
		t.Fatalf("alice's audit %v (the application sees %d events)", types, len(auditAll.Events))
	}
}

func TestTenancyUserAccountAsksAsItself(t *testing.T) {
	r := dataloopTenant(t)
	for _, c := range []struct {
		name string
		req  map[string]any
	}{
		{"ListMembers", map[string]any{"org_id": "dl", "project_id": "p1", "viewer": "dave"}},
		{"GetProject", map[string]any{"org_id": "dl", "project_id": "p1", "viewer": "olga"}},
		{"ListInvitations", map[string]any{"org_id": "dl", "viewer": "olga"}},
		{"WhoCan", map[string]any{"org_id": "dl", "permission": "annotation.edit", "viewer": "olga"}},
		{"Audit", map[string]any{"org_id": "dl", "viewer": "olga"}},
		{"Check", map[string]any{"org_id": "dl", "project_id": "p1", "user_id": "dave", "permission": "annotation.edit"}},
		{"Permissions", map[string]any{"org_id": "dl", "project_id": "p1", "user_id": "dave"}},
		{"AccessAt", map[string]any{"org_id": "dl", "user_id": "dave", "position": 1}},
		{"ListProjects", map[string]any{"user_id": "dave"}},
	} {
		refusedWith(t, "alice "+c.name, ask(t, r.alice, "roster.query."+c.name, c.req), client.CodeForbidden)
	}
	// About herself, with the user filled in: her own answers.
	var chk client.CheckResult
	askOK(t, r.alice, "Check", map[string]any{"org_id": "dl", "project_id": "p1", "permission": "annotation.edit"}, &chk)
	if chk.Decision != "allowed" {
		t.Fatalf("alice's own Check: %+v", chk)
	}
	var l client.ProjectsList
	askOK(t, r.alice, "ListProjects", map[string]any{}, &l)
	if len(l.Projects) != 1 || l.Projects[0].ProjectID != "p1" || !slices.Equal(l.Projects[0].Roles, []string{"annotator"}) {
		t.Fatalf("alice's ListProjects: %+v", l.Projects)
	}
}

func TestTenancyListProjectsHidesProjectsTheUserMayNotView(t *testing.T) {
	r := dataloopTenant(t)
	createOwned(t, r.d, "ACME", "au", "aunsight", "root")
	c := func(name string, req map[string]any) uint64 {
		req["org_id"], req["actor"] = "au", "root"
		return cmdOK(t, r.acme, name, req).Position
	}
	c("AddOrgMember", map[string]any{"user_id": "bo", "email": "bo@au.test"})
	c("CreateProject", map[string]any{"project_id": "p1", "name": "One"})
	c("CreateProject", map[string]any{"project_id": "p2", "name": "Two"})
	pos := c("AddMember", map[string]any{"project_id": "p2", "user_id": "bo", "roles": []string{}})
	var l client.ProjectsList
	askOK(t, r.acme, "ListProjects", map[string]any{"org_id": "au", "user_id": "bo", "min_position": pos, "wait_ms": 10000}, &l)
	want := []client.ProjectEntry{{OrgID: "au", ProjectID: "p2", Name: "Two", Status: l.Projects[0].Status, Visibility: l.Projects[0].Visibility, Roles: []string{}}}
	if gotJ, wantJ := mustJSON(t, l.Projects), mustJSON(t, want); !bytes.Equal(gotJ, wantJ) {
		t.Fatalf("bo's projects (member of p2 without roles, no view-any-project):\n got %s\nwant %s", gotJ, wantJ)
	}
}

func TestTenancyRebuildAndNoStamp(t *testing.T) {
	r := dataloopTenant(t)
	refusedWith(t, "application rebuild", ask(t, r.acme, client.AdminRebuild, map[string]any{}), client.CodeForbidden)
	var res client.RebuildResult
	rep := ask(t, r.ops, client.AdminRebuild, map[string]any{})
	var qr client.QueryReply
	if err := json.Unmarshal([]byte(rep.Body), &qr); err != nil || !qr.OK || json.Unmarshal(qr.Result, &res) != nil || len(res.Views) != 2 {
		t.Fatalf("operator rebuild: %s", rep.Body)
	}
	// The operator sees every organization.
	for _, org := range []string{"dl", "gx"} {
		var cat client.CatalogResult
		askOK(t, r.ops, "Catalog", map[string]any{"org_id": org}, &cat)
	}
	// rosterd's own account reaches the service without an import: no stamp, forbidden.
	refusedWith(t, "no stamp query", ask(t, r.d.NC, "roster.query.Status", map[string]any{}), client.CodeForbidden)
	refusedWith(t, "no stamp rebuild", ask(t, r.d.NC, client.AdminRebuild, map[string]any{}), client.CodeForbidden)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
