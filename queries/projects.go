package queries

import (
	"context"
	"errors"
	"roster/client"
	"roster/domain"
	"slices"
	"strings"
)

// ListProjects, GetProject

// ProjectEntry is one row of ListProjects.
type ProjectEntry = client.ProjectEntry

func (q *Queries) listProjects(ctx context.Context, r client.ListProjects, mayBlock bool) (uint64, any, error) {
	var err error
	if r.UserID, err = askerOf(ctx).subject("user_id", r.UserID); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(checkID("user_id", r.UserID, true), checkID("org_id", r.OrgID, false)); err != nil {
		return 0, nil, err
	}
	limit, err := listLimit(r.Limit)
	if err != nil {
		return 0, nil, err
	}
	out := []ProjectEntry{}
	pos, err := q.eachOrg(ctx, q.cfg.Members, Consistency{r.MinPosition, r.WaitMS}, mayBlock, r.OrgID, func(orgID string, o *domain.Org) {
		for pid, p := range o.Projects {
			if p.Status == domain.StatusArchived && !r.IncludeArchived {
				continue
			}
			// Aunsight: "To view projects, users must have a role that grants
			// AU-ORG:view-any-project"; a project one is a member of stays visible.
			if !o.MayListProject(r.UserID, pid) {
				continue
			}
			roles := o.MemberRolesAt(r.UserID, domain.Scope{ProjectID: pid})
			out = append(out, ProjectEntry{OrgID: orgID, ProjectID: pid, Name: p.Name, Status: p.Status, Visibility: p.Visibility, Roles: roles})
		}
	})
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(out, func(a, b ProjectEntry) int {
		return strings.Compare(a.OrgID+"\x00"+a.ProjectID, b.OrgID+"\x00"+b.ProjectID)
	})
	page, next, err := pageOf(out, func(e ProjectEntry) string { return e.OrgID + "\x00" + e.ProjectID }, limit, r.PageToken)
	if err != nil {
		return 0, nil, err
	}
	return pos, client.ProjectsList{Projects: page, NextPageToken: next}, nil
}

func (q *Queries) getProject(ctx context.Context, r client.GetProject, mayBlock bool) (uint64, any, error) {
	var err error
	who := askerOf(ctx)
	if r.Viewer, err = who.viewer(r.Viewer); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(checkID("org_id", r.OrgID, true), checkID("project_id", r.ProjectID, true), checkID("viewer", r.Viewer, false)); err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Members, Consistency{r.MinPosition, r.WaitMS}, mayBlock, r.OrgID, func(o *domain.Org) (any, error) {
		p, ok := o.Projects[r.ProjectID]
		if !ok {
			return nil, projectNotFound(r.OrgID, r.ProjectID)
		}
		if err := who.seesProject(o, r.ProjectID); err != nil {
			return nil, err
		}
		tracks := []client.TrackEntry{}
		for _, tid := range sortedKeysOf(p.Tracks) {
			t := p.Tracks[tid]
			tracks = append(tracks, client.TrackEntry{TrackID: t.ID, Name: t.Name, Compute: t.Compute, NotebookEnv: t.NotebookEnv, Members: len(t.Members)})
		}
		partners := []client.PartnerEntry{}
		for _, id := range sortedKeysOf(p.Partners) {
			pa := p.Partners[id]
			partners = append(partners, client.PartnerEntry{PartnerID: pa.ID, Name: pa.Name, AdminEmail: pa.AdminEmail})
		}
		res := client.Project{OrgID: o.ID, ProjectID: p.ID, Name: p.Name, Status: p.Status, Visibility: p.Visibility,
			CreatedBy: p.CreatedBy, Owners: o.Owners(p), Tracks: tracks, Partners: partners, Members: len(p.Members)}
		if o.AdminsOwnProjects() {
			res.AdminOwners = o.OrgAdmins()
		}
		if company := o.CompanyOf(r.Viewer, p.ID); company != "" {
			scopeProject(o, p, company, &res)
		}
		return res, nil
	})
}

// scopeProject narrows GetProject's answer to what a member of a labeling company may know
// (Dataloop: "They cannot view and are not aware of any other users to the project"): the
// owners, admin owners and creator of their own company only, their own company among the
// partners, and member counts of their own company.
func scopeProject(o *domain.Org, p *domain.Project, company string, res *client.Project) {
	res.Owners = o.AwareOf(company, res.Owners, p.ID)
	if res.AdminOwners != nil {
		res.AdminOwners = o.AwareOf(company, res.AdminOwners, p.ID)
	}
	if !o.Aware(company, res.CreatedBy, p.ID) {
		res.CreatedBy = ""
	}
	res.Partners = slices.DeleteFunc(res.Partners, func(e client.PartnerEntry) bool { return e.PartnerID != company })
	count := func(mm map[string]*domain.Membership) int {
		n := 0
		for _, m := range mm {
			if m.PartnerID == company {
				n++
			}
		}
		return n
	}
	res.Members = count(p.Members)
	for i := range res.Tracks {
		if t, ok := p.Tracks[res.Tracks[i].TrackID]; ok {
			res.Tracks[i].Members = count(t.Members)
		}
	}
}
