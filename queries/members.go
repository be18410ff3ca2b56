package queries

import (
	"context"
	"encoding/base64"
	"errors"
	"roster/client"
	"roster/domain"
	"slices"
	"strings"
	"time"
)

// ListMembers

// MemberEntry is one row of ListMembers (the wire's client.Member) with its sort key.
type MemberEntry struct {
	client.Member
	key string
}

// Member statuses beyond the invitation statuses.
const (
	MemberActive = "active"
)

func (q *Queries) listMembers(ctx context.Context, r client.ListMembers, mayBlock bool) (uint64, any, error) {
	var err error
	who := askerOf(ctx)
	if r.Viewer, err = who.viewer(r.Viewer); err != nil {
		return 0, nil, err
	}
	if err := errors.Join(validScope(r.OrgID, r.ProjectID, r.TrackID), checkID("viewer", r.Viewer, false)); err != nil {
		return 0, nil, err
	}
	limit, err := pageLimit(r.Limit)
	if err != nil {
		return 0, nil, err
	}
	after := ""
	if r.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(r.PageToken)
		if err != nil || len(b) < 3 || (b[0] != '1' && b[0] != '2') || b[1] != ':' {
			return 0, nil, fail(client.CodeInvalid, "page_token is not one this service issued; pass next_page_token from the previous page")
		}
		after = string(b)
	}
	return q.readOrg(ctx, q.cfg.Members, Consistency{r.MinPosition, r.WaitMS}, mayBlock, r.OrgID, func(o *domain.Org) (any, error) {
		// In a user account a private project the person may not see does not exist for them.
		if err := who.seesProject(o, r.ProjectID); err != nil {
			return nil, err
		}
		if !o.MaySee(r.Viewer, r.ProjectID) {
			where := "organization " + r.OrgID
			if r.ProjectID != "" {
				where = "project " + r.ProjectID
			}
			return nil, fail(client.CodeForbidden, "viewer %s is not a member of %s and may not see its members", r.Viewer, where)
		}
		entries, err := memberEntries(o, scopeOf(r.ProjectID, r.TrackID), q.cfg.Now())
		if err != nil {
			return nil, err
		}
		// A labeling company's member sees only their own company's members (Dataloop: "They
		// cannot view and are not aware of any other users to the project").
		if partner := o.CompanyOf(r.Viewer, r.ProjectID); partner != "" {
			entries = slices.DeleteFunc(entries, func(e MemberEntry) bool { return e.PartnerID != partner })
		}
		roleID := r.Role
		if roleID != "" {
			if role, ok := o.Role(roleID); ok {
				roleID = role.ID
			}
		}
		needle := strings.ToLower(strings.TrimSpace(r.Q))
		page := []MemberEntry{}
		next := ""
		for _, e := range entries {
			if e.key <= after {
				continue
			}
			if needle != "" && !matchesSearch(o, e, needle) {
				continue
			}
			if roleID != "" && !slices.Contains(e.Roles, roleID) {
				continue
			}
			if r.Status != "" && e.Status != r.Status && !(r.Status == MemberActive && e.Status == domain.InviteAccepted) {
				continue
			}
			if len(page) == limit {
				next = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].key))
				break
			}
			page = append(page, e)
		}
		members := make([]client.Member, len(page))
		for i, e := range page {
			members[i] = e.Member
		}
		return client.MembersPage{Members: members, NextPageToken: next}, nil
	})
}

// matchesSearch is ListMembers' q: a substring, case-insensitively, of the name, the e-mail,
// the user or group id, or a role's id or label (Dataloop: "search by name, email, or role").
func matchesSearch(o *domain.Org, e MemberEntry, needle string) bool {
	hay := []string{e.Name, e.Email, e.UserID, e.GroupID}
	for _, id := range e.Roles {
		hay = append(hay, id)
		if r, ok := o.Role(id); ok {
			hay = append(hay, r.Label)
		}
	}
	for _, h := range hay {
		if strings.Contains(strings.ToLower(h), needle) {
			return true
		}
	}
	return false
}

// memberEntries lists the members and open invitations of a scope, sorted by a stable key.
// A member who joined by invitation is "accepted", one added directly "active"; invitations
// not accepted show as pending, rejected or expired (from the moment they expire).
func memberEntries(o *domain.Org, s domain.Scope, now time.Time) ([]MemberEntry, error) {
	var out []MemberEntry
	status := func(invitation string) string {
		if invitation != "" {
			return domain.InviteAccepted
		}
		return MemberActive
	}
	if s.ProjectID == "" {
		for id, m := range o.Members {
			out = append(out, MemberEntry{Member: client.Member{UserID: id, Email: m.Email, Name: m.Name, Roles: []string{m.Role},
				Grants: []string{}, Status: status(m.InvitationID), InvitationID: m.InvitationID, ExpiresAt: rfc3339(m.ExpiresAt)}, key: "1:" + id})
		}
	} else {
		p, ok := o.Projects[s.ProjectID]
		if !ok {
			return nil, projectNotFound(o.ID, s.ProjectID)
		}
		mm := p.Members
		if s.TrackID != "" {
			t, ok := p.Tracks[s.TrackID]
			if !ok {
				return nil, fail(client.CodeNotFound, "track %s not found in project %s", s.TrackID, s.ProjectID)
			}
			mm = t.Members
		}
		for key, m := range mm {
			e := MemberEntry{Member: client.Member{UserID: m.UserID, GroupID: m.GroupID, Email: m.Email, Name: m.Name,
				Roles: nonNil(m.Roles), Grants: nonNil(m.Grants), PartnerID: m.PartnerID, Guest: m.Guest,
				Status: status(m.InvitationID), InvitationID: m.InvitationID, ExpiresAt: rfc3339(m.ExpiresAt)}, key: "1:" + key}
			if g, ok := o.Workgroups[m.GroupID]; ok && m.GroupID != "" {
				e.Members = sortedKeysOf(g.Members)
			}
			out = append(out, e)
		}
	}
	for id, inv := range o.Invitations {
		if inv.ProjectID != s.ProjectID || inv.TrackID != s.TrackID {
			continue
		}
		st := invitationStatus(inv, now)
		switch st {
		case domain.InviteAccepted, domain.InviteRevoked:
			continue
		}
		email, name := inv.Email, inv.Name
		if m, ok := o.Members[inv.UserID]; ok && inv.UserID != "" {
			// An invitation by user id names the person the organization already knows.
			email, name = firstOf(email, m.Email), firstOf(name, m.Name)
		}
		out = append(out, MemberEntry{Member: client.Member{UserID: inv.UserID, Email: email, Name: name, Roles: nonNil(inv.Roles),
			Grants: nonNil(inv.Grants), Status: st, PartnerID: inv.PartnerID, InvitationID: id}, key: "2:" + id})
	}
	slices.SortFunc(out, func(a, b MemberEntry) int { return strings.Compare(a.key, b.key) })
	return out, nil
}

// invitationStatus is an invitation's status at now: pending ones past their expiry are expired.
func invitationStatus(inv *domain.Invitation, now time.Time) string {
	if inv.Status == domain.InvitePending && !now.Before(inv.ExpiresAt) {
		return domain.InviteExpired
	}
	return inv.Status
}

// rfc3339 is a membership end on the wire: RFC 3339, empty when there is none.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// firstOf returns a, or b when a is empty.
func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
