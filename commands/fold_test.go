package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

// A stream whose records are out of the order a log can hold them in (a damaged data dir:
// an organization's event before its creation, or a second creation) is refused as damage
// when it is loaded, never folded: folding a member into an organization that was never
// created stopped the process.
func TestLoadOrgRefusesAStreamOutOfOrder(t *testing.T) {
	ctx := context.Background()
	record := func(ev domain.Event) eventstore.Record {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return eventstore.Record{ID: commands.NewUUIDv7(), Type: ev.EventType(), OrgID: "acme", Actor: "ana", Data: data}
	}
	created := &domain.OrganizationCreated{Name: "Acme", Kind: "team", Preset: "ica", AdminID: "ana", AdminRole: "org_admin"}
	member := &domain.OrgMemberAdded{UserID: "bob", Role: "org_member"}
	for name, evs := range map[string][]domain.Event{
		"an event before the creation": {member},
		"a second creation":            {created, member, created},
	} {
		t.Run(name, func(t *testing.T) {
			store := eventstore.NewMemory()
			recs := make([]eventstore.Record, len(evs))
			for i, ev := range evs {
				recs[i] = record(ev)
			}
			if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: commands.StreamOf("acme"), Events: recs}); err != nil {
				t.Fatal(err)
			}
			_, err := commands.LoadOrg(ctx, store, domain.MustLoadPresets(), "acme")
			if !errors.Is(err, eventstore.ErrCorruptLog) {
				t.Fatalf("load: %v; want ErrCorruptLog", err)
			}
		})
	}
	store := eventstore.NewMemory()
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: commands.StreamOf("acme"),
		Events: []eventstore.Record{record(created), record(member)}}); err != nil {
		t.Fatal(err)
	}
	if st, err := commands.LoadOrg(ctx, store, domain.MustLoadPresets(), "acme"); err != nil || st.Members["bob"] == nil {
		t.Fatalf("load of a whole stream: %v, members %v", err, st)
	}
}
