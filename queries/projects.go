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

type listProjectsReq struct {
	Consistency
	UserID          string `json:"user_id"`
	OrgID           string `json:"org_id,omitempty"`
	IncludeArchived bool   `json:"include_archived,omitempty"`
	Limit           int    `json:"limit,omitempty"`
	PageToken       string `json:"page_token,omitempty"`
}

// ProjectEntry is one row of ListProjects.
type ProjectEntry = client.ProjectEntry

func (q *Queries) listProjects(ctx context.Context, r listProjectsReq, mayBlock bool) (uint64, any, error) {
	if err := errors.Join(checkID("user_id", r.UserID, true), checkID("org_id", r.OrgID, false)); err != nil {
		return 0, nil, err
	}
	limit, err := listLimit(r.Limit)
	if err != nil {
		return 0, nil, err
	}
	out := []ProjectEntry{}
	pos, err := q.eachOrg(ctx, q.cfg.Members, r.Consistency, mayBlock, r.OrgID, func(orgID string, o *domain.Org) {
		for pid, p := range o.Projects {
			if p.Status == domain.StatusDeleted || (p.Status == domain.StatusArchived && !r.IncludeArchived) {
				continue
			}
			roles := o.MemberRolesAt(r.UserID, domain.Scope{ProjectID: pid})
			if len(roles) == 0 {
				continue
			}
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

type getProjectReq struct {
	Consistency
	OrgID     string `json:"org_id"`
	ProjectID string `json:"project_id"`
}

func (q *Queries) getProject(ctx context.Context, r getProjectReq, mayBlock bool) (uint64, any, error) {
	if err := errors.Join(checkID("org_id", r.OrgID, true), checkID("project_id", r.ProjectID, true)); err != nil {
		return 0, nil, err
	}
	return q.readOrg(ctx, q.cfg.Members, r.Consistency, mayBlock, r.OrgID, func(o *domain.Org) (any, error) {
		p, ok := o.Projects[r.ProjectID]
		if !ok {
			return nil, fail(client.CodeNotFound, "project %s not found in organization %s", r.ProjectID, r.OrgID)
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
		return res, nil
	})
}
