package commands_test

import (
	"context"
	"encoding/json"
	"testing"

	"roster/eventstore"
)

// An organization created without a name is named by its id.
func TestOrganizationWithoutANameIsNamedByItsID(t *testing.T) {
	svc, store := limitsService(t)
	if reply, code := svc.Execute(context.Background(), "CreateOrganization", []byte(`{"org_id":"nameless","kind":"team","preset":"neptune","actor":"ana"}`)); code != "" {
		t.Fatal(string(reply))
	}
	var name string
	if err := store.Scan(context.Background(), 1, func(r eventstore.Record) error {
		var d struct {
			Name string `json:"name"`
		}
		if r.Type == "OrganizationCreated" {
			_ = json.Unmarshal(r.Data, &d)
			name = d.Name
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if name != "nameless" {
		t.Fatalf("organization named %q, want its id", name)
	}
}
