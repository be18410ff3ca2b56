package domain

import (
	"slices"
	"testing"
)

// Dataloop (002) on labeling companies: "They cannot view and are not aware of any other users
// to the project."
func TestCompanyOfScopesLabelingCompanyMembers(t *testing.T) {
	s := given(t,
		&OrganizationCreated{Name: "A", Kind: "team", Preset: "dataloop", AdminID: "olga"},
		&ProjectCreated{ProjectID: "p1", Name: "Cars", Visibility: "private", CreatedBy: "olga"},
		&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "dave"}, Roles: []string{"developer"}},
		&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "lead"}, Roles: []string{"annotation_manager"}, PartnerID: "labelco"},
		&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "ann"}, Roles: []string{"annotator"}, PartnerID: "labelco"},
		&MemberAdded{Target: Target{ProjectID: "p1"}, Principal: Principal{UserID: "oz"}, Roles: []string{"annotator"}, PartnerID: "otherco"},
	)
	o := s.org
	for _, c := range []struct{ user, project, want string }{
		{"lead", "p1", "labelco"}, {"oz", "p1", "otherco"}, {"dave", "p1", ""}, {"olga", "p1", ""},
		{"lead", "", "labelco"}, {"olga", "", ""}, {"", "p1", ""}, {"lead", "nope", ""},
	} {
		if got := o.CompanyOf(c.user, c.project); got != c.want {
			t.Fatalf("CompanyOf(%q, %q) = %q, want %q", c.user, c.project, got, c.want)
		}
	}
	all := []string{"ann", "dave", "lead", "olga", "oz"}
	if got := o.AwareOf("labelco", all, "p1"); !slices.Equal(got, []string{"ann", "lead"}) {
		t.Fatalf("labelco is aware of %v", got)
	}
	if got := o.AwareOf("", all, "p1"); !slices.Equal(got, all) {
		t.Fatalf("an unscoped viewer is aware of %v", got)
	}
}
