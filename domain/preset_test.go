package domain

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestPresetsLoad(t *testing.T) {
	ps, err := LoadPresets()
	if err != nil {
		t.Fatalf("LoadPresets: %v", err)
	}
	want := []string{"allonia", "aunsight", "custom", "dataloop", "ica", "neptune"}
	if got := ps.SortedIDs(); !slices.Equal(got, want) {
		t.Fatalf("presets = %v, want %v", got, want)
	}
	for _, id := range want {
		raw, err := presetFiles.ReadFile("presets/" + id + ".yaml")
		if err != nil {
			t.Errorf("presets/%s.yaml: %v", id, err)
			continue
		}
		p, err := ParsePreset(raw)
		if err != nil {
			t.Errorf("ParsePreset(%s): %v", id, err)
			continue
		}
		if p.ID != id {
			t.Errorf("presets/%s.yaml has id %q", id, p.ID)
		}
	}
}

var presetPermIDRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

func TestPresetPermissions(t *testing.T) {
	ps := MustLoadPresets()
	for _, id := range ps.SortedIDs() {
		p := ps[id]
		if p.Label == "" {
			t.Errorf("%s: preset label is empty", id)
		}
		labels := map[string]string{}
		for _, perm := range p.Permissions {
			key := strings.ToLower(perm.Label)
			if other, dup := labels[key]; dup {
				t.Errorf("%s: permissions %s and %s share the label %q", id, other, perm.ID, perm.Label)
			}
			labels[key] = perm.ID
			for _, ref := range append([]string{perm.ID, perm.Label}, perm.Aliases...) {
				if got, ok := p.Permission(ref); !ok || got.ID != perm.ID {
					t.Errorf("%s: Permission(%q) does not find %s", id, ref, perm.ID)
				}
			}
			switch {
			case id == "aunsight":
				if !strings.HasPrefix(perm.ID, "AU-ORG:") || perm.Label != perm.ID {
					t.Errorf("aunsight: permission %q: id and label must be the same AU-ORG: name", perm.ID)
				}
			case !presetPermIDRe.MatchString(perm.ID):
				t.Errorf("%s: permission id %q is not lowercase dotted", id, perm.ID)
			}
			if perm.GrantOnly && perm.Scope == ScopeOrg {
				t.Errorf("%s: grant-only permission %s at org scope", id, perm.ID)
			}
		}
	}
}

func TestPresetRoles(t *testing.T) {
	ps := MustLoadPresets()
	for _, id := range ps.SortedIDs() {
		p := ps[id]
		seen := map[string]string{}
		for _, r := range p.Roles {
			if strings.TrimSpace(r.Label) == "" {
				t.Errorf("%s: role %s has no label", id, r.ID)
			}
			key := r.Category + "\x00" + strings.ToLower(r.Label)
			if other, dup := seen[key]; dup {
				t.Errorf("%s: roles %s and %s share the label %q in category %q", id, other, r.ID, r.Label, r.Category)
			}
			seen[key] = r.ID
			if got, ok := p.Role(r.ID); !ok || got.ID != r.ID {
				t.Errorf("%s: Role(%q) failed", id, r.ID)
			}
			for _, a := range r.Aliases {
				if got, ok := p.Role(a); !ok || got.ID != r.ID {
					t.Errorf("%s: alias %q of %s resolves to %v", id, a, r.ID, got)
				}
			}
		}
		admin, ok := p.Role(p.OrgAdminRole)
		if !ok || admin.Scope != ScopeOrg {
			t.Fatalf("%s: org admin role %q missing", id, p.OrgAdminRole)
		}
		if p.OrgMemberRole == "" {
			t.Errorf("%s: org_member_role is empty", id)
		}
		// Only Neptune, Allonia and ICA org admins own every project (SPEC §2.5).
		wantOwns := id == "neptune" || id == "allonia" || id == "ica"
		if admin.OwnsProjects != wantOwns {
			t.Errorf("%s: org admin owns_projects = %v, want %v", id, admin.OwnsProjects, wantOwns)
		}
		wantKinds := []string{"team"}
		if id == "neptune" || id == "custom" {
			wantKinds = []string{"team", "individual"}
		}
		if !slices.Equal(p.OrgKinds, wantKinds) {
			t.Errorf("%s: org_kinds = %v, want %v", id, p.OrgKinds, wantKinds)
		}
		// Every authorized command can be performed by someone: the org admin or the project owner.
		var owner *Role
		if p.OwnerRole != "" {
			owner, _ = p.Role(p.OwnerRole)
		}
		for cmd, byScope := range p.Authorize {
			for scope, pid := range byScope {
				if slices.Contains(admin.Permissions, pid) || (owner != nil && slices.Contains(owner.Permissions, pid)) {
					continue
				}
				t.Errorf("%s: authorize %s@%s needs %s, which neither the org admin nor the owner holds", id, cmd, scope, pid)
			}
		}
		// A check at a scope denies a permission of a narrower scope, so an authorize entry must name
		// a permission whose scope is the entry's scope or wider.
		for cmd, byScope := range p.Authorize {
			for scope, pid := range byScope {
				if perm, ok := p.Permission(pid); ok && scopeDepth(perm.Scope) > scopeDepth(scope) {
					t.Errorf("%s: authorize %s@%s names %s, a %s-scope permission", id, cmd, scope, pid, perm.Scope)
				}
			}
		}
		// Membership commands are authorized in every preset.
		for _, cmd := range []string{CmdAddOrgMember, CmdChangeOrgRole, CmdRemoveOrgMember, CmdCreateProject,
			CmdAddMember, CmdInviteMember, CmdChangeRole, CmdRemoveMember, CmdDeleteProject} {
			if len(p.Authorize[cmd]) == 0 {
				t.Errorf("%s: no authorize entry for %s", id, cmd)
			}
		}
	}
}

func TestPresetCustom(t *testing.T) {
	p, ok := MustLoadPresets()["custom"]
	if !ok {
		t.Fatal("custom preset missing")
	}
	if !p.CustomRoles || !p.OpenPermissions || p.CreatorRole != "" || p.OwnerRole != "" {
		t.Errorf("custom: want custom_roles, open_permissions, no creator or owner role")
	}
	for _, r := range p.Roles {
		if r.Scope != ScopeOrg {
			t.Errorf("custom: built-in role %s at %s scope; project roles are custom", r.ID, r.Scope)
		}
	}
	for _, cmd := range []string{CmdDefineRole, CmdSetRolePermissions, CmdDeleteRole} {
		if p.Authorize[cmd][ScopeOrg] == "" || p.Authorize[cmd][ScopeProject] == "" {
			t.Errorf("custom: %s must be authorized at org and project", cmd)
		}
	}
}

const presetTestBase = `
id: test
label: Test
org_kinds: [team]
org_admin_role: admin
permissions:
  - {id: a.b, label: "A b", scope: project}
roles:
  - {id: admin, label: Admin, scope: org, permissions: [a.b]}
`

func TestParsePresetAccepts(t *testing.T) {
	if _, err := ParsePreset([]byte(presetTestBase)); err != nil {
		t.Fatalf("base snippet: %v", err)
	}
}

func TestParsePresetRejects(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown top-level field":    {presetTestBase + "colour: blue\n", "colour"},
		"unknown permission field":   {strings.Replace(presetTestBase, `scope: project}`, `scope: project, hidden: true}`, 1), "hidden"},
		"unknown role field":         {strings.Replace(presetTestBase, `scope: org,`, `scope: org, level: 3,`, 1), "level"},
		"unknown permission in role": {strings.Replace(presetTestBase, `permissions: [a.b]`, `permissions: [a.b, x.y]`, 1), "x.y"},
		"duplicate permission id": {strings.Replace(presetTestBase, "roles:", `  - {id: a.b, label: "Other", scope: project}
roles:`, 1), "duplicate"},
		"duplicate role id":                        {presetTestBase + "  - {id: admin, label: Admin 2, scope: org}\n", "duplicate"},
		"unknown command":                          {presetTestBase + "authorize:\n  FlyAway: {org: a.b}\n", "FlyAway"},
		"authorize unknown permission":             {presetTestBase + "authorize:\n  AddMember: {project: nope}\n", "nope"},
		"grant-only in a role":                     {strings.Replace(presetTestBase, `scope: project}`, `scope: project, grant_only: true}`, 1), "grant-only"},
		"missing org admin role":                   {strings.Replace(presetTestBase, "org_admin_role: admin\n", "", 1), "org_admin_role"},
		"condition on a permission the role lacks": {presetTestBase + "  - {id: m, label: M, scope: project, permissions: []}\nconditions:\n  - {role: m, permission: a.b, attribute: x, equals: y}\n", "does not hold"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePreset([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParsePreset accepted:\n%s", tc.yaml)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
