package commands

import (
	"slices"
	"testing"

	"roster/client"
	"roster/domain"
)

// Every command of the domain (but the internal ExpireInvites and ExpireMemberships) has a
// wire type in client, a decoder here, and the decoder yields the domain command of that name.
func TestEveryCommandHasADecoder(t *testing.T) {
	want := slices.DeleteFunc(domain.CommandNames(), domain.InternalCommand)
	if got := client.CommandNames(); !slices.Equal(got, want) {
		t.Fatalf("client.CommandNames() = %v, want the domain's public commands %v", got, want)
	}
	if len(decoders) != len(want) {
		t.Fatalf("%d decoders for %d commands", len(decoders), len(want))
	}
	for _, name := range want {
		decode, ok := decoders[name]
		if !ok {
			t.Errorf("%s has no decoder", name)
			continue
		}
		cmd, err := decode([]byte(`{"org_id":"acme","actor":"ann","command_id":"c1","dry_run":true}`))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if cmd.CommandName() != name {
			t.Errorf("decoder of %s yields %s", name, cmd.CommandName())
		}
		if m := cmd.CommandMeta(); m.OrgID != "acme" || m.Actor != "ann" || m.CommandID != "c1" || !m.DryRun {
			t.Errorf("%s: meta not carried over: %+v", name, *m)
		}
		if _, err := decode([]byte(`{"org_id":"acme","no_such_field":1}`)); err == nil {
			t.Errorf("%s accepts an unknown field", name)
		}
	}
}
