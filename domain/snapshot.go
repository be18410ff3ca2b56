package domain

import "slices"

// Attach reconnects a decoded state (a view's snapshot) with the preset catalogue.
func (o *Org) Attach(presets Presets) {
	o.presets = presets
	if o.PresetID != "" {
		o.usePreset(o.PresetID, o.PresetVersion, o.PresetDefinition)
	}
	o.userGroups = map[string][]string{}
	for id, g := range o.Workgroups {
		for u := range g.Members {
			o.userGroups[u] = append(o.userGroups[u], id)
		}
	}
	for _, gs := range o.userGroups {
		slices.Sort(gs)
	}
	o.rebuildExpiring()
}
