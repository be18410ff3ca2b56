package domain

// Typed command results: what an accepted command answers besides its events. Each is
// encoded as the "result" object of the command reply (API.md); a command with nothing to
// say answers NoResult, the empty object. The results were once maps, which encoding/json
// writes with sorted keys: their fields are declared in the alphabetical order of their JSON
// names so that the wire keeps its bytes (TestResultJSON).

// Result is one command's answer. Only the types of this file implement it.
type Result interface {
	commandResult()
}

// NoResult is the answer of a command that has nothing to report: {}.
type NoResult struct{}

// CreateOrganizationResult answers CreateOrganization.
type CreateOrganizationResult struct {
	OrgID string `json:"org_id"`
}

// CreateWorkgroupResult answers CreateWorkgroup.
type CreateWorkgroupResult struct {
	GroupID string `json:"group_id"`
}

// CreateProjectResult answers CreateProject; TrackID is set where the preset creates a first track.
type CreateProjectResult struct {
	ProjectID string `json:"project_id"`
	TrackID   string `json:"track_id,omitempty"`
}

// InviteMemberResult answers InviteMember with the invitation's id (generated when the command gave none).
type InviteMemberResult struct {
	InvitationID string `json:"invitation_id"`
	// InvitationToken is the e-mail invitation's secret, returned only here, once.
	InvitationToken string `json:"invitation_token,omitempty"`
}

// CreateTrackResult answers CreateTrack.
type CreateTrackResult struct {
	TrackID string `json:"track_id"`
}

// AddPartnerResult answers AddPartner with the partner and the invitation sent to its admin.
type AddPartnerResult struct {
	InvitationID string `json:"invitation_id"`
	// InvitationToken is the secret of the admin's invitation, returned only here, once.
	InvitationToken string `json:"invitation_token,omitempty"`
	PartnerID       string `json:"partner_id"`
}

// DefineRoleResult answers DefineRole; ProjectID is set when the role belongs to a project.
type DefineRoleResult struct {
	ProjectID string `json:"project_id,omitempty"`
	Role      string `json:"role"`
}

// ImportMembersResult answers ImportMembers with one outcome per CSV row, in order.
type ImportMembersResult struct {
	Rows []ImportRow `json:"rows"`
}

// ImportRow is one CSV row's outcome.
type ImportRow struct {
	Row   int    `json:"row"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
	// InvitationID is set for rows invited by e-mail.
	InvitationID string `json:"invitation_id,omitempty"`
	// InvitationToken is the secret of the row's e-mail invitation, returned only here, once.
	InvitationToken string `json:"invitation_token,omitempty"`
}

func (NoResult) commandResult()                 {}
func (CreateOrganizationResult) commandResult() {}
func (CreateWorkgroupResult) commandResult()    {}
func (CreateProjectResult) commandResult()      {}
func (InviteMemberResult) commandResult()       {}
func (CreateTrackResult) commandResult()        {}
func (AddPartnerResult) commandResult()         {}
func (DefineRoleResult) commandResult()         {}
func (ImportMembersResult) commandResult()      {}
