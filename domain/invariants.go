package domain

import (
	"fmt"
	"slices"
)

// Violations lists every broken invariant of SPEC §2 in a state: an organization without
// an admin, an active project without an owner (where owners are not the organization's
// admins), and, in team organizations of presets without outside guests, a project or
// track member who is not in the organization. An empty list means the state is sound.
func (o *Org) Violations() []string {
	if !o.Exists() {
		return nil
	}
	out := o.violations()
	if o.Kind != KindTeam || o.preset.OutsideGuests {
		return out
	}
	check := func(where string, mm map[string]*Membership) {
		for _, key := range sortedKeys(mm) {
			m := mm[key]
			if m.UserID != "" && o.Members[m.UserID] == nil && !m.Guest {
				out = append(out, fmt.Sprintf("user %s is on %s but not in organization %s", m.UserID, where, o.ID))
			}
		}
	}
	for _, pid := range sortedKeys(o.Projects) {
		p := o.Projects[pid]
		if p.Status == StatusDeleted {
			continue
		}
		check("project "+pid, p.Members)
		for _, tid := range sortedKeys(p.Tracks) {
			check("track "+tid, p.Tracks[tid].Members)
		}
	}
	for _, gid := range sortedKeys(o.Workgroups) {
		for _, u := range sortedKeys(o.Workgroups[gid].Members) {
			if o.Members[u] == nil {
				out = append(out, fmt.Sprintf("user %s is in workgroup %s but not in organization %s", u, gid, o.ID))
			}
		}
	}
	return slices.Clip(out)
}
