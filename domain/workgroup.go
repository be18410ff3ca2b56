package domain

// Workgroup room: CreateWorkgroup, AddWorkgroupMember, RemoveWorkgroupMember.

func (d *decider) createWorkgroup(c *CreateWorkgroup) (Outcome, error) {
	if err := checkIDs(map[string]string{"group_id": c.GroupID}, nil); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdCreateWorkgroup, Scope{}, false); err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Workgroups[c.GroupID]; ok {
		return Outcome{}, conflictf("workgroup %s already exists in organization %s", c.GroupID, d.o.ID)
	}
	name := c.Name
	if name == "" {
		name = c.GroupID
	}
	return Outcome{Events: []Event{&WorkgroupCreated{GroupID: c.GroupID, Name: name}}, Result: CreateWorkgroupResult{GroupID: c.GroupID}}, nil
}

func (d *decider) workgroupMember(cmd, groupID, userID string) (*Workgroup, error) {
	if err := checkIDs(map[string]string{"group_id": groupID, "user_id": userID}, nil); err != nil {
		return nil, err
	}
	if err := d.authorize(cmd, Scope{}, false); err != nil {
		return nil, err
	}
	g, ok := d.o.Workgroups[groupID]
	if !ok {
		return nil, notFoundf("workgroup %s not found in organization %s", groupID, d.o.ID)
	}
	return g, nil
}

func (d *decider) addWorkgroupMember(c *AddWorkgroupMember) (Outcome, error) {
	g, err := d.workgroupMember(CmdAddWorkgroupMember, c.GroupID, c.UserID)
	if err != nil {
		return Outcome{}, err
	}
	if _, ok := d.o.Members[c.UserID]; !ok {
		return Outcome{}, preconditionf("user %s is not a member of organization %s; add them to the organization first", c.UserID, d.o.ID)
	}
	if g.Members[c.UserID] {
		return Outcome{}, conflictf("user %s is already in workgroup %s", c.UserID, c.GroupID)
	}
	end, err := d.expiresAt(c.ExpiresAt)
	if err != nil {
		return Outcome{}, err
	}
	evs := []Event{&WorkgroupMemberAdded{GroupID: c.GroupID, UserID: c.UserID, ExpiresAt: end}}
	if err := d.checkProjectRoleLimits(evs, []string{c.UserID}, nil); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}

func (d *decider) removeWorkgroupMember(c *RemoveWorkgroupMember) (Outcome, error) {
	g, err := d.workgroupMember(CmdRemoveWorkgroupMember, c.GroupID, c.UserID)
	if err != nil {
		return Outcome{}, err
	}
	if !g.Members[c.UserID] {
		return Outcome{}, notFoundf("user %s is not in workgroup %s", c.UserID, c.GroupID)
	}
	evs := []Event{&WorkgroupMemberRemoved{GroupID: c.GroupID, UserID: c.UserID}}
	if err := d.guard(evs); err != nil {
		return Outcome{}, err
	}
	return Outcome{Events: evs}, nil
}
