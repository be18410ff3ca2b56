package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"roster/client"
)

// Inside a user account every person is a stranger to the organizations they do not belong to,
// even those the same account owns (issue 9): alice (PEOPLE) owns alices with the private
// project secret; bob (PEOPLE) belongs only to its project open.

func personConfig(t *testing.T) string {
	t.Helper()
	imports := `imports [
      { service: { account: ROSTER, subject: "roster.cmd.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.query.>" }, share: true }
    ]`
	conf := fmt.Sprintf(`
accounts {
  ROSTER { exports [ { service: "roster.cmd.>" }, { service: "roster.query.>" } ] }
  ACME { users [ { user: acme, password: acme-pw } ]
    %[1]s
  }
  PEOPLE { users [ { user: alice, password: alice-pw }, { user: bob, password: bob-pw }, { user: carol, password: carol-pw } ]
    %[1]s
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

type personRig struct {
	acme, alice, bob, carol *nats.Conn
	head                    uint64
}

func alicesOrganization(t *testing.T) *personRig {
	d := startSecured(t, personConfig(t), nil)
	r := &personRig{acme: connectAs(t, d, nats.UserInfo("acme", "acme-pw")), alice: connectAs(t, d, nats.UserInfo("alice", "alice-pw")),
		bob: connectAs(t, d, nats.UserInfo("bob", "bob-pw")), carol: connectAs(t, d, nats.UserInfo("carol", "carol-pw"))}
	cmd := func(nc *nats.Conn, name string, req map[string]any) *client.CommandReply {
		rep := cmdOK(t, nc, name, req)
		r.head = max(r.head, rep.Position)
		return rep
	}
	for _, o := range []struct {
		nc  *nats.Conn
		org string
	}{{r.alice, "alices"}, {r.acme, "acmes"}} {
		req := map[string]any{"org_id": o.org, "kind": "team", "preset": "dataloop", "name": o.org}
		if o.nc == r.acme {
			req["actor"] = "alice"
		}
		cmd(o.nc, "CreateOrganization", req)
		do := func(name string, req map[string]any) *client.CommandReply {
			req["org_id"] = o.org
			if o.nc == r.acme {
				req["actor"] = "alice"
			}
			return cmd(o.nc, name, req)
		}
		do("AddOrgMember", map[string]any{"user_id": "dave", "email": "dave@people.test", "name": "Dave"})
		do("CreateProject", map[string]any{"project_id": "secret", "name": "Secret", "visibility": "private"})
		do("CreateProject", map[string]any{"project_id": "open", "name": "Open", "visibility": "private"})
		if o.nc == r.alice {
			// bob joins project open by invitation, as a guest of the organization.
			inv := do("InviteMember", map[string]any{"project_id": "open", "user_id": "bob", "name": "Bob", "roles": []string{"annotator"}})
			cmd(r.bob, "AcceptInvite", map[string]any{"org_id": o.org, "invitation_id": inv.InvitationID()})
		}
		do("InviteMember", map[string]any{"project_id": "secret", "user_id": "dave", "roles": []string{"developer"}})
		do("InviteMember", map[string]any{"project_id": "secret", "user_id": "carol", "roles": []string{"developer"}})
		do("InviteMember", map[string]any{"project_id": "secret", "email": "erin@people.test", "roles": []string{"developer"}})
	}
	var st client.Status
	askOK(t, r.alice, "Status", map[string]any{"min_position": r.head, "wait_ms": 10000}, &st)
	return r
}

// sameAsUnknown checks a refusal about a hidden id is byte-identical to the one about an
// unknown id.
func sameAsUnknown(t *testing.T, what string, hidden, unknown reply, hiddenID, unknownID string) {
	t.Helper()
	refusedWith(t, what, hidden, client.CodeNotFound)
	if got := strings.ReplaceAll(hidden.Body, hiddenID, unknownID); got != unknown.Body || hidden.Code != unknown.Code {
		t.Fatalf("%s: %s (%s), unknown id answers %s (%s)", what, hidden.Body, hidden.Code, unknown.Body, unknown.Code)
	}
}

func TestTenancyPersonSeesOnlyWhatTheyBelongTo(t *testing.T) {
	r := alicesOrganization(t)
	q := func(nc *nats.Conn, name string, req map[string]any) reply {
		return ask(t, nc, "roster.query."+name, req)
	}

	// carol belongs to nothing in alices (her invitation is pending): it does not exist for her.
	for name, req := range map[string]map[string]any{
		"ListMembers":     {"org_id": "ORG"},
		"GetProject":      {"org_id": "ORG", "project_id": "secret"},
		"Audit":           {"org_id": "ORG"},
		"WhoCan":          {"org_id": "ORG", "permission": "Delete a task"},
		"ListInvitations": {"org_id": "ORG"},
		"Catalog":         {"org_id": "ORG"},
		"Check":           {"org_id": "ORG", "permission": "Delete a task"},
	} {
		with := func(org string) map[string]any {
			out := map[string]any{}
			for k, v := range req {
				out[k] = v
			}
			out["org_id"] = org
			return out
		}
		sameAsUnknown(t, "carol "+name, q(r.carol, name, with("alices")), q(r.carol, name, with("nowhere")), "alices", "nowhere")
	}
	// bob belongs to project open: the private project secret does not exist for him.
	for name, req := range map[string]map[string]any{
		"GetProject":  {"org_id": "alices", "project_id": "PROJECT"},
		"ListMembers": {"org_id": "alices", "project_id": "PROJECT"},
		"WhoCan":      {"org_id": "alices", "project_id": "PROJECT", "permission": "Delete a task"},
	} {
		with := func(p string) map[string]any {
			out := map[string]any{}
			for k, v := range req {
				out[k] = v
			}
			out["project_id"] = p
			return out
		}
		sameAsUnknown(t, "bob "+name, q(r.bob, name, with("secret")), q(r.bob, name, with("nosuch")), "secret", "nosuch")
	}
	refusedWith(t, "bob Audit of secret", q(r.bob, "Audit", map[string]any{"org_id": "alices", "project_id": "secret"}), client.CodeNotFound)
	refusedWith(t, "bob Audit of the organization", q(r.bob, "Audit", map[string]any{"org_id": "alices"}), client.CodeForbidden)
	var audit client.AuditPage
	askOK(t, r.bob, "Audit", map[string]any{"org_id": "alices", "project_id": "open"}, &audit)
	for _, ev := range audit.Events {
		if strings.Contains(string(ev.Data), "secret") {
			t.Fatalf("bob's audit of open shows %s", ev.Data)
		}
	}
	// Invitations: only one's own, by user id or by one's e-mail as the organization knows it.
	refusedWith(t, "bob invitations of dave", q(r.bob, "ListInvitations", map[string]any{"user_id": "dave"}), client.CodeForbidden)
	refusedWith(t, "bob invitations of erin", q(r.bob, "ListInvitations", map[string]any{"email": "erin@people.test"}), client.CodeForbidden)
	refusedWith(t, "bob invitations of dave in alices", q(r.bob, "ListInvitations", map[string]any{"org_id": "alices", "user_id": "dave"}), client.CodeForbidden)
	refusedWith(t, "bob invitations of erin in alices", q(r.bob, "ListInvitations", map[string]any{"org_id": "alices", "email": "erin@people.test"}), client.CodeForbidden)
	var own client.InvitationsList
	askOK(t, r.bob, "ListInvitations", map[string]any{"user_id": "bob"}, &own)
	if len(own.Invitations) != 1 || own.Invitations[0].Status != "accepted" {
		t.Fatalf("bob's invitations: %+v", own.Invitations)
	}
	// carol sees the invitations addressed to her, nothing else of alices.
	askOK(t, r.carol, "ListInvitations", map[string]any{"user_id": "carol"}, &own)
	if len(own.Invitations) != 1 || own.Invitations[0].OrgID != "alices" || own.Invitations[0].UserID != "carol" {
		t.Fatalf("carol's invitations: %+v", own.Invitations)
	}
	// ListProjects across organizations: bob sees open only; carol nothing.
	var l client.ProjectsList
	askOK(t, r.bob, "ListProjects", map[string]any{}, &l)
	if len(l.Projects) != 1 || l.Projects[0].OrgID != "alices" || l.Projects[0].ProjectID != "open" {
		t.Fatalf("bob's projects: %+v", l.Projects)
	}
	askOK(t, r.carol, "ListProjects", map[string]any{}, &l)
	if len(l.Projects) != 0 {
		t.Fatalf("carol's projects: %+v", l.Projects)
	}

	// alice's own answers are whole.
	var members client.MembersPage
	askOK(t, r.alice, "ListMembers", map[string]any{"org_id": "alices"}, &members)
	if len(members.Members) < 2 {
		t.Fatalf("alice's members: %+v", members.Members)
	}
	var p client.Project
	askOK(t, r.alice, "GetProject", map[string]any{"org_id": "alices", "project_id": "secret"}, &p)
	var inv client.InvitationsList
	askOK(t, r.alice, "ListInvitations", map[string]any{"org_id": "alices"}, &inv)
	if len(inv.Invitations) != 4 {
		t.Fatalf("alice's invitations: %+v", inv.Invitations)
	}
	askOK(t, r.alice, "Audit", map[string]any{"org_id": "alices"}, &audit)
	if len(audit.Events) == 0 {
		t.Fatal("alice's audit is empty")
	}

	// An application is unaffected: ACME answers about anyone in its organization.
	askOK(t, r.acme, "GetProject", map[string]any{"org_id": "acmes", "project_id": "secret"}, &p)
	askOK(t, r.acme, "ListInvitations", map[string]any{"user_id": "dave"}, &inv)
	if len(inv.Invitations) != 1 || inv.Invitations[0].OrgID != "acmes" {
		t.Fatalf("ACME's invitations of dave: %+v", inv.Invitations)
	}
	askOK(t, r.acme, "ListInvitations", map[string]any{"email": "erin@people.test"}, &inv)
	if len(inv.Invitations) != 1 {
		t.Fatalf("ACME's invitations of erin: %+v", inv.Invitations)
	}
	askOK(t, r.acme, "Audit", map[string]any{"org_id": "acmes"}, &audit)
}

// A project's guest (bob, in alices only through project open) does not read the organization's
// member list, nor the invitations of projects they may not see (secret's invitees, e-mails
// included); their own project's answers stay.
func TestTenancyGuestSeesNothingOfTheRestOfTheOrganization(t *testing.T) {
	r := alicesOrganization(t)
	refusedWith(t, "bob ListMembers of the organization", ask(t, r.bob, "roster.query.ListMembers", map[string]any{"org_id": "alices"}), client.CodeForbidden)
	var inv client.InvitationsList
	askOK(t, r.bob, "ListInvitations", map[string]any{"org_id": "alices"}, &inv)
	for _, i := range inv.Invitations {
		if i.ProjectID != "open" {
			t.Fatalf("bob sees an invitation outside project open: %+v", i)
		}
	}
	if len(inv.Invitations) != 1 {
		t.Fatalf("bob's view of alices' invitations: %+v", inv.Invitations)
	}
	// alice, a member, still sees them all (open's and secret's three).
	askOK(t, r.alice, "ListInvitations", map[string]any{"org_id": "alices"}, &inv)
	if len(inv.Invitations) != 4 {
		t.Fatalf("alice's view of alices' invitations: %+v", inv.Invitations)
	}
	var members client.MembersPage
	askOK(t, r.bob, "ListMembers", map[string]any{"org_id": "alices", "project_id": "open"}, &members)
	if len(members.Members) == 0 {
		t.Fatal("bob sees nobody in his own project")
	}
}
