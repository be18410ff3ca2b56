package domain

import (
	"slices"
)

// PermissionChange is who would gain or lose which permissions at one scope.
type PermissionChange struct {
	UserID    string   `json:"user_id"`
	ProjectID string   `json:"project_id,omitempty"`
	TrackID   string   `json:"track_id,omitempty"`
	Gained    []string `json:"gained,omitempty"`
	Lost      []string `json:"lost,omitempty"`
}

// PermissionChanges compares every known user's permissions at every scope
// before and after the events (what-if answers for dry runs).
func PermissionChanges(before *Org, evs []Event) []PermissionChange {
	if !before.Exists() && len(evs) == 0 {
		return []PermissionChange{}
	}
	after := before.Clone()
	if !before.Exists() {
		after = NewOrg(before.ID, before.presets)
	}
	for _, ev := range evs {
		Evolve(after, ev)
	}
	users := after.Candidates()
	if before.Exists() {
		for _, u := range before.Candidates() {
			if !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
	}
	slices.Sort(users)
	out := []PermissionChange{}
	for _, s := range after.scopes() {
		for _, u := range users {
			var was []string
			if before.Exists() {
				was, _, _ = before.Permissions(u, s)
			}
			now, _, _ := after.Permissions(u, s)
			gained, lost := diff(was, now), diff(now, was)
			if len(gained) > 0 || len(lost) > 0 {
				out = append(out, PermissionChange{UserID: u, ProjectID: s.ProjectID, TrackID: s.TrackID, Gained: gained, Lost: lost})
			}
		}
	}
	return out
}

// scopes lists the organization and each of its projects and tracks.
func (o *Org) scopes() []Scope {
	out := []Scope{{}}
	for _, pid := range sortedKeys(o.Projects) {
		out = append(out, Scope{ProjectID: pid})
		for _, tid := range sortedKeys(o.Projects[pid].Tracks) {
			out = append(out, Scope{ProjectID: pid, TrackID: tid})
		}
	}
	return out
}

// diff lists what b has that a lacks.
func diff(a, b []string) []string {
	var out []string
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}
