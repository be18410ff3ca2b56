package domain

// Partner room: AddPartner (SPEC §2.10).

import (
	"net/mail"
	"strings"
)

func (d *decider) addPartner(c *AddPartner) (Outcome, error) {
	pre := d.o.preset
	if pre.PartnerAdminRole == "" {
		return Outcome{}, invalidf("preset %s has no partners", pre.ID)
	}
	if c.InvitationID == "" && d.env.NewID != nil {
		c.InvitationID = d.env.NewID()
	}
	if err := checkIDs(map[string]string{"partner_id": c.PartnerID, "invitation_id": c.InvitationID}, nil); err != nil {
		return Outcome{}, err
	}
	p, err := d.projectCommand(CmdAddPartner, c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	for _, q := range d.o.Projects {
		if _, ok := q.Partners[c.PartnerID]; ok {
			return Outcome{}, conflictf("partner %s already exists in organization %s", c.PartnerID, d.o.ID)
		}
	}
	if strings.TrimSpace(c.AdminEmail) == "" {
		return Outcome{}, invalidf("admin_email is required: the partner's admin is invited as %s", pre.PartnerAdminRole)
	}
	if _, err := mail.ParseAddress(c.AdminEmail); err != nil {
		return Outcome{}, invalidf("admin_email %q is not an e-mail address", c.AdminEmail)
	}
	if _, dup := d.o.Invitations[c.InvitationID]; dup {
		return Outcome{}, conflictf("invitation %s already exists", c.InvitationID)
	}
	name := firstNonEmpty(c.Name, c.PartnerID)
	inv := &InvitationCreated{InvitationID: c.InvitationID, ProjectID: p.ID, Email: c.AdminEmail, Roles: []string{pre.PartnerAdminRole},
		PartnerID: c.PartnerID, InvitedBy: d.actor, ExpiresAt: d.env.Now.Add(d.env.InviteTTL)}
	token := d.issueToken(inv)
	evs := []Event{&PartnerAdded{ProjectID: p.ID, PartnerID: c.PartnerID, Name: name, AdminEmail: c.AdminEmail}, inv}
	return Outcome{Events: evs, Result: AddPartnerResult{PartnerID: c.PartnerID, InvitationID: c.InvitationID, InvitationToken: token}}, nil
}
