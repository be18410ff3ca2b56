// Package oracle is a test-only judge of the rules of SPEC §2, written from the specification
// alone. It reads an organization's event list as JSON (type name + data) and keeps its own
// small model; it imports nothing from the domain, so a bug in the domain's guard, its fold
// (Evolve) or its preset loader cannot hide from it. Production code must not import it.
//
// What it checks after every command (a batch of events appended together):
//
//   - §2.2 last admin: the organization has at least one member with the preset's admin role.
//   - §2.2 last owner: a project that is not deleted has a user owner (or an owning workgroup with
//     members), except where the preset's admins own every project (their existence is enough),
//     and always in single-owner presets (ICA: one owner, changed by transfer).
//   - §2.3 organization first: in a team organization every project/track/workgroup member is an
//     organization member, unless the preset allows outside guests and the member came as a guest.
//   - §2.4 individual organizations: one member; outsiders only by invitation, only into public projects.
//   - §2.8 ICA categories: at most one role per category per member.
//   - §2.10 partner limits: a partner member belongs to a partner of that project and holds only
//     the partner roles.
//   - §2.9 archive/delete: an archived project accepts nothing but unarchive, delete, and the
//     cascades of an organization removal (and invitation closings); a deleted one accepts only
//     those cascades.
//   - §2.12 invitations are answered only by their invitee, only while pending.
//
// What it cannot tell from events alone: actor authorization (§2.1, needs the permission tables),
// conditional grants (§2.11) and the permission content of custom roles (§2.13).
package oracle

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Event is one record of the log as the oracle reads it.
type Event struct {
	Type  string
	Data  json.RawMessage
	Actor string
	// Batch groups the events of one command; the state is judged at batch ends.
	Batch string
}

// rules is what SPEC §2 and the preset tables (SPEC §1 sources) say about one preset; typed
// here by hand, not loaded from the domain's preset files.
type rules struct {
	admin, owner   string
	adminsOwn      bool // §2.5: org admins own every project
	singleOwner    bool
	guests         bool // §2.3: outside guests by e-mail
	individual     bool // §2.4
	partnerRoles   []string
	categoryPrefix bool // §2.8 (ICA): role ids are <category>_<level>
}

var presets = map[string]rules{
	"allonia":  {admin: "tenant_admin", owner: "project_manager", adminsOwn: true},
	"aunsight": {admin: "admin"},
	"custom":   {admin: "admin", individual: true},
	"dataloop": {admin: "admin", owner: "owner", guests: true, partnerRoles: []string{"annotator", "annotation_manager"}},
	"ica":      {admin: "tenant_admin", owner: "owner", adminsOwn: true, singleOwner: true, guests: true, categoryPrefix: true},
	"neptune":  {admin: "admin", owner: "owner", adminsOwn: true, individual: true},
}

var icaCategories = []string{"project", "flow", "base", "bench"}

type member struct {
	roles     []string
	guest     bool
	partner   string
	viaInvite bool
}

type project struct {
	status     string // active, archived, deleted
	visibility string
	members    map[string]*member            // "u:id" or "g:id"
	tracks     map[string]map[string]*member // track -> key -> member
	partners   map[string]bool
}

type invitation struct {
	status    string
	userID    string
	email     string
	projectID string
}

// Model is the oracle's own fold of one organization.
type Model struct {
	ID          string
	Exists      bool
	Kind        string
	Preset      string
	r           rules
	OrgMembers  map[string]string // user -> org role
	Emails      map[string]string // user -> e-mail
	Groups      map[string]map[string]bool
	Projects    map[string]*project
	Invitations map[string]*invitation
	problems    []string
}

// NewModel starts an empty organization.
func NewModel(id string) *Model {
	return &Model{ID: id, OrgMembers: map[string]string{}, Emails: map[string]string{}, Groups: map[string]map[string]bool{},
		Projects: map[string]*project{}, Invitations: map[string]*invitation{}}
}

// Check folds the events and returns every broken rule, judged at each batch's end (and
// for archive/delete, at each event).
func Check(orgID string, evs []Event) []string {
	m := NewModel(orgID)
	m.ApplyAll(evs)
	return m.Problems()
}

// ApplyAll folds events, judging the state at every batch boundary.
func (m *Model) ApplyAll(evs []Event) {
	for i, ev := range evs {
		m.Apply(ev)
		if i == len(evs)-1 || ev.Batch == "" || evs[i+1].Batch != ev.Batch {
			m.Judge()
		}
	}
}

// Problems returns what was found so far, without duplicates.
func (m *Model) Problems() []string {
	out := slices.Clone(m.problems)
	slices.Sort(out)
	return slices.Compact(out)
}

func (m *Model) problem(format string, args ...any) {
	m.problems = append(m.problems, fmt.Sprintf("organization %s: ", m.ID)+fmt.Sprintf(format, args...))
}

type fields struct {
	Kind, Preset, AdminID, AdminRole, UserID, GroupID, ProjectID, TrackID, Role, Visibility string
	Email, PartnerID, InvitationID, Reason                                                  string
	Roles                                                                                   []string
	Guest                                                                                   bool
}

func (f *fields) UnmarshalJSON(b []byte) error {
	var raw struct {
		Kind         string   `json:"kind"`
		Preset       string   `json:"preset"`
		AdminID      string   `json:"admin_user_id"`
		AdminRole    string   `json:"admin_role"`
		UserID       string   `json:"user_id"`
		GroupID      string   `json:"group_id"`
		ProjectID    string   `json:"project_id"`
		TrackID      string   `json:"track_id"`
		Role         string   `json:"role"`
		Visibility   string   `json:"visibility"`
		Email        string   `json:"email"`
		PartnerID    string   `json:"partner_id"`
		InvitationID string   `json:"invitation_id"`
		Reason       string   `json:"reason"`
		Roles        []string `json:"roles"`
		Guest        bool     `json:"guest"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = fields(raw)
	return nil
}

func key(f fields) string {
	if f.GroupID != "" {
		return "g:" + f.GroupID
	}
	return "u:" + f.UserID
}

// Apply folds one event, checking the per-event rules (archive, delete, partners, categories,
// invitations, individual organizations).
func (m *Model) Apply(ev Event) {
	var f fields
	if err := json.Unmarshal(ev.Data, &f); err != nil {
		m.problem("event %s: undecodable data: %v", ev.Type, err)
		return
	}
	if ev.Type != "OrganizationCreated" && !m.Exists {
		m.problem("%s before OrganizationCreated", ev.Type)
		return
	}
	p := m.Projects[f.ProjectID]
	if p != nil && f.ProjectID != "" {
		cascade := (ev.Type == "MemberRemoved" && f.Reason == "org_member_removed") || ev.Type == "WorkgroupMemberRemoved"
		closing := ev.Type == "InvitationRevoked" || ev.Type == "InvitationExpired"
		switch {
		case p.status == "deleted" && !cascade && !closing:
			m.problem("%s appended on deleted project %s", ev.Type, f.ProjectID)
		case p.status == "archived" && !cascade && !closing && ev.Type != "ProjectUnarchived" && ev.Type != "ProjectDeleted":
			m.problem("%s appended on archived project %s (read-only)", ev.Type, f.ProjectID)
		}
	}
	switch ev.Type {
	case "OrganizationCreated":
		if m.Exists {
			m.problem("OrganizationCreated twice")
		}
		r, ok := presets[f.Preset]
		if !ok {
			m.problem("unknown preset %q", f.Preset)
		}
		m.Exists, m.Kind, m.Preset, m.r = true, f.Kind, f.Preset, r
		if f.Kind == "individual" && !r.individual {
			m.problem("preset %s has no individual organizations", f.Preset)
		}
		m.OrgMembers[f.AdminID] = f.AdminRole
	case "OrgMemberAdded":
		if _, dup := m.OrgMembers[f.UserID]; dup {
			m.problem("user %s added to the organization twice", f.UserID)
		}
		m.OrgMembers[f.UserID] = f.Role
		if f.Email != "" {
			m.Emails[f.UserID] = f.Email
		}
		if m.Kind == "individual" && len(m.OrgMembers) > 1 {
			m.problem("individual organization has %d members", len(m.OrgMembers))
		}
	case "OrgRoleChanged":
		if _, ok := m.OrgMembers[f.UserID]; !ok {
			m.problem("role change for non-member %s", f.UserID)
		}
		m.OrgMembers[f.UserID] = f.Role
	case "OrgMemberRemoved":
		delete(m.OrgMembers, f.UserID)
	case "WorkgroupCreated":
		m.Groups[f.GroupID] = map[string]bool{}
	case "WorkgroupMemberAdded":
		if m.Groups[f.GroupID] == nil {
			m.Groups[f.GroupID] = map[string]bool{}
		}
		m.Groups[f.GroupID][f.UserID] = true
	case "WorkgroupMemberRemoved":
		delete(m.Groups[f.GroupID], f.UserID)
	case "ProjectCreated":
		if p != nil {
			m.problem("project %s created twice", f.ProjectID)
		}
		m.Projects[f.ProjectID] = &project{status: "active", visibility: f.Visibility, members: map[string]*member{},
			tracks: map[string]map[string]*member{}, partners: map[string]bool{}}
	case "ProjectVisibilitySet":
		if p != nil {
			p.visibility = f.Visibility
		}
	case "ProjectArchived":
		if p != nil {
			p.status = "archived"
		}
	case "ProjectUnarchived":
		if p != nil {
			p.status = "active"
		}
	case "ProjectDeleted":
		if p != nil {
			p.status = "deleted"
		}
	case "TrackCreated":
		if p != nil {
			p.tracks[f.TrackID] = map[string]*member{}
		}
	case "PartnerAdded":
		if p != nil {
			p.partners[f.PartnerID] = true
		}
	case "MemberAdded", "RoleChanged":
		if p == nil {
			m.problem("%s on unknown project %s", ev.Type, f.ProjectID)
			return
		}
		mm := p.members
		if f.TrackID != "" {
			if p.tracks[f.TrackID] == nil {
				p.tracks[f.TrackID] = map[string]*member{}
			}
			mm = p.tracks[f.TrackID]
		}
		k := key(f)
		mem := mm[k]
		if ev.Type == "MemberAdded" {
			mem = &member{guest: f.Guest, partner: f.PartnerID, viaInvite: f.InvitationID != ""}
			mm[k] = mem
			if m.Kind == "individual" && f.UserID != "" && m.OrgMembers[f.UserID] == "" {
				if !mem.viaInvite {
					m.problem("outsider %s joined project %s of an individual organization without an invitation", f.UserID, f.ProjectID)
				}
				if p.visibility != "public" {
					m.problem("outsider %s joined %s project %s of an individual organization", f.UserID, p.visibility, f.ProjectID)
				}
			}
		} else if mem == nil {
			m.problem("RoleChanged for %s, not a member of project %s", k, f.ProjectID)
			return
		}
		mem.roles = slices.Clone(f.Roles)
		m.checkRoles(k, f.ProjectID, p, mem)
	case "MemberRemoved":
		if p == nil {
			return
		}
		if f.TrackID != "" {
			delete(p.tracks[f.TrackID], key(f))
		} else {
			delete(p.members, key(f))
		}
	case "InvitationCreated":
		m.Invitations[f.InvitationID] = &invitation{status: "pending", userID: f.UserID, email: f.Email, projectID: f.ProjectID}
	case "InvitationAccepted", "InvitationRejected":
		inv := m.Invitations[f.InvitationID]
		switch {
		case inv == nil:
			m.problem("%s of unknown invitation %s", ev.Type, f.InvitationID)
		case inv.status != "pending":
			m.problem("%s of invitation %s that is %s", ev.Type, f.InvitationID, inv.status)
		case inv.userID != "" && inv.userID != f.UserID:
			m.problem("invitation %s for %s answered by %s", f.InvitationID, inv.userID, f.UserID)
		case ev.Actor != "" && ev.Actor != f.UserID:
			m.problem("invitation %s answered by %s on behalf of %s", f.InvitationID, ev.Actor, f.UserID)
		}
		if inv != nil {
			inv.status = strings.ToLower(strings.TrimPrefix(ev.Type, "Invitation"))
		}
	case "InvitationRevoked", "InvitationExpired":
		if inv := m.Invitations[f.InvitationID]; inv != nil {
			if inv.status != "pending" {
				m.problem("%s of invitation %s that is %s", ev.Type, f.InvitationID, inv.status)
			}
			inv.status = strings.ToLower(strings.TrimPrefix(ev.Type, "Invitation"))
		}
	}
}

func (m *Model) checkRoles(k, pid string, p *project, mem *member) {
	if m.r.categoryPrefix {
		seen := map[string]string{}
		for _, role := range mem.roles {
			for _, c := range icaCategories {
				if strings.HasPrefix(role, c+"_") {
					if prev, dup := seen[c]; dup {
						m.problem("%s on project %s holds %s and %s, two roles of category %s", k, pid, prev, role, c)
					}
					seen[c] = role
				}
			}
		}
	}
	if mem.partner != "" {
		if !p.partners[mem.partner] {
			m.problem("%s joined project %s through partner %s, not a partner of that project", k, pid, mem.partner)
		}
		for _, role := range mem.roles {
			if !slices.Contains(m.r.partnerRoles, role) {
				m.problem("partner member %s on project %s holds %s, outside the partner roles %v", k, pid, role, m.r.partnerRoles)
			}
		}
	}
}

// Judge checks the state rules (last admin, last owner, organization first, individual).
func (m *Model) Judge() {
	if !m.Exists {
		return
	}
	admins := 0
	for _, role := range m.OrgMembers {
		if role == m.r.admin {
			admins++
		}
	}
	if admins == 0 {
		m.problem("no %s left", m.r.admin)
	}
	if m.Kind == "individual" && len(m.OrgMembers) != 1 {
		m.problem("individual organization has %d members", len(m.OrgMembers))
	}
	ids := make([]string, 0, len(m.Projects))
	for id := range m.Projects {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := m.Projects[id]
		if p.status == "deleted" {
			continue
		}
		if m.r.owner != "" && (m.r.singleOwner || !m.r.adminsOwn) && !m.hasOwner(p) {
			m.problem("%s project %s has no %s", p.status, id, m.r.owner)
		}
		if m.Kind != "team" {
			continue
		}
		check := func(where string, mm map[string]*member) {
			for k, mem := range mm {
				u, isUser := strings.CutPrefix(k, "u:")
				if !isUser {
					if m.Groups[strings.TrimPrefix(k, "g:")] == nil {
						m.problem("%s holds unknown workgroup %s", where, k)
					}
					continue
				}
				if _, in := m.OrgMembers[u]; in {
					continue
				}
				if !mem.guest || !m.r.guests {
					m.problem("user %s is on %s but not in the organization (guest %v, preset allows guests %v)", u, where, mem.guest, m.r.guests)
				}
			}
		}
		check("project "+id, p.members)
		for tid, mm := range p.tracks {
			check("track "+tid+" of project "+id, mm)
		}
	}
	for gid, g := range m.Groups {
		for u := range g {
			if _, in := m.OrgMembers[u]; !in {
				m.problem("user %s is in workgroup %s but not in the organization", u, gid)
			}
		}
	}
}

func (m *Model) hasOwner(p *project) bool {
	for k, mem := range p.members {
		if !slices.Contains(mem.roles, m.r.owner) {
			continue
		}
		if strings.HasPrefix(k, "u:") {
			return true
		}
		if len(m.Groups[strings.TrimPrefix(k, "g:")]) > 0 {
			return true
		}
	}
	return false
}

// ProjectStatus is the project's status in the model (active, archived, deleted).
func (m *Model) ProjectStatus(id string) (string, bool) {
	p, ok := m.Projects[id]
	if !ok {
		return "", false
	}
	return p.status, true
}

// Public says whether the project is public in the model.
func (m *Model) Public(id string) bool {
	p, ok := m.Projects[id]
	return ok && p.visibility == "public"
}

// OnPath says whether a user has any way to the project (or its track) in the model: an
// organization member (whose organization role may reach it), or a member of the project or
// the track, directly or through a workgroup.
func (m *Model) OnPath(user, projectID, trackID string) bool {
	if _, in := m.OrgMembers[user]; in {
		return true
	}
	p, ok := m.Projects[projectID]
	if !ok {
		return false
	}
	sets := []map[string]*member{p.members}
	if trackID != "" {
		sets = append(sets, p.tracks[trackID])
	}
	for _, mm := range sets {
		for k := range mm {
			if k == "u:"+user {
				return true
			}
			if g, isGroup := strings.CutPrefix(k, "g:"); isGroup && m.Groups[g][user] {
				return true
			}
		}
	}
	return false
}
