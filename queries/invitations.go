package queries

import (
	"context"
	"errors"
	"roster/client"
	"roster/domain"
	"slices"
	"strings"
)

// ListInvitations

// InvitationEntry is one row of ListInvitations.
type InvitationEntry struct {
	OrgID string `json:"org_id"`
	domain.Invitation
}

func (q *Queries) listInvitations(ctx context.Context, r client.ListInvitations, mayBlock bool) (uint64, any, error) {
	var err error
	if r.Viewer, err = askerOf(ctx).viewer(r.Viewer); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(checkID("org_id", r.OrgID, false), checkID("project_id", r.ProjectID, false), checkID("user_id", r.UserID, false),
		checkID("viewer", r.Viewer, false)); err != nil {
		return 0, nil, err
	}
	if r.OrgID == "" && r.Email == "" && r.UserID == "" {
		return 0, nil, fail(client.CodeInvalid, "give org_id, email or user_id")
	}
	limit, err := listLimit(r.Limit)
	if err != nil {
		return 0, nil, err
	}
	now := q.cfg.Now()
	out := []InvitationEntry{}
	pos, err := q.eachOrg(ctx, q.cfg.Members, Consistency{r.MinPosition, r.WaitMS}, mayBlock, r.OrgID, func(orgID string, o *domain.Org) {
		for _, inv := range o.Invitations {
			e := InvitationEntry{OrgID: orgID, Invitation: *inv}
			e.Status = invitationStatus(inv, now)
			switch {
			case r.ProjectID != "" && e.ProjectID != r.ProjectID,
				r.Email != "" && !strings.EqualFold(e.Email, r.Email),
				r.UserID != "" && e.UserID != r.UserID,
				r.Status != "" && e.Status != r.Status:
				continue
			}
			// A labeling company's member sees only their own company's invitations.
			if company := o.CompanyOf(r.Viewer, e.ProjectID); company != "" && e.PartnerID != company {
				continue
			}
			e.Roles, e.Grants = nonNil(e.Roles), nonNil(e.Grants)
			out = append(out, e)
		}
	})
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(out, func(a, b InvitationEntry) int { return strings.Compare(a.OrgID+"\x00"+a.ID, b.OrgID+"\x00"+b.ID) })
	out, next, err := pageOf(out, func(e InvitationEntry) string { return e.OrgID + "\x00" + e.ID }, limit, r.PageToken)
	if err != nil {
		return 0, nil, err
	}
	res := client.InvitationsList{Invitations: make([]client.Invitation, len(out)), NextPageToken: next}
	for i, e := range out {
		res.Invitations[i] = client.Invitation{OrgID: e.OrgID, InvitationID: e.ID, ProjectID: e.ProjectID, TrackID: e.TrackID, Email: e.Email,
			UserID: e.UserID, Name: e.Name, Roles: e.Roles, Grants: e.Grants, PartnerID: e.PartnerID, InvitedBy: e.InvitedBy,
			Status: e.Status, ExpiresAt: e.ExpiresAt, AnsweredBy: e.AnsweredBy}
	}
	return pos, res, nil
}
