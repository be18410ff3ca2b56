package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

func BenchmarkImportDecide(b *testing.B) {
	store := eventstore.NewMemory()
	svc, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		org := fmt.Sprintf("o%d", i)
		svc.Execute(ctx, "CreateOrganization", []byte(`{"org_id":"`+org+`","kind":"team","preset":"ica","actor":"tina","actor_email":"tina@x.test","name":"Acme"}`))
		svc.Execute(ctx, "CreateProject", []byte(`{"org_id":"`+org+`","actor":"tina","project_id":"p","name":"P"}`))
		var csv strings.Builder
		csv.WriteString("email,user_id,name,roles,grants\n")
		for j := range commands.MaxImportRows {
			fmt.Fprintf(&csv, "%sguest%d@example.test,,Guest %d,project_viewer,\n", org, j, j)
		}
		body, _ := json.Marshal(map[string]any{"org_id": org, "actor": "tina", "project_id": "p", "csv": csv.String(), "command_id": "imp" + org})
		if _, code := svc.Execute(ctx, "ImportMembers", body); code != "" {
			b.Fatal(code)
		}
	}
}
