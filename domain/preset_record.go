package domain

// The preset as the log records it: a canonical JSON form carrying every field a preset file
// holds, and a content address (its version) derived from that form. OrganizationCreated and
// PresetUpgraded carry both, so the rules an organization answers by are those its log names,
// whatever preset files the running release ships (docs/PRESETS.md).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// LegacyPresetVersion is the version of an organization created before presets were recorded
// in the log: its OrganizationCreated names the preset only by name, and it answers by the
// preset this release ships under that name until an UpgradePreset records one.
const LegacyPresetVersion = "legacy"

// presetJSON is the recorded form of a Preset: every field of the preset file, by the names
// the file uses. TestPresetJSONCoversEveryField keeps it complete.
type presetJSON struct {
	ID               string                       `json:"id"`
	Label            string                       `json:"label"`
	Source           string                       `json:"source,omitempty"`
	OrgKinds         []string                     `json:"org_kinds"`
	Tracks           bool                         `json:"tracks,omitempty"`
	FirstTrack       bool                         `json:"first_track,omitempty"`
	OutsideGuests    bool                         `json:"outside_guests,omitempty"`
	OrgAdminRole     string                       `json:"org_admin_role"`
	OrgMemberRole    string                       `json:"org_member_role,omitempty"`
	OwnerRole        string                       `json:"owner_role,omitempty"`
	SingleOwner      bool                         `json:"single_owner,omitempty"`
	CreatorRole      string                       `json:"creator_role,omitempty"`
	TrackCreatorRole string                       `json:"track_creator_role,omitempty"`
	PublicRole       string                       `json:"public_role,omitempty"`
	TransferRoles    []string                     `json:"transfer_roles,omitempty"`
	PartnerAdminRole string                       `json:"partner_admin_role,omitempty"`
	PartnerRoles     []string                     `json:"partner_roles,omitempty"`
	Categories       []string                     `json:"categories,omitempty"`
	OpenPermissions  bool                         `json:"open_permissions,omitempty"`
	CustomRoles      bool                         `json:"custom_roles,omitempty"`
	ListProjects     string                       `json:"list_projects,omitempty"`
	Permissions      []permissionJSON             `json:"permissions"`
	Roles            []roleJSON                   `json:"roles"`
	Conditions       []Condition                  `json:"conditions,omitempty"`
	Authorize        map[string]map[string]string `json:"authorize"`
}

// permissionJSON has Permission's fields in Permission's order (a conversion checks it at
// compile time), with the aliases the query answers leave out.
type permissionJSON struct {
	ID        string   `json:"id"`
	Label     string   `json:"label"`
	Scope     string   `json:"scope"`
	View      bool     `json:"view,omitempty"`
	GrantOnly bool     `json:"grant_only,omitempty"`
	Aliases   []string `json:"aliases,omitempty"`
}

// roleJSON has Role's fields in Role's order (a conversion checks it at compile time), with
// the fields the query answers leave out.
type roleJSON struct {
	ID           string   `json:"id"`
	Label        string   `json:"label"`
	Description  string   `json:"description,omitempty"`
	Scope        string   `json:"scope"`
	Category     string   `json:"category,omitempty"`
	Permissions  []string `json:"permissions"`
	OwnsProjects bool     `json:"owns_projects,omitempty"`
	Aliases      []string `json:"aliases,omitempty"`
	Custom       bool     `json:"custom,omitempty"`
	ProjectID    string   `json:"project_id,omitempty"`
	ProjectRoles []string `json:"project_roles,omitempty"`
	GivenWith    string   `json:"given_with,omitempty"`
}

func (p *Preset) toJSON() presetJSON {
	out := presetJSON{ID: p.ID, Label: p.Label, Source: p.Source, OrgKinds: p.OrgKinds, Tracks: p.Tracks,
		FirstTrack: p.FirstTrack, OutsideGuests: p.OutsideGuests, OrgAdminRole: p.OrgAdminRole,
		OrgMemberRole: p.OrgMemberRole, OwnerRole: p.OwnerRole, SingleOwner: p.SingleOwner,
		CreatorRole: p.CreatorRole, TrackCreatorRole: p.TrackCreatorRole, PublicRole: p.PublicRole,
		TransferRoles: p.TransferRoles, PartnerAdminRole: p.PartnerAdminRole, PartnerRoles: p.PartnerRoles,
		Categories: p.Categories, OpenPermissions: p.OpenPermissions, CustomRoles: p.CustomRoles,
		ListProjects: p.ListProjects, Conditions: p.Conditions, Authorize: p.Authorize,
		Permissions: make([]permissionJSON, len(p.Permissions)), Roles: make([]roleJSON, len(p.Roles))}
	for i, perm := range p.Permissions {
		out.Permissions[i] = permissionJSON(perm)
	}
	for i, r := range p.Roles {
		out.Roles[i] = roleJSON(r)
	}
	return out
}

func (j presetJSON) toPreset() *Preset {
	p := &Preset{ID: j.ID, Label: j.Label, Source: j.Source, OrgKinds: j.OrgKinds, Tracks: j.Tracks,
		FirstTrack: j.FirstTrack, OutsideGuests: j.OutsideGuests, OrgAdminRole: j.OrgAdminRole,
		OrgMemberRole: j.OrgMemberRole, OwnerRole: j.OwnerRole, SingleOwner: j.SingleOwner,
		CreatorRole: j.CreatorRole, TrackCreatorRole: j.TrackCreatorRole, PublicRole: j.PublicRole,
		TransferRoles: j.TransferRoles, PartnerAdminRole: j.PartnerAdminRole, PartnerRoles: j.PartnerRoles,
		Categories: j.Categories, OpenPermissions: j.OpenPermissions, CustomRoles: j.CustomRoles,
		ListProjects: j.ListProjects, Conditions: j.Conditions, Authorize: j.Authorize,
		Permissions: make([]Permission, len(j.Permissions)), Roles: make([]Role, len(j.Roles))}
	for i, perm := range j.Permissions {
		p.Permissions[i] = Permission(perm)
	}
	for i, r := range j.Roles {
		p.Roles[i] = Role(r)
	}
	return p
}

// MarshalJSON writes the preset's canonical recorded form: the same preset always gives the
// same bytes (struct fields in a fixed order, map keys sorted).
func (p *Preset) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.toJSON())
}

// UnmarshalJSON reads a recorded preset strictly (a field this release does not know would be
// a rule it cannot apply) and validates it as a preset file is validated.
func (p *Preset) UnmarshalJSON(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var j presetJSON
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("recorded preset: %w", err)
	}
	q := j.toPreset()
	if err := q.init(); err != nil {
		return fmt.Errorf("recorded preset %s: %w", j.ID, err)
	}
	v, err := q.contentVersion()
	if err != nil {
		return err
	}
	q.version = v
	*p = *q
	return nil
}

// contentVersion is the preset's content address: "<id>@sha256:<hex>" of its canonical JSON.
func (p *Preset) contentVersion() (string, error) {
	raw, err := json.Marshal(p.toJSON())
	if err != nil {
		return "", fmt.Errorf("preset %s: canonical form: %w", p.ID, err)
	}
	sum := sha256.Sum256(raw)
	return p.ID + "@sha256:" + hex.EncodeToString(sum[:]), nil
}

// Version is the preset's content address, "<id>@sha256:<hex of its canonical JSON>": two
// presets with the same version hold the same rules.
func (p *Preset) Version() string { return p.version }
