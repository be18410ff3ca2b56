package projections

import (
	"sort"
	"strings"
	"unicode"

	"github.com/google/btree"

	"roster/domain"
)

// The member index: what ListMembers pages and searches through without listing a scope's
// every member. Per organization and scope (the organization, a project, a track) it keeps an
// ordered set of (token, row key) pairs in a B-tree, updated as events apply:
//
//   - "a" and every row key: the scope's rows in page order;
//   - "w:" and each search word of the row (lower-cased name, e-mail, user and group id, whole
//     and split into words, e-mail parts split on "@" and "."): q is a prefix of one of them;
//   - "r:" and each role id the row holds; "p:" and the row's partner company.
//
// Row keys are those of ListMembers' page tokens: "1:" and the membership key (the user id at
// the organization, "u:"/"g:" and the id in a project or track) for memberships, "2:" and the
// invitation id for invitations neither accepted nor revoked. The index is built from the
// folded state without the end of time-bound memberships applied: a reader checks each row
// against the state as of now, so a row whose end has come is skipped, never shown.

// Token prefixes of the member index.
const (
	TokAll     = "a"
	TokWord    = "w:"
	TokRole    = "r:"
	TokPartner = "p:"
)

// Row key prefixes (also the page token's form).
const (
	RowMember     = "1:"
	RowInvitation = "2:"
)

// MemberScope names a scope of an organization: the organization itself (both empty), a
// project, or a track of a project.
type MemberScope struct{ ProjectID, TrackID string }

type memberItem struct{ tok, key string }

func memberItemLess(a, b memberItem) bool {
	if a.tok != b.tok {
		return a.tok < b.tok
	}
	return a.key < b.key
}

type scopeIndex struct {
	items *btree.BTreeG[memberItem]
	toks  map[string][]string // row key -> its tokens
}

// OrgMemberIndex is one organization's member index. It is read under the view's read lock
// (View.ReadMembers) and written under its write lock.
type OrgMemberIndex struct {
	scopes map[MemberScope]*scopeIndex
	// invByUser lists the open invitations by user id: their rows show the member's name and
	// e-mail, so a change of the organization member re-indexes them.
	invByUser map[string]map[string]bool
}

func newOrgMemberIndex() *OrgMemberIndex {
	return &OrgMemberIndex{scopes: map[MemberScope]*scopeIndex{}, invByUser: map[string]map[string]bool{}}
}

// buildOrgMemberIndex indexes every row of the organization.
func buildOrgMemberIndex(o *domain.Org) *OrgMemberIndex {
	x := newOrgMemberIndex()
	for id := range o.Members {
		x.reindexOrgMember(o, id)
	}
	for pid, p := range o.Projects {
		for k := range p.Members {
			x.reindexMembership(o, MemberScope{ProjectID: pid}, k)
		}
		for tid, t := range p.Tracks {
			for k := range t.Members {
				x.reindexMembership(o, MemberScope{ProjectID: pid, TrackID: tid}, k)
			}
		}
	}
	for id := range o.Invitations {
		x.reindexInvitation(o, id)
	}
	return x
}

func (x *OrgMemberIndex) scope(s MemberScope) *scopeIndex {
	si, ok := x.scopes[s]
	if !ok {
		si = &scopeIndex{items: btree.NewG(32, memberItemLess), toks: map[string][]string{}}
		x.scopes[s] = si
	}
	return si
}

// set replaces a row's tokens (none: the row is gone).
func (x *OrgMemberIndex) set(s MemberScope, key string, toks []string) {
	si := x.scope(s)
	for _, t := range si.toks[key] {
		si.items.Delete(memberItem{t, key})
	}
	if len(toks) == 0 {
		delete(si.toks, key)
		return
	}
	for _, t := range toks {
		si.items.ReplaceOrInsert(memberItem{t, key})
	}
	si.toks[key] = toks
}

// rowTokens are a row's tokens, deduplicated. Their text is one allocation (each token a
// substring of it) and the list another: at a million rows the index is a few objects per
// row for the collector to trace, not one per token.
func rowTokens(texts []string, roles []string, partner string) []string {
	seen := map[string]bool{TokAll: true}
	out := []string{TokAll}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, s := range texts {
		for _, w := range SearchWords(s) {
			add(TokWord + w)
		}
	}
	for _, r := range roles {
		add(TokRole + r)
	}
	if partner != "" {
		add(TokPartner + partner)
	}
	joined := strings.Join(out, "")
	toks := make([]string, len(out))
	at := 0
	for i, t := range out {
		toks[i] = joined[at : at+len(t)]
		at += len(t)
	}
	return toks
}

func (x *OrgMemberIndex) reindexOrgMember(o *domain.Org, userID string) {
	m, ok := o.Members[userID]
	if !ok {
		x.set(MemberScope{}, RowMember+userID, nil)
	} else {
		x.set(MemberScope{}, RowMember+userID, rowTokens([]string{m.Name, m.Email, userID}, []string{m.Role}, ""))
	}
	for id := range x.invByUser[userID] {
		x.reindexInvitation(o, id)
	}
}

func (x *OrgMemberIndex) reindexMembership(o *domain.Org, s MemberScope, mkey string) {
	var m *domain.Membership
	if p, ok := o.Projects[s.ProjectID]; ok {
		mm := p.Members
		if s.TrackID != "" {
			mm = nil
			if t, ok := p.Tracks[s.TrackID]; ok {
				mm = t.Members
			}
		}
		m = mm[mkey]
	}
	if m == nil {
		x.set(s, RowMember+mkey, nil)
		return
	}
	x.set(s, RowMember+mkey, rowTokens([]string{m.Name, m.Email, m.UserID, m.GroupID}, m.Roles, m.PartnerID))
}

func (x *OrgMemberIndex) reindexInvitation(o *domain.Org, id string) {
	inv, ok := o.Invitations[id]
	if !ok {
		return
	}
	s := MemberScope{ProjectID: inv.ProjectID, TrackID: inv.TrackID}
	if inv.Status == domain.InviteAccepted || inv.Status == domain.InviteRevoked {
		x.set(s, RowInvitation+id, nil)
		if by := x.invByUser[inv.UserID]; by != nil {
			delete(by, id)
			if len(by) == 0 {
				delete(x.invByUser, inv.UserID)
			}
		}
		return
	}
	texts := []string{inv.Email, inv.Name, inv.UserID}
	if inv.UserID != "" {
		if x.invByUser[inv.UserID] == nil {
			x.invByUser[inv.UserID] = map[string]bool{}
		}
		x.invByUser[inv.UserID][id] = true
		if m, ok := o.Members[inv.UserID]; ok {
			texts = append(texts, m.Email, m.Name)
		}
	}
	x.set(s, RowInvitation+id, rowTokens(texts, inv.Roles, inv.PartnerID))
}

// apply re-indexes the rows an event (already folded into o) changed.
func (x *OrgMemberIndex) apply(o *domain.Org, ev domain.Event) {
	refOf := func(r domain.MembershipRef) {
		switch r.Scope {
		case domain.ScopeOrg:
			x.reindexOrgMember(o, r.UserID)
		case domain.ScopeProject, domain.ScopeTrack:
			x.reindexMembership(o, MemberScope{ProjectID: r.ProjectID, TrackID: r.TrackID},
				domain.Principal{UserID: r.UserID, GroupID: r.GroupID}.Key())
		}
	}
	switch e := ev.(type) {
	case *domain.OrgMemberAdded:
		x.reindexOrgMember(o, e.UserID)
	case *domain.OrgRoleChanged:
		x.reindexOrgMember(o, e.UserID)
	case *domain.OrgMemberRemoved:
		x.reindexOrgMember(o, e.UserID)
	case *domain.MemberAdded:
		x.reindexMembership(o, MemberScope{e.ProjectID, e.TrackID}, e.Principal.Key())
	case *domain.RoleChanged:
		x.reindexMembership(o, MemberScope{e.ProjectID, e.TrackID}, e.Principal.Key())
	case *domain.GrantsSet:
		x.reindexMembership(o, MemberScope{e.ProjectID, e.TrackID}, e.Principal.Key())
	case *domain.MemberRemoved:
		x.reindexMembership(o, MemberScope{e.ProjectID, e.TrackID}, e.Principal.Key())
	case *domain.InvitationCreated:
		x.reindexInvitation(o, e.InvitationID)
	case *domain.InvitationAccepted:
		x.reindexInvitation(o, e.InvitationID)
	case *domain.InvitationRejected:
		x.reindexInvitation(o, e.InvitationID)
	case *domain.InvitationRevoked:
		x.reindexInvitation(o, e.InvitationID)
	case *domain.InvitationExpired:
		x.reindexInvitation(o, e.InvitationID)
	case *domain.MembershipExpired:
		refOf(e.MembershipRef)
	case *domain.MembershipExtended:
		refOf(e.MembershipRef)
	}
}

// Ascend visits the keys of the scope's rows holding tok, in key order, from the first key
// above after, until fn returns false. Its cost is O(log n) plus the rows visited.
func (x *OrgMemberIndex) Ascend(s MemberScope, tok, after string, fn func(key string) bool) {
	si, ok := x.scopes[s]
	if !ok {
		return
	}
	si.items.AscendGreaterOrEqual(memberItem{tok, after + "\x00"}, func(it memberItem) bool {
		if it.tok != tok {
			return false
		}
		return fn(it.key)
	})
}

// SearchKeys lists, in key order without repeats, the keys of the scope's rows above after
// with a search word that starts with prefix or holding one of roles. Its cost is O(log n)
// plus the matching (word, row) pairs: proportional to the answer, not to the scope.
func (x *OrgMemberIndex) SearchKeys(s MemberScope, prefix string, roles []string, after string) []string {
	si, ok := x.scopes[s]
	if !ok {
		return nil
	}
	set := map[string]bool{}
	from := TokWord + prefix
	si.items.AscendGreaterOrEqual(memberItem{from, ""}, func(it memberItem) bool {
		if !strings.HasPrefix(it.tok, from) {
			return false
		}
		if it.key > after {
			set[it.key] = true
		}
		return true
	})
	for _, r := range roles {
		x.Ascend(s, TokRole+r, after, func(key string) bool { set[key] = true; return true })
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SearchWords are the words ListMembers' q may be a prefix of: the lower-cased text whole,
// and its runs of letters and digits (an e-mail splits at "@" and ".", a name at spaces).
func SearchWords(s string) []string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return nil
	}
	out := []string{s}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if w != s && !containsString(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// MatchesWordPrefix reports whether prefix (lower-cased, trimmed) starts one of s's search words.
func MatchesWordPrefix(s, prefix string) bool {
	for _, w := range SearchWords(s) {
		if strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// IndexOrgMembers builds an organization's member index outside any view (a reader of a view
// that keeps none).
func IndexOrgMembers(o *domain.Org) *OrgMemberIndex { return buildOrgMemberIndex(o) }
