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
// Time-bound access (SPEC §6, docs/DECISIONS.md "Time-bound access"): a membership may carry an
// end (expires_at of OrgMemberAdded, WorkgroupMemberAdded, MemberAdded, RoleChanged, GrantsSet;
// moved or cleared by MembershipExtended). §2.2 holds at every instant, so an admin or owner
// counts only when nothing ends their hold: an owner's project membership, their organization
// membership (whose end takes their project memberships along) and, for an owning workgroup,
// one member's membership of the group and of the organization, all without an end.
// MembershipExpired ends a membership that exists and has that end, after the end (when the
// events carry times); it is no one's write, so it may fall on an archived project like the
// cascades of an organization removal. And the writer records ends before the next command:
// after a command, no membership remains whose end came by the time of the organization's
// previous command.
//
// Preset versions (SPEC issue 13, docs/PRESETS.md): the rules are those of the preset the log
// names. OrganizationCreated with preset_definition and each PresetUpgraded carry the whole
// preset; the oracle reads the few fields its rules need from that JSON (admin and owner
// roles, single owner, outside guests, organization kinds, partner roles, role categories),
// and checks a recorded definition at creation against its own table for that preset name.
// A log that records no definition answers by the table.
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
	"time"
)

// Event is one record of the log as the oracle reads it.
type Event struct {
	Type  string
	Data  json.RawMessage
	Actor string
	// Batch groups the events of one command; the state is judged at batch ends.
	Batch string
	// Time is when the command's events were recorded (zero: unknown, the time rules are skipped).
	Time time.Time
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
	// categories maps a role to its category (§2.8), read from a recorded preset; when nil,
	// categoryPrefix says how to tell a role's category from its id.
	categories map[string]string
}

// equal compares two rules (the categories of a recorded preset against the table's prefix rule).
func (r rules) equal(o rules) bool {
	return r.admin == o.admin && r.owner == o.owner && r.adminsOwn == o.adminsOwn && r.singleOwner == o.singleOwner &&
		r.guests == o.guests && r.individual == o.individual && slices.Equal(r.partnerRoles, o.partnerRoles) &&
		r.categoryPrefix == o.categoryPrefix
}

// recordedPreset is the part of a recorded preset (the JSON of OrganizationCreated's
// preset_definition and PresetUpgraded's preset) the rules read.
type recordedPreset struct {
	ID            string   `json:"id"`
	OrgKinds      []string `json:"org_kinds"`
	OutsideGuests bool     `json:"outside_guests"`
	OrgAdminRole  string   `json:"org_admin_role"`
	OwnerRole     string   `json:"owner_role"`
	SingleOwner   bool     `json:"single_owner"`
	PartnerRoles  []string `json:"partner_roles"`
	Categories    []string `json:"categories"`
	Roles         []struct {
		ID           string `json:"id"`
		Category     string `json:"category"`
		OwnsProjects bool   `json:"owns_projects"`
	} `json:"roles"`
}

// rulesOf reads the rules from a recorded preset.
func rulesOf(raw json.RawMessage) (rules, string, error) {
	var p recordedPreset
	if err := json.Unmarshal(raw, &p); err != nil {
		return rules{}, "", err
	}
	r := rules{admin: p.OrgAdminRole, owner: p.OwnerRole, singleOwner: p.SingleOwner, guests: p.OutsideGuests,
		individual: slices.Contains(p.OrgKinds, "individual"), partnerRoles: slices.Clone(p.PartnerRoles)}
	if r.partnerRoles == nil {
		r.partnerRoles = []string{}
	}
	r.categories = map[string]string{}
	prefixed := len(p.Categories) > 0
	for _, role := range p.Roles {
		if role.ID == p.OrgAdminRole {
			r.adminsOwn = role.OwnsProjects
		}
		if role.Category != "" {
			r.categories[role.ID] = role.Category
			prefixed = prefixed && strings.HasPrefix(role.ID, strings.ToLower(role.Category)+"_")
		}
	}
	r.categoryPrefix = prefixed && len(r.categories) > 0
	return r, p.ID, nil
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
	end       time.Time // zero: the membership does not end
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
	// orgEnds and groupEnds are the ends of organization and workgroup memberships that have one.
	orgEnds   map[string]time.Time
	groupEnds map[string]map[string]time.Time
	// lastTime is the time of the organization's previous command (zero: none known).
	lastTime, batchTime time.Time
	problems            []string
}

// NewModel starts an empty organization.
func NewModel(id string) *Model {
	return &Model{ID: id, OrgMembers: map[string]string{}, Emails: map[string]string{}, Groups: map[string]map[string]bool{},
		Projects: map[string]*project{}, Invitations: map[string]*invitation{}, orgEnds: map[string]time.Time{},
		groupEnds: map[string]map[string]time.Time{}}
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
	Kind, AdminID, AdminRole, UserID, GroupID, ProjectID, TrackID, Role, Visibility string
	Email, PartnerID, InvitationID, Reason, Scope                                   string
	Roles                                                                           []string
	Guest                                                                           bool
	// Preset is a name (OrganizationCreated) or a whole preset (PresetUpgraded).
	Preset, PresetDef json.RawMessage
	// ExpiresAt is a membership's end in the membership events (an invitation's own expiry in
	// InvitationCreated, which the oracle does not read).
	ExpiresAt time.Time
}

func (f *fields) UnmarshalJSON(b []byte) error {
	var raw struct {
		Kind         string          `json:"kind"`
		AdminID      string          `json:"admin_user_id"`
		AdminRole    string          `json:"admin_role"`
		UserID       string          `json:"user_id"`
		GroupID      string          `json:"group_id"`
		ProjectID    string          `json:"project_id"`
		TrackID      string          `json:"track_id"`
		Role         string          `json:"role"`
		Visibility   string          `json:"visibility"`
		Email        string          `json:"email"`
		PartnerID    string          `json:"partner_id"`
		InvitationID string          `json:"invitation_id"`
		Reason       string          `json:"reason"`
		Scope        string          `json:"scope"`
		Roles        []string        `json:"roles"`
		Guest        bool            `json:"guest"`
		Preset       json.RawMessage `json:"preset"`
		PresetDef    json.RawMessage `json:"preset_definition"`
		ExpiresAt    time.Time       `json:"expires_at"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = fields{Kind: raw.Kind, AdminID: raw.AdminID, AdminRole: raw.AdminRole, UserID: raw.UserID, GroupID: raw.GroupID,
		ProjectID: raw.ProjectID, TrackID: raw.TrackID, Role: raw.Role, Visibility: raw.Visibility, Email: raw.Email,
		PartnerID: raw.PartnerID, InvitationID: raw.InvitationID, Reason: raw.Reason, Scope: raw.Scope, Roles: raw.Roles,
		Guest: raw.Guest, Preset: raw.Preset, PresetDef: raw.PresetDef, ExpiresAt: raw.ExpiresAt}
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
	if !ev.Time.IsZero() {
		m.batchTime = ev.Time
	}
	p := m.Projects[f.ProjectID]
	if p != nil && f.ProjectID != "" {
		cascade := (ev.Type == "MemberRemoved" && f.Reason == "org_member_removed") || ev.Type == "WorkgroupMemberRemoved"
		// Closings: an invitation revoked or expired, or declined by its invitee (declining
		// changes nothing in the project, so an archived project's invitee may still say no).
		closing := ev.Type == "InvitationRevoked" || ev.Type == "InvitationExpired"
		// An end is no one's write: a membership of an archived project ends as it would elsewhere.
		ended := ev.Type == "MembershipExpired"
		switch {
		case p.status == "deleted" && !cascade && !closing:
			m.problem("%s appended on deleted project %s", ev.Type, f.ProjectID)
		case p.status == "archived" && !cascade && !closing && !ended && ev.Type != "InvitationRejected" &&
			ev.Type != "ProjectUnarchived" && ev.Type != "ProjectDeleted":
			m.problem("%s appended on archived project %s (read-only)", ev.Type, f.ProjectID)
		}
	}
	switch ev.Type {
	case "OrganizationCreated":
		if m.Exists {
			m.problem("OrganizationCreated twice")
		}
		var name string
		if err := json.Unmarshal(f.Preset, &name); err != nil {
			m.problem("OrganizationCreated: preset is not a name: %s", f.Preset)
		}
		r, ok := presets[name]
		if !ok {
			m.problem("unknown preset %q", name)
		}
		if len(f.PresetDef) > 0 && string(f.PresetDef) != "null" {
			rec, id, err := rulesOf(f.PresetDef)
			switch {
			case err != nil:
				m.problem("OrganizationCreated: undecodable preset_definition: %v", err)
			case id != name:
				m.problem("OrganizationCreated names preset %s and records preset %s", name, id)
			case ok && !rec.equal(r):
				m.problem("recorded preset %s breaks the rules SPEC gives it: recorded %+v, SPEC %+v", name, rec, r)
			default:
				r = rec
			}
		}
		m.Exists, m.Kind, m.Preset, m.r = true, f.Kind, name, r
		if f.Kind == "individual" && !r.individual {
			m.problem("preset %s has no individual organizations", name)
		}
		m.OrgMembers[f.AdminID] = f.AdminRole
	case "PresetUpgraded":
		rec, id, err := rulesOf(f.Preset)
		switch {
		case err != nil:
			m.problem("PresetUpgraded: undecodable preset: %v", err)
		case id != m.Preset:
			m.problem("PresetUpgraded to preset %s of an organization of preset %s", id, m.Preset)
		default:
			m.r = rec
			if m.Kind == "individual" && !rec.individual {
				m.problem("preset %s upgraded to a version without individual organizations", id)
			}
			// Every role held must still be in the preset (the partner and category rules apply anew).
			for pid, p := range m.Projects {
				if p.status == "deleted" {
					continue
				}
				for k, mem := range p.members {
					m.checkRoles(k, pid, p, mem)
				}
				for _, mm := range p.tracks {
					for k, mem := range mm {
						m.checkRoles(k, pid, p, mem)
					}
				}
			}
		}
	case "OrgMemberAdded":
		if _, dup := m.OrgMembers[f.UserID]; dup {
			m.problem("user %s added to the organization twice", f.UserID)
		}
		m.OrgMembers[f.UserID] = f.Role
		setEnd(m.orgEnds, f.UserID, f.ExpiresAt)
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
		delete(m.orgEnds, f.UserID)
	case "WorkgroupCreated":
		m.Groups[f.GroupID] = map[string]bool{}
	case "WorkgroupMemberAdded":
		if m.Groups[f.GroupID] == nil {
			m.Groups[f.GroupID] = map[string]bool{}
		}
		m.Groups[f.GroupID][f.UserID] = true
		if m.groupEnds[f.GroupID] == nil {
			m.groupEnds[f.GroupID] = map[string]time.Time{}
		}
		setEnd(m.groupEnds[f.GroupID], f.UserID, f.ExpiresAt)
	case "WorkgroupMemberRemoved":
		delete(m.Groups[f.GroupID], f.UserID)
		delete(m.groupEnds[f.GroupID], f.UserID)
	case "MembershipExtended":
		m.endOf(ev.Type, f, false)
	case "MembershipExpired":
		m.endOf(ev.Type, f, true)
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
			mem = &member{guest: f.Guest, partner: f.PartnerID, viaInvite: f.InvitationID != "", end: f.ExpiresAt}
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
		} else if !f.ExpiresAt.IsZero() {
			mem.end = f.ExpiresAt // RoleChanged without expires_at keeps the end
		}
		mem.roles = slices.Clone(f.Roles)
		m.checkRoles(k, f.ProjectID, p, mem)
	case "GrantsSet":
		if mem := m.membership(f); mem != nil && !f.ExpiresAt.IsZero() {
			mem.end = f.ExpiresAt // GrantsSet without expires_at keeps the end
		}
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

// setEnd records a membership's end (zero: none).
func setEnd(ends map[string]time.Time, id string, at time.Time) {
	if at.IsZero() {
		delete(ends, id)
		return
	}
	ends[id] = at
}

// membership is the project or track membership f names (nil: none).
func (m *Model) membership(f fields) *member {
	p := m.Projects[f.ProjectID]
	if p == nil {
		return nil
	}
	if f.TrackID != "" {
		return p.tracks[f.TrackID][key(f)]
	}
	return p.members[key(f)]
}

// endOf applies MembershipExtended (a new end; zero clears it) or MembershipExpired (the
// membership is gone), checking that the membership exists and, for an end, that it is the
// membership's own and has come.
func (m *Model) endOf(typ string, f fields, remove bool) {
	var end time.Time
	var exists bool
	switch f.Scope {
	case "org":
		_, exists = m.OrgMembers[f.UserID]
		end = m.orgEnds[f.UserID]
	case "workgroup":
		exists = m.Groups[f.GroupID][f.UserID]
		end = m.groupEnds[f.GroupID][f.UserID]
	case "project", "track":
		if (f.Scope == "track") != (f.TrackID != "") {
			m.problem("%s of scope %s with track %q", typ, f.Scope, f.TrackID)
		}
		mem := m.membership(f)
		if exists = mem != nil; exists {
			end = mem.end
		}
	default:
		m.problem("%s of unknown scope %q", typ, f.Scope)
		return
	}
	who := fmt.Sprintf("%s membership of %s%s (project %q track %q)", f.Scope, f.UserID, f.GroupID, f.ProjectID, f.TrackID)
	if !exists {
		m.problem("%s of %s, which does not exist", typ, who)
		return
	}
	if remove {
		switch {
		case end.IsZero():
			m.problem("%s of %s, which has no end", typ, who)
		case !end.Equal(f.ExpiresAt):
			m.problem("%s of %s at %s; its end is %s", typ, who, f.ExpiresAt.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
		case !m.batchTime.IsZero() && m.batchTime.Before(end):
			m.problem("%s of %s recorded at %s, before its end %s", typ, who, m.batchTime.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
		}
	}
	switch f.Scope {
	case "org":
		if remove {
			delete(m.OrgMembers, f.UserID)
			delete(m.orgEnds, f.UserID)
		} else {
			setEnd(m.orgEnds, f.UserID, f.ExpiresAt)
		}
	case "workgroup":
		if remove {
			delete(m.Groups[f.GroupID], f.UserID)
			delete(m.groupEnds[f.GroupID], f.UserID)
		} else {
			setEnd(m.groupEnds[f.GroupID], f.UserID, f.ExpiresAt)
		}
	default:
		if !remove {
			m.membership(f).end = f.ExpiresAt
			return
		}
		p := m.Projects[f.ProjectID]
		if f.TrackID != "" {
			delete(p.tracks[f.TrackID], key(f))
		} else {
			delete(p.members, key(f))
		}
	}
}

func (m *Model) checkRoles(k, pid string, p *project, mem *member) {
	if m.r.categories != nil {
		seen := map[string]string{}
		for _, role := range mem.roles {
			c, ok := m.r.categories[role]
			if !ok {
				continue
			}
			if prev, dup := seen[c]; dup {
				m.problem("%s on project %s holds %s and %s, two roles of category %s", k, pid, prev, role, c)
			}
			seen[c] = role
		}
	} else if m.r.categoryPrefix {
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
	m.judgeEnds()
	admins := 0
	for u, role := range m.OrgMembers {
		// §2.2 at every instant: an admin whose membership ends does not keep the organization.
		if role == m.r.admin && m.orgEnds[u].IsZero() {
			admins++
		}
	}
	if admins == 0 {
		m.problem("no %s left without an end", m.r.admin)
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

// hasOwner: an owner whose hold nothing ends (§2.2 at every instant): a user's owner membership
// without an end, the user in the organization without an end (or not in it: a guest, whom no
// organization end removes); or a workgroup's, with a member whose membership of the group and
// of the organization have no end.
func (m *Model) hasOwner(p *project) bool {
	for k, mem := range p.members {
		if !slices.Contains(mem.roles, m.r.owner) || !mem.end.IsZero() {
			continue
		}
		if u, isUser := strings.CutPrefix(k, "u:"); isUser {
			if m.orgEnds[u].IsZero() {
				return true
			}
			continue
		}
		g := strings.TrimPrefix(k, "g:")
		for u := range m.Groups[g] {
			if m.groupEnds[g][u].IsZero() && m.orgEnds[u].IsZero() {
				return true
			}
		}
	}
	return false
}

// judgeEnds: the writer records ends before the next command of the organization, so after a
// command no membership remains whose end came by the time of the previous one.
func (m *Model) judgeEnds() {
	prev := m.lastTime
	if !m.batchTime.IsZero() {
		m.lastTime = m.batchTime
	}
	if prev.IsZero() {
		return
	}
	due := func(end time.Time) bool { return !end.IsZero() && !prev.Before(end) }
	for u, end := range m.orgEnds {
		if due(end) {
			m.problem("organization membership of %s ended at %s and is still there after a later command", u, end.Format(time.RFC3339Nano))
		}
	}
	for g, ends := range m.groupEnds {
		for u, end := range ends {
			if due(end) {
				m.problem("membership of %s in workgroup %s ended at %s and is still there after a later command", u, g, end.Format(time.RFC3339Nano))
			}
		}
	}
	for pid, p := range m.Projects {
		if p.status == "deleted" {
			continue // a deleted project's memberships keep no end
		}
		sets := map[string]map[string]*member{"": p.members}
		for tid, mm := range p.tracks {
			sets[tid] = mm
		}
		for tid, mm := range sets {
			for k, mem := range mm {
				if due(mem.end) {
					m.problem("membership of %s on project %s track %q ended at %s and is still there after a later command", k, pid, tid, mem.end.Format(time.RFC3339Nano))
				}
			}
		}
	}
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
