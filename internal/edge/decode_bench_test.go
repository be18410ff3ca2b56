package edge

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"roster/client"
)

// addMemberBody is a typical AddMember request.
var addMemberBody = []byte(`{"org_id":"acme","actor":"ana","command_id":"c-0192","project_id":"p1","user_id":"u42","roles":["annotator","reviewer"],"grants":["export"],"name":"Ana Lima","expires_at":"2030-01-01T00:00:00Z"}`)

// importBody is an ImportMembers request of 10,000 CSV rows (about 249 KB), the size the
// noisy-neighbour figure imports.
func importBody() []byte {
	var csv strings.Builder
	csv.WriteString("email,user_id,name,roles,grants\n")
	for i := range 10_000 {
		fmt.Fprintf(&csv, "%05d@a.t,,Zoë,viewer,\n", i)
	}
	body, err := json.Marshal(client.ImportMembers{Meta: client.Meta{OrgID: "acme", Actor: "ana"}, ProjectID: "p1", CSV: csv.String()})
	if err != nil {
		panic(err)
	}
	return body
}

// BenchmarkDecodeStrict measures the strict decoder on the write side's typical bodies, next to
// the decoder as it was before the single pass (decodeStrictBefore), so the two compare under
// the same load.
func BenchmarkDecodeStrict(b *testing.B) {
	imp := importBody()
	decoders := []struct {
		name   string
		decode func([]byte, any) error
	}{{"now", DecodeStrict}, {"before", decodeStrictBefore}}
	for _, d := range decoders {
		b.Run("AddMember/"+d.name, func(b *testing.B) {
			b.SetBytes(int64(len(addMemberBody)))
			b.ReportAllocs()
			for b.Loop() {
				var r client.AddMember
				if err := d.decode(addMemberBody, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, d := range decoders {
		b.Run(fmt.Sprintf("ImportMembers-%dKB/%s", len(imp)/1000, d.name), func(b *testing.B) {
			b.SetBytes(int64(len(imp)))
			b.ReportAllocs()
			for b.Loop() {
				var r client.ImportMembers
				if err := d.decode(imp, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
