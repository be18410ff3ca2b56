package domain

// Invitation room: InviteMember, AcceptInvite, RejectInvite, RevokeInvite, ExpireInvites.

import (
	"net/mail"
	"slices"
	"strings"
	"time"
)

func (d *decider) inviteMember(c *InviteMember) (Outcome, error) {
	if c.InvitationID == "" && d.env.NewID != nil {
		c.InvitationID = d.env.NewID()
	}
	if err := checkIDs(map[string]string{"invitation_id": c.InvitationID},
		map[string]string{"project_id": c.ProjectID, "track_id": c.TrackID, "user_id": c.UserID, "partner_id": c.PartnerID}); err != nil {
		return Outcome{}, err
	}
	ev, err := d.invitation(c)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: []Event{ev}, Result: InviteMemberResult{InvitationID: ev.InvitationID, InvitationToken: d.issueToken(ev)}}, nil
}

func (d *decider) invitation(c *InviteMember) (*InvitationCreated, error) {
	o := d.o
	if (c.Email == "") == (c.UserID == "") {
		return nil, invalidf("give email or user_id (exactly one)")
	}
	email := strings.TrimSpace(c.Email)
	if email != "" {
		if _, err := mail.ParseAddress(email); err != nil || strings.ContainsAny(email, " <>") {
			return nil, invalidf("email %q is not an e-mail address", c.Email)
		}
	}
	if _, dup := o.Invitations[c.InvitationID]; dup {
		return nil, conflictf("invitation %s already exists", c.InvitationID)
	}
	refs := slices.Clone(c.Roles)
	if c.Role != "" {
		refs = append(refs, c.Role)
	}
	end, err := d.expiresAt(c.ExpiresAt)
	if err != nil {
		return nil, err
	}
	ev := &InvitationCreated{InvitationID: c.InvitationID, ProjectID: c.ProjectID, TrackID: c.TrackID, Email: email,
		UserID: c.UserID, Name: c.Name, InvitedBy: d.actor, ExpiresAt: d.env.Now.Add(d.env.InviteTTL), MembershipExpiresAt: end}
	if c.ProjectID == "" {
		if c.TrackID != "" || c.PartnerID != "" || len(c.Grants) > 0 {
			return nil, invalidf("an organization invitation takes no track_id, partner_id or grants; give project_id")
		}
		if err := d.authorize(CmdInviteMember, Scope{}, false); err != nil {
			return nil, err
		}
		if o.Kind == KindIndividual {
			return nil, preconditionf("organization %s is individual and has one member; invite people to a public project instead", o.ID)
		}
		ref := ""
		if len(refs) > 1 {
			return nil, invalidf("an organization invitation takes one role")
		} else if len(refs) == 1 {
			ref = refs[0]
		}
		role, err := d.orgRole(ref)
		if err != nil {
			return nil, err
		}
		if c.UserID != "" {
			if _, ok := o.Members[c.UserID]; ok {
				return nil, conflictf("user %s is already a member of organization %s", c.UserID, o.ID)
			}
		} else if o.memberByEmail(email) != nil {
			return nil, conflictf("%s is already a member of organization %s", email, o.ID)
		}
		ev.Roles = []string{role}
		return ev, d.noPendingDuplicate(ev)
	}
	ref := MemberRef{ProjectID: c.ProjectID, TrackID: c.TrackID, UserID: c.UserID}
	if c.UserID == "" {
		ref.UserID = "x" // membership commands need a principal; the e-mail stands for it here
	}
	p, err := d.memberCommand(CmdInviteMember, ref)
	if err != nil {
		return nil, err
	}
	roles, err := d.resolveRoles(refs, scopeOfTarget(c.TrackID), c.ProjectID)
	if err != nil {
		return nil, err
	}
	grants, err := d.resolveGrants(c.Grants)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 && len(grants) == 0 && !d.o.preset.CustomRoles {
		return nil, invalidf("roles is empty; give at least one role")
	}
	partner, err := d.partnerFor(p, c.PartnerID, roles)
	if err != nil {
		return nil, err
	}
	if mine := d.actorPartner(p); mine != "" {
		if err := d.companyInvitee(mine, c.UserID, email); err != nil {
			return nil, err
		}
	}
	if err := d.mayGive(p, roles); err != nil {
		return nil, err
	}
	if err := d.mayChangeRoles(p, roles, nil); err != nil {
		return nil, err
	}
	ev.Roles, ev.Grants, ev.PartnerID = roles, grants, partner
	switch {
	case o.Kind == KindIndividual:
		if p.Visibility != Public {
			return nil, preconditionf("project %s is private; in individual organization %s only public projects take invited users", p.ID, o.ID)
		}
	case !o.preset.OutsideGuests:
		member := o.Members[c.UserID]
		if c.UserID == "" {
			member = o.memberByEmail(email)
		}
		if member == nil {
			who := c.UserID
			if who == "" {
				who = email
			}
			return nil, preconditionf("%s is not a member of organization %s; add them to the organization first", who, o.ID)
		}
		ev.UserID = member.UserID
	}
	invitee := ev.UserID
	if invitee == "" {
		if m := o.memberByEmail(email); m != nil {
			invitee = m.UserID
		}
	}
	if err := o.mayHold(invitee, roles); err != nil {
		return nil, err
	}
	if ev.UserID != "" {
		if _, ok := p.members(c.TrackID)[Principal{UserID: ev.UserID}.Key()]; ok {
			return nil, conflictf("user %s is already a member of %s", ev.UserID, describeScope(o.ID, Scope{ProjectID: c.ProjectID, TrackID: c.TrackID}))
		}
	}
	return ev, d.noPendingDuplicate(ev)
}

// companyInvitee checks an invitation a labeling company's member makes names a user of that
// company: by e-mail, and not a member of the owning organization (Dataloop: "users … selected
// from their organization").
func (d *decider) companyInvitee(partner, userID, email string) error {
	if userID != "" {
		return forbiddenf("%s belongs to labeling company %s and invites users of that company by e-mail, not by user id", d.actor, partner)
	}
	if m := d.o.memberByEmail(email); m != nil {
		return forbiddenf("%s is a member of organization %s, not of labeling company %s; only the project's team adds the organization's members", email, d.o.ID, partner)
	}
	return nil
}

func (o *Org) memberByEmail(email string) *OrgMember {
	var found *OrgMember // the smallest matching user id, in one linear pass
	foundID := ""
	for id, m := range o.Members {
		if m.Email != "" && strings.EqualFold(m.Email, email) && (found == nil || id < foundID) {
			found, foundID = m, id
		}
	}
	return found
}

func (d *decider) noPendingDuplicate(ev *InvitationCreated) error {
	if d.pending != nil {
		return d.pending.duplicate(ev)
	}
	// One linear pass; the smallest matching id is named, as a sorted walk would.
	dup := ""
	for id, inv := range d.o.Invitations {
		if pendingDuplicate(inv, ev, d.env.Now) && (dup == "" || id < dup) {
			dup = id
		}
	}
	if dup != "" {
		return conflictf("invitation %s to the same person is already pending; revoke it first", dup)
	}
	return nil
}

func pendingDuplicate(inv *Invitation, ev *InvitationCreated, now time.Time) bool {
	if inv.Status != InvitePending || inv.ProjectID != ev.ProjectID || inv.TrackID != ev.TrackID || !inv.ExpiresAt.After(now) {
		return false
	}
	return (ev.UserID != "" && inv.UserID == ev.UserID) || (ev.Email != "" && strings.EqualFold(inv.Email, ev.Email))
}

// invitee checks the actor is the invitation's invitee (SPEC §2.12) and it is still open.
func (d *decider) invitee(id, actorEmail, token string) (*Invitation, error) {
	if err := checkIDs(map[string]string{"invitation_id": id}, nil); err != nil {
		return nil, err
	}
	inv, ok := d.o.Invitations[id]
	if !ok {
		return nil, notFoundf("invitation %s not found in organization %s", id, d.o.ID)
	}
	switch {
	case inv.UserID != "" && inv.UserID != d.actor:
		return nil, forbiddenf("invitation %s is for another user; only its invitee may answer it", id)
	case inv.UserID == "" && !strings.EqualFold(strings.TrimSpace(actorEmail), inv.Email):
		return nil, forbiddenf("invitation %s is for another e-mail address; answer it with actor_email set to the invited address", id)
	}
	if err := d.checkInviteToken(inv, token); err != nil {
		return nil, err
	}
	if inv.Status != InvitePending {
		return nil, preconditionf("invitation %s is %s, not pending", id, inv.Status)
	}
	if !d.env.Now.Before(inv.ExpiresAt) {
		return nil, preconditionf("invitation %s expired at %s; ask for a new one", id, inv.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return inv, nil
}

func (d *decider) acceptInvite(c *AcceptInvite) (Outcome, error) {
	inv, err := d.invitee(c.InvitationID, c.ActorEmail, c.Token)
	if err != nil {
		return Outcome{}, err
	}
	if end := inv.MembershipExpiresAt; !end.IsZero() && !d.env.Now.Before(end) {
		return Outcome{}, preconditionf("invitation %s offers a membership that ended at %s; ask for a new one", inv.ID, end.UTC().Format(time.RFC3339))
	}
	o := d.o
	email := firstNonEmpty(inv.Email, c.ActorEmail)
	name := firstNonEmpty(c.ActorName, inv.Name)
	evs := []Event{&InvitationAccepted{InvitationID: inv.ID, ProjectID: inv.ProjectID, TrackID: inv.TrackID, UserID: d.actor, Email: email, Name: name}}
	if inv.ProjectID == "" {
		if _, ok := o.Members[d.actor]; ok {
			return Outcome{}, conflictf("user %s is already a member of organization %s", d.actor, o.ID)
		}
		end := d.acceptedEnd(inv)
		evs = append(evs, &OrgMemberAdded{UserID: d.actor, Email: email, Name: name, Role: inv.Roles[0], InvitationID: inv.ID,
			ExpiresAt: end})
		if !end.IsZero() {
			// A guest owner joining for a time would take their projects' ownership along at the
			// end, as with AddOrgMember (SPEC §2.2 at every instant).
			if v, ok := d.breaks(evs); ok {
				return Outcome{}, preconditionf("invitation %s offers a membership of organization %s that ends at %s, and at that end %s; ask for an invitation without an end",
					inv.ID, o.ID, end.UTC().Format(time.RFC3339), v.fact)
			}
		}
		return Outcome{Events: evs}, nil
	}
	p, err := d.project(inv.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	om, member := o.Members[d.actor]
	if !member && o.Kind == KindTeam && !o.preset.OutsideGuests {
		return Outcome{}, preconditionf("user %s is no longer a member of organization %s", d.actor, o.ID)
	}
	if by := p.Members[Principal{UserID: inv.InvitedBy}.Key()]; member && inv.PartnerID != "" && by != nil && by.PartnerID == inv.PartnerID {
		// An invitation a labeling company made into itself (the company's own users, by e-mail).
		return Outcome{}, preconditionf("user %s is a member of organization %s; labeling company %s adds only its own users", d.actor, o.ID, inv.PartnerID)
	}
	if o.Kind == KindIndividual && p.Visibility != Public {
		// Neptune: "If the project is created in an individual organization, you can only invite
		// users to a public project … You cannot add users to a private project."
		return Outcome{}, preconditionf("project %s is private; in individual organization %s only public projects take collaborators", p.ID, o.ID)
	}
	if om != nil {
		email, name = firstNonEmpty(om.Email, email), firstNonEmpty(om.Name, name)
	}
	target := Target{ProjectID: inv.ProjectID, TrackID: inv.TrackID}
	mm := p.members(inv.TrackID)
	if mm == nil {
		return Outcome{}, notFoundf("track %s no longer exists", inv.TrackID)
	}
	if m, ok := mm[Principal{UserID: d.actor}.Key()]; ok {
		roles := slices.Clone(m.Roles)
		for _, r := range inv.Roles {
			if !slices.Contains(roles, r) {
				roles = append(withoutCategoryOf(o, roles, r), r)
			}
		}
		if m.PartnerID != "" {
			// The invitation's roles join a membership of a partner (SPEC §2.10).
			if err := d.partnerRolesOnly(p, m.PartnerID, roles); err != nil {
				return Outcome{}, err
			}
		}
		evs = append(evs, &RoleChanged{Target: target, Principal: m.Principal, Roles: roles, PreviousRoles: slices.Clone(m.Roles)})
	} else {
		evs = append(evs, &MemberAdded{Target: target, Principal: Principal{UserID: d.actor}, Email: email, Name: name,
			Roles: slices.Clone(inv.Roles), Grants: slices.Clone(inv.Grants), PartnerID: inv.PartnerID, Guest: !member, InvitationID: inv.ID,
			ExpiresAt: d.acceptedEnd(inv)})
	}
	if err := d.checkProjectRoleLimits(evs, []string{d.actor}, nil); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

func (d *decider) rejectInvite(c *RejectInvite) (Outcome, error) {
	inv, err := d.invitee(c.InvitationID, c.ActorEmail, c.Token)
	if err != nil {
		return Outcome{}, err
	}
	// SPEC §2.9: a deleted project accepts no command. Declining an invitation to an archived
	// one changes nothing in the project, so the invitee may still say no.
	if p, ok := d.o.Projects[inv.ProjectID]; ok && inv.ProjectID != "" && p.Status == StatusDeleted {
		return Outcome{}, preconditionf("project %s is deleted and accepts no command", inv.ProjectID)
	}
	return one(&InvitationRejected{InvitationID: inv.ID, ProjectID: inv.ProjectID, TrackID: inv.TrackID, UserID: d.actor}), nil
}

func (d *decider) revokeInvite(c *RevokeInvite) (Outcome, error) {
	if err := checkIDs(map[string]string{"invitation_id": c.InvitationID}, nil); err != nil {
		return Outcome{}, err
	}
	inv, ok := d.o.Invitations[c.InvitationID]
	if !ok {
		return Outcome{}, notFoundf("invitation %s not found in organization %s", c.InvitationID, d.o.ID)
	}
	s := Scope{ProjectID: inv.ProjectID, TrackID: inv.TrackID}
	if p, ok := d.o.Projects[inv.ProjectID]; ok && p.Status == StatusDeleted {
		return Outcome{}, preconditionf("project %s is deleted and accepts no command", inv.ProjectID)
	}
	if err := d.authorize(CmdRevokeInvite, s, true); err != nil {
		return Outcome{}, err
	}
	if p, ok := d.o.Projects[inv.ProjectID]; ok && p.Status == StatusArchived {
		return Outcome{}, preconditionf("project %s is archived and read-only; unarchive it first", inv.ProjectID)
	}
	if p, ok := d.o.Projects[inv.ProjectID]; ok {
		if mine := d.actorPartner(p); mine != "" && inv.PartnerID != mine {
			return Outcome{}, forbiddenf("%s belongs to partner %s and may revoke only that partner's invitations", d.actor, mine)
		}
	}
	if inv.Status != InvitePending {
		return Outcome{}, preconditionf("invitation %s is %s, not pending", inv.ID, inv.Status)
	}
	return one(&InvitationRevoked{InvitationID: inv.ID, ProjectID: inv.ProjectID, TrackID: inv.TrackID, Reason: "revoked"}), nil
}

func (d *decider) expireInvites(*ExpireInvites) (Outcome, error) {
	if d.actor != SystemActor {
		return Outcome{}, forbiddenf("only Roster itself expires invitations")
	}
	var evs []Event
	for _, id := range sortedKeys(d.o.Invitations) {
		inv := d.o.Invitations[id]
		if inv.Status == InvitePending && !d.env.Now.Before(inv.ExpiresAt) {
			evs = append(evs, &InvitationExpired{InvitationID: id, ProjectID: inv.ProjectID, TrackID: inv.TrackID})
		}
	}
	return Outcome{Events: evs}, nil
}

// acceptedEnd is the end of the membership an accepted invitation creates (acceptInvite
// refuses an invitation whose membership would already have ended). Accepting into an
// existing membership (RoleChanged) keeps that membership's end.
func (d *decider) acceptedEnd(inv *Invitation) time.Time { return inv.MembershipExpiresAt }
