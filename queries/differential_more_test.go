package queries_test

// More of the differential test, judged by the reference fold (reference_fold_test.go):
// ListProjects, GetProject, ListInvitations and Audit answers, and the write side's accept or
// refuse decision for every generated command.
//
// What the write-side reference can tell, and so checks, before each command runs:
//   - a command naming a project the reference does not know is refused with not_found (or
//     forbidden: the actor's right may be checked first);
//   - a command on a deleted project is refused (precondition_failed, or not_found/forbidden);
//   - a command other than unarchive, delete and the closings (revoke invite, remove/leave) on
//     an archived project is refused (precondition_failed or forbidden: the actor's right is
//     checked as if the project were active);
//   - unarchiving a project that is not archived, archiving one that is, adding an existing
//     organization member, creating an existing project, workgroup or track, adding a member to
//     an individual organization, are refused;
//   - and every accepted command leaves a log the independent SPEC oracle (internal/oracle)
//     finds nothing wrong with (checked once, on the whole log, at the end).
// What it cannot tell, and so does not predict: whether the actor holds the right to the
// command (the command → permission table is the domain's), the last admin/owner, category and
// partner rules (judged after the fact by internal/oracle instead), and input validation.
// Undecided commands are counted, not compared.

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/queries"
)

// diffPrediction is what the reference says of a command: "" undecided, else "refuse" with the
// codes it may be refused with.
type diffPrediction struct {
	refuse bool
	codes  []string
	why    string
}

func refuse(why string, codes ...string) diffPrediction {
	return diffPrediction{refuse: true, codes: codes, why: why}
}

// predict is the write-side reference for one command about to run.
func (h *diffHarness) predict(name string, body dobj) diffPrediction {
	orgID, _ := body["org_id"].(string)
	if o := h.ref[orgID]; o == nil || o.Kind == "" {
		return diffPrediction{}
	}
	o := h.refOf(orgID).o
	str := func(k string) string { s, _ := body[k].(string); return s }
	pid := str("project_id")
	switch name {
	case "CreateOrganization":
		return refuse("organization exists", client.CodeConflict, client.CodeForbidden)
	case "AddOrgMember":
		if o.Kind == domain.KindIndividual {
			return refuse("individual organization (SPEC §2.4)", client.CodePreconditionFailed, client.CodeForbidden, client.CodeConflict)
		}
		if _, ok := o.Members[str("user_id")]; ok {
			return refuse("already an organization member", client.CodeConflict, client.CodeForbidden)
		}
		return diffPrediction{}
	case "CreateWorkgroup":
		if _, ok := o.Workgroups[str("group_id")]; ok {
			return refuse("workgroup exists", client.CodeConflict, client.CodeForbidden)
		}
		return diffPrediction{}
	case "CreateProject":
		if _, ok := o.Projects[pid]; ok {
			return refuse("project exists", client.CodeConflict, client.CodeForbidden)
		}
		return diffPrediction{}
	case "DefineRole", "SetRolePermissions", "DeleteRole":
		return diffPrediction{} // project_id there names a role's home, not a target
	}
	if pid == "" {
		return diffPrediction{}
	}
	p := o.Projects[pid]
	switch {
	case p == nil:
		return refuse("project unknown", client.CodeNotFound, client.CodeForbidden)
	case p.Status == domain.StatusDeleted:
		return refuse("project deleted (SPEC §2.9)", client.CodePreconditionFailed, client.CodeNotFound, client.CodeForbidden)
	}
	archived := p.Status == domain.StatusArchived
	switch name {
	case "UnarchiveProject":
		if !archived {
			return refuse("project not archived", client.CodePreconditionFailed, client.CodeForbidden)
		}
	case "DeleteProject", "RevokeInvite", "RemoveMember", "LeaveProject":
	case "CreateTrack":
		if archived {
			return refuse("project archived (SPEC §2.9)", client.CodePreconditionFailed, client.CodeForbidden)
		}
		if _, ok := p.Tracks[str("track_id")]; ok {
			return refuse("track exists", client.CodeConflict, client.CodeForbidden)
		}
	default:
		if archived {
			return refuse("project archived (SPEC §2.9)", client.CodePreconditionFailed, client.CodeForbidden)
		}
	}
	return diffPrediction{}
}

// judgeWrite compares a command's outcome with the prediction made before it ran.
func (h *diffHarness) judgeWrite(name string, body dobj, want diffPrediction, code string) {
	if !want.refuse {
		h.compared("Write/undecided")
		return
	}
	h.compared("Write/refuse")
	if code == "" {
		raw, _ := json.Marshal(body)
		h.mismatch("Write", "%s %s: accepted; the reference refuses it (%s)", name, raw, want.why)
		return
	}
	if !slices.Contains(want.codes, code) {
		raw, _ := json.Marshal(body)
		h.mismatch("Write", "%s %s: refused with %s; the reference refuses it (%s) with one of %v", name, raw, code, want.why, want.codes)
	}
}

func (h *diffHarness) clockNow() time.Time {
	h.clock.mu.Lock()
	defer h.clock.mu.Unlock()
	return h.clock.now
}

// compareReads compares ListProjects, GetProject, ListInvitations and Audit about one
// organization with the reference fold (and, for Audit, the raw log).
func (h *diffHarness) compareReads(spec diffOrgSpec, ref diffRef, users []string) {
	o := ref.o
	// ListProjects: a project is listed when it is not deleted and the user holds a role there,
	// or the preset names a listing permission the user is allowed at the project (SPEC: Aunsight).
	for _, user := range users {
		for _, archived := range []bool{false, true} {
			want := []string{}
			for _, pid := range diffSortedKeys(o.Projects) {
				p := o.Projects[pid]
				if p.Status == domain.StatusDeleted || (p.Status == domain.StatusArchived && !archived) {
					continue
				}
				roles := ref.memberRoles(user, dscope{Project: pid})
				listed := len(roles) > 0
				if !listed && ref.pre.ListProjects != "" {
					listed = ref.decide(user, ref.pre.ListProjects, dscope{Project: pid}, nil) == domain.Allowed
				}
				if listed {
					want = append(want, fmt.Sprintf("%s %q %s %s %v", pid, p.Name, p.Status, p.Visibility, diffSorted(roles)))
				}
			}
			var got client.ProjectsList
			h.compared("ListProjects")
			b := dobj{"org_id": spec.id, "user_id": user, "include_archived": archived}
			if _, code := h.query(queries.QListProjects, b, &got); code != "" {
				h.mismatch("ListProjects", "org %s user %s: refused with %s", spec.id, user, code)
				continue
			}
			have := []string{}
			for _, e := range got.Projects {
				have = append(have, fmt.Sprintf("%s %q %s %s %v", e.ProjectID, e.Name, e.Status, e.Visibility, diffSorted(e.Roles)))
			}
			if got.NextPageToken != "" {
				h.mismatch("ListProjects", "org %s user %s: more than one page (%d rows)", spec.id, user, len(got.Projects))
			}
			if !slices.Equal(want, have) {
				h.mismatch("ListProjects", "org %s user %s include_archived=%v:\n  want %v\n  got  %v", spec.id, user, archived, want, have)
			}
		}
	}

	// GetProject, every project including deleted ones; owners are not compared (the owner
	// rules per preset are the domain's).
	for _, pid := range diffSortedKeys(o.Projects) {
		p := o.Projects[pid]
		want := client.Project{OrgID: spec.id, ProjectID: pid, Name: p.Name, Status: p.Status, Visibility: p.Visibility,
			CreatedBy: p.CreatedBy, Members: len(p.Members), Tracks: []client.TrackEntry{}, Partners: []client.PartnerEntry{}}
		for _, tid := range diffSortedKeys(p.Tracks) {
			t := p.Tracks[tid]
			want.Tracks = append(want.Tracks, client.TrackEntry{TrackID: tid, Name: t.Name, Compute: t.Compute, NotebookEnv: t.NotebookEnv, Members: len(t.Members)})
		}
		for _, id := range diffSortedKeys(p.Partners) {
			pa := p.Partners[id]
			want.Partners = append(want.Partners, client.PartnerEntry{PartnerID: id, Name: pa.Name, AdminEmail: pa.AdminEmail})
		}
		var got client.Project
		h.compared("GetProject")
		if _, code := h.query(queries.QGetProject, dobj{"org_id": spec.id, "project_id": pid}, &got); code != "" {
			h.mismatch("GetProject", "org %s project %s: refused with %s", spec.id, pid, code)
			continue
		}
		got.Owners, got.AdminOwners = nil, nil
		if w, g := fmt.Sprintf("%+v", want), fmt.Sprintf("%+v", got); w != g {
			h.mismatch("GetProject", "org %s project %s:\n  want %s\n  got  %s", spec.id, pid, w, g)
		}
	}

	// ListInvitations of the organization: every invitation, its status as of the query (a
	// pending one past its end shows expired; one ending while the query ran may show either).
	before := h.clockNow()
	var got client.InvitationsList
	h.compared("ListInvitations")
	if _, code := h.query(queries.QListInvitations, dobj{"org_id": spec.id}, &got); code != "" {
		h.mismatch("ListInvitations", "org %s: refused with %s", spec.id, code)
	} else {
		after := h.clockNow()
		have := map[string]client.Invitation{}
		for _, inv := range got.Invitations {
			have[inv.InvitationID] = inv
		}
		if len(have) != len(o.Invitations) || got.NextPageToken != "" {
			h.mismatch("ListInvitations", "org %s: %d invitations (next page %q), the reference has %d", spec.id, len(have), got.NextPageToken, len(o.Invitations))
		}
		for _, id := range diffSortedKeys(o.Invitations) {
			inv := o.Invitations[id]
			g, ok := have[id]
			if !ok {
				h.mismatch("ListInvitations", "org %s: invitation %s missing", spec.id, id)
				continue
			}
			statuses := []string{inv.Status}
			if inv.Status == domain.InvitePending {
				switch {
				case !before.Before(inv.ExpiresAt):
					statuses = []string{domain.InviteExpired}
				case !after.Add(time.Second).Before(inv.ExpiresAt):
					statuses = append(statuses, domain.InviteExpired)
				}
			}
			w := fmt.Sprintf("%s %s/%s email=%q user=%q roles=%v grants=%v partner=%q by=%s answered=%q ends=%s",
				id, inv.ProjectID, inv.TrackID, inv.Email, inv.UserID, diffSorted(inv.Roles), diffSorted(inv.Grants), inv.PartnerID,
				inv.InvitedBy, inv.AnsweredBy, inv.ExpiresAt.UTC().Format(time.RFC3339Nano))
			gs := fmt.Sprintf("%s %s/%s email=%q user=%q roles=%v grants=%v partner=%q by=%s answered=%q ends=%s",
				g.InvitationID, g.ProjectID, g.TrackID, g.Email, g.UserID, diffSorted(g.Roles), diffSorted(g.Grants), g.PartnerID,
				g.InvitedBy, g.AnsweredBy, g.ExpiresAt.UTC().Format(time.RFC3339Nano))
			if w != gs || g.OrgID != spec.id || !slices.Contains(statuses, g.Status) {
				h.mismatch("ListInvitations", "org %s:\n  want %s status in %v\n  got  %s status %s", spec.id, w, statuses, gs, g.Status)
			}
		}
	}

	// Audit: every record of the organization, in log order, paged.
	recs, err := h.store.Read(h.ctx, 1, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var want []string
	for _, r := range recs {
		if r.OrgID == spec.id {
			want = append(want, auditLine(r))
		}
	}
	var have []string
	after := uint64(0)
	for page := 0; ; page++ {
		var pg client.AuditPage
		h.compared("Audit")
		if _, code := h.query(queries.QAudit, dobj{"org_id": spec.id, "after_position": after, "limit": 100}, &pg); code != "" {
			h.mismatch("Audit", "org %s after %d: refused with %s", spec.id, after, code)
			break
		}
		for _, e := range pg.Events {
			have = append(have, fmt.Sprintf("%d %s %s %s %s %s", e.Position, e.ID, e.Type, e.Actor, e.CommandID, e.Data))
		}
		if pg.NextAfterPosition == 0 || page > 10000 {
			break
		}
		after = pg.NextAfterPosition
	}
	if !slices.Equal(want, have) {
		h.mismatch("Audit", "org %s: %d events, the log has %d; first difference %s", spec.id, len(have), len(want), firstDiff(want, have))
	}
}

func auditLine(r eventstore.Record) string {
	return fmt.Sprintf("%d %s %s %s %s %s", r.Position, r.ID, r.Type, r.Actor, r.CommandID, r.Data)
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d:\n  want %s\n  got  %s", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("after %d common entries", min(len(a), len(b)))
}
