package domain

// Track room: CreateTrack, ConfigureTrack.

func (d *decider) createTrack(c *CreateTrack) (Outcome, error) {
	if !d.o.preset.Tracks {
		return Outcome{}, invalidf("preset %s has no tracks", d.o.PresetID)
	}
	if err := checkIDs(map[string]string{"track_id": c.TrackID}, nil); err != nil {
		return Outcome{}, err
	}
	if _, err := d.projectCommand(CmdCreateTrack, c.ProjectID, false); err != nil {
		return Outcome{}, err
	}
	if err := d.uniqueTrackID(c.TrackID); err != nil {
		return Outcome{}, err
	}
	name := c.Name
	if name == "" {
		name = c.TrackID
	}
	evs := []Event{&TrackCreated{ProjectID: c.ProjectID, TrackID: c.TrackID, Name: name, Compute: c.Compute, NotebookEnv: c.NotebookEnv}}
	if r := d.o.preset.TrackCreatorRole; r != "" {
		om := d.o.Members[d.actor]
		ev := &MemberAdded{Target: Target{ProjectID: c.ProjectID, TrackID: c.TrackID}, Principal: Principal{UserID: d.actor}, Roles: []string{r}, Guest: om == nil}
		if om != nil {
			ev.Email, ev.Name = om.Email, om.Name
		}
		evs = append(evs, ev)
	}
	return Outcome{Events: evs, Result: CreateTrackResult{TrackID: c.TrackID}}, nil
}

func (d *decider) configureTrack(c *ConfigureTrack) (Outcome, error) {
	if err := checkIDs(map[string]string{"track_id": c.TrackID}, nil); err != nil {
		return Outcome{}, err
	}
	p, err := d.projectCommand(CmdConfigureTrack, c.ProjectID, false)
	if err != nil {
		return Outcome{}, err
	}
	t, ok := p.Tracks[c.TrackID]
	if !ok {
		return Outcome{}, notFoundf("track %s not found in project %s", c.TrackID, c.ProjectID)
	}
	ev := &TrackConfigured{ProjectID: c.ProjectID, TrackID: c.TrackID, Name: firstNonEmpty(c.Name, t.Name),
		Compute: firstNonEmpty(c.Compute, t.Compute), NotebookEnv: firstNonEmpty(c.NotebookEnv, t.NotebookEnv)}
	if ev.Name == t.Name && ev.Compute == t.Compute && ev.NotebookEnv == t.NotebookEnv {
		return Outcome{}, conflictf("track %s already has this configuration", c.TrackID)
	}
	return one(ev), nil
}
