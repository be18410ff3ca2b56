package domain

// Project room: CreateProject, RenameProject, SetProjectVisibility, ArchiveProject,
// UnarchiveProject, DeleteProject, TransferProjectOwnership.

import (
	"slices"
	"strings"
	"time"
)

func (d *decider) uniqueTrackID(id string) error {
	for _, p := range d.o.Projects {
		if _, ok := p.Tracks[id]; ok {
			return conflictf("track %s already exists in organization %s", id, d.o.ID)
		}
	}
	return nil
}

func (d *decider) createProject(c *CreateProject) (Outcome, error) {
	if err := checkIDs(map[string]string{"project_id": c.ProjectID}, nil); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdCreateProject, Scope{}, false); err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Projects[c.ProjectID]; ok {
		return Outcome{}, conflictf("project %s already exists in organization %s", c.ProjectID, d.o.ID)
	}
	vis := c.Visibility
	if vis == "" {
		vis = Private
	}
	if vis != Private && vis != Public {
		return Outcome{}, invalidf("visibility %q must be private or public", vis)
	}
	pre := d.o.preset
	if c.Track != nil && !pre.Tracks {
		return Outcome{}, invalidf("preset %s has no tracks; drop the track field", pre.ID)
	}
	name := c.Name
	if name == "" {
		name = c.ProjectID
	}
	evs := []Event{&ProjectCreated{ProjectID: c.ProjectID, Name: name, Visibility: vis, CreatedBy: d.actor}}
	result := CreateProjectResult{ProjectID: c.ProjectID}
	creator := d.o.Members[d.actor]
	creatorEmail, creatorName := "", ""
	if creator != nil {
		creatorEmail, creatorName = creator.Email, creator.Name
	}
	if pre.CreatorRole != "" {
		evs = append(evs, &MemberAdded{Target: Target{ProjectID: c.ProjectID}, Principal: Principal{UserID: d.actor},
			Email: creatorEmail, Name: creatorName, Roles: []string{pre.CreatorRole}, Guest: creator == nil})
	}
	if pre.FirstTrack {
		spec := TrackSpec{}
		if c.Track != nil {
			spec = *c.Track
		}
		if spec.TrackID == "" {
			spec.TrackID = c.ProjectID + "-track-1"
		}
		if !ValidID(spec.TrackID) {
			return Outcome{}, invalidf("track.track_id %q must be 1-128 characters of A-Z a-z 0-9 _ -", spec.TrackID)
		}
		if err := d.uniqueTrackID(spec.TrackID); err != nil {
			return Outcome{}, err
		}
		if spec.Name == "" {
			spec.Name = spec.TrackID
		}
		evs = append(evs, &TrackCreated{ProjectID: c.ProjectID, TrackID: spec.TrackID, Name: spec.Name, Compute: spec.Compute, NotebookEnv: spec.NotebookEnv})
		if pre.TrackCreatorRole != "" {
			evs = append(evs, &MemberAdded{Target: Target{ProjectID: c.ProjectID, TrackID: spec.TrackID}, Principal: Principal{UserID: d.actor},
				Email: creatorEmail, Name: creatorName, Roles: []string{pre.TrackCreatorRole}, Guest: creator == nil})
		}
		result.TrackID = spec.TrackID
	}
	if creator != nil && !creator.ExpiresAt.IsZero() {
		// The creator's hold ends with their organization membership (cascadeRemoval): as its
		// only owner they would leave the project without one then (SPEC §2.2 at every instant).
		if err := d.guard(evs); err != nil {
			return Outcome{}, preconditionf("project %s needs a %s whose membership does not end, and %s's membership of organization %s ends at %s: "+
				"an %s without an end may create it, or the end may be lifted first (ExtendMembership without expires_at)",
				c.ProjectID, pre.OwnerRole, d.actor, d.o.ID, creator.ExpiresAt.UTC().Format(time.RFC3339), pre.OrgAdminRole)
		}
	}
	return Outcome{Events: evs, Result: result}, nil
}

func (d *decider) renameProject(c *RenameProject) (Outcome, error) {
	if err := checkIDs(map[string]string{"project_id": c.ProjectID}, nil); err != nil {
		return Outcome{}, err
	}
	if _, err := d.project(c.ProjectID, true); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdRenameProject, Scope{ProjectID: c.ProjectID}, true); err != nil {
		return Outcome{}, err
	}
	if _, err := d.project(c.ProjectID, false); err != nil {
		return Outcome{}, err
	}
	if strings.TrimSpace(c.Name) == "" {
		return Outcome{}, invalidf("name is required")
	}
	return one(&ProjectRenamed{ProjectID: c.ProjectID, Name: c.Name}), nil
}

func (d *decider) setProjectVisibility(c *SetProjectVisibility) (Outcome, error) {
	if err := checkIDs(map[string]string{"project_id": c.ProjectID}, nil); err != nil {
		return Outcome{}, err
	}
	if _, err := d.project(c.ProjectID, true); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdSetProjectVisibility, Scope{ProjectID: c.ProjectID}, true); err != nil {
		return Outcome{}, err
	}
	p, err := d.project(c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	if c.Visibility != Private && c.Visibility != Public {
		return Outcome{}, invalidf("visibility %q must be private or public", c.Visibility)
	}
	if p.Visibility == c.Visibility {
		return Outcome{}, conflictf("project %s is already %s", c.ProjectID, c.Visibility)
	}
	evs := []Event{&ProjectVisibilitySet{ProjectID: c.ProjectID, Visibility: c.Visibility}}
	if d.o.Kind == KindIndividual && c.Visibility == Private {
		// Neptune: "in case of individual organizations, you can invite collaborators to public
		// projects only". A project with collaborators stays public until they are removed (or
		// leave); its pending invitations are revoked, since a private project takes nobody.
		if who := d.o.collaborators(p); len(who) > 0 {
			return Outcome{}, preconditionf("project %s of individual organization %s has collaborators (%s); only public projects have them there: remove them first (RemoveMember)", p.ID, d.o.ID, strings.Join(who, ", "))
		}
		for _, id := range sortedKeys(d.o.Invitations) {
			if inv := d.o.Invitations[id]; inv.ProjectID == p.ID && inv.Status == InvitePending {
				evs = append(evs, &InvitationRevoked{InvitationID: id, ProjectID: inv.ProjectID, TrackID: inv.TrackID, Reason: "project_private"})
			}
		}
	}
	return Outcome{Events: evs}, nil
}

// collaborators lists, sorted, the project's members (project and tracks) who are not members of
// the organization: in an individual organization, the people its owner invited.
func (o *Org) collaborators(p *Project) []string {
	seen := map[string]bool{}
	add := func(mm map[string]*Membership) {
		for _, m := range mm {
			if m.GroupID != "" || o.Members[m.UserID] == nil {
				seen[describePrincipal(m.Principal)] = true
			}
		}
	}
	add(p.Members)
	for _, t := range p.Tracks {
		add(t.Members)
	}
	return sortedKeys(seen)
}

// projectCommand checks a project-level command's target and actor; archived projects
// are refused unless archivedOK, and the actor's right is checked as if the project were active.
func (d *decider) projectCommand(cmd, projectID string, archivedOK bool) (*Project, error) {
	if err := checkIDs(map[string]string{"project_id": projectID}, nil); err != nil {
		return nil, err
	}
	if _, err := d.project(projectID, true); err != nil {
		return nil, err
	}
	if err := d.authorize(cmd, Scope{ProjectID: projectID}, true); err != nil {
		return nil, err
	}
	return d.project(projectID, archivedOK)
}

func (d *decider) archive(c *ArchiveProject) (Outcome, error) {
	if _, err := d.projectCommand(CmdArchiveProject, c.ProjectID, false); err != nil {
		return Outcome{}, err
	}
	return one(&ProjectArchived{ProjectID: c.ProjectID}), nil
}

func (d *decider) unarchive(c *UnarchiveProject) (Outcome, error) {
	p, err := d.projectCommand(CmdUnarchiveProject, c.ProjectID, true)
	if err != nil {
		return Outcome{}, err
	}
	if p.Status != StatusArchived {
		return Outcome{}, preconditionf("project %s is not archived", c.ProjectID)
	}
	return one(&ProjectUnarchived{ProjectID: c.ProjectID}), nil
}

func (d *decider) deleteProject(c *DeleteProject) (Outcome, error) {
	if _, err := d.projectCommand(CmdDeleteProject, c.ProjectID, true); err != nil {
		return Outcome{}, err
	}
	return one(&ProjectDeleted{ProjectID: c.ProjectID}), nil
}

func (d *decider) transferOwnership(c *TransferProjectOwnership) (Outcome, error) {
	pre := d.o.preset
	if pre.OwnerRole == "" {
		return Outcome{}, invalidf("preset %s has no project owner role", pre.ID)
	}
	if err := checkIDs(map[string]string{"new_owner": c.NewOwner}, nil); err != nil {
		return Outcome{}, err
	}
	p, err := d.projectCommand(CmdTransferProjectOwnership, c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	if _, member := d.o.Members[c.NewOwner]; !member && d.o.Kind == KindTeam {
		return Outcome{}, preconditionf("user %s is not a member of organization %s; ownership goes only to organization members", c.NewOwner, d.o.ID)
	}
	if _, member := d.o.Members[c.NewOwner]; !member && d.o.Kind == KindIndividual {
		// SPEC §2.4: others reach an individual organization's projects only by invitation, only
		// to public projects; a transfer is no way around it.
		if _, collaborator := p.Members[Principal{UserID: c.NewOwner}.Key()]; !collaborator || p.Visibility != Public {
			return Outcome{}, preconditionf("user %s is not a collaborator of project %s in individual organization %s; others join only public projects, by invitation: invite them first", c.NewOwner, p.ID, d.o.ID)
		}
	}
	prevRoles := pre.TransferRoles
	if len(c.PreviousOwnerRoles) > 0 {
		if prevRoles, err = d.resolveRoles(c.PreviousOwnerRoles, ScopeProject, c.ProjectID); err != nil {
			return Outcome{}, err
		}
	}
	target := Target{ProjectID: p.ID}
	newKey := Principal{UserID: c.NewOwner}.Key()
	var evs []Event
	if m, ok := p.Members[newKey]; ok {
		if slices.Contains(m.Roles, pre.OwnerRole) {
			return Outcome{}, conflictf("user %s already owns project %s", c.NewOwner, p.ID)
		}
		roles := append(withoutCategoryOf(d.o, m.Roles, pre.OwnerRole), pre.OwnerRole)
		if m.PartnerID != "" {
			// A labeling company's member holds only the partner roles (SPEC §2.10).
			if err := d.partnerRolesOnly(p, m.PartnerID, roles); err != nil {
				return Outcome{}, err
			}
		}
		evs = append(evs, &RoleChanged{Target: target, Principal: m.Principal, Roles: roles, PreviousRoles: slices.Clone(m.Roles)})
	} else {
		om := d.o.Members[c.NewOwner]
		email, name := "", ""
		if om != nil {
			email, name = om.Email, om.Name
		}
		evs = append(evs, &MemberAdded{Target: target, Principal: Principal{UserID: c.NewOwner}, Email: email, Name: name, Roles: []string{pre.OwnerRole}, Guest: om == nil})
	}
	for _, key := range sortedKeys(p.Members) {
		m := p.Members[key]
		if key == newKey || m.UserID == "" || !slices.Contains(m.Roles, pre.OwnerRole) {
			continue
		}
		if !pre.SingleOwner && !(len(c.PreviousOwnerRoles) > 0 && m.UserID == d.actor) {
			continue
		}
		roles := slices.DeleteFunc(slices.Clone(m.Roles), func(r string) bool { return r == pre.OwnerRole })
		for _, r := range prevRoles {
			if !slices.Contains(roles, r) {
				roles = append(withoutCategoryOf(d.o, roles, r), r)
			}
		}
		if len(roles) == 0 && len(m.Grants) == 0 {
			evs = append(evs, &MemberRemoved{Target: target, Principal: m.Principal, Reason: "ownership_transferred"})
		} else {
			evs = append(evs, &RoleChanged{Target: target, Principal: m.Principal, Roles: roles, PreviousRoles: slices.Clone(m.Roles)})
		}
	}
	if err := d.checkProjectRoleLimits(evs, []string{c.NewOwner}, nil); err != nil {
		return Outcome{}, err
	}
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}
