package client

import (
	"encoding/json"
	"time"
)

// Query names of API.md, and the operators' Rebuild.
const (
	QCheck           = "Check"
	QPermissions     = "Permissions"
	QWhoCan          = "WhoCan"
	QListMembers     = "ListMembers"
	QListProjects    = "ListProjects"
	QGetProject      = "GetProject"
	QListInvitations = "ListInvitations"
	QCatalog         = "Catalog"
	QAudit           = "Audit"
	QAccessAt        = "AccessAt"
	QStatus          = "Status"
	// AdminRebuild is the subject operators send rebuild requests to.
	AdminRebuild = "roster.admin.Rebuild"
)

// QueryNames lists every query of roster.query.<Query>.
func QueryNames() []string {
	return []string{QCheck, QPermissions, QWhoCan, QListMembers, QListProjects, QGetProject, QListInvitations, QCatalog, QAudit, QAccessAt, QStatus}
}

// Every query request also takes the read-your-writes fields: MinPosition (wait until the
// view has applied this position) and WaitMS (how long to wait for it; default 2 s, at most 30 s).

// Check asks whether a user may do something (roster.query.Check).
type Check struct {
	OrgID      string `json:"org_id"`
	ProjectID  string `json:"project_id,omitempty"`
	TrackID    string `json:"track_id,omitempty"`
	UserID     string `json:"user_id"`
	Permission string `json:"permission"`
	// Context holds the resource's attributes conditions read: strings, numbers or booleans.
	Context map[string]any `json:"context,omitempty"`
	// Explain adds the events behind each membership of the answer.
	Explain     bool   `json:"explain,omitempty"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// CheckRequest is the former name of Check.
type CheckRequest = Check

// Via is one membership behind a Check answer; Events is set when the answer is explained.
type Via struct {
	Kind      string       `json:"kind"`
	Role      string       `json:"role,omitempty"`
	GroupID   string       `json:"group_id,omitempty"`
	Scope     string       `json:"scope,omitempty"`
	ProjectID string       `json:"project_id,omitempty"`
	TrackID   string       `json:"track_id,omitempty"`
	Condition string       `json:"condition,omitempty"`
	Events    []Provenance `json:"events,omitzero"`
}

// Provenance is one event behind a membership: who did what, when.
type Provenance struct {
	Position  uint64    `json:"position"`
	Type      string    `json:"type"`
	Actor     string    `json:"actor"`
	Time      time.Time `json:"time"`
	CommandID string    `json:"command_id,omitempty"`
}

// CheckResult is the result of Check.
type CheckResult struct {
	Decision   string `json:"decision"`
	Permission string `json:"permission"`
	Via        []Via  `json:"via"`
	// ExplainedAt is the position the explanation was read at (explain only).
	ExplainedAt uint64 `json:"explained_at,omitempty"`
}

// Permissions lists what a user may do at a scope (roster.query.Permissions).
type Permissions struct {
	OrgID       string `json:"org_id"`
	ProjectID   string `json:"project_id,omitempty"`
	TrackID     string `json:"track_id,omitempty"`
	UserID      string `json:"user_id"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// PermissionsResult is the result of Permissions (fields in the wire's key order).
type PermissionsResult struct {
	Conditional []string `json:"conditional"`
	Permissions []string `json:"permissions"`
	Roles       []string `json:"roles"`
}

// WhoCan lists the users holding a permission at a scope (roster.query.WhoCan).
type WhoCan struct {
	OrgID      string `json:"org_id"`
	ProjectID  string `json:"project_id,omitempty"`
	TrackID    string `json:"track_id,omitempty"`
	Permission string `json:"permission"`
	// Viewer, a labeling company's member, learns only of their own company's users (in a user
	// account the viewer is the authenticated user).
	Viewer      string `json:"viewer,omitempty"`
	Limit       int    `json:"limit,omitempty"`
	PageToken   string `json:"page_token,omitempty"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// WhoCanResult is the result of WhoCan.
type WhoCanResult struct {
	Users         []string `json:"users"`
	NextPageToken string   `json:"next_page_token,omitempty"`
}

// ListMembers pages through the members and open invitations of an organization, project
// or track (roster.query.ListMembers).
type ListMembers struct {
	OrgID     string `json:"org_id"`
	ProjectID string `json:"project_id,omitempty"`
	TrackID   string `json:"track_id,omitempty"`
	// Viewer, a partner's member, sees only their own company's members.
	Viewer      string `json:"viewer,omitempty"`
	Q           string `json:"q,omitempty"`
	Role        string `json:"role,omitempty"`
	Status      string `json:"status,omitempty"`
	Limit       int    `json:"limit,omitempty"`
	PageToken   string `json:"page_token,omitempty"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// Member is one row of ListMembers.
type Member struct {
	UserID       string   `json:"user_id,omitempty"`
	GroupID      string   `json:"group_id,omitempty"`
	Email        string   `json:"email"`
	Name         string   `json:"name"`
	Roles        []string `json:"roles"`
	Grants       []string `json:"grants"`
	Status       string   `json:"status"`
	PartnerID    string   `json:"partner_id,omitempty"`
	InvitationID string   `json:"invitation_id,omitempty"`
	Guest        bool     `json:"guest,omitempty"`
	Members      []string `json:"members,omitempty"`
	// ExpiresAt (RFC 3339) is when a time-bound membership ends; absent when it does not.
	ExpiresAt string `json:"expires_at,omitempty"`
}

// MembersPage is the result of ListMembers.
type MembersPage struct {
	Members       []Member `json:"members"`
	NextPageToken string   `json:"next_page_token,omitempty"`
}

// ListProjects lists the projects a user holds a role on (roster.query.ListProjects).
type ListProjects struct {
	UserID          string `json:"user_id"`
	OrgID           string `json:"org_id,omitempty"`
	IncludeArchived bool   `json:"include_archived,omitempty"`
	Limit           int    `json:"limit,omitempty"`
	PageToken       string `json:"page_token,omitempty"`
	MinPosition     uint64 `json:"min_position,omitempty"`
	WaitMS          int    `json:"wait_ms,omitempty"`
}

// ProjectEntry is one row of ListProjects.
type ProjectEntry struct {
	OrgID      string   `json:"org_id"`
	ProjectID  string   `json:"project_id"`
	Name       string   `json:"name"`
	Status     string   `json:"status"`
	Visibility string   `json:"visibility"`
	Roles      []string `json:"roles"`
}

// ProjectsList is the result of ListProjects.
type ProjectsList struct {
	Projects      []ProjectEntry `json:"projects"`
	NextPageToken string         `json:"next_page_token,omitempty"`
}

// GetProject describes one project (roster.query.GetProject).
type GetProject struct {
	OrgID     string `json:"org_id"`
	ProjectID string `json:"project_id"`
	// Viewer, a labeling company's member, sees only their own company's owners, partner and
	// member counts (in a user account the viewer is the authenticated user).
	Viewer      string `json:"viewer,omitempty"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// Project is the result of GetProject (fields in the wire's key order).
type Project struct {
	// AdminOwners, in presets where organization admins own every project, lists them.
	AdminOwners []string       `json:"admin_owners,omitempty"`
	CreatedBy   string         `json:"created_by"`
	Members     int            `json:"members"`
	Name        string         `json:"name"`
	OrgID       string         `json:"org_id"`
	Owners      []string       `json:"owners"`
	Partners    []PartnerEntry `json:"partners"`
	ProjectID   string         `json:"project_id"`
	Status      string         `json:"status"`
	Tracks      []TrackEntry   `json:"tracks"`
	Visibility  string         `json:"visibility"`
}

// TrackEntry is one track of a project (fields in the wire's key order).
type TrackEntry struct {
	Compute     string `json:"compute"`
	Members     int    `json:"members"`
	Name        string `json:"name"`
	NotebookEnv string `json:"notebook_env"`
	TrackID     string `json:"track_id"`
}

// PartnerEntry is one partner company of a project (fields in the wire's key order).
type PartnerEntry struct {
	AdminEmail string `json:"admin_email"`
	Name       string `json:"name"`
	PartnerID  string `json:"partner_id"`
}

// ListInvitations lists invitations by organization, project, e-mail or user
// (roster.query.ListInvitations); give at least org_id, email or user_id.
type ListInvitations struct {
	OrgID     string `json:"org_id,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	Email     string `json:"email,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	Status    string `json:"status,omitempty"`
	// Viewer, a labeling company's member, sees only their own company's invitations.
	Viewer      string `json:"viewer,omitempty"`
	Limit       int    `json:"limit,omitempty"`
	PageToken   string `json:"page_token,omitempty"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// Invitation is one row of ListInvitations.
type Invitation struct {
	OrgID        string    `json:"org_id"`
	InvitationID string    `json:"invitation_id"`
	ProjectID    string    `json:"project_id,omitempty"`
	TrackID      string    `json:"track_id,omitempty"`
	Email        string    `json:"email,omitempty"`
	UserID       string    `json:"user_id,omitempty"`
	Name         string    `json:"name,omitempty"`
	Roles        []string  `json:"roles"`
	Grants       []string  `json:"grants,omitempty"`
	PartnerID    string    `json:"partner_id,omitempty"`
	InvitedBy    string    `json:"invited_by"`
	Status       string    `json:"status"`
	ExpiresAt    time.Time `json:"expires_at"`
	AnsweredBy   string    `json:"answered_by,omitempty"`
}

// InvitationsList is the result of ListInvitations.
type InvitationsList struct {
	Invitations   []Invitation `json:"invitations"`
	NextPageToken string       `json:"next_page_token,omitempty"`
}

// Catalog lists an organization's permissions, roles and conditions (roster.query.Catalog).
type Catalog struct {
	OrgID       string `json:"org_id"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// CatalogResult is the result of Catalog (fields in the wire's key order).
type CatalogResult struct {
	Categories  []string     `json:"categories"`
	Conditions  []Condition  `json:"conditions"`
	Kind        string       `json:"kind"`
	Label       string       `json:"label"`
	Permissions []Permission `json:"permissions"`
	Preset      string       `json:"preset"`
	Roles       []Role       `json:"roles"`
}

// Permission is a named action of a preset.
type Permission struct {
	ID        string `json:"id"`
	Label     string `json:"label"`
	Scope     string `json:"scope"`
	View      bool   `json:"view,omitempty"`
	GrantOnly bool   `json:"grant_only,omitempty"`
}

// Role is a named set of permissions at a scope.
type Role struct {
	ID           string   `json:"id"`
	Label        string   `json:"label"`
	Description  string   `json:"description,omitempty"`
	Scope        string   `json:"scope"`
	Category     string   `json:"category,omitempty"`
	Permissions  []string `json:"permissions"`
	OwnsProjects bool     `json:"owns_projects,omitempty"`
	Custom       bool     `json:"custom,omitempty"`
	ProjectID    string   `json:"project_id,omitempty"`
}

// Condition narrows a role's permission to resources whose attribute matches.
type Condition struct {
	Role       string `json:"role"`
	Permission string `json:"permission"`
	Attribute  string `json:"attribute"`
	Equals     string `json:"equals"`
}

// Audit pages through an organization's events (roster.query.Audit).
type Audit struct {
	OrgID     string   `json:"org_id"`
	ProjectID string   `json:"project_id,omitempty"`
	Actor     string   `json:"actor,omitempty"`
	UserID    string   `json:"user_id,omitempty"`
	Types     []string `json:"types,omitempty"`
	Type      string   `json:"type,omitempty"`
	// Since and Until are RFC 3339 times.
	Since         string `json:"since,omitempty"`
	Until         string `json:"until,omitempty"`
	AfterPosition uint64 `json:"after_position,omitempty"`
	Limit         int    `json:"limit,omitempty"`
	// Principal selects events by the credential behind them: "ACCOUNT" or "ACCOUNT/USER".
	Principal string `json:"principal,omitempty"`
	// Viewer, a labeling company's member, sees only events naming no one outside their company.
	Viewer      string `json:"viewer,omitempty"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// Event is the envelope of one recorded event (in Audit, and on roster.events.<org>.<type>).
type Event struct {
	ID            string          `json:"id"`
	Position      uint64          `json:"position"`
	Stream        string          `json:"stream"`
	Version       uint64          `json:"version"`
	Type          string          `json:"type"`
	Time          time.Time       `json:"time"`
	OrgID         string          `json:"org_id"`
	Actor         string          `json:"actor"`
	CommandID     string          `json:"command_id,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	Data          json.RawMessage `json:"data"`
	// Principal is the authenticated NATS credential that issued the command (its account and
	// user, from the server's Nats-Request-Info stamp), beside the Actor it spoke for; absent in
	// insecure mode and on Roster's own system events.
	Principal *Principal `json:"principal,omitempty"`
	// PrevHash and Hash link the event into the log's hash chain (docs/INTEGRITY.md), so an
	// Audit reply can be checked offline.
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// Principal names the NATS account and user that sent a command.
type Principal struct {
	Account string `json:"account"`
	User    string `json:"user,omitempty"`
}

// AuditPage is the result of Audit; NextAfterPosition is set when more events match.
type AuditPage struct {
	Events            []Event `json:"events"`
	NextAfterPosition uint64  `json:"next_after_position,omitempty"`
}

// AccessAt answers Permissions as they stood at a time or position (roster.query.AccessAt);
// give at or position, exactly one.
type AccessAt struct {
	OrgID       string `json:"org_id"`
	ProjectID   string `json:"project_id,omitempty"`
	TrackID     string `json:"track_id,omitempty"`
	UserID      string `json:"user_id"`
	At          string `json:"at,omitempty"`
	Position    uint64 `json:"position,omitempty"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// AccessAtResult is the result of AccessAt (fields in the wire's key order).
type AccessAtResult struct {
	Conditional []string `json:"conditional"`
	Permissions []string `json:"permissions"`
	Position    uint64   `json:"position"`
	Roles       []string `json:"roles"`
}

// StatusRequest asks for the log head and the views' progress (roster.query.Status).
type StatusRequest struct {
	// Digests adds each view's state digest (a hash of every organization's state).
	Digests     bool   `json:"digests,omitempty"`
	MinPosition uint64 `json:"min_position,omitempty"`
	WaitMS      int    `json:"wait_ms,omitempty"`
}

// Status is the result of Status (fields in the wire's key order).
type Status struct {
	// Alarms lists what needs an operator (a view refused a stream message, a view is ahead of
	// the log, the relay stopped); absent when all is well.
	Alarms      []string           `json:"alarms,omitempty"`
	DeadLetters *uint64            `json:"dead_letters,omitempty"`
	Head        uint64             `json:"head"`
	Projections []ProjectionStatus `json:"projections"`
	// Relay is the relay's state, in a process that has the log.
	Relay *RelayStatus `json:"relay,omitempty"`
	// HistoryIndex is the state of the index that answers AccessAt, Check's explanations and
	// Audit (operators, or every caller in insecure mode).
	HistoryIndex *HistoryIndexStatus `json:"history_index,omitempty"`
}

// HistoryIndexStatus is the history index's progress and where it came from: "saved" (the
// copy in the views database, loaded at start at LoadedAt) or "log" (built from the log).
// Discarded counts saved copies refused at start (damaged, of another log, ahead of it), with
// the last reason.
type HistoryIndexStatus struct {
	Position    uint64 `json:"position"`
	Lag         int64  `json:"lag"`
	Source      string `json:"source,omitempty"`
	LoadedAt    uint64 `json:"loaded_at,omitempty"`
	Saved       uint64 `json:"saved"`
	Discarded   uint64 `json:"discarded,omitempty"`
	LastDiscard string `json:"last_discard,omitempty"`
}

// ProjectionStatus is one view's progress. Lag is head - position: negative when the view
// stands ahead of the log (an error, with Alarm set).
type ProjectionStatus struct {
	Name     string `json:"name"`
	Position uint64 `json:"position"`
	Lag      int64  `json:"lag"`
	Digest   string `json:"digest,omitempty"`
	// Alarm says why the view refused its last refused stream message, or that it is ahead.
	Alarm string `json:"alarm,omitempty"`
	// Refused counts the stream messages the view refused (forged, foreign, not the log's).
	Refused uint64 `json:"refused,omitempty"`
}

// RelayStatus is the relay's state: running, retrying, or stopped (with the reason), and the
// last position known to be in the stream.
type RelayStatus struct {
	Published uint64 `json:"published"`
	Reason    string `json:"reason,omitempty"`
	State     string `json:"state"`
}

// Rebuild names the views to rebuild (all when empty) and, optionally, a subject to
// publish RebuildProgress to (roster.admin.Rebuild).
type Rebuild struct {
	Views    []string `json:"views,omitempty"`
	Progress string   `json:"progress,omitempty"`
}

// RebuildProgress is published while a view is rebuilt.
type RebuildProgress struct {
	View    string  `json:"view"`
	Done    uint64  `json:"done"`
	Total   uint64  `json:"total"`
	Elapsed float64 `json:"elapsed_s"`
}

// RebuiltView is one view's rebuild outcome.
type RebuiltView struct {
	Name         string  `json:"name"`
	Position     uint64  `json:"position"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_s"`
	Digest       string  `json:"digest"`
}

// RebuildResult is the result of Rebuild.
type RebuildResult struct {
	Views []RebuiltView `json:"views"`
}
