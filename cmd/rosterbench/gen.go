package main

import (
	"encoding/json"
	"fmt"
	"time"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

// generator turns organization plans into the log records the service would append, by
// deciding each command in process (the same domain code the service runs), without NATS.
type generator struct {
	presets domain.Presets
	now     time.Time
}

func newGenerator() (*generator, error) {
	presets, err := domain.LoadPresets()
	if err != nil {
		return nil, err
	}
	return &generator{presets: presets, now: time.Now().UTC()}, nil
}

// records decides every command of the plan against a fresh organization state and returns
// the records of the events, in stream order (positions and versions unset).
func (g *generator) records(p *orgPlan) ([]eventstore.Record, error) {
	o := domain.NewOrg(p.ID, g.presets)
	env := domain.Env{Now: g.now, InviteTTL: domain.DefaultInviteTTL, NewID: commands.NewUUIDv7}
	stream := commands.StreamOf(p.ID)
	out := make([]eventstore.Record, 0, len(p.Cmds)+len(p.Cmds)/8)
	for _, c := range p.Cmds {
		dc, ok := domain.NewCommand(c.Name)
		if !ok {
			return nil, fmt.Errorf("unknown command %s", c.Name)
		}
		raw, err := json.Marshal(c.Body)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, dc); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		res, err := domain.Decide(o, dc, env)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", p.ID, c.Name, err)
		}
		meta := dc.CommandMeta()
		for _, ev := range res.Events {
			data, err := json.Marshal(ev)
			if err != nil {
				return nil, err
			}
			out = append(out, eventstore.Record{ID: commands.NewUUIDv7(), Stream: stream, Type: ev.EventType(), Time: g.now,
				OrgID: p.ID, Actor: meta.Actor, CommandID: meta.CommandID, CorrelationID: meta.CommandID, Data: data})
			domain.Evolve(o, ev)
		}
	}
	return out, nil
}
