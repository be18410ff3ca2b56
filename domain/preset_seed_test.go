package domain

import (
	"slices"
	"strings"
	"testing"
)

// Hand-written copies of the seeds' permission tables (seeds/*.txt), keyed by the seeds' own words:
// action row text → role column text → cell. They are transcribed from the seed documents, never
// generated from the preset files, so a wrong or missing grant in a preset fails here.

const (
	seedY = CellAllowed
	seedN = CellForbidden
	seedC = CellConditional
)

type seedCells = map[string]map[string]Cell

// Neptune, seeds/003: "Roles in an organization" and "Roles in a project".
var seedNeptuneOrg = seedCells{
	"Managing subscription (including invoice data)": {"Admin": seedY, "Member": seedN},
	"Managing organization members":                  {"Admin": seedY, "Member": seedN},
	"Creating and deleting projects":                 {"Admin": seedY, "Member": seedN},
}

var seedNeptuneProject = seedCells{
	"Viewing project content":                               {"Owner": seedY, "Contributor": seedY, "Viewer": seedY},
	"Editing project content":                               {"Owner": seedY, "Contributor": seedY, "Viewer": seedN},
	"Viewing project members":                               {"Owner": seedY, "Contributor": seedY, "Viewer": seedY},
	"Editing project members":                               {"Owner": seedY, "Contributor": seedN, "Viewer": seedN},
	"Viewing or editing of project settings and properties": {"Owner": seedY, "Contributor": seedN, "Viewer": seedN},
}

// Allonia, seeds/000: "Roles actions" and "Roles access" (column heads as the tables spell them).
func seedAlloniaRow(tenantAdmin, projectManager, trackLeader, dataScientist, mlOps Cell) map[string]Cell {
	return map[string]Cell{
		"Tenant Admin":                   tenantAdmin,
		"Project manager":                projectManager,
		"Track leader":                   trackLeader,
		"Data scientist / Data engineer": dataScientist,
		"ML Ops":                         mlOps,
	}
}

var seedAlloniaActions = seedCells{
	"Create project":                seedAlloniaRow(seedY, seedN, seedN, seedN, seedN),
	"Add new track":                 seedAlloniaRow(seedY, seedY, seedN, seedN, seedN),
	"Add user":                      seedAlloniaRow(seedY, seedN, seedN, seedN, seedN),
	"Edit user":                     seedAlloniaRow(seedY, seedN, seedN, seedN, seedN),
	"Manager user roles in project": seedAlloniaRow(seedY, seedY, seedN, seedN, seedN),
	"Manager user roles in a track": seedAlloniaRow(seedY, seedY, seedY, seedN, seedN),
}

var seedAlloniaAccess = seedCells{
	"Project view":   seedAlloniaRow(seedY, seedY, seedY, seedY, seedY),
	"Factory":        seedAlloniaRow(seedY, seedY, seedY, seedY, seedY),
	"Launchpad":      seedAlloniaRow(seedY, seedY, seedY, seedY, seedY),
	"Data catalog":   seedAlloniaRow(seedY, seedN, seedN, seedN, seedN),
	"Administration": seedAlloniaRow(seedY, seedN, seedN, seedN, seedN),
	"Documentation":  seedAlloniaRow(seedY, seedY, seedY, seedY, seedY),
}

// ICA, seeds/001: one table per category. The seed lists only the "x" marks of each row; a row
// with k marks covers the k highest levels of its category (No Access never has anything).
var seedICALevels = map[string][]string{
	"Project": {"No Access", "Data Provider", "Viewer", "Contributor", "Administrator"},
	"Flow":    {"No Access", "Viewer", "Contributor"},
	"Base":    {"No Access", "Viewer", "Contributor"},
	"Bench":   {"No Access", "Contributor", "Administrator"},
}

var seedICA = map[string]seedCells{
	"Project": {
		//                                   No Access  Data Provider  Viewer  Contributor  Administrator
		"Create a Connector":            seedICARow("Project", seedN, seedY, seedY, seedY, seedY),
		"View project resources":        seedICARow("Project", seedN, seedN, seedY, seedY, seedY),
		"Link/Unlink data to a project": seedICARow("Project", seedN, seedN, seedN, seedY, seedY),
		"Subscribe to notifications":    seedICARow("Project", seedN, seedN, seedN, seedY, seedY),
		"View Activity":                 seedICARow("Project", seedN, seedN, seedN, seedY, seedY),
		"Create samples":                seedICARow("Project", seedN, seedN, seedN, seedY, seedY),
		"Delete/archive data":           seedICARow("Project", seedN, seedN, seedN, seedN, seedY),
		"Manage notification channels":  seedICARow("Project", seedN, seedN, seedN, seedN, seedY),
		"Manage project team":           seedICARow("Project", seedN, seedN, seedN, seedN, seedY),
	},
	"Flow": {
		//                                No Access  Viewer  Contributor
		"View analyses results":      seedICARow("Flow", seedN, seedY, seedY),
		"Create analyses":            seedICARow("Flow", seedN, seedN, seedY),
		"Create pipelines and tools": seedICARow("Flow", seedN, seedN, seedY),
		"Edit pipelines and tools":   seedICARow("Flow", seedN, seedN, seedY),
		"Add docker image":           seedICARow("Flow", seedN, seedN, seedY),
	},
	"Base": {
		//                             No Access  Viewer  Contributor
		"View table records":      seedICARow("Base", seedN, seedY, seedY),
		"Click on links in table": seedICARow("Base", seedN, seedY, seedY),
		"Create queries":          seedICARow("Base", seedN, seedY, seedY),
		"Run queries":             seedICARow("Base", seedN, seedY, seedY),
		"Export query":            seedICARow("Base", seedN, seedY, seedY),
		"Save query":              seedICARow("Base", seedN, seedY, seedY),
		"Export tables":           seedICARow("Base", seedN, seedY, seedY),
		"Create tables":           seedICARow("Base", seedN, seedN, seedY),
		"Load files into a table": seedICARow("Base", seedN, seedN, seedY),
	},
	"Bench": {
		//                                                     No Access  Contributor  Administrator
		"Execute a notebook":                               seedICARow("Bench", seedN, seedY, seedY),
		"Start/Stop Workspace":                             seedICARow("Bench", seedN, seedY, seedY),
		"Create/Delete/Modify workspaces":                  seedICARow("Bench", seedN, seedN, seedY),
		"Install additional tools, packages, libraries, …": seedICARow("Bench", seedN, seedN, seedY),
		"Build a new Bench docker image":                   seedICARow("Bench", seedN, seedN, seedY),
		"Create a tool for pipeline-execution":             seedICARow("Bench", seedN, seedN, seedY),
	},
}

func seedICARow(category string, cells ...Cell) map[string]Cell {
	levels := seedICALevels[category]
	if len(cells) != len(levels) {
		panic("seedICARow " + category + ": wrong number of cells")
	}
	row := map[string]Cell{}
	for i, l := range levels {
		row[l] = cells[i]
	}
	return row
}

// Dataloop, seeds/002: the 43 rows of "Roles and Permissions", in the seed's order.
type seedDataloopRow struct {
	action                                         string
	annotator, annotationManager, developer, owner Cell
}

var seedDataloopRows = []seedDataloopRow{
	{"Create annotation", seedY, seedY, seedY, seedY},
	{"Delete annotation", seedY, seedY, seedY, seedY},
	{"Edit annotation", seedY, seedY, seedY, seedY},
	{"Create a task", seedN, seedY, seedY, seedY},
	{"Rename a task", seedN, seedN, seedY, seedY},
	{"Open an issue", seedC, seedY, seedY, seedY}, // Annotator: "Allowed only on QA tasks."
	{"Approve an issue", seedN, seedY, seedY, seedY},
	{"Add users", seedN, seedY, seedY, seedY},
	{"Edit users", seedN, seedY, seedY, seedY},
	{"Delete users", seedN, seedY, seedY, seedY},
	{"Changing role", seedN, seedY, seedY, seedY},
	{"Delete a task", seedN, seedC, seedY, seedY}, // Annotation Manager: "Allowed. Only the tasks created by the same user."
	{"Upload an item", seedN, seedN, seedY, seedY},
	{"Rename an item", seedN, seedN, seedY, seedY},
	{"Delete an item", seedN, seedN, seedY, seedY},
	{"Move an Item", seedN, seedN, seedY, seedY},
	{"Create a folder", seedN, seedN, seedY, seedY},
	{"Delete a folder", seedN, seedN, seedY, seedY},
	{"Rename a folder", seedN, seedN, seedY, seedY},
	{"Move a folder", seedN, seedN, seedY, seedY},
	{"Create a dataset", seedN, seedN, seedY, seedY},
	{"Delete a dataset", seedN, seedN, seedY, seedY},
	{"Rename a dataset", seedN, seedN, seedY, seedY},
	{"Edit labels", seedN, seedN, seedY, seedY},
	{"Create Recipes", seedN, seedN, seedY, seedY},
	{"Update Recipes", seedN, seedN, seedY, seedY},
	{"Delete Recipes", seedN, seedN, seedY, seedY},
	{"Clone Recipes", seedN, seedN, seedY, seedY},
	{"Rename a Project", seedN, seedN, seedY, seedY},
	{"Delete a Project", seedN, seedN, seedN, seedY},
	{"Install/uninstall pipelines", seedN, seedN, seedY, seedY},
	{"Create Pipelines", seedN, seedN, seedY, seedY},
	{"Edit Pipelines", seedN, seedN, seedY, seedY},
	{"View Pipelines", seedN, seedY, seedY, seedY},
	{"View Storage Drivers", seedN, seedN, seedY, seedY},
	{"Create\u00a0Storage Drivers", seedN, seedN, seedY, seedY}, // the seed has a no-break space here
	{"Update Storage Drivers", seedN, seedN, seedY, seedY},
	{"Delete Storage Drivers", seedN, seedN, seedY, seedY},
	{"View Datasets", seedN, seedN, seedY, seedY}, // first occurrence
	{"Create Datasets", seedN, seedN, seedY, seedY},
	{"Update Datasets", seedN, seedN, seedY, seedY},
	{"View Datasets", seedN, seedY, seedY, seedY}, // second occurrence
	{"Add labeling company", seedN, seedN, seedN, seedY},
}

// seedDataloopViewDatasetsDecision: the two "View Datasets" rows disagree only on Annotation
// Manager; the role description ("An annotation manager can ... view datasets") decides: allowed.
const seedDataloopViewDatasetsDecision = CellAllowed

// seedDataloop collapses the 43 rows into the 42 actions, applying the View Datasets decision.
func seedDataloop(t *testing.T) seedCells {
	t.Helper()
	out := seedCells{}
	for _, r := range seedDataloopRows {
		row := map[string]Cell{
			"Annotator":          r.annotator,
			"Annotation Manager": r.annotationManager,
			"Developer":          r.developer,
			"Owner":              r.owner,
		}
		if prev, dup := out[r.action]; dup {
			if r.action != "View Datasets" {
				t.Fatalf("dataloop: unexpected duplicate row %q", r.action)
			}
			for role, cell := range row {
				if role != "Annotation Manager" && prev[role] != cell {
					t.Fatalf("dataloop: View Datasets rows differ on %s", role)
				}
			}
			if prev["Annotation Manager"] == row["Annotation Manager"] {
				t.Fatalf("dataloop: View Datasets rows were expected to differ on Annotation Manager")
			}
			row["Annotation Manager"] = seedDataloopViewDatasetsDecision
		}
		out[r.action] = row
	}
	return out
}

// Aunsight, seeds/004: "Team Manager Permissions", verbatim and in the seed's order.
var seedAunsightTeamManager = []string{
	"AU-ORG:create-project-role",
	"AU-ORG:update-any-project-role",
	"AU-ORG:set-permissions-for-any-project-role",
	"AU-ORG:delete-any-project-role",
	"AU-ORG:create-project-member",
	"AU-ORG:view-any-project-member",
	"AU-ORG:update-any-project-member",
	"AU-ORG:set-project-roles-for-any-project-member",
	"AU-ORG:delete-any-project-member",
}

func seedPreset(t *testing.T, id string) *Preset {
	t.Helper()
	ps, err := LoadPresets()
	if err != nil {
		t.Fatalf("LoadPresets: %v", err)
	}
	p, ok := ps[id]
	if !ok {
		t.Fatalf("preset %q missing", id)
	}
	return p
}

// checkSeedTable asserts every cell of table and returns the permission ids of its rows and the
// ids of the roles of its columns.
func seedCheckTable(t *testing.T, p *Preset, name string, table seedCells, role func(label string) (*Role, bool)) (perms, roles map[string]bool) {
	t.Helper()
	perms, roles = map[string]bool{}, map[string]bool{}
	for action, row := range table {
		perm, ok := p.Permission(action)
		if !ok {
			t.Errorf("%s/%s: no permission labelled %q", p.ID, name, action)
			continue
		}
		if perm.Label != action {
			t.Errorf("%s/%s: permission %s has label %q, want the seed's text %q", p.ID, name, perm.ID, perm.Label, action)
		}
		if perm.GrantOnly {
			t.Errorf("%s/%s: %q is grant-only", p.ID, name, action)
		}
		perms[perm.ID] = true
		for roleLabel, want := range row {
			r, ok := role(roleLabel)
			if !ok {
				t.Errorf("%s/%s: no role %q", p.ID, name, roleLabel)
				continue
			}
			roles[r.ID] = true
			if got := p.RoleCell(r.ID, perm.ID); got != want {
				t.Errorf("%s/%s: RoleCell(%s %q, %s %q) = %s, seed says %s", p.ID, name, r.ID, roleLabel, perm.ID, action, got, want)
			}
		}
	}
	return perms, roles
}

// checkOnlyRows asserts that role holds no permission outside rows.
func seedCheckOnlyRows(t *testing.T, p *Preset, r *Role, rows map[string]bool) {
	t.Helper()
	for _, pid := range r.Permissions {
		if !rows[pid] {
			t.Errorf("%s: role %s holds %q, which is no row of its seed table", p.ID, r.ID, pid)
		}
	}
}

func seedUnion(sets ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, s := range sets {
		for k := range s {
			out[k] = true
		}
	}
	return out
}

func TestSeedNeptune(t *testing.T) {
	p := seedPreset(t, "neptune")
	orgRows, orgRoles := seedCheckTable(t, p, "organization", seedNeptuneOrg, p.Role)
	projRows, _ := seedCheckTable(t, p, "project", seedNeptuneProject, p.Role)
	for i := range p.Roles {
		r := &p.Roles[i]
		switch {
		case orgRoles[r.ID]:
			seedCheckOnlyRows(t, p, r, orgRows)
		case r.Scope != ScopeOrg:
			seedCheckOnlyRows(t, p, r, projRows)
		}
	}
	for _, perm := range p.Permissions {
		if !orgRows[perm.ID] && !projRows[perm.ID] {
			t.Errorf("neptune: permission %s %q is in no seed table", perm.ID, perm.Label)
		}
	}
}

func TestSeedAllonia(t *testing.T) {
	p := seedPreset(t, "allonia")
	actRows, _ := seedCheckTable(t, p, "Roles actions", seedAlloniaActions, p.Role)
	accRows, _ := seedCheckTable(t, p, "Roles access", seedAlloniaAccess, p.Role)
	rows := seedUnion(actRows, accRows)
	if len(rows) != 12 {
		t.Errorf("allonia: %d distinct rows, want 12", len(rows))
	}
	for _, perm := range p.Permissions {
		if !rows[perm.ID] {
			t.Errorf("allonia: permission %s %q is in no seed table", perm.ID, perm.Label)
		}
	}
	for i := range p.Roles {
		if p.Roles[i].Scope != ScopeOrg {
			seedCheckOnlyRows(t, p, &p.Roles[i], rows)
		}
	}
	// Role labels are the seed's role names; both spellings the seed uses resolve.
	for label, id := range map[string]string{
		"Tenant Admin": "tenant_admin", "Project Manager": "project_manager", "Project manager": "project_manager",
		"Track Leader": "track_leader", "Track leader": "track_leader", "ML Ops": "ml_ops",
		"Data scientist / Data engineer": "data_scientist", "Data scientist / Data Engineer": "data_scientist",
	} {
		if r, ok := p.Role(label); !ok || r.ID != id {
			t.Errorf("allonia: Role(%q) = %v, want %s", label, r, id)
		}
	}
	wantLabels := map[string]string{
		"tenant_admin": "Tenant Admin", "project_manager": "Project Manager", "track_leader": "Track Leader",
		"data_scientist": "Data scientist / Data Engineer", "ml_ops": "ML Ops",
	}
	wantScopes := map[string]string{
		"tenant_admin": ScopeOrg, "project_manager": ScopeProject, "track_leader": ScopeTrack,
		"data_scientist": ScopeTrack, "ml_ops": ScopeTrack,
	}
	for id, label := range wantLabels {
		r, ok := p.Role(id)
		if !ok {
			t.Errorf("allonia: role %s missing", id)
			continue
		}
		if r.Label != label || r.Scope != wantScopes[id] {
			t.Errorf("allonia: role %s = %q/%s, want %q/%s", id, r.Label, r.Scope, label, wantScopes[id])
		}
	}
	// "All objects in any projects": the Tenant Admin holds every permission and owns every project.
	ta, _ := p.Role("tenant_admin")
	for _, perm := range p.Permissions {
		if !slices.Contains(ta.Permissions, perm.ID) {
			t.Errorf("allonia: Tenant Admin lacks %s", perm.ID)
		}
	}
	if !ta.OwnsProjects || p.OrgAdminRole != "tenant_admin" {
		t.Errorf("allonia: tenant_admin must be the org admin role and own every project")
	}
	if !p.Tracks || !p.FirstTrack || p.CreatorRole != "project_manager" || p.TrackCreatorRole != "track_leader" || p.OutsideGuests {
		t.Errorf("allonia: tracks/first_track/creator_role/track_creator_role/outside_guests wrong")
	}
}

func TestSeedICA(t *testing.T) {
	p := seedPreset(t, "ica")
	if !slices.Equal(p.Categories, []string{"Project", "Flow", "Base", "Bench"}) {
		t.Errorf("ica: categories = %v", p.Categories)
	}
	byCategory := func(category string) func(string) (*Role, bool) {
		return func(label string) (*Role, bool) {
			for i := range p.Roles {
				if r := &p.Roles[i]; r.Category == category && r.Label == label {
					return r, true
				}
			}
			return nil, false
		}
	}
	all := map[string]bool{}
	for category, table := range seedICA {
		rows, roles := seedCheckTable(t, p, category, table, byCategory(category))
		if len(roles) != len(seedICALevels[category]) {
			t.Errorf("ica %s: %d roles, want %d", category, len(roles), len(seedICALevels[category]))
		}
		for i := range p.Roles {
			if r := &p.Roles[i]; r.Category == category {
				if !roles[r.ID] {
					t.Errorf("ica %s: role %s %q is no level of the seed", category, r.ID, r.Label)
				}
				seedCheckOnlyRows(t, p, r, rows)
				// "Flow Viewer"-style aliases resolve to the category's role.
				if got, ok := p.Role(category + " " + r.Label); !ok || got.ID != r.ID {
					t.Errorf("ica: Role(%q) = %v, want %s", category+" "+r.Label, got, r.ID)
				}
			}
		}
		all = seedUnion(all, rows)
	}
	// Every project-scope action is a seed row (Upload/Download are grants, checked below).
	for _, perm := range p.Permissions {
		if perm.Scope != ScopeOrg && !perm.GrantOnly && !all[perm.ID] {
			t.Errorf("ica: permission %s %q is in no seed table", perm.ID, perm.Label)
		}
	}
	for i := range p.Roles {
		if r := &p.Roles[i]; r.Scope != ScopeOrg && r.Category == "" {
			seedCheckOnlyRows(t, p, r, all)
		}
	}
	// "Select the checkbox next to Downlod allowed and Upload allowed": explicit grants, no role gives them.
	for _, label := range []string{"Upload allowed", "Download allowed", "Downlod allowed"} {
		perm, ok := p.Permission(label)
		if !ok || !perm.GrantOnly {
			t.Errorf("ica: %q must be a grant-only permission", label)
			continue
		}
		for _, r := range p.Roles {
			if slices.Contains(r.Permissions, perm.ID) {
				t.Errorf("ica: role %s holds grant %s", r.ID, perm.ID)
			}
		}
	}
	owner, ok := p.Role("Owner")
	if !ok || p.OwnerRole != owner.ID || !p.SingleOwner {
		t.Errorf("ica: owner role / single_owner wrong")
	}
	ta, ok := p.Role("Tenant Administrator")
	if !ok || !ta.OwnsProjects || p.OrgAdminRole != ta.ID {
		t.Errorf("ica: Tenant Administrator must be the org admin role and own every project")
	}
	if !p.OutsideGuests {
		t.Errorf("ica: team entries by e-mail address need outside_guests")
	}
}

func TestSeedDataloop(t *testing.T) {
	p := seedPreset(t, "dataloop")
	if len(seedDataloopRows) != 43 {
		t.Fatalf("dataloop: transcribed %d rows, the seed has 43", len(seedDataloopRows))
	}
	table := seedDataloop(t)
	if len(table) != 42 {
		t.Fatalf("dataloop: %d distinct actions, want 42", len(table))
	}
	rows, _ := seedCheckTable(t, p, "Roles and Permissions", table, p.Role)
	if len(rows) != 42 {
		t.Errorf("dataloop: the 42 actions map to %d permissions", len(rows))
	}
	for i := range p.Roles {
		if p.Roles[i].Scope != ScopeOrg {
			seedCheckOnlyRows(t, p, &p.Roles[i], rows)
		}
	}
	for _, perm := range p.Permissions {
		if perm.Scope != ScopeOrg && !rows[perm.ID] {
			t.Errorf("dataloop: permission %s %q is in no seed row", perm.ID, perm.Label)
		}
	}

	// The View Datasets decision: one permission, allowed for Annotation Manager.
	n := 0
	for _, perm := range p.Permissions {
		if strings.EqualFold(perm.Label, "View Datasets") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("dataloop: %d permissions labelled View Datasets, want 1", n)
	}
	vd, _ := p.Permission("View Datasets")
	am, _ := p.Role("Annotation Manager")
	if vd == nil || am == nil || p.RoleCell(am.ID, vd.ID) != CellAllowed {
		t.Errorf("dataloop: Annotation Manager must be allowed to View Datasets")
	}

	// The two conditional cells and their conditions.
	for _, c := range []struct{ role, action, attr, equals string }{
		{"Annotator", "Open an issue", "task_type", "qa"},
		{"Annotation Manager", "Delete a task", "created_by", "$user"},
	} {
		r, _ := p.Role(c.role)
		perm, _ := p.Permission(c.action)
		if r == nil || perm == nil {
			t.Errorf("dataloop: %s/%s missing", c.role, c.action)
			continue
		}
		cond, ok := p.Condition(r.ID, perm.ID)
		if !ok || cond.Attribute != c.attr || cond.Equals != c.equals {
			t.Errorf("dataloop: condition %s/%s = %+v, want %s = %s", c.role, c.action, cond, c.attr, c.equals)
		}
	}
	if len(p.Conditions) != 2 {
		t.Errorf("dataloop: %d conditions, want 2", len(p.Conditions))
	}
	// Partners: the partner admin is an Annotation Manager and gives only Annotator / Annotation Manager.
	if p.PartnerAdminRole != "annotation_manager" || !slices.Equal(p.PartnerRoles, []string{"annotator", "annotation_manager"}) {
		t.Errorf("dataloop: partner roles = %s %v", p.PartnerAdminRole, p.PartnerRoles)
	}
	if !p.OutsideGuests || p.OwnerRole != "owner" || p.CreatorRole != "owner" {
		t.Errorf("dataloop: outside_guests/owner_role/creator_role wrong")
	}
}

func TestSeedAunsight(t *testing.T) {
	p := seedPreset(t, "aunsight")
	for _, name := range append(slices.Clone(seedAunsightTeamManager), "AU-ORG:view-any-project") {
		perm, ok := p.Permission(name)
		if !ok {
			t.Errorf("aunsight: %s missing", name)
			continue
		}
		if perm.ID != name || perm.Label != name {
			t.Errorf("aunsight: %s has id %q label %q, want both verbatim", name, perm.ID, perm.Label)
		}
	}
	if !p.CustomRoles || !p.OpenPermissions {
		t.Errorf("aunsight: custom_roles and open_permissions are required")
	}
	// "By default, project creators do not have permission to access and modify team members".
	if p.CreatorRole != "" || p.OwnerRole != "" {
		t.Errorf("aunsight: creator_role %q owner_role %q, want none", p.CreatorRole, p.OwnerRole)
	}
	for _, r := range p.Roles {
		if r.Scope != ScopeOrg {
			t.Errorf("aunsight: built-in project role %s; project roles are custom", r.ID)
		}
	}
	// The team manager list covers every project team command.
	for cmd, want := range map[string]string{
		CmdAddMember:          "AU-ORG:create-project-member",
		CmdChangeRole:         "AU-ORG:set-project-roles-for-any-project-member",
		CmdSetMemberGrants:    "AU-ORG:update-any-project-member",
		CmdRemoveMember:       "AU-ORG:delete-any-project-member",
		CmdDefineRole:         "AU-ORG:create-project-role",
		CmdSetRolePermissions: "AU-ORG:set-permissions-for-any-project-role",
		CmdDeleteRole:         "AU-ORG:delete-any-project-role",
	} {
		if got := p.Authorize[cmd][ScopeProject]; got != want {
			t.Errorf("aunsight: authorize %s at project = %q, want %q", cmd, got, want)
		}
	}
}
