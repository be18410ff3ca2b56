package commands

import (
	"encoding/json"
	"strings"
	"testing"
)

// peekOrg finds the top-level org_id wherever it stands, and only there.
func TestPeekOrg(t *testing.T) {
	long := strings.Repeat("x", 20_000)
	for _, c := range []struct {
		body, want string
		ok         bool
	}{
		{`{"org_id":"acme","actor":"a"}`, "acme", true},
		{` { "actor" : "a" , "org_id" : "acme" } `, "acme", true},
		{`{"csv":"` + long + `","org_id":"acme"}`, "acme", true},
		{`{"nested":{"org_id":"victim","a":[1,{"org_id":"v2"}]},"org_id":"acme"}`, "acme", true},
		{`{"csv":"\"org_id\":\"victim\"","org_id":"acme"}`, "acme", true},
		{`{"n":12.5e3,"t":true,"z":null,"a":[],"o":{},"org_id":"acme"}`, "acme", true},
		{`{"nested":{"org_id":"victim"}}`, "", false},
		{`{"org\u005fid":"victim"}`, "", false},
		{`{"org_id":"vic\u0074im"}`, "", false},
		{`{"org_id":7}`, "", false},
		{`{"org_id":"not valid!"}`, "", false},
		{`["org_id","acme"]`, "", false},
		{`{"csv":"unterminated`, "", false},
		{`{"ORG_ID":"victim"}`, "", false},
	} {
		got, ok := peekOrg([]byte(c.body))
		if got != c.want || ok != c.ok {
			t.Errorf("%.60q: %q %v, want %q %v", c.body, got, ok, c.want, c.ok)
		}
	}
}

// Whatever peekOrg finds in a body that decodes is the body's own org_id.
func FuzzPeekOrgAgreesWithJSON(f *testing.F) {
	for _, s := range []string{`{"org_id":"acme"}`, `{"a":{"org_id":"x"},"org_id":"y"}`, `{"a":"\\\"","org_id":"z"}`, `{"a":[{"b":"]"}],"org_id":"w"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, ok := peekOrg([]byte(body))
		if !ok {
			return
		}
		var v struct {
			OrgID *string `json:"org_id"`
		}
		dec := json.NewDecoder(strings.NewReader(body))
		if dec.Decode(&v) != nil || v.OrgID == nil {
			return
		}
		// encoding/json takes the last of duplicate keys and matches keys without case; the strict
		// decoder refuses both, so only a body with one exact org_id key must agree.
		if strings.Count(strings.ToLower(body), `"org_id"`) == 1 && *v.OrgID != got {
			t.Fatalf("%q: peek %q, decoded %q", body, got, *v.OrgID)
		}
	})
}
