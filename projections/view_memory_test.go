package projections

import (
	"context"
	"fmt"
	"testing"

	"roster/domain"
)

// A view keeps the member index of the organizations whose members were listed only: a new
// organization gets none until it is asked for (the indexes of every organization took more
// memory than their states at rosterbench's default load), and the index then built answers
// like one kept from the start.
func TestMemberIndexOnlyForListedOrganizations(t *testing.T) {
	ctx := context.Background()
	presets, store, run := commandLog(t)
	v := NewView("members", presets, nil, nil)
	v.EnableMemberIndex()
	for _, org := range []string{"acme", "globex"} {
		run("CreateOrganization", fmt.Sprintf(`{"org_id":%q,"kind":"team","preset":"neptune","actor":"ana"}`, org))
		for i := range 20 {
			run("AddOrgMember", fmt.Sprintf(`{"org_id":%q,"actor":"ana","user_id":"u%d","name":"User %d"}`, org, i, i))
		}
	}
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	if n := len(v.members); n != 0 {
		t.Fatalf("%d member indexes before any was asked for", n)
	}
	var listed *OrgMemberIndex
	if err := v.Read("acme", func(*domain.Org, uint64) error { listed = v.MemberIndex("acme"); return nil }); err != nil {
		t.Fatal(err)
	}
	if listed == nil {
		t.Fatal("no member index for acme when asked")
	}
	run("AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"late","name":"Late Comer"}`)
	run("AddOrgMember", `{"org_id":"globex","actor":"ana","user_id":"late","name":"Late Comer"}`)
	if err := v.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.members["globex"]; ok || len(v.members) != 1 {
		t.Fatalf("member indexes of %d organizations (globex: %v); only acme was listed", len(v.members), ok)
	}
	if err := v.Read("acme", func(o *domain.Org, _ uint64) error {
		if got, want := listed.items(), buildOrgMemberIndex(o).items(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("the kept index differs from one built now:\n%v\n%v", got, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
