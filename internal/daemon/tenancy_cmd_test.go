package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"roster/client"
	"roster/commands"
	"roster/eventstore"
	"roster/internal/caller"
	"roster/internal/daemon"
)

// The command edge in secured mode (SPEC §7, issue 9): every command knows who is asking, and
// every event records it. Each attack is refused with a typed error and appends nothing.

// eachMode runs a story twice: in the insecure quick start, and in secured mode driven through
// the application account ACME (its requests cross the service import and carry the server's
// stamp).
func eachMode(t *testing.T, story func(t *testing.T, r *rig)) {
	t.Run("insecure", func(t *testing.T) { story(t, newRig(t)) })
	t.Run("application", func(t *testing.T) { story(t, newAppRig(t)) })
}

// newAppRig is a rig whose client is ACME's back end on a secured rosterd.
func newAppRig(t *testing.T) *rig {
	t.Helper()
	path, _ := accountsFile(t)
	d := startSecured(t, path, nil)
	nc := connectAs(t, d, nats.UserInfo("acme", "acme-pw"))
	r := &rig{t: t, d: d, c: client.New(nc), nc: nc}
	t.Cleanup(r.stop)
	return r
}

// withToken adds an e-mail invitation's token to an answer of it in secured mode, where it is
// required; the insecure run sends exactly what API.md's quick start sends.
func (r *rig) withToken(req obj, inv invited) obj {
	if r.d.Policy.Secured {
		req["token"] = inv.InvitationToken
	}
	return req
}

// tenancyFile is a configuration with two applications (ACME, GLOBEX), a user account PEOPLE
// of two people (alice, bob) and an operator account OPS, all with passwords.
func tenancyFile(t *testing.T) string {
	t.Helper()
	imports := `imports [
      { service: { account: ROSTER, subject: "roster.cmd.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.query.>" }, share: true }
    ]`
	conf := fmt.Sprintf(`
accounts {
  ROSTER { exports [ { service: "roster.cmd.>" }, { service: "roster.query.>" } ] }
  ACME { users [ { user: acme, password: acme-pw } ]
    %[1]s }
  GLOBEX { users [ { user: globex, password: globex-pw } ]
    %[1]s }
  PEOPLE { users [ { user: alice, password: alice-pw }, { user: bob, password: bob-pw } ]
    %[1]s }
  OPS { users [ { user: ops, password: ops-pw } ]
    %[1]s }
}
`, imports)
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tenants is a secured rosterd and a client per credential.
type tenants struct {
	t                                *testing.T
	d                                *daemon.Daemon
	acme, globex, alice, bob, ops    *client.Client
	acmeNC, globexNC, aliceNC, bobNC *nats.Conn
}

func newTenants(t *testing.T) *tenants {
	t.Helper()
	d := startSecured(t, tenancyFile(t), nil)
	tn := &tenants{t: t, d: d}
	conn := func(user, pw string) (*nats.Conn, *client.Client) {
		nc := connectAs(t, d, nats.UserInfo(user, pw))
		return nc, client.New(nc)
	}
	tn.acmeNC, tn.acme = conn("acme", "acme-pw")
	tn.globexNC, tn.globex = conn("globex", "globex-pw")
	tn.aliceNC, tn.alice = conn("alice", "alice-pw")
	tn.bobNC, tn.bob = conn("bob", "bob-pw")
	_, tn.ops = conn("ops", "ops-pw")
	return tn
}

func (tn *tenants) head() uint64 {
	tn.t.Helper()
	h, err := tn.d.Store.Head(context.Background())
	if err != nil {
		tn.t.Fatal(err)
	}
	return h
}

// ok sends a command that must be accepted.
func (tn *tenants) ok(c *client.Client, name string, req obj) *client.CommandReply {
	tn.t.Helper()
	rep, err := c.Command(context.Background(), name, req)
	if err != nil {
		tn.t.Fatalf("%s %v: %v", name, req, err)
	}
	return rep
}

// refused sends a command that must be refused with code, appending nothing; it returns the
// refusal's message.
func (tn *tenants) refused(c *client.Client, name string, req obj, code string) string {
	tn.t.Helper()
	before := tn.head()
	rep, err := c.Command(context.Background(), name, req)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != code {
		tn.t.Fatalf("%s %v: reply %+v, error %v; want code %s", name, req, rep, err, code)
	}
	if after := tn.head(); after != before {
		tn.t.Fatalf("%s %v was refused but the log head moved %d -> %d", name, req, before, after)
	}
	return ce.Message
}

// events reads an organization's records from the log.
func (tn *tenants) events(org string) []eventstore.Record {
	tn.t.Helper()
	recs, err := tn.d.Store.ReadStream(context.Background(), commands.StreamOf(org), 1)
	if err != nil {
		tn.t.Fatal(err)
	}
	return recs
}

func copyObj(o obj) obj {
	out := obj{}
	for k, v := range o {
		out[k] = v
	}
	return out
}

// Another application's organization does not exist for GLOBEX: every command type, dry run or
// not, and a repeat of the owner's own command id, answers exactly what an unknown id answers.
func TestTenancyOtherApplicationCannotCommand(t *testing.T) {
	tn := newTenants(t)
	spec := xoSpecs[1] // dataloop
	owner := &rig{t: t, d: tn.d, c: tn.acme, nc: tn.acmeNC}
	owner.xoSetup("acme-org", spec, false)
	first := tn.ok(tn.acme, "CreateWorkgroup", obj{"org_id": "acme-org", "actor": "ann", "group_id": "gown", "command_id": "owner-cmd"})

	cmds := xoCommands("acme-org", "ann", spec, xoShared)
	for _, extra := range []struct {
		name string
		req  obj
	}{
		{"GrantOrganizationAccess", obj{"org_id": "acme-org", "actor": "ann", "account": "GLOBEX"}},
		{"RevokeOrganizationAccess", obj{"org_id": "acme-org", "actor": "ann", "account": "ACME"}},
		{"UpgradePreset", obj{"org_id": "acme-org", "actor": "ann"}},
		{"ExtendMembership", obj{"org_id": "acme-org", "actor": "ann", "user_id": "ann", "expires_at": "2030-01-01T00:00:00Z"}},
		{"CreateWorkgroup", obj{"org_id": "acme-org", "actor": "ann", "group_id": "gown", "command_id": "owner-cmd"}},
	} {
		cmds = append(cmds, struct {
			name string
			req  obj
		}{extra.name, extra.req})
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		seen[c.name] = true
		for _, dry := range []bool{false, true} {
			req := copyObj(c.req)
			if dry {
				req["dry_run"] = true
			}
			if c.name == "CreateOrganization" {
				// Organization ids are one namespace: a taken id is a conflict whoever asks
				// (docs/DECISIONS.md "Tenancy"); the command id is never looked up for GLOBEX.
				req["command_id"] = "owner-cmd"
				tn.refused(tn.globex, c.name, req, client.CodeConflict)
				continue
			}
			got := tn.refused(tn.globex, c.name, req, client.CodeNotFound)
			ghost := copyObj(req)
			ghost["org_id"] = "ghost-org"
			want := tn.refused(tn.globex, c.name, ghost, client.CodeNotFound)
			if strings.ReplaceAll(got, "acme-org", "ghost-org") != want {
				t.Fatalf("%s (dry run %v): %q for ACME's organization, %q for an unknown one", c.name, dry, got, want)
			}
		}
	}
	for _, name := range client.CommandNames() {
		if !seen[name] && name != "ExpireInvites" {
			t.Errorf("command %s was not probed", name)
		}
	}
	// The owner's repeat still gets its first reply.
	again := tn.ok(tn.acme, "CreateWorkgroup", obj{"org_id": "acme-org", "actor": "ann", "group_id": "gown", "command_id": "owner-cmd"})
	if again.Position != first.Position || len(again.Events) != 1 || again.Events[0].ID != first.Events[0].ID {
		t.Fatalf("owner's repeat: %+v, first %+v", again, first)
	}
}

// In a user account the actor is the authenticated user: an omitted actor is filled in, another
// user's id is forbidden. Every event records the principal.
func TestTenancyUserAccountActorIsTheUser(t *testing.T) {
	tn := newTenants(t)
	tn.ok(tn.alice, "CreateOrganization", obj{"org_id": "home", "kind": "team", "preset": "dataloop"})
	tn.refused(tn.alice, "AddOrgMember", obj{"org_id": "home", "actor": "bob", "user_id": "carl", "email": "carl@x.test"}, client.CodeForbidden)
	tn.refused(tn.bob, "CreateProject", obj{"org_id": "home", "actor": "alice", "project_id": "p1", "name": "P"}, client.CodeForbidden)
	tn.ok(tn.alice, "AddOrgMember", obj{"org_id": "home", "user_id": "bob", "email": "bob@x.test"})
	tn.ok(tn.alice, "CreateProject", obj{"org_id": "home", "actor": "alice", "project_id": "p1", "name": "P"})
	recs := tn.events("home")
	if len(recs) < 3 {
		t.Fatalf("%d events, want at least 3", len(recs))
	}
	for _, r := range recs {
		if r.Actor != "alice" || r.Principal == nil || *r.Principal != (eventstore.Principal{Account: "PEOPLE", User: "alice"}) {
			t.Fatalf("%s: actor %q principal %+v, want alice in PEOPLE", r.Type, r.Actor, r.Principal)
		}
	}
	// bob is in the same account: he reaches the organization, as himself.
	rep := tn.ok(tn.bob, "CreateProject", obj{"org_id": "home", "project_id": "p2", "name": "Q"})
	recs = tn.events("home")
	for _, r := range recs {
		if r.Position >= rep.Events[0].Position && (r.Actor != "bob" || *r.Principal != (eventstore.Principal{Account: "PEOPLE", User: "bob"})) {
			t.Fatalf("bob's %s: actor %q principal %+v", r.Type, r.Actor, r.Principal)
		}
	}
}

// Nobody answers someone else's invitation: a user-id invitation only by that user (in a user
// account, the authenticated one); an e-mail invitation in secured mode only with its token.
func TestTenancyInvitationsProveTheirInvitee(t *testing.T) {
	tn := newTenants(t)
	tn.ok(tn.alice, "CreateOrganization", obj{"org_id": "home", "kind": "team", "preset": "dataloop"})
	tn.ok(tn.alice, "CreateProject", obj{"org_id": "home", "project_id": "p1", "name": "P"})
	var carl, bobs invited
	_ = json.Unmarshal(tn.ok(tn.alice, "InviteMember", obj{"org_id": "home", "project_id": "p1", "user_id": "carl", "roles": strs{"annotator"}}).Result, &carl)
	_ = json.Unmarshal(tn.ok(tn.alice, "InviteMember", obj{"org_id": "home", "project_id": "p1", "user_id": "bob", "roles": strs{"annotator"}}).Result, &bobs)
	// bob, not in home, is a stranger to it: carl's invitation is the unknown organization's not_found.
	tn.refused(tn.bob, "AcceptInvite", obj{"org_id": "home", "invitation_id": carl.InvitationID}, client.CodeNotFound)
	tn.refused(tn.bob, "AcceptInvite", obj{"org_id": "home", "actor": "carl", "invitation_id": carl.InvitationID}, client.CodeForbidden)
	tn.ok(tn.bob, "AcceptInvite", obj{"org_id": "home", "invitation_id": bobs.InvitationID})

	// E-mail invitations from an application.
	tn.ok(tn.acme, "CreateOrganization", obj{"org_id": "shop", "kind": "team", "preset": "dataloop", "actor": "ann"})
	tn.ok(tn.acme, "CreateProject", obj{"org_id": "shop", "actor": "ann", "project_id": "p1", "name": "P"})
	var ext invited
	_ = json.Unmarshal(tn.ok(tn.acme, "InviteMember", obj{"org_id": "shop", "actor": "ann", "project_id": "p1", "email": "ext@lab.test", "roles": strs{"annotator"}}).Result, &ext)
	if len(ext.InvitationToken) != 43 {
		t.Fatalf("invitation token %q, want 32 bytes in base64url", ext.InvitationToken)
	}
	accept := obj{"org_id": "shop", "actor": "eve", "invitation_id": ext.InvitationID, "actor_email": "ext@lab.test"}
	tn.refused(tn.acme, "AcceptInvite", accept, client.CodeForbidden)
	wrong := copyObj(accept)
	wrong["token"] = strings.Repeat("A", 43)
	tn.refused(tn.acme, "AcceptInvite", wrong, client.CodeForbidden)
	tn.refused(tn.acme, "RejectInvite", wrong, client.CodeForbidden)
	right := copyObj(accept)
	right["actor"], right["token"] = "ext", ext.InvitationToken
	tn.ok(tn.acme, "AcceptInvite", right)
	// The log keeps only the token's hash.
	for _, r := range tn.events("shop") {
		if strings.Contains(string(r.Data), ext.InvitationToken) {
			t.Fatalf("%s holds the invitation token: %s", r.Type, r.Data)
		}
	}
}

// A client's own Nats-Request-Info is overwritten by the server's: the event's principal is the
// real account, and a forged identity reaches no other tenant's organization.
func TestTenancyForgedRequestInfoLoses(t *testing.T) {
	tn := newTenants(t)
	tn.ok(tn.acme, "CreateOrganization", obj{"org_id": "acme-org", "kind": "team", "preset": "dataloop", "actor": "ann"})
	send := func(nc *nats.Conn, name string, req obj, as server.ClientInfo) *nats.Msg {
		t.Helper()
		msg := nats.NewMsg("roster.cmd." + name)
		msg.Data, _ = json.Marshal(req)
		forged, _ := json.Marshal(as)
		msg.Header.Set(caller.Header, string(forged))
		rep, err := nc.RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rep
	}
	before := tn.head()
	rep := send(tn.globexNC, "AddOrgMember", obj{"org_id": "acme-org", "actor": "ann", "user_id": "mole", "email": "m@x.test"},
		server.ClientInfo{Account: "ACME", User: "acme"})
	if !strings.Contains(string(rep.Data), client.CodeNotFound) || tn.head() != before {
		t.Fatalf("GLOBEX posing as ACME: %s (head %d -> %d)", rep.Data, before, tn.head())
	}
	rep = send(tn.globexNC, "AddOrgMember", obj{"org_id": "acme-org", "actor": "ann", "user_id": "mole", "email": "m@x.test"},
		server.ClientInfo{Account: "OPS", User: "ops"})
	if !strings.Contains(string(rep.Data), client.CodeNotFound) || tn.head() != before {
		t.Fatalf("GLOBEX posing as an operator: %s", rep.Data)
	}
	rep = send(tn.acmeNC, "CreateProject", obj{"org_id": "acme-org", "actor": "ann", "project_id": "p1", "name": "P"},
		server.ClientInfo{Account: "OPS", User: "ops"})
	if !strings.Contains(string(rep.Data), `"ok":true`) {
		t.Fatalf("ACME's own command: %s", rep.Data)
	}
	recs := tn.events("acme-org")
	if len(recs) < 2 {
		t.Fatalf("%d events", len(recs))
	}
	for _, r := range recs {
		if r.Principal == nil || *r.Principal != (eventstore.Principal{Account: "ACME", User: "acme"}) {
			t.Fatalf("event %s principal %+v, want ACME's", r.Type, r.Principal)
		}
	}
}

// A request that did not come through an import (rosterd's own account) has no stamp: refused.
func TestTenancyRequestWithoutImportIsForbidden(t *testing.T) {
	tn := newTenants(t)
	own := client.New(tn.d.NC)
	tn.refused(own, "CreateOrganization", obj{"org_id": "inside", "kind": "team", "preset": "dataloop", "actor": "ann"}, client.CodeForbidden)
	if recs := tn.events("inside"); len(recs) != 0 {
		t.Fatalf("%d events appended", len(recs))
	}
}

// GrantOrganizationAccess lets a second application command the organization; Revoke takes it
// back. An operator reaches every organization.
func TestTenancyGrantAndRevokeAccess(t *testing.T) {
	tn := newTenants(t)
	tn.ok(tn.acme, "CreateOrganization", obj{"org_id": "acme-org", "kind": "team", "preset": "dataloop", "actor": "ann"})
	member := func(u string) obj {
		return obj{"org_id": "acme-org", "actor": "ann", "user_id": u, "email": u + "@x.test"}
	}
	tn.refused(tn.globex, "AddOrgMember", member("g1"), client.CodeNotFound)
	tn.refused(tn.globex, "GrantOrganizationAccess", obj{"org_id": "acme-org", "actor": "ann", "account": "GLOBEX"}, client.CodeNotFound)
	tn.ok(tn.acme, "GrantOrganizationAccess", obj{"org_id": "acme-org", "actor": "ann", "account": "GLOBEX"})
	tn.ok(tn.globex, "AddOrgMember", member("g1"))
	// A granted account never re-grants.
	tn.refused(tn.globex, "GrantOrganizationAccess", obj{"org_id": "acme-org", "actor": "ann", "account": "PEOPLE"}, client.CodeForbidden)
	tn.ok(tn.acme, "RevokeOrganizationAccess", obj{"org_id": "acme-org", "actor": "ann", "account": "GLOBEX"})
	tn.refused(tn.globex, "AddOrgMember", member("g2"), client.CodeNotFound)
	tn.ok(tn.ops, "AddOrgMember", member("o1"))

	var principals []string
	for _, r := range tn.events("acme-org") {
		principals = append(principals, r.Principal.Account+"/"+r.Principal.User)
	}
	want := "ACME/acme ACME/acme GLOBEX/globex ACME/acme OPS/ops"
	if got := strings.Join(principals, " "); got != want {
		t.Fatalf("principals %s, want %s", got, want)
	}
}

// The audit trail shows each event's principal: in the Audit reply, in ROSTER_EVENTS' envelope,
// and in the hash chain (a changed principal breaks it).
func TestTenancyAuditShowsThePrincipal(t *testing.T) {
	tn := newTenants(t)
	ctx := context.Background()
	tn.ok(tn.acme, "CreateOrganization", obj{"org_id": "acme-org", "kind": "team", "preset": "dataloop", "actor": "ann"})
	tn.ok(tn.acme, "GrantOrganizationAccess", obj{"org_id": "acme-org", "actor": "ann", "account": "GLOBEX"})
	rep := tn.ok(tn.globex, "AddOrgMember", obj{"org_id": "acme-org", "actor": "ann", "user_id": "g1", "email": "g1@x.test"})

	page, _, err := tn.acme.Audit(ctx, client.Audit{OrgID: "acme-org", MinPosition: rep.Position})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Events {
		if e.Principal == nil {
			t.Fatalf("%s has no principal", e.Type)
		}
		got = append(got, e.Type+":"+e.Principal.Account)
	}
	if want := "OrganizationCreated:ACME OrganizationAccessGranted:ACME OrgMemberAdded:GLOBEX"; strings.Join(got, " ") != want {
		t.Fatalf("audit principals %v, want %s", got, want)
	}
	recs := make([]eventstore.Record, len(page.Events))
	for i, e := range page.Events {
		recs[i] = eventstore.Record(e)
	}
	if rep, err := eventstore.VerifyRecords(recs); err != nil {
		t.Fatalf("the audit page does not verify: %+v %v", rep, err)
	}
	recs[2].Principal = &eventstore.Principal{Account: "ACME", User: "acme"}
	if _, err := eventstore.VerifyRecords(recs); !errors.Is(err, eventstore.ErrChainBroken) {
		t.Fatalf("a rewritten principal verified: %v", err)
	}

	js, err := jetstream.New(tn.d.NC)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, client.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.d.Relay.WaitPublished(ctx, rep.Position); err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetMsg(ctx, rep.Position)
	if err != nil {
		t.Fatal(err)
	}
	var env client.Event
	if err := json.Unmarshal(msg.Data, &env); err != nil || env.Principal == nil || env.Principal.Account != "GLOBEX" || env.Principal.User != "globex" {
		t.Fatalf("stream envelope %s: %v", msg.Data, err)
	}
}
