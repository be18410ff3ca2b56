package domain

import (
	"fmt"
	"testing"
)

// benchOrg is a Neptune organization with 500 members, 20 workgroups and 20 projects of 25 members.
func benchOrg(b *testing.B) *Org {
	b.Helper()
	o := NewOrg("acme", MustLoadPresets())
	Evolve(o, orgCreatedEv("neptune", KindTeam, "ana"))
	for i := range 500 {
		Evolve(o, orgMemberEv(fmt.Sprintf("u%d", i), "member"))
	}
	for g := range 20 {
		Evolve(o, workgroupEv(fmt.Sprintf("g%d", g)))
		for i := range 10 {
			Evolve(o, inGroupEv(fmt.Sprintf("g%d", g), fmt.Sprintf("u%d", g*25+i)))
		}
	}
	for p := range 20 {
		pid := fmt.Sprintf("p%d", p)
		Evolve(o, projectEv(pid, "ana"))
		for i := range 25 {
			Evolve(o, memberEv(pid, fmt.Sprintf("u%d", p*25+i), "contributor"))
		}
		Evolve(o, groupOnProjectEv(pid, fmt.Sprintf("g%d", p), "viewer"))
	}
	return o
}

func BenchmarkCheck(b *testing.B) {
	o := benchOrg(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		d, err := o.Check(fmt.Sprintf("u%d", i%500), "project.content.edit", Scope{ProjectID: "p3"}, nil)
		if err != nil || d.Decision == "" {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecideChangeRole(b *testing.B) {
	o := benchOrg(b)
	env := Env{Now: kitNow, NewID: func() string { return "x" }}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		roles := []string{"viewer"}
		if i%2 == 0 {
			roles = []string{"owner"}
		}
		cmd := &ChangeRole{Meta: Meta{OrgID: "acme", Actor: "ana"}, MemberRef: MemberRef{ProjectID: "p3", UserID: "u80"}, Roles: roles}
		if _, err := Decide(o, cmd, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecideAddMember(b *testing.B) {
	o := benchOrg(b)
	env := Env{Now: kitNow, NewID: func() string { return "x" }}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		cmd := &AddMember{Meta: Meta{OrgID: "acme", Actor: "ana"}, MemberRef: MemberRef{ProjectID: "p3", UserID: fmt.Sprintf("u%d", 200+i%300)}, Roles: []string{"viewer"}}
		if _, err := Decide(o, cmd, env); err != nil {
			b.Fatal(err)
		}
	}
}
