package queries

import (
	"context"

	"roster/client"
	"roster/domain"
	"roster/internal/caller"
	"roster/projections"
)

// Who asks a query, and what they may see (SPEC §7, docs/SECURITY.md "Queries").
//
// The endpoint reads the caller from the server's Nats-Request-Info stamp and puts it in the
// context (caller.With); every query reads organizations only through readOrg, eachOrg or
// reachable, which answer an organization the caller's account may not reach exactly as an
// unknown one (orgNotFound). A context without a caller (in-process use, tests of this package)
// or an anonymous caller (insecure mode) reaches everything, as before accounts existed.

// asker is the caller as the query side sees it.
type asker struct {
	// account is "" in insecure mode and in process: no tenancy applies.
	account  string
	operator bool
	// user is the authenticated person of a user account ("" for applications and operators).
	user string
}

func askerOf(ctx context.Context) asker {
	c, ok := caller.From(ctx)
	if !ok || c.Anonymous {
		return asker{}
	}
	a := asker{account: c.Account, operator: c.Kind == caller.Operator}
	if c.Kind == caller.User {
		a.user = c.User
	}
	return a
}

// secured reports whether tenancy applies to this caller at all.
func (a asker) secured() bool { return a.account != "" }

// reaches reports whether the caller may see the organization: its account may reach it and,
// in a user account, the person may see it (seesOrg). Every other person of the same account
// is a stranger to the organization, whatever account owns it.
func (a asker) reaches(o *domain.Org) bool {
	if o == nil || !o.Exists() || !o.AccessibleBy(a.account, a.operator) {
		return false
	}
	return a.user == "" || seesOrg(o, a.user)
}

// seesOrg reports whether a person may see the organization at all: an organization member, a
// member of one of its projects or tracks (partners, guests, workgroups: domain.MaySee), or
// anyone while it has a public project (everyone holds the public role there).
func seesOrg(o *domain.Org, user string) bool {
	if o.MaySee(user, "") {
		return true
	}
	for _, p := range o.Projects {
		if p.Visibility == domain.Public && p.Status != domain.StatusDeleted {
			return true
		}
	}
	return false
}

// seesProject answers, for a person of a user account, a private project they may not see
// (domain.MaySee) exactly as an unknown one; applications, operators and insecure callers see
// every project of an organization they reach.
func (a asker) seesProject(o *domain.Org, projectID string) error {
	if a.user == "" || projectID == "" || o.MaySee(a.user, projectID) {
		return nil
	}
	return projectNotFound(o.ID, projectID)
}

// projectNotFound is the one answer for a project that does not exist or that the caller may
// not see.
func projectNotFound(orgID, projectID string) error {
	return fail(client.CodeNotFound, "project %s not found in organization %s", projectID, orgID)
}

// emailOf is the user's e-mail as the organization knows it: from their organization
// membership, else from a project or track membership ("" when it knows none).
func emailOf(o *domain.Org, user string) string {
	if m, ok := o.Members[user]; ok && m.Email != "" {
		return m.Email
	}
	key := domain.Principal{UserID: user}.Key()
	for _, p := range o.Projects {
		if m, ok := p.Members[key]; ok && m.Email != "" {
			return m.Email
		}
		for _, t := range p.Tracks {
			if m, ok := t.Members[key]; ok && m.Email != "" {
				return m.Email
			}
		}
	}
	return ""
}

// orgNotFound is the one answer for an organization that does not exist or that the caller's
// account may not reach: the same code and message, so the reply bodies are byte-identical.
func orgNotFound(orgID string) error {
	return fail(client.CodeNotFound, "organization %s not found", orgID)
}

// viewer is the person an answer is scoped to: in a user account the authenticated user (a
// viewer naming someone else is forbidden); elsewhere the viewer the application passes ("" for
// none).
func (a asker) viewer(requested string) (string, error) {
	if a.user == "" {
		return requested, nil
	}
	if requested != "" && requested != a.user {
		return "", fail(client.CodeForbidden, "viewer %s: a user account asks as its authenticated user %s only", requested, a.user)
	}
	return a.user, nil
}

// subject is the user a question is about (Check, Permissions, AccessAt, ListProjects'
// user_id): in a user account only the authenticated user (filled in when omitted; another user
// is forbidden); applications and operators ask about anyone.
func (a asker) subject(field, requested string) (string, error) {
	if a.user == "" {
		return requested, nil
	}
	if requested != "" && requested != a.user {
		return "", fail(client.CodeForbidden, "%s %s: a user account asks about its authenticated user %s only", field, requested, a.user)
	}
	return a.user, nil
}

// reachable answers orgNotFound unless the caller may see the organization in v: the check of
// the queries that do not read through readOrg (Check's cache, the log-reading Audit and
// AccessAt). In insecure mode it reads nothing.
func (q *Queries) reachable(ctx context.Context, v *projections.View, orgID string) error {
	a := askerOf(ctx)
	if !a.secured() {
		return nil
	}
	return v.Read(orgID, func(o *domain.Org, _ uint64) error {
		if !a.reaches(o) {
			return orgNotFound(orgID)
		}
		return nil
	})
}

// hidesProject reports whether, for a person of a user account, the project is one they may
// not see (seesProject) on the organization as it is now: Check answers it exactly as an unknown
// project (projectNotFound), tracks included, and AccessAt with the empty result it gives an
// unknown project. Call it after reachable; projectID "" hides nothing.
func (q *Queries) hidesProject(ctx context.Context, v *projections.View, orgID, projectID string) bool {
	a := askerOf(ctx)
	if !a.secured() || a.user == "" || projectID == "" {
		return false
	}
	hidden := false
	_ = v.Read(orgID, func(o *domain.Org, _ uint64) error {
		hidden = o != nil && a.seesProject(o, projectID) != nil
		return nil
	})
	return hidden
}

// orgWide refuses an organization-wide answer (no project_id) to a person who is only a project's
// guest: neither an organization member nor a labeling company's member (whose answers are scoped
// to their company). Such a person asks about a project they may see (ListMembers, Audit).
func (a asker) orgWide(o *domain.Org, projectID string) error {
	if a.user == "" || projectID != "" {
		return nil
	}
	if _, member := o.Members[a.user]; member || o.CompanyOf(a.user, "") != "" {
		return nil
	}
	return fail(client.CodeForbidden, "user %s is not a member of organization %s: give the project_id of a project they may see", a.user, o.ID)
}
