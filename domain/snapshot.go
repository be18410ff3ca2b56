package domain

// Attach reconnects a decoded state (a view's snapshot) with the preset catalogue.
func (o *Org) Attach(presets Presets) {
	o.presets = presets
	if o.PresetID != "" {
		o.preset = presets[o.PresetID]
	}
}
