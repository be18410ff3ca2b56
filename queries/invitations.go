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
	who := askerOf(ctx)
	if r.Viewer, err = who.viewer(r.Viewer); err != nil {
		return 0, nil, err
	}
	// In a user account a person asks about their own invitations only, like Check.
	if who.user != "" && r.UserID != "" && r.UserID != who.user {
		return 0, nil, fail(client.CodeForbidden, "user_id %s: a user account asks about its authenticated user %s only", r.UserID, who.user)
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
	if err := q.await(ctx, q.cfg.Members, Consistency{r.MinPosition, r.WaitMS}, mayBlock); err != nil {
		return 0, nil, err
	}
	pos, err := q.eachInvitationOrg(who, r, func(orgID string, o *domain.Org) {
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
			// A person outside the organization (a project's guest) sees the invitations of the
			// projects they may see and those addressed to them, nothing of the rest.
			if who.user != "" && !guestMaySee(o, who.user, e.Invitation) {
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

// eachInvitationOrg runs fn, under the read lock, over the organizations whose invitations the
// caller may list (only org_id's when given: one it may not list is not found) and returns the
// view's position. Applications, operators and insecure callers list what their account
// reaches. A person of a user account lists an organization they may see (seesOrg), and one
// holding an invitation addressed to their user id when they ask by user_id; asking by e-mail
// they name their own address as the organization knows it (emailOf), else forbidden.
func (q *Queries) eachInvitationOrg(who asker, r client.ListInvitations, fn func(id string, o *domain.Org)) (uint64, error) {
	listable := func(o *domain.Org) bool {
		if who.user == "" || who.reaches(o) {
			return who.reaches(o)
		}
		if r.UserID == "" || o == nil || !o.Exists() || !o.AccessibleBy(who.account, who.operator) {
			return false
		}
		for _, inv := range o.Invitations {
			if inv.UserID == who.user {
				return true
			}
		}
		return false
	}
	ownEmail := func(o *domain.Org) bool {
		return who.user == "" || r.Email == "" || strings.EqualFold(emailOf(o, who.user), r.Email)
	}
	var pos uint64
	err := q.cfg.Members.ReadAll(func(orgs map[string]*domain.Org, position uint64) error {
		pos = position
		if r.OrgID != "" {
			o := orgs[r.OrgID]
			if !listable(o) {
				return orgNotFound(r.OrgID)
			}
			if !ownEmail(o) {
				return fail(client.CodeForbidden, "email %s: a user account asks about its authenticated user %s's e-mail only", r.Email, who.user)
			}
			fn(r.OrgID, o)
			return nil
		}
		visited := 0
		for id, o := range orgs {
			if listable(o) && ownEmail(o) {
				fn(id, o)
				visited++
			}
		}
		if visited == 0 && who.user != "" && r.Email != "" {
			return fail(client.CodeForbidden, "email %s: a user account asks about its authenticated user %s's e-mail only", r.Email, who.user)
		}
		return nil
	})
	return pos, err
}

// guestMaySee: an organization member sees every invitation; anyone else only those addressed to
// them and those of a project they may see.
func guestMaySee(o *domain.Org, user string, inv domain.Invitation) bool {
	if _, member := o.Members[user]; member || inv.UserID == user {
		return true
	}
	return inv.ProjectID != "" && o.MaySee(user, inv.ProjectID)
}
