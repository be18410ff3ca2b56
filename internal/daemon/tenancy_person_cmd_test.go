package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/daemon"
)

// A person of a user account learns from commands no more than from queries (issue 9): an
// organization they may not see answers every command exactly as an unknown one, except
// answering an invitation addressed to them; a private project they may not see answers
// Check, Permissions and AccessAt exactly as an unknown project.

func peopleConfig(t *testing.T) string {
	t.Helper()
	conf := `
accounts {
  ROSTER { exports [ { service: "roster.cmd.>" }, { service: "roster.query.>" } ] }
  PEOPLE { users [ { user: alice, password: alice-pw }, { user: bob, password: bob-pw },
                   { user: carol, password: carol-pw }, { user: erin, password: erin-pw } ]
    imports [
      { service: { account: ROSTER, subject: "roster.cmd.>" }, share: true }
      { service: { account: ROSTER, subject: "roster.query.>" }, share: true }
    ]
  }
}
`
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type peopleRig struct {
	d                        *daemon.Daemon
	alice, bob, carol, erin  *nats.Conn
	carolInv, erinInv, token string
	head                     uint64
}

func (r *peopleRig) cmd(t *testing.T, nc *nats.Conn, name string, req map[string]any) *client.CommandReply {
	t.Helper()
	rep := cmdOK(t, nc, name, req)
	r.head = max(r.head, rep.Position)
	return rep
}

func (r *peopleRig) logHead(t *testing.T) uint64 {
	t.Helper()
	h, err := r.d.Store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// alice2: alice owns it, dave is a member, project hidden is private; carol is invited by user
// id and erin by e-mail, both still pending. bob belongs to nothing there.
func alice2(t *testing.T) *peopleRig {
	d := startSecured(t, peopleConfig(t), nil)
	r := &peopleRig{d: d, alice: connectAs(t, d, nats.UserInfo("alice", "alice-pw")), bob: connectAs(t, d, nats.UserInfo("bob", "bob-pw")),
		carol: connectAs(t, d, nats.UserInfo("carol", "carol-pw")), erin: connectAs(t, d, nats.UserInfo("erin", "erin-pw"))}
	do := func(name string, req map[string]any) *client.CommandReply {
		req["org_id"] = "alice2"
		return r.cmd(t, r.alice, name, req)
	}
	do("CreateOrganization", map[string]any{"kind": "team", "preset": "dataloop", "name": "Alice 2"})
	do("AddOrgMember", map[string]any{"user_id": "dave", "email": "dave@people.test", "name": "Dave"})
	do("AddOrgMember", map[string]any{"user_id": "carol", "email": "carol@people.test", "name": "Carol"})
	do("RemoveOrgMember", map[string]any{"user_id": "carol"})
	do("CreateProject", map[string]any{"project_id": "hidden", "name": "Hidden", "visibility": "private"})
	do("CreateProject", map[string]any{"project_id": "other", "name": "Other", "visibility": "private", "command_id": "alice-other"})
	do("AddMember", map[string]any{"project_id": "hidden", "user_id": "dave", "roles": []string{"developer"}})
	r.carolInv = do("InviteMember", map[string]any{"user_id": "carol", "role": "member"}).InvitationID()
	erin := do("InviteMember", map[string]any{"email": "erin@people.test", "role": "member"})
	r.erinInv, r.token = erin.InvitationID(), erin.InvitationToken()
	if r.carolInv == "" || r.erinInv == "" || r.token == "" {
		t.Fatalf("invitations: %q %q %q", r.carolInv, r.erinInv, r.token)
	}
	return r
}

func TestTenancyPersonCommandsOnHiddenOrganization(t *testing.T) {
	r := alice2(t)
	// Every query already hides alice2 from bob.
	q := ask(t, r.bob, "roster.query.ListMembers", map[string]any{"org_id": "alice2"})
	sameAsUnknown(t, "bob ListMembers", q, ask(t, r.bob, "roster.query.ListMembers", map[string]any{"org_id": "nowhere"}), "alice2", "nowhere")

	head := r.logHead(t)
	probes := []struct {
		name string
		req  map[string]any
	}{
		{"AddOrgMember", map[string]any{"user_id": "mallory", "email": "m@people.test", "role": "member"}},
		{"CreateProject", map[string]any{"project_id": "mine", "name": "Mine", "visibility": "private"}},
		// A repeat of alice's command id gets the unknown organization, not alice's reply.
		{"CreateProject", map[string]any{"project_id": "other", "name": "Other", "visibility": "private", "command_id": "alice-other"}},
		{"UpgradePreset", map[string]any{}},
		{"GrantOrganizationAccess", map[string]any{"account": "PEOPLE"}},
		{"RevokeOrganizationAccess", map[string]any{"account": "PEOPLE"}},
		{"LeaveProject", map[string]any{"project_id": "hidden"}},
		{"LeaveProject", map[string]any{"project_id": "nosuch"}},
		{"RenameProject", map[string]any{"project_id": "hidden", "name": "Mine"}},
		{"ArchiveProject", map[string]any{"project_id": "hidden"}},
		{"ExtendMembership", map[string]any{"project_id": "hidden", "user_id": "dave", "expires_at": "2099-01-01T00:00:00Z"}},
		{"DeleteRole", map[string]any{"role": "developer"}},
		{"DeleteRole", map[string]any{"role": "nosuchrole"}},
		// Invitations not addressed to bob, known or not.
		{"AcceptInvite", map[string]any{"invitation_id": r.erinInv, "token": "wrong"}},
		{"AcceptInvite", map[string]any{"invitation_id": r.erinInv, "token": "wrong", "actor_email": "erin@people.test"}},
		{"AcceptInvite", map[string]any{"invitation_id": r.erinInv, "token": "wrong", "actor_email": "bob@people.test"}},
		{"AcceptInvite", map[string]any{"invitation_id": r.erinInv, "actor_email": "erin@people.test"}},
		{"AcceptInvite", map[string]any{"invitation_id": r.carolInv}},
		{"AcceptInvite", map[string]any{"invitation_id": "nosuchinv"}},
		{"RejectInvite", map[string]any{"invitation_id": r.erinInv, "token": "wrong", "actor_email": "erin@people.test"}},
		{"RejectInvite", map[string]any{"invitation_id": r.carolInv}},
		{"RevokeInvite", map[string]any{"invitation_id": r.carolInv}},
	}
	for _, p := range probes {
		with := func(org string) map[string]any {
			out := map[string]any{"org_id": org}
			for k, v := range p.req {
				out[k] = v
			}
			return out
		}
		what := fmt.Sprintf("bob %s %v", p.name, p.req)
		sameAsUnknown(t, what, ask(t, r.bob, "roster.cmd."+p.name, with("alice2")), ask(t, r.bob, "roster.cmd."+p.name, with("nowhere")), "alice2", "nowhere")
	}
	if now := r.logHead(t); now != head {
		t.Fatalf("bob's probes moved the log head from %d to %d", head, now)
	}

	// carol's user-id invitation is not bob's, but carol (not in alice2: she was removed) may
	// still answer it, and erin hers by e-mail with the token.
	r.cmd(t, r.carol, "AcceptInvite", map[string]any{"org_id": "alice2", "invitation_id": r.carolInv})
	wrong := ask(t, r.erin, "roster.cmd.AcceptInvite", map[string]any{"org_id": "alice2", "invitation_id": r.erinInv, "actor_email": "erin@people.test", "token": "wrong"})
	sameAsUnknown(t, "erin with a wrong token", wrong,
		ask(t, r.erin, "roster.cmd.AcceptInvite", map[string]any{"org_id": "nowhere", "invitation_id": r.erinInv, "actor_email": "erin@people.test", "token": "wrong"}), "alice2", "nowhere")
	r.cmd(t, r.erin, "AcceptInvite", map[string]any{"org_id": "alice2", "invitation_id": r.erinInv, "actor_email": "erin@people.test", "token": r.token})
	var members client.MembersPage
	askOK(t, r.alice, "ListMembers", map[string]any{"org_id": "alice2", "min_position": r.head, "wait_ms": 10000}, &members)
	joined := map[string]bool{}
	for _, m := range members.Members {
		joined[m.UserID] = true
	}
	if !joined["carol"] || !joined["erin"] {
		t.Fatalf("members after carol and erin accepted: %+v", members.Members)
	}
	// Now a member, erin gets the ordinary answers: a forbidden, not a not_found.
	refusedWith(t, "erin AddOrgMember", ask(t, r.erin, "roster.cmd.AddOrgMember", map[string]any{"org_id": "alice2", "user_id": "x", "email": "x@people.test", "role": "member"}), client.CodeForbidden)
	if rep := ask(t, r.erin, "roster.cmd.LeaveProject", map[string]any{"org_id": "alice2", "project_id": "hidden"}); !strings.Contains(rep.Body, "user erin is not a member of project hidden") {
		t.Fatalf("erin LeaveProject hidden: %s", rep.Body)
	}

	// alice's own commands are unchanged.
	r.cmd(t, r.alice, "RenameProject", map[string]any{"org_id": "alice2", "project_id": "other", "name": "Renamed"})
	r.cmd(t, r.alice, "ArchiveProject", map[string]any{"org_id": "alice2", "project_id": "other"})
	refusedWith(t, "alice LeaveProject nosuch", ask(t, r.alice, "roster.cmd.LeaveProject", map[string]any{"org_id": "alice2", "project_id": "nosuch"}), client.CodeNotFound)
}

func TestTenancyPersonCheckOfHiddenProject(t *testing.T) {
	r := alice2(t)
	do := func(name string, req map[string]any) {
		req["org_id"] = "alices"
		r.cmd(t, r.alice, name, req)
	}
	do("CreateOrganization", map[string]any{"kind": "team", "preset": "allonia", "name": "Alices"})
	do("AddOrgMember", map[string]any{"user_id": "dave", "email": "dave@people.test", "name": "Dave"})
	do("CreateProject", map[string]any{"project_id": "pub", "name": "Pub", "visibility": "public"})
	do("CreateProject", map[string]any{"project_id": "priv", "name": "Priv", "visibility": "private", "track": map[string]any{"track_id": "t", "name": "T"}})
	var st client.Status
	askOK(t, r.alice, "Status", map[string]any{"min_position": r.head, "wait_ms": 10000}, &st)

	// alices exists for bob (its public project), priv does not.
	var perms client.PermissionsResult
	askOK(t, r.bob, "Permissions", map[string]any{"org_id": "alices", "project_id": "pub"}, &perms)
	for _, c := range []struct {
		name string
		req  map[string]any
	}{
		{"Check", map[string]any{"permission": "Factory"}},
		{"Check", map[string]any{"permission": "Factory", "explain": true}},
		{"Check", map[string]any{"permission": "Factory", "track_id": "t"}},
		{"Permissions", map[string]any{}},
		{"Permissions", map[string]any{"track_id": "t"}},
		{"AccessAt", map[string]any{"position": r.head}},
		{"AccessAt", map[string]any{"position": r.head, "track_id": "t"}},
	} {
		with := func(p string) map[string]any {
			out := map[string]any{"org_id": "alices", "project_id": p}
			for k, v := range c.req {
				out[k] = v
			}
			return out
		}
		hidden, unknown := ask(t, r.bob, "roster.query."+c.name, with("priv")), ask(t, r.bob, "roster.query."+c.name, with("nosuch"))
		what := fmt.Sprintf("bob %s %v", c.name, c.req)
		if c.name == "AccessAt" {
			if hidden != unknown || hidden.Code != "" {
				t.Fatalf("%s: %s (%s), unknown project answers %s (%s)", what, hidden.Body, hidden.Code, unknown.Body, unknown.Code)
			}
			continue
		}
		sameAsUnknown(t, what, hidden, unknown, "priv", "nosuch")
	}
	// dave, a member of priv, and alice, of the organization, get their answers.
	var res client.CheckResult
	askOK(t, r.alice, "Check", map[string]any{"org_id": "alices", "project_id": "priv", "permission": "Factory"}, &res)
	askOK(t, r.alice, "Permissions", map[string]any{"org_id": "alices", "project_id": "priv", "track_id": "t"}, &perms)
}
