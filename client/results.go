package client

import (
	"encoding/json"
	"fmt"
)

// Typed command results: what an accepted command answers in its reply's "result" besides
// its events, mirroring the service's own result types field for field (and in the same,
// alphabetical, key order). CommandReply.Result keeps the raw JSON; ResultOf and the
// accessors below read it. A command with nothing to say answers the empty object.

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
	// InvitationToken is the e-mail invitation's secret, returned only here, once: deliver it
	// to the invitee, who passes it as AcceptInvite's token.
	InvitationToken string `json:"invitation_token,omitempty"`
}

// CreateTrackResult answers CreateTrack.
type CreateTrackResult struct {
	TrackID string `json:"track_id"`
}

// AddPartnerResult answers AddPartner with the partner and the invitation sent to its admin.
type AddPartnerResult struct {
	InvitationID string `json:"invitation_id"`
	// InvitationToken is the e-mail invitation's secret, returned only here, once: deliver it
	// to the invitee, who passes it as AcceptInvite's token.
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
	// InvitationToken is the e-mail invitation's secret, returned only here, once: deliver it
	// to the invitee, who passes it as AcceptInvite's token.
	InvitationToken string `json:"invitation_token,omitempty"`
}

// Failed counts the rows that were not imported.
func (r ImportMembersResult) Failed() int {
	n := 0
	for _, row := range r.Rows {
		if !row.OK {
			n++
		}
	}
	return n
}

// ResultOf decodes a command reply's result as T, one of the result types of this file:
//
//	rep, err := c.InviteMember(ctx, req)
//	res, err := client.ResultOf[client.InviteMemberResult](rep)
func ResultOf[T any](rep *CommandReply) (T, error) {
	var out T
	if rep == nil || len(rep.Result) == 0 {
		return out, fmt.Errorf("decode result as %T: the reply carries no result", out)
	}
	if err := json.Unmarshal(rep.Result, &out); err != nil {
		return out, fmt.Errorf("decode result as %T: %w", out, err)
	}
	return out, nil
}

// resultField reads one string field of the result ("" when absent or not a string).
func (r *CommandReply) resultField(name string) string {
	if r == nil || len(r.Result) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.Result, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[name], &s) != nil {
		return ""
	}
	return s
}

// InvitationID is the invitation an InviteMember or AddPartner created ("" for other commands).
func (r *CommandReply) InvitationID() string { return r.resultField("invitation_id") }

// InvitationToken is the secret of the e-mail invitation an InviteMember or AddPartner created.
func (r *CommandReply) InvitationToken() string { return r.resultField("invitation_token") }

// ProjectID is the project a CreateProject created, or the project a DefineRole's role belongs to.
func (r *CommandReply) ProjectID() string { return r.resultField("project_id") }

// TrackID is the track a CreateTrack (or a CreateProject whose preset makes a first track) created.
func (r *CommandReply) TrackID() string { return r.resultField("track_id") }
