package domain

// Import room: ImportMembers, row by row on a scratch copy of the state.

func (d *decider) importMembers(c *ImportMembers) (Outcome, error) {
	if _, err := d.target(c.ProjectID, c.TrackID); err != nil {
		return Outcome{}, err
	}
	if err := d.authorize(CmdImportMembers, Scope{ProjectID: c.ProjectID, TrackID: c.TrackID}, false); err != nil {
		return Outcome{}, err
	}
	rows, err := parseImportCSV(c.CSV)
	if err != nil {
		return Outcome{}, err
	}
	scratch := d.o.Clone()
	sd := decider{o: scratch, env: d.env, actor: d.actor}
	var evs []Event
	results := make([]ImportRow, 0, len(rows))
	for i, row := range rows {
		res := ImportRow{Row: i + 1}
		var rowEvs []Event
		var rerr error
		if row.userID != "" && row.email == "" || (row.userID != "" && scratch.Members[row.userID] != nil) {
			cmd := &AddMember{MemberRef: MemberRef{ProjectID: c.ProjectID, TrackID: c.TrackID, UserID: row.userID},
				Roles: row.roles, Grants: row.grants, Email: row.email, Name: row.name}
			var p *Project
			if p, rerr = sd.target(c.ProjectID, c.TrackID); rerr == nil {
				rowEvs, rerr = sd.addMembership(p, cmd)
			}
		} else {
			if sd.env.NewID == nil {
				return Outcome{}, invalidf("import needs an id generator for invitations")
			}
			inv := &InviteMember{ProjectID: c.ProjectID, TrackID: c.TrackID, Email: row.email, Name: row.name,
				Roles: row.roles, Grants: row.grants, InvitationID: sd.env.NewID()}
			if row.userID != "" {
				inv.Email, inv.UserID = "", row.userID
			}
			var ev *InvitationCreated
			if ev, rerr = sd.invitation(inv); rerr == nil {
				res.InvitationToken = sd.issueToken(ev)
				rowEvs = []Event{ev}
				res.InvitationID = ev.InvitationID
			}
		}
		if rerr != nil {
			res.Error, res.Code = rerr.Error(), string(CodeOf(rerr))
			res.InvitationID, res.InvitationToken = "", ""
		} else {
			res.OK = true
			for _, ev := range rowEvs {
				Evolve(scratch, ev)
			}
			evs = append(evs, rowEvs...)
		}
		results = append(results, res)
	}
	return Outcome{Events: evs, Result: ImportMembersResult{Rows: results}}, nil
}
