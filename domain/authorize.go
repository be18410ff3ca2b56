package domain

// Authorization: whether the actor may issue a command at a scope (the preset's authorize
// table, SPEC §2.1), which roles and grants they may give, and the partner boundary (SPEC §2.10).

import (
	"slices"
	"strings"
)

// authorize checks the actor holds the permission the preset names for the command at the scope (SPEC §2.1).
func (d *decider) authorize(cmd string, s Scope, ignoreArchived bool) error {
	o := d.o
	byScope := o.preset.Authorize[cmd]
	level := s.level()
	pid, ok := byScope[level]
	if !ok && level == ScopeTrack {
		pid, ok = byScope[ScopeProject]
	}
	if !ok {
		return invalidf("preset %s does not support %s at %s scope", o.PresetID, cmd, level)
	}
	perm := o.preset.permByID[pid]
	p, err := o.checkScope(s)
	if err != nil {
		return err
	}
	if o.decide(d.actor, perm, s, p, nil, ignoreArchived).Decision != Allowed {
		return forbiddenf("%s may not %s here: it needs %q (%s) at %s", d.actor, cmd, perm.Label, perm.ID, describeScope(o.ID, s))
	}
	return nil
}

// resolveRoles maps role references to ids for a membership at scope in project (empty for
// the organization), checks their scope, the project a custom role belongs to, and the
// one-per-category rule.
func (d *decider) resolveRoles(refs []string, scope, project string) ([]string, error) {
	out := make([]string, 0, len(refs))
	byCategory := map[string]string{}
	for _, ref := range refs {
		r, ok := d.o.Role(ref)
		if !ok {
			return nil, invalidf("role %q is not a role of organization %s (preset %s); the Catalog query lists them", ref, d.o.ID, d.o.PresetID)
		}
		if r.Scope != scope {
			return nil, invalidf("role %s applies at %s scope, not %s", r.ID, r.Scope, scope)
		}
		if r.ProjectID != "" && r.ProjectID != project {
			return nil, invalidf("role %s belongs to project %s and is given only there", r.ID, r.ProjectID)
		}
		if slices.Contains(out, r.ID) {
			continue
		}
		if r.Category != "" {
			if prev, dup := byCategory[r.Category]; dup {
				return nil, preconditionf("roles %s and %s are both in category %s; a member holds at most one role per category", prev, r.ID, r.Category)
			}
			byCategory[r.Category] = r.ID
		}
		out = append(out, r.ID)
	}
	return out, nil
}

func (d *decider) resolveGrants(refs []string) ([]string, error) {
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		p, ok := d.o.resolvePermission(ref)
		if !ok {
			return nil, invalidf("grant %q is not a permission of preset %s; the Catalog query lists them", ref, d.o.PresetID)
		}
		if !p.GrantOnly {
			// Any other permission comes with a role; a direct grant of it would let whoever edits
			// members hand out what their own role lacks (and bypass the partner roles of §2.10).
			return nil, invalidf("grant %q is given through a role, not as a direct grant; direct grants are the preset's grant-only permissions", ref)
		}
		if !slices.Contains(out, p.ID) {
			out = append(out, p.ID)
		}
	}
	return out, nil
}

// actorPartner returns the partner the actor belongs to in the project, if any (SPEC §2.10).
func (d *decider) actorPartner(p *Project) string {
	if m, ok := p.Members[Principal{UserID: d.actor}.Key()]; ok {
		return m.PartnerID
	}
	return ""
}

// mayGive refuses to give the preset's owner role to anyone unless the actor owns the
// project (directly, through a workgroup, or as an organization admin who owns every
// project): the right to add users or change roles is not a way to become an owner.
func (d *decider) mayGive(p *Project, roles []string) error {
	owner := d.o.preset.OwnerRole
	if owner == "" || !slices.Contains(roles, owner) {
		return nil
	}
	for _, h := range d.o.holdings(d.actor, Scope{ProjectID: p.ID}, p) {
		if h.role != nil && h.role.ID == owner && h.via.Kind != ViaPublic {
			return nil
		}
	}
	return forbiddenf("%s may not give the %s role on project %s: only its owners may", d.actor, owner, p.ID)
}

// partnerFor applies SPEC §2.10 to a membership given into a partner (requested, or the
// actor's own partner when the actor belongs to one).
func (d *decider) partnerFor(p *Project, requested string, roles []string) (string, error) {
	mine := d.actorPartner(p)
	if mine == "" {
		if requested != "" {
			if _, ok := p.Partners[requested]; !ok {
				return "", notFoundf("partner %s not found in project %s", requested, p.ID)
			}
			if err := d.partnerRolesOnly(p, requested, roles); err != nil {
				return "", err
			}
		}
		return requested, nil
	}
	if requested != "" && requested != mine {
		return "", forbiddenf("%s belongs to partner %s and may add users only into it, not into %s", d.actor, mine, requested)
	}
	for _, r := range roles {
		if !slices.Contains(d.o.preset.PartnerRoles, r) {
			return "", forbiddenf("a partner's members may give only the roles %s, not %s", strings.Join(d.o.preset.PartnerRoles, ", "), r)
		}
	}
	return mine, nil
}

// mayChangeRoles checks the roles a command gives (added) or takes away (removed) whose preset
// entry names given_with: the actor must hold that permission at the project, whatever the
// command's own permission (Allonia: the Track Leader "Is added by Project Manager", so a Track
// Leader, who manages roles in a track, neither makes nor unmakes another Track Leader).
func (d *decider) mayChangeRoles(p *Project, added, removed []string) error {
	check := func(ids []string, verb string) error {
		for _, id := range ids {
			r, ok := d.o.Role(id)
			if !ok || r.GivenWith == "" {
				continue
			}
			perm, ok := d.o.preset.permByID[r.GivenWith]
			if !ok {
				continue
			}
			s := Scope{ProjectID: p.ID}
			if d.o.decide(d.actor, perm, s, p, nil, true).Decision != Allowed {
				return forbiddenf("%s may not %s the %s role on project %s: it needs %q (%s) at %s", d.actor, verb, r.Label, p.ID, perm.Label, perm.ID, describeScope(d.o.ID, s))
			}
		}
		return nil
	}
	if err := check(added, "give"); err != nil {
		return err
	}
	return check(removed, "take away")
}

// rolesDiff returns the roles in next not in prev (added) and in prev not in next (removed).
func rolesDiff(prev, next []string) (added, removed []string) {
	for _, r := range next {
		if !slices.Contains(prev, r) {
			added = append(added, r)
		}
	}
	for _, r := range prev {
		if !slices.Contains(next, r) {
			removed = append(removed, r)
		}
	}
	return added, removed
}

// partnerRolesOnly refuses roles outside the preset's partner roles on a membership of a partner
// (SPEC §2.10): whoever gives them, a labeling company's members hold only the roles the company
// gives (Dataloop: Annotator, Annotation Manager). The project's own team keeps the other roles
// for memberships outside any partner.
func (d *decider) partnerRolesOnly(p *Project, partner string, roles []string) error {
	for _, r := range roles {
		if !slices.Contains(d.o.preset.PartnerRoles, r) {
			return preconditionf("members of partner %s on project %s hold only the partner roles %s, not %s; %s goes only to a membership outside the partner",
				partner, p.ID, strings.Join(d.o.preset.PartnerRoles, ", "), r, r)
		}
	}
	return nil
}
