package domain

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGenerateEdgeCorpus writes checked-in FuzzDomainSequence inputs that reach the rules'
// edges: a walk is kept when one of its commands is refused (or accepted) at an edge —
// removing or demoting the last admin, the last owner, a category clash, a partner's limits,
// a command on an archived project. Run with ROSTER_GEN_CORPUS=1 to regenerate.
func TestGenerateEdgeCorpus(t *testing.T) {
	if os.Getenv("ROSTER_GEN_CORPUS") == "" {
		t.Skip("set ROSTER_GEN_CORPUS=1 to regenerate testdata/fuzz/FuzzDomainSequence/edge-*")
	}
	edges := map[string]string{
		"last-admin":    "would have no admin left",
		"last-tadmin":   "would have no tenant_admin left",
		"last-owner":    "would have no owner left",
		"single-owner":  "has one owner",
		"last-pm":       "would have no project_manager left",
		"category":      "a member holds at most one role per category",
		"partner-roles": "a partner's members may give only the roles",
		"partner-into":  "may add users only into it",
		"archived":      "is archived and read-only",
	}
	found := map[string]int{}
	failures := 0
	dir := filepath.Join("testdata", "fuzz", "FuzzDomainSequence")
	rng := rand.New(rand.NewPCG(14, 2))
	for try := 0; try < 40000 && len(found) < len(edges)*3; try++ {
		b := make([]byte, 40+rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[0] = byte(try % 12)
		log, failure := walkLog(t, b)
		if failure != "" {
			failures++
			if failures <= 3 {
				t.Logf("walk %d fails (not kept): %s\ninput %q", try, failure, b)
			}
			continue
		}
		for name, needle := range edges {
			if found[name] >= 3 || !strings.Contains(log, needle) {
				continue
			}
			found[name]++
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("edge-%s-%d", name, found[name])), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("edges reached: %v", found)
	for name := range edges {
		if found[name] == 0 {
			t.Logf("no walk reached %s", name)
		}
	}
}

type walkFailed string

// walkLog runs one FuzzDomainSequence walk and returns its step log, or what failed in it.
func walkLog(t *testing.T, data []byte) (log string, failure string) {
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(walkFailed)
			if !ok {
				panic(p)
			}
			failure = string(f)
		}
	}()
	r := &fz{b: data}
	ids := kitPresets.SortedIDs()
	preset := kitPresets[fzPick(r, ids)]
	kind := fzPick(r, preset.OrgKinds)
	s := &fzRun{t: t, o: NewOrg(fzOrg, kitPresets), replica: NewOrg(fzOrg, kitPresets), judge: newJudge(), soft: true}
	s.env = Env{Now: kitNow, NewID: s.newID}
	s.step(&CreateOrganization{Meta: Meta{OrgID: fzOrg, Actor: "u0"}, Name: "Fuzz", Kind: kind, Preset: preset.ID,
		ActorEmail: "u0@fz.test", ActorName: "U0"})
	s.baseline()
	for n := 0; n < fzMaxSteps && r.more(); n++ {
		cmd, advance := s.command(r)
		if advance {
			s.env.Now = s.env.Now.Add(3 * 24 * time.Hour)
			continue
		}
		s.step(cmd)
		s.probeReads(r)
	}
	return strings.Join(s.log, "\n"), ""
}
