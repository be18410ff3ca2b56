package projections

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"roster/domain"
)

// items lists an index's (scope, token, key) entries, for comparing two indexes.
func (x *OrgMemberIndex) items() []string {
	var out []string
	for s, si := range x.scopes {
		si.items.Ascend(func(it memberItem) bool {
			out = append(out, fmt.Sprintf("%s/%s %q %q", s.ProjectID, s.TrackID, it.tok, it.key))
			return true
		})
	}
	slices.Sort(out)
	return out
}

// TestMemberIndexIncrementalEqualsRebuilt folds a random history of membership and invitation
// events and checks, after every event, that the index kept incrementally holds exactly the
// entries of one built from the state.
func TestMemberIndexIncrementalEqualsRebuilt(t *testing.T) {
	presets := domain.MustLoadPresets()
	o := domain.NewOrg("acme", presets)
	ev := domain.Event(&domain.OrganizationCreated{Name: "Acme", Kind: domain.KindTeam, Preset: "neptune", AdminID: "ana",
		AdminEmail: "ana@acme.test", AdminName: "Ana Admin", AdminRole: presets["neptune"].OrgAdminRole})
	domain.Evolve(o, ev)
	x := buildOrgMemberIndex(o)
	rng := rand.New(rand.NewPCG(13, 13))
	users := []string{"bob", "cy", "dee", "eve"}
	scopes := []domain.Target{{ProjectID: "p1"}, {ProjectID: "p1", TrackID: "t1"}, {ProjectID: "p2"}}
	domain.Evolve(o, &domain.ProjectCreated{ProjectID: "p1", Name: "P1"})
	domain.Evolve(o, &domain.ProjectCreated{ProjectID: "p2", Name: "P2"})
	domain.Evolve(o, &domain.TrackCreated{ProjectID: "p1", TrackID: "t1", Name: "T1"})
	invitations := 0
	for i := range 400 {
		u := users[rng.IntN(len(users))]
		tg := scopes[rng.IntN(len(scopes))]
		p := domain.Principal{UserID: u}
		if rng.IntN(4) == 0 {
			p = domain.Principal{GroupID: "g1"}
		}
		inv := fmt.Sprintf("inv%d", rng.IntN(invitations+1))
		switch rng.IntN(11) {
		case 0:
			ev = &domain.OrgMemberAdded{UserID: u, Email: u + "@acme.test", Name: fmt.Sprintf("Name %d", i), Role: "member"}
		case 1:
			ev = &domain.OrgRoleChanged{UserID: u, Role: "admin"}
		case 2:
			ev = &domain.OrgMemberRemoved{UserID: u}
		case 3:
			ev = &domain.MemberAdded{Target: tg, Principal: p, Name: "N" + u, Roles: []string{"viewer"}, PartnerID: "pa"}
		case 4:
			ev = &domain.RoleChanged{Target: tg, Principal: p, Roles: []string{"editor", "viewer"}}
		case 5:
			ev = &domain.MemberRemoved{Target: tg, Principal: p}
		case 6:
			invitations++
			inv = fmt.Sprintf("inv%d", invitations)
			ev = &domain.InvitationCreated{InvitationID: inv, ProjectID: tg.ProjectID, TrackID: tg.TrackID, UserID: u, Roles: []string{"viewer"}}
		case 7:
			ev = &domain.InvitationAccepted{InvitationID: inv, UserID: u}
		case 8:
			ev = &domain.InvitationRevoked{InvitationID: inv}
		case 9:
			ev = &domain.InvitationExpired{InvitationID: inv}
		case 10:
			ev = &domain.MembershipExpired{MembershipRef: domain.MembershipRef{Scope: domain.ScopeProject, ProjectID: tg.ProjectID,
				TrackID: tg.TrackID, UserID: p.UserID, GroupID: p.GroupID}}
			if tg.TrackID != "" {
				ev.(*domain.MembershipExpired).Scope = domain.ScopeTrack
			}
		}
		domain.Evolve(o, ev)
		x.apply(o, ev)
		if got, want := x.items(), buildOrgMemberIndex(o).items(); !slices.Equal(got, want) {
			t.Fatalf("after event %d (%T %+v):\n  incremental %v\n  rebuilt     %v", i, ev, ev, got, want)
		}
	}
}

func TestSearchWords(t *testing.T) {
	got := SearchWords("  Amy.Lee@DL.example ")
	want := []string{"amy.lee@dl.example", "amy", "lee", "dl", "example"}
	if !slices.Equal(got, want) {
		t.Fatalf("SearchWords = %v, want %v", got, want)
	}
	for q, ok := range map[string]bool{"amy.l": true, "lee": true, "dl.ex": false, "exam": true, "my": false} {
		if MatchesWordPrefix("Amy.Lee@DL.example", q) != ok {
			t.Errorf("MatchesWordPrefix(%q) = %v, want %v", q, !ok, ok)
		}
	}
}
