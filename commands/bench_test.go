package commands_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

// BenchmarkExecuteParallel runs AddOrgMember commands on 64 organizations from many goroutines
// against the Badger log: decide, append with group commit, reply after fsync.
func BenchmarkExecuteParallel(b *testing.B) {
	store, err := eventstore.OpenBadger(b.TempDir(), eventstore.BadgerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	svc, _ := commands.New(commands.Config{Presets: domain.MustLoadPresets(), Store: store})
	ctx := context.Background()
	exec := func(name, body string) {
		if reply, code := svc.Execute(ctx, name, []byte(body)); code != "" {
			b.Fatalf("%s: %s", name, reply)
		}
	}
	const orgs = 64
	for o := range orgs {
		exec("CreateOrganization", fmt.Sprintf(`{"org_id":"o%d","kind":"team","preset":"dataloop","actor":"ana"}`, o))
		exec("CreateProject", fmt.Sprintf(`{"org_id":"o%d","actor":"ana","project_id":"p1"}`, o))
		for u := range 20 {
			exec("AddOrgMember", fmt.Sprintf(`{"org_id":"o%d","actor":"ana","user_id":"u%d"}`, o, u))
			exec("AddMember", fmt.Sprintf(`{"org_id":"o%d","actor":"ana","project_id":"p1","user_id":"u%d","roles":["annotator"]}`, o, u))
		}
	}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"org_id":"o%d","actor":"ana","user_id":"n%d","role":"member"}`, i%orgs, i)
			if reply, code := svc.Execute(ctx, "AddOrgMember", []byte(body)); code != "" {
				b.Fatalf("%s", reply)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
	appends, syncs := store.Stats()
	b.ReportMetric(float64(appends)/float64(max(syncs, 1)), "appends/sync")
}
