package domain

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed presets/*.yaml
var presetFiles embed.FS

// Scope levels, from the widest to the narrowest.
const (
	ScopeOrg     = "org"
	ScopeProject = "project"
	ScopeTrack   = "track"
)

func scopeDepth(s string) int {
	switch s {
	case ScopeOrg:
		return 0
	case ScopeProject:
		return 1
	case ScopeTrack:
		return 2
	}
	return -1
}

// Permission is a named action of a preset.
type Permission struct {
	ID    string `yaml:"id" json:"id"`
	Label string `yaml:"label" json:"label"`
	Scope string `yaml:"scope" json:"scope"`
	// View marks a permission that only reads; archived projects keep it.
	View bool `yaml:"view" json:"view,omitempty"`
	// GrantOnly permissions are given by direct grants (ICA Upload/Download allowed), never by a role.
	GrantOnly bool     `yaml:"grant_only" json:"grant_only,omitempty"`
	Aliases   []string `yaml:"aliases" json:"-"`
}

// Condition narrows a role's permission to resources whose attribute matches.
// Equals "$user" means the user being checked.
type Condition struct {
	Role       string `yaml:"role" json:"role"`
	Permission string `yaml:"permission" json:"permission"`
	Attribute  string `yaml:"attribute" json:"attribute"`
	Equals     string `yaml:"equals" json:"equals"`
}

// Role is a named set of permissions at a scope.
type Role struct {
	ID          string   `yaml:"id" json:"id"`
	Label       string   `yaml:"label" json:"label"`
	Description string   `yaml:"description" json:"description,omitempty"`
	Scope       string   `yaml:"scope" json:"scope"`
	Category    string   `yaml:"category" json:"category,omitempty"`
	Permissions []string `yaml:"permissions" json:"permissions"`
	// OwnsProjects marks an organization role whose holders own every project (SPEC §2.5).
	OwnsProjects bool     `yaml:"owns_projects" json:"owns_projects,omitempty"`
	Aliases      []string `yaml:"aliases" json:"-"`
	// Custom roles are defined by DefineRole rather than shipped with the preset.
	Custom bool `yaml:"-" json:"custom,omitempty"`
	// ProjectID is the project a custom role belongs to (defined there by its team manager);
	// empty for organization-wide roles.
	ProjectID string `yaml:"-" json:"project_id,omitempty"`
	// ProjectRoles, on an organization role, lists the only project and track roles its holders
	// may be given (Dataloop ORG-Workers are "added as annotators"); empty: any.
	ProjectRoles []string `yaml:"project_roles" json:"-"`
	// GivenWith names the permission an actor must hold at the project to give this role or take
	// it away (Allonia: the Track Leader "Is added by Project Manager"); empty: the command's own
	// permission is enough.
	GivenWith string `yaml:"given_with" json:"-"`
}

// Preset is one platform's membership model, loaded from presets/<id>.yaml.
type Preset struct {
	ID     string `yaml:"id"`
	Label  string `yaml:"label"`
	Source string `yaml:"source"`
	// OrgKinds lists the organization kinds the preset allows.
	OrgKinds []string `yaml:"org_kinds"`
	// Tracks allows tracks inside projects; FirstTrack makes CreateProject create one.
	Tracks     bool `yaml:"tracks"`
	FirstTrack bool `yaml:"first_track"`
	// OutsideGuests lets an e-mail or user invitation bring someone outside a team organization into a project.
	OutsideGuests bool `yaml:"outside_guests"`
	// OrgAdminRole is the organization role that counts for "at least one admin" and that the creator gets.
	OrgAdminRole string `yaml:"org_admin_role"`
	// OrgMemberRole is given to organization members added without a role.
	OrgMemberRole string `yaml:"org_member_role"`
	// OwnerRole is the project role whose holders are the project's owners; empty: projects have no owner.
	OwnerRole string `yaml:"owner_role"`
	// SingleOwner: a transfer moves ownership instead of sharing it.
	SingleOwner bool `yaml:"single_owner"`
	// CreatorRole is given to a project's creator; empty: none.
	CreatorRole string `yaml:"creator_role"`
	// TrackCreatorRole is given on a new track to its creator when they hold no project role that reaches it; empty: none.
	TrackCreatorRole string `yaml:"track_creator_role"`
	// PublicRole is what everyone holds on a public project.
	PublicRole string `yaml:"public_role"`
	// TransferRoles are the roles a previous owner keeps after a transfer when the command names none.
	TransferRoles []string `yaml:"transfer_roles"`
	// PartnerAdminRole is the role of a partner's invited admin; PartnerRoles are the roles a partner admin may give.
	PartnerAdminRole string   `yaml:"partner_admin_role"`
	PartnerRoles     []string `yaml:"partner_roles"`
	// Categories allow at most one role each per member (ICA).
	Categories []string `yaml:"categories"`
	// OpenPermissions lets custom roles name permissions outside the catalog.
	OpenPermissions bool `yaml:"open_permissions"`
	// CustomRoles allows DefineRole, SetRolePermissions and DeleteRole.
	CustomRoles bool `yaml:"custom_roles"`
	// ListProjects names the permission that shows a user the organization's projects they are
	// not a member of (Aunsight AU-ORG:view-any-project); empty: a user sees the projects they
	// are a member of (see Org.MayListProject).
	ListProjects string `yaml:"list_projects"`

	Permissions []Permission `yaml:"permissions"`
	Roles       []Role       `yaml:"roles"`
	Conditions  []Condition  `yaml:"conditions"`
	// Authorize maps a command name to the permission its actor needs, per scope of the command's target.
	Authorize map[string]map[string]string `yaml:"authorize"`

	permByID map[string]*Permission
	roleByID map[string]*Role
	// version is the content address of the preset (Version, preset_record.go).
	version string
}

// Presets holds every shipped preset by id.
type Presets map[string]*Preset

// LoadPresets reads and validates the embedded preset files.
func LoadPresets() (Presets, error) {
	return loadPresets(presetFiles, "presets")
}

func loadPresets(fsys fs.FS, dir string) (Presets, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read presets: %w", err)
	}
	out := Presets{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		raw, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read preset %s: %w", e.Name(), err)
		}
		p, err := ParsePreset(raw)
		if err != nil {
			return nil, fmt.Errorf("preset %s: %w", e.Name(), err)
		}
		if _, dup := out[p.ID]; dup {
			return nil, fmt.Errorf("preset %s: duplicate id %q", e.Name(), p.ID)
		}
		out[p.ID] = p
	}
	return out, nil
}

// MustLoadPresets is LoadPresets for tests and start-up, where a broken embedded file is a build defect.
func MustLoadPresets() Presets {
	p, err := LoadPresets()
	if err != nil {
		panic(err)
	}
	return p
}

// ParsePreset decodes one preset file strictly and validates it.
func ParsePreset(raw []byte) (*Preset, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	var p Preset
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := p.init(); err != nil {
		return nil, err
	}
	v, err := p.contentVersion()
	if err != nil {
		return nil, err
	}
	p.version = v
	return &p, nil
}

func (p *Preset) init() error {
	var errs []error
	if p.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	p.permByID = map[string]*Permission{}
	for i := range p.Permissions {
		perm := &p.Permissions[i]
		if perm.ID == "" || perm.Label == "" {
			errs = append(errs, fmt.Errorf("permission #%d: id and label are required", i+1))
		}
		if scopeDepth(perm.Scope) < 0 {
			errs = append(errs, fmt.Errorf("permission %s: scope %q is not org, project or track", perm.ID, perm.Scope))
		}
		if _, dup := p.permByID[perm.ID]; dup {
			errs = append(errs, fmt.Errorf("permission %s: duplicate id", perm.ID))
		}
		p.permByID[perm.ID] = perm
	}
	p.roleByID = map[string]*Role{}
	for i := range p.Roles {
		r := &p.Roles[i]
		if !ValidID(r.ID) || r.Label == "" {
			errs = append(errs, fmt.Errorf("role #%d %q: a valid id and a label are required", i+1, r.ID))
		}
		if scopeDepth(r.Scope) < 0 {
			errs = append(errs, fmt.Errorf("role %s: scope %q is not org, project or track", r.ID, r.Scope))
		}
		if r.Category != "" && !slices.Contains(p.Categories, r.Category) {
			errs = append(errs, fmt.Errorf("role %s: category %q is not in categories", r.ID, r.Category))
		}
		if _, dup := p.roleByID[r.ID]; dup {
			errs = append(errs, fmt.Errorf("role %s: duplicate id", r.ID))
		}
		if slices.Contains(r.Permissions, "*") {
			r.Permissions = p.allRolePermissions()
		}
		for _, pid := range r.Permissions {
			perm, ok := p.permByID[pid]
			if !ok {
				errs = append(errs, fmt.Errorf("role %s: unknown permission %q", r.ID, pid))
			} else if perm.GrantOnly {
				errs = append(errs, fmt.Errorf("role %s: permission %q is grant-only", r.ID, pid))
			}
		}
		p.roleByID[r.ID] = r
	}
	for _, c := range p.Conditions {
		r, ok := p.roleByID[c.Role]
		if !ok {
			errs = append(errs, fmt.Errorf("condition: unknown role %q", c.Role))
		} else if !slices.Contains(r.Permissions, c.Permission) {
			errs = append(errs, fmt.Errorf("condition: role %s does not hold %q", c.Role, c.Permission))
		}
		if c.Attribute == "" || c.Equals == "" {
			errs = append(errs, fmt.Errorf("condition %s/%s: attribute and equals are required", c.Role, c.Permission))
		}
	}
	checkRole := func(what, id, scope string) {
		if id == "" {
			return
		}
		r, ok := p.roleByID[id]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown role %q", what, id))
		} else if scope != "" && r.Scope != scope {
			errs = append(errs, fmt.Errorf("%s: role %q has scope %s, want %s", what, id, r.Scope, scope))
		}
	}
	if p.OrgAdminRole == "" {
		errs = append(errs, errors.New("org_admin_role is required"))
	}
	for _, r := range p.Roles {
		if len(r.ProjectRoles) > 0 && r.Scope != ScopeOrg {
			errs = append(errs, fmt.Errorf("role %s: project_roles is for organization roles", r.ID))
		}
		for _, pr := range r.ProjectRoles {
			if q, ok := p.roleByID[pr]; !ok || q.Scope == ScopeOrg {
				errs = append(errs, fmt.Errorf("role %s: project_roles: %q is not a project or track role", r.ID, pr))
			}
		}
		if r.GivenWith != "" {
			if _, ok := p.permByID[r.GivenWith]; !ok {
				errs = append(errs, fmt.Errorf("role %s: given_with: unknown permission %q", r.ID, r.GivenWith))
			}
		}
	}
	if p.ListProjects != "" {
		if perm, ok := p.permByID[p.ListProjects]; !ok || perm.Scope == ScopeTrack {
			errs = append(errs, fmt.Errorf("list_projects: %q is not an organization or project permission", p.ListProjects))
		}
	}
	checkRole("org_admin_role", p.OrgAdminRole, ScopeOrg)
	checkRole("org_member_role", p.OrgMemberRole, ScopeOrg)
	checkRole("owner_role", p.OwnerRole, ScopeProject)
	checkRole("creator_role", p.CreatorRole, ScopeProject)
	checkRole("track_creator_role", p.TrackCreatorRole, ScopeTrack)
	checkRole("public_role", p.PublicRole, ScopeProject)
	checkRole("partner_admin_role", p.PartnerAdminRole, ScopeProject)
	for _, r := range p.PartnerRoles {
		checkRole("partner_roles", r, ScopeProject)
	}
	for _, r := range p.TransferRoles {
		checkRole("transfer_roles", r, ScopeProject)
	}
	if len(p.OrgKinds) == 0 {
		errs = append(errs, errors.New("org_kinds is empty"))
	}
	for cmd, byScope := range p.Authorize {
		if !knownCommand(cmd) {
			errs = append(errs, fmt.Errorf("authorize: unknown command %q", cmd))
		}
		for scope, pid := range byScope {
			if scopeDepth(scope) < 0 {
				errs = append(errs, fmt.Errorf("authorize %s: scope %q", cmd, scope))
			}
			if _, ok := p.permByID[pid]; !ok {
				errs = append(errs, fmt.Errorf("authorize %s: unknown permission %q", cmd, pid))
			}
		}
	}
	return errors.Join(errs...)
}

func (p *Preset) allRolePermissions() []string {
	var out []string
	for _, perm := range p.Permissions {
		if !perm.GrantOnly {
			out = append(out, perm.ID)
		}
	}
	return out
}

// Permission finds a permission by id, label or alias (labels and aliases case-insensitively).
func (p *Preset) Permission(ref string) (*Permission, bool) {
	if perm, ok := p.permByID[ref]; ok {
		return perm, true
	}
	for i := range p.Permissions {
		perm := &p.Permissions[i]
		if sameWords(perm.Label, ref) || containsFold(perm.Aliases, ref) {
			return perm, true
		}
	}
	return nil, false
}

// Role finds a built-in role by id, label or alias.
func (p *Preset) Role(ref string) (*Role, bool) {
	if r, ok := p.roleByID[ref]; ok {
		return r, true
	}
	for i := range p.Roles {
		r := &p.Roles[i]
		if sameWords(r.Label, ref) || containsFold(r.Aliases, ref) {
			return r, true
		}
	}
	return nil, false
}

// Condition returns the condition on (role, permission), if any.
func (p *Preset) Condition(role, perm string) (Condition, bool) {
	for _, c := range p.Conditions {
		if c.Role == role && c.Permission == perm {
			return c, true
		}
	}
	return Condition{}, false
}

// SortedIDs lists the preset ids in order.
func (ps Presets) SortedIDs() []string {
	ids := make([]string, 0, len(ps))
	for id := range ps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if sameWords(x, s) {
			return true
		}
	}
	return false
}

// sameWords compares labels as people read them: case-insensitively, with any run of white
// space (a no-break space too, as one seed row has) counting as one space.
func sameWords(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

// Cell is what a seed's permission table says for one role and one action.
type Cell string

// The three answers a seed table cell can give.
const (
	CellAllowed     Cell = "allowed"
	CellForbidden   Cell = "forbidden"
	CellConditional Cell = "conditional"
)

// RoleCell answers, from the preset data alone, what a holder of role may do with perm:
// the cell of the seed's table that the preset encodes.
func (p *Preset) RoleCell(role, perm string) Cell {
	r, ok := p.roleByID[role]
	if !ok || !slices.Contains(r.Permissions, perm) {
		return CellForbidden
	}
	if _, ok := p.Condition(role, perm); ok {
		return CellConditional
	}
	return CellAllowed
}
