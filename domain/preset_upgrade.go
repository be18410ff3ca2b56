package domain

// Preset versions: which preset an organization answers by, and UpgradePreset, the only way a
// release's changed preset reaches an existing organization (docs/PRESETS.md).

import (
	"fmt"
	"slices"
	"strings"
)

// UpgradePreset moves the organization to the version of its preset this release ships.
// PresetVersion, when given, must be that version (the one a dry run showed): a release that
// ships another one in between refuses the command instead of applying unseen rules.
type UpgradePreset struct {
	Meta
	PresetVersion string `json:"preset_version,omitempty"`
}

// CommandName is the command's wire name.
func (*UpgradePreset) CommandName() string { return CmdUpgradePreset }

// PresetUpgraded replaces the organization's preset: From and To are the versions, Preset the
// whole new preset.
type PresetUpgraded struct {
	From   string  `json:"from"`
	To     string  `json:"to"`
	Preset *Preset `json:"preset"`
}

// EventType is the event's stable name.
func (PresetUpgraded) EventType() string { return EvPresetUpgraded }

// MaxPresetVersionLen is the longest preset_version UpgradePreset accepts, in bytes.
const MaxPresetVersionLen = 256

// maxUpgradeProblems is how many reasons a refused upgrade names before counting the rest.
const maxUpgradeProblems = 20

// usePreset sets the preset the organization answers by: the recorded definition when the
// log holds one, else the preset shipped under name, at version "legacy".
func (o *Org) usePreset(name, version string, def *Preset) {
	if def == nil {
		o.preset, o.PresetVersion, o.PresetDefinition = o.presets[name], LegacyPresetVersion, nil
		return
	}
	o.preset, o.PresetDefinition = def, def
	o.PresetVersion = firstNonEmpty(version, def.Version())
}

// upgradePreset decides UpgradePreset. Who may: a holder of the organization's admin role (the
// org_admin_role of the preset in force), whatever the preset's authorize table says, so that
// a recorded preset can never lock its organization out of upgrades.
func (d *decider) upgradePreset(c *UpgradePreset) (Outcome, error) {
	o := d.o
	if m := o.Members[d.actor]; m == nil || m.Role != o.preset.OrgAdminRole {
		return Outcome{}, forbiddenf("%s may not %s: only a %s of organization %s may", d.actor, CmdUpgradePreset, o.preset.OrgAdminRole, o.ID)
	}
	if len(c.PresetVersion) > MaxPresetVersionLen {
		return Outcome{}, invalidf("preset_version is %d bytes; the limit is %d", len(c.PresetVersion), MaxPresetVersionLen)
	}
	next, ok := o.presets[o.PresetID]
	if !ok {
		return Outcome{}, preconditionf("this release ships no preset %s; organization %s keeps version %s", o.PresetID, o.ID, o.PresetVersion)
	}
	if c.PresetVersion != "" && c.PresetVersion != next.Version() {
		return Outcome{}, conflictf("preset_version %s is not the version of preset %s this release ships (%s); dry-run the upgrade again", c.PresetVersion, o.PresetID, next.Version())
	}
	if next.Version() == o.PresetVersion {
		return Outcome{}, conflictf("organization %s already uses preset version %s", o.ID, o.PresetVersion)
	}
	ev := &PresetUpgraded{From: o.PresetVersion, To: next.Version(), Preset: next}
	problems := o.presetProblems(next)
	if len(problems) == 0 {
		after := o.Clone()
		Evolve(after, ev)
		before := o.Violations()
		for _, v := range after.Violations() {
			if !slices.Contains(before, v) {
				problems = append(problems, v)
			}
		}
	}
	if len(problems) > 0 {
		if len(problems) > maxUpgradeProblems {
			problems = append(problems[:maxUpgradeProblems], fmt.Sprintf("and %d more", len(problems)-maxUpgradeProblems))
		}
		return Outcome{}, preconditionf("organization %s cannot move from preset %s to %s: %s", o.ID, o.PresetVersion, next.Version(), strings.Join(problems, "; "))
	}
	return one(ev), nil
}

// presetProblems lists what of the organization's state the preset next could not hold: a role
// in use (by an organization member, a membership, an invitation) it lacks or scopes elsewhere,
// a direct grant it lacks or gives through roles, two roles of one category held together, a
// feature in use it lacks (the organization's kind, tracks, partners, custom roles), a custom
// role's permission or category it lacks or a custom role whose id it takes for a built-in.
func (o *Org) presetProblems(next *Preset) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if !slices.Contains(next.OrgKinds, o.Kind) {
		add("the organization's kind %s is not allowed (allowed: %s)", o.Kind, strings.Join(next.OrgKinds, ", "))
	}
	roleAt := func(id, scope string) (*Role, string) {
		if r, ok := o.CustomRoles[id]; ok {
			return r, ""
		}
		r, ok := next.roleByID[id]
		switch {
		case !ok:
			return nil, "is not in the new preset"
		case r.Scope != scope:
			return nil, fmt.Sprintf("applies at %s scope in the new preset, not %s", r.Scope, scope)
		}
		return r, ""
	}
	checkRoles := func(where string, roles []string, scope string) {
		byCategory := map[string]string{}
		for _, id := range roles {
			r, why := roleAt(id, scope)
			if r == nil {
				add("role %s held by %s %s", id, where, why)
				continue
			}
			if r.Category == "" {
				continue
			}
			if prev, dup := byCategory[r.Category]; dup {
				add("%s holds roles %s and %s, both in category %s of the new preset", where, prev, id, r.Category)
			}
			byCategory[r.Category] = id
		}
	}
	checkGrants := func(where string, grants []string) {
		for _, g := range grants {
			perm, ok := next.permByID[g]
			switch {
			case !ok:
				add("grant %s held by %s is not in the new preset", g, where)
			case !perm.GrantOnly:
				add("grant %s held by %s is not grant-only in the new preset", g, where)
			}
		}
	}
	for _, uid := range sortedKeys(o.Members) {
		checkRoles("user "+uid+" in the organization", []string{o.Members[uid].Role}, ScopeOrg)
	}
	memberships := func(where string, mm map[string]*Membership, scope string) {
		for _, key := range sortedKeys(mm) {
			m := mm[key]
			who := fmt.Sprintf("%s on %s", describePrincipal(m.Principal), where)
			checkRoles(who, m.Roles, scope)
			checkGrants(who, m.Grants)
		}
	}
	for _, pid := range sortedKeys(o.Projects) {
		p := o.Projects[pid]
		if p.Status == StatusDeleted {
			continue
		}
		memberships("project "+pid, p.Members, ScopeProject)
		if len(p.Tracks) > 0 && !next.Tracks {
			add("project %s has tracks and the new preset has none", pid)
		}
		for _, tid := range sortedKeys(p.Tracks) {
			memberships(fmt.Sprintf("track %s of project %s", tid, pid), p.Tracks[tid].Members, ScopeTrack)
		}
		if len(p.Partners) > 0 && next.PartnerAdminRole == "" {
			add("project %s has partners and the new preset has none", pid)
		}
	}
	for _, iid := range sortedKeys(o.Invitations) {
		inv := o.Invitations[iid]
		if inv.Status != InvitePending {
			continue
		}
		scope := ScopeProject
		if inv.TrackID != "" {
			scope = ScopeTrack
		}
		checkRoles("pending invitation "+iid, inv.Roles, scope)
		checkGrants("pending invitation "+iid, inv.Grants)
	}
	if len(o.CustomRoles) > 0 && !next.CustomRoles {
		add("the organization has custom roles (%s) and the new preset allows none", strings.Join(sortedKeys(o.CustomRoles), ", "))
	}
	for _, id := range sortedKeys(o.CustomRoles) {
		r := o.CustomRoles[id]
		if _, taken := next.roleByID[id]; taken {
			add("custom role %s has the id of a built-in role of the new preset", id)
		}
		if r.Category != "" && !slices.Contains(next.Categories, r.Category) {
			add("custom role %s is in category %s, which the new preset lacks", id, r.Category)
		}
		for _, pid := range r.Permissions {
			if perm, ok := next.permByID[pid]; ok {
				if perm.GrantOnly {
					add("custom role %s holds permission %s, grant-only in the new preset", id, pid)
				}
			} else if !next.OpenPermissions {
				add("custom role %s holds permission %s, which the new preset lacks", id, pid)
			}
		}
	}
	return out
}
