package queries

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"roster/client"
	"roster/domain"
	"roster/projections"
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
		// A project's guest lists their project, not the organization's members (as Audit).
		if err := who.orgWide(o, r.ProjectID); err != nil {
			return nil, err
		}
		if !o.MaySee(r.Viewer, r.ProjectID) {
			where := "organization " + r.OrgID
			if r.ProjectID != "" {
				where = "project " + r.ProjectID
			}
			return nil, fail(client.CodeForbidden, "viewer %s is not a member of %s and may not see its members", r.Viewer, where)
		}
		page, next, err := q.memberPage(o, memberQuery{scope: scopeOf(r.ProjectID, r.TrackID), partner: o.CompanyOf(r.Viewer, r.ProjectID),
			role: r.Role, status: r.Status, q: r.Q, after: after, limit: limit})
		if err != nil {
			return nil, err
		}
		members := make([]client.Member, len(page))
		for i, e := range page {
			members[i] = e.Member
		}
		return client.MembersPage{Members: members, NextPageToken: next}, nil
	})
}

// memberQuery is one ListMembers page request, validated.
type memberQuery struct {
	scope domain.Scope
	// partner, when set, is the labeling company of the viewer: a company's member sees only
	// their own company's members (Dataloop: "They cannot view and are not aware of any other
	// users to the project").
	partner      string
	role, status string
	q            string
	after        string
	limit        int
}

// memberPage answers one page from the members view's index (projections/memberindex.go):
// the rows are visited in page-key order from the page token, through the smallest set the
// request names (the rows matching q, of the partner company, holding the role, or all), so a
// page costs O(log n) plus the rows visited, not the scope's size. Each row is built from the
// state as of now and checked against every filter.
func (q *Queries) memberPage(o *domain.Org, mq memberQuery) ([]MemberEntry, string, error) {
	s := mq.scope
	if s.ProjectID != "" {
		p, ok := o.Projects[s.ProjectID]
		if !ok {
			return nil, "", projectNotFound(o.ID, s.ProjectID)
		}
		if _, ok := p.Tracks[s.TrackID]; s.TrackID != "" && !ok {
			return nil, "", fail(client.CodeNotFound, "track %s not found in project %s", s.TrackID, s.ProjectID)
		}
	}
	idx := q.cfg.Members.MemberIndex(o.ID)
	if idx == nil {
		// A view keeping no index (or an organization it has not indexed): index this one now.
		idx = projections.IndexOrgMembers(o)
	}
	ms := projections.MemberScope{ProjectID: s.ProjectID, TrackID: s.TrackID}
	roleID := mq.role
	if roleID != "" {
		if role, ok := o.Role(roleID); ok {
			roleID = role.ID
		}
	}
	needle := strings.ToLower(strings.TrimSpace(mq.q))
	now := q.cfg.Now()
	page := []MemberEntry{}
	next := ""
	visit := func(key string) bool {
		e, ok := memberEntry(o, s, key, now)
		if !ok {
			return true // gone as of now (an end that has come), or an answered invitation
		}
		if mq.partner != "" && e.PartnerID != mq.partner {
			return true
		}
		if needle != "" && !matchesSearch(o, e, needle) {
			return true
		}
		if roleID != "" && !slices.Contains(e.Roles, roleID) {
			return true
		}
		if mq.status != "" && e.Status != mq.status && !(mq.status == MemberActive && e.Status == domain.InviteAccepted) {
			return true
		}
		if len(page) == mq.limit {
			next = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].key))
			return false
		}
		page = append(page, e)
		return true
	}
	// Statuses of memberships and of invitations live in separate key ranges.
	after, stop := mq.after, ""
	switch mq.status {
	case MemberActive, domain.InviteAccepted:
		stop = projections.RowInvitation
	case domain.InvitePending, domain.InviteRejected, domain.InviteExpired:
		after = max(after, projections.RowInvitation)
	}
	bounded := func(key string) bool {
		if stop != "" && key >= stop {
			return false
		}
		return visit(key)
	}
	switch {
	case needle != "":
		var roles []string
		for _, role := range o.Roles() {
			if strings.HasPrefix(strings.ToLower(role.ID), needle) || projections.MatchesWordPrefix(role.ID, needle) ||
				projections.MatchesWordPrefix(role.Label, needle) {
				roles = append(roles, role.ID)
			}
		}
		for _, key := range idx.SearchKeys(ms, needle, roles, after) {
			if !bounded(key) {
				break
			}
		}
	case mq.partner != "":
		idx.Ascend(ms, projections.TokPartner+mq.partner, after, bounded)
	case roleID != "":
		idx.Ascend(ms, projections.TokRole+roleID, after, bounded)
	default:
		idx.Ascend(ms, projections.TokAll, after, bounded)
	}
	return page, next, nil
}

// matchesSearch is ListMembers' q: a prefix, case-insensitively, of a word of the name, the
// e-mail (split at "@" and "."), the user or group id, or a role's id or label, or of one of
// them whole (Dataloop: "search by name, email, or role"). See DECISIONS.md: a prefix of a
// word, unlike any substring, is answered from the member index.
func matchesSearch(o *domain.Org, e MemberEntry, needle string) bool {
	hay := []string{e.Name, e.Email, e.UserID, e.GroupID}
	for _, id := range e.Roles {
		hay = append(hay, id)
		if r, ok := o.Role(id); ok {
			hay = append(hay, r.Label)
		}
	}
	for _, h := range hay {
		if projections.MatchesWordPrefix(h, needle) {
			return true
		}
	}
	return false
}

// memberEntry is the row of a scope under a page key ("1:" and a membership key, "2:" and an
// invitation id), as of now; false when there is none. A member who joined by invitation is
// "accepted", one added directly "active"; invitations not accepted show as pending, rejected
// or expired (from the moment they expire); accepted and revoked ones are not rows.
func memberEntry(o *domain.Org, s domain.Scope, key string, now time.Time) (MemberEntry, bool) {
	status := func(invitation string) string {
		if invitation != "" {
			return domain.InviteAccepted
		}
		return MemberActive
	}
	if id, ok := strings.CutPrefix(key, projections.RowInvitation); ok {
		inv, ok := o.Invitations[id]
		if !ok || inv.ProjectID != s.ProjectID || inv.TrackID != s.TrackID {
			return MemberEntry{}, false
		}
		st := invitationStatus(inv, now)
		switch st {
		case domain.InviteAccepted, domain.InviteRevoked:
			return MemberEntry{}, false
		}
		email, name := inv.Email, inv.Name
		if m, ok := o.Members[inv.UserID]; ok && inv.UserID != "" {
			// An invitation by user id names the person the organization already knows.
			email, name = cmp.Or(email, m.Email), cmp.Or(name, m.Name)
		}
		return MemberEntry{Member: client.Member{UserID: inv.UserID, Email: email, Name: name, Roles: nonNil(inv.Roles),
			Grants: nonNil(inv.Grants), Status: st, PartnerID: inv.PartnerID, InvitationID: id}, key: key}, true
	}
	mkey, ok := strings.CutPrefix(key, projections.RowMember)
	if !ok {
		return MemberEntry{}, false
	}
	if s.ProjectID == "" {
		m, ok := o.Members[mkey]
		if !ok {
			return MemberEntry{}, false
		}
		return MemberEntry{Member: client.Member{UserID: mkey, Email: m.Email, Name: m.Name, Roles: []string{m.Role},
			Grants: []string{}, Status: status(m.InvitationID), InvitationID: m.InvitationID, ExpiresAt: rfc3339(m.ExpiresAt)}, key: key}, true
	}
	p, ok := o.Projects[s.ProjectID]
	if !ok {
		return MemberEntry{}, false
	}
	mm := p.Members
	if s.TrackID != "" {
		t, ok := p.Tracks[s.TrackID]
		if !ok {
			return MemberEntry{}, false
		}
		mm = t.Members
	}
	m, ok := mm[mkey]
	if !ok {
		return MemberEntry{}, false
	}
	e := MemberEntry{Member: client.Member{UserID: m.UserID, GroupID: m.GroupID, Email: m.Email, Name: m.Name,
		Roles: nonNil(m.Roles), Grants: nonNil(m.Grants), PartnerID: m.PartnerID, Guest: m.Guest,
		Status: status(m.InvitationID), InvitationID: m.InvitationID, ExpiresAt: rfc3339(m.ExpiresAt)}, key: key}
	if g, ok := o.Workgroups[m.GroupID]; ok && m.GroupID != "" {
		e.Members = sortedKeysOf(g.Members)
	}
	return e, true
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
