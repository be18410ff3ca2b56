package daemon_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/commands"
)

// `nats micro stats roster` is answered to every account that imports $SRV.>: it carries the
// code of a refusal and the counts, never the refusal's message, which names another tenant's
// organization and users.
func TestMicroStatsCarryCodesNotMessages(t *testing.T) {
	r := newRig(t)
	r.ok(client.CmdCreateOrganization, obj{"org_id": "acme-secret-org", "kind": "team", "preset": "ica", "actor": "tina", "name": "A"})
	r.refused(client.CmdRemoveOrgMember, obj{"org_id": "acme-secret-org", "actor": "tina", "user_id": "ceo-jane-doe"}, client.CodeNotFound)
	subject, err := micro.ControlSubject(micro.StatsVerb, "roster", "")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := r.nc.Request(subject, nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"ceo-jane-doe", "acme-secret-org"} {
		if strings.Contains(string(msg.Data), secret) {
			t.Fatalf("stats name %q: %s", secret, msg.Data)
		}
	}
	var st micro.Stats
	if err := json.Unmarshal(msg.Data, &st); err != nil {
		t.Fatal(err)
	}
	for _, e := range st.Endpoints {
		if e.Name != "commands" {
			continue
		}
		var figures commands.Stats
		if err := json.Unmarshal(e.Data, &figures); err != nil {
			t.Fatalf("commands data %s: %v", e.Data, err)
		}
		if figures.Errors != 1 || figures.ErrorsByCode[client.CodeNotFound] != 1 || figures.LastError != client.CodeNotFound {
			t.Fatalf("commands figures %+v", figures)
		}
		return
	}
	t.Fatalf("no commands endpoint in %s", msg.Data)
}
