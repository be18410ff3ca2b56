package daemon_test

import (
	"slices"
	"testing"

	"roster/client"
)

// The Neptune story of seeds/003 over real NATS and Badger: team organization, the admin
// invites, the member accepts, the owner adds a contributor, the contributor cannot edit
// members, the last admin cannot be removed, archiving makes the project read-only.
func TestNeptuneStoryOverNATS(t *testing.T) { eachMode(t, neptuneStoryOverNATS) }

func neptuneStoryOverNATS(t *testing.T, r *rig) {
	r.ok("CreateOrganization", obj{"org_id": "acme", "name": "Acme", "kind": "team", "preset": "neptune", "actor": "ana",
		"actor_email": "ana@acme.test", "actor_name": "Ana"})

	// The admin invites Bob to the organization; until he joins he is listed as pending.
	inv := r.ok("InviteMember", obj{"org_id": "acme", "actor": "ana", "email": "bob@acme.test", "name": "Bob", "roles": []string{"member"}})
	var res invited
	if err := jsonUnmarshal(inv.Result, &res); err != nil || res.InvitationID == "" {
		t.Fatalf("invitation id missing from %s", inv.Result)
	}
	if m := r.members("acme", ""); m["bob@acme.test"].Status != "pending" {
		t.Fatalf("bob before accepting: %+v, want pending", m["bob@acme.test"])
	}
	// Someone else cannot accept Bob's invitation.
	r.refused("AcceptInvite", obj{"org_id": "acme", "actor": "eve", "invitation_id": res.InvitationID, "actor_email": "eve@evil.test"}, client.CodeForbidden)
	r.ok("AcceptInvite", r.withToken(obj{"org_id": "acme", "actor": "bob", "invitation_id": res.InvitationID, "actor_email": "bob@acme.test"}, res))
	if m := r.members("acme", ""); m["bob"].Status != "accepted" || !slices.Equal(m["bob"].Roles, []string{"member"}) {
		t.Fatalf("bob after accepting: %+v", m["bob"])
	}
	r.ok("AddOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "cid", "email": "cid@acme.test", "name": "Cid", "role": "member"})

	// Ana creates a project: she is its Owner (and, as Admin, owner of every project).
	r.ok("CreateProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "name": "Churn", "visibility": "private"})
	// Organization first: a stranger cannot join the project.
	r.refused("AddMember", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "zed", "roles": []string{"viewer"}}, client.CodePreconditionFailed)
	r.ok("AddMember", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "bob", "roles": []string{"owner"}})
	// The owner adds a contributor.
	r.ok("AddMember", obj{"org_id": "acme", "actor": "bob", "project_id": "p1", "user_id": "cid", "roles": []string{"contributor"}})

	if got := r.check("acme", "p1", "cid", "Editing project content"); got != "allowed" {
		t.Fatalf("contributor edits content: %s", got)
	}
	if got := r.check("acme", "p1", "cid", "Editing project members"); got != "denied" {
		t.Fatalf("contributor edits members: %s", got)
	}
	// The contributor cannot edit members.
	r.refused("ChangeRole", obj{"org_id": "acme", "actor": "cid", "project_id": "p1", "user_id": "bob", "roles": []string{"viewer"}}, client.CodeForbidden)
	r.refused("AddMember", obj{"org_id": "acme", "actor": "cid", "project_id": "p1", "user_id": "ana", "roles": []string{"viewer"}}, client.CodeForbidden)

	pm := r.members("acme", "p1")
	if !slices.Equal(pm["cid"].Roles, []string{"contributor"}) || !slices.Equal(pm["bob"].Roles, []string{"owner"}) {
		t.Fatalf("project members: %+v", pm)
	}

	// The last admin cannot be removed or demoted.
	r.refused("RemoveOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "ana"}, client.CodePreconditionFailed)
	r.refused("ChangeOrgRole", obj{"org_id": "acme", "actor": "ana", "user_id": "ana", "role": "member"}, client.CodePreconditionFailed)

	// Archive: the project is read-only, view permissions stay.
	r.ok("ArchiveProject", obj{"org_id": "acme", "actor": "bob", "project_id": "p1"})
	if got := r.check("acme", "p1", "cid", "Editing project content"); got != "denied" {
		t.Fatalf("archived: contributor edits content: %s", got)
	}
	if got := r.check("acme", "p1", "cid", "Viewing project content"); got != "allowed" {
		t.Fatalf("archived: contributor views content: %s", got)
	}
	r.refused("AddMember", obj{"org_id": "acme", "actor": "bob", "project_id": "p1", "user_id": "ana", "roles": []string{"viewer"}}, client.CodePreconditionFailed)

	// Archived projects leave the lists but stay readable by id.
	var list struct {
		Projects []struct {
			ProjectID string `json:"project_id"`
		} `json:"projects"`
	}
	r.query("ListProjects", obj{"user_id": "cid", "org_id": "acme"}, &list)
	if len(list.Projects) != 0 {
		t.Fatalf("archived project listed: %+v", list)
	}
	r.query("ListProjects", obj{"user_id": "cid", "org_id": "acme", "include_archived": true}, &list)
	if len(list.Projects) != 1 || list.Projects[0].ProjectID != "p1" {
		t.Fatalf("include_archived: %+v", list)
	}
	var proj struct {
		Status string `json:"status"`
	}
	r.query("GetProject", obj{"org_id": "acme", "project_id": "p1"}, &proj)
	if proj.Status != "archived" {
		t.Fatalf("GetProject status %q", proj.Status)
	}

	// Removing Cid from the organization removes him from its projects.
	r.ok("UnarchiveProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1"})
	r.ok("RemoveOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "cid"})
	if _, still := r.members("acme", "p1")["cid"]; still {
		t.Fatal("cid still on the project after leaving the organization")
	}
	if got := r.check("acme", "p1", "cid", "Viewing project content"); got != "denied" {
		t.Fatalf("removed user views content: %s", got)
	}
}
