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

// BenchmarkImportMembers measures a 10,000-row ImportMembers into a new organization in
// process, on the memory store: the decision, the events' encoding and the append. It is the
// work one import puts on the cores while other organizations' commands wait for them.
func BenchmarkImportMembers(b *testing.B) {
	svc, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: eventstore.NewMemory()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		org := fmt.Sprintf("o%d", i)
		for _, c := range []struct{ name, body string }{
			{"CreateOrganization", `{"org_id":"` + org + `","kind":"team","preset":"ica","actor":"tina","actor_email":"tina@x.test","name":"Acme"}`},
			{"CreateProject", `{"org_id":"` + org + `","actor":"tina","project_id":"p","name":"P"}`},
		} {
			if reply, code := svc.Execute(ctx, c.name, []byte(c.body)); code != "" {
				b.Fatalf("%s: %s %s", c.name, code, reply)
			}
		}
		var csv strings.Builder
		csv.WriteString("email,user_id,name,roles,grants\n")
		for j := range commands.MaxImportRows {
			fmt.Fprintf(&csv, "%sguest%d@example.test,,Guest %d,project_viewer,\n", org, j, j)
		}
		body, err := json.Marshal(map[string]any{"org_id": org, "actor": "tina", "project_id": "p", "csv": csv.String(), "command_id": "import-" + org})
		if err != nil {
			b.Fatal(err)
		}
		if reply, code := svc.Execute(ctx, "ImportMembers", body); code != "" {
			b.Fatalf("import: %s %s", code, reply)
		}
	}
}

// BenchmarkImportMembersIntoLargeOrganization measures a 10,000-row ImportMembers into an
// organization that already holds 50,000 pending invitations: what an import costs beyond its
// rows (the copy of the state its rows are decided on).
func BenchmarkImportMembersIntoLargeOrganization(b *testing.B) {
	svc, err := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: eventstore.NewMemory()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	execute := func(name string, body []byte) {
		if reply, code := svc.Execute(ctx, name, body); code != "" {
			b.Fatalf("%s: %s %.200s", name, code, reply)
		}
	}
	execute("CreateOrganization", []byte(`{"org_id":"big","kind":"team","preset":"ica","actor":"tina","actor_email":"tina@x.test","name":"Big"}`))
	execute("CreateProject", []byte(`{"org_id":"big","actor":"tina","project_id":"p","name":"P"}`))
	imports := 0
	importRows := func() {
		var csv strings.Builder
		csv.WriteString("email,user_id,name,roles,grants\n")
		for j := range commands.MaxImportRows {
			fmt.Fprintf(&csv, "g%d-%d@example.test,,Guest,project_viewer,\n", imports, j)
		}
		body, err := json.Marshal(map[string]any{"org_id": "big", "actor": "tina", "project_id": "p", "csv": csv.String(), "command_id": fmt.Sprint("import-", imports)})
		if err != nil {
			b.Fatal(err)
		}
		imports++
		execute("ImportMembers", body)
	}
	for range 5 {
		importRows()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		importRows()
	}
}
