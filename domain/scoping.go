package domain

// Which users a viewer is aware of (SPEC §7, issue 9). Dataloop (002) on labeling companies:
// "They cannot view and are not aware of any other users to the project." A member who came
// into a project through a partner (labeling company) sees, in the query answers that list
// people, only the people of that same company.

// CompanyOf returns the partner (labeling company) the user belongs to at the project: the
// partner of their membership on the project or on one of its tracks, "" when they are there
// for the organization itself. Without a project (organization-wide answers) it is "" for an
// organization member and otherwise the partner of the user's first partner membership, by
// project id: a person who only reaches the organization through a company is scoped to it.
func (o *Org) CompanyOf(userID, projectID string) string {
	if userID == "" || !o.Exists() {
		return ""
	}
	key := Principal{UserID: userID}.Key()
	inProject := func(p *Project) string {
		if m, ok := p.Members[key]; ok && m.PartnerID != "" {
			return m.PartnerID
		}
		for _, tid := range sortedKeys(p.Tracks) {
			if m, ok := p.Tracks[tid].Members[key]; ok && m.PartnerID != "" {
				return m.PartnerID
			}
		}
		return ""
	}
	if projectID != "" {
		p, ok := o.Projects[projectID]
		if !ok {
			return ""
		}
		return inProject(p)
	}
	if _, ok := o.Members[userID]; ok {
		return ""
	}
	for _, pid := range sortedKeys(o.Projects) {
		if c := inProject(o.Projects[pid]); c != "" {
			return c
		}
	}
	return ""
}

// Aware reports whether a viewer of company (from CompanyOf; "" is not scoped) may see the
// user in an answer about the project ("" for the organization): always when the viewer is not
// scoped, otherwise only a user of the same company there.
func (o *Org) Aware(company, userID, projectID string) bool {
	return company == "" || o.CompanyOf(userID, projectID) == company
}

// AwareOf keeps, in order, the users a viewer of company may see at the project.
func (o *Org) AwareOf(company string, users []string, projectID string) []string {
	if company == "" {
		return users
	}
	out := []string{}
	for _, u := range users {
		if o.Aware(company, u, projectID) {
			out = append(out, u)
		}
	}
	return out
}

// MaySee reports whether a viewer may see the people of the project ("" for the organization):
// an organization member, anyone with a membership in the project or one of its tracks (by
// invitation or through a labeling company), or anyone for a public project. A viewer with none
// of these (a stranger, or someone whose invitation is still pending) sees nobody.
func (o *Org) MaySee(viewer, projectID string) bool {
	if viewer == "" {
		return true
	}
	if _, ok := o.Members[viewer]; ok {
		return true
	}
	key := Principal{UserID: viewer}.Key()
	in := func(p *Project) bool {
		if _, ok := p.Members[key]; ok {
			return true
		}
		for _, t := range p.Tracks {
			if _, ok := t.Members[key]; ok {
				return true
			}
		}
		for _, gid := range o.userGroups[viewer] {
			if _, ok := p.Members[Principal{GroupID: gid}.Key()]; ok {
				return true
			}
		}
		return false
	}
	if projectID != "" {
		p, ok := o.Projects[projectID]
		return ok && (p.Visibility == Public || in(p))
	}
	for _, p := range o.Projects {
		if in(p) {
			return true
		}
	}
	return false
}
