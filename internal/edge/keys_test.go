package edge

import (
	"fmt"
	"strings"
	"testing"
)

type nestReq struct {
	OrgID   string         `json:"org_id"`
	Roles   []string       `json:"roles"`
	Context map[string]any `json:"context"`
	Track   *struct {
		Name string `json:"name"`
	} `json:"track"`
}

func nestedArrays(levels int) string {
	return `{"org_id":"a","context":{"x":` + strings.Repeat("[", levels) + strings.Repeat("]", levels) + `}}`
}

// MaxJSONDepth levels (the request object counting as one) decode; one more is refused
// naming the limit and where it was passed.
func TestDecodeStrictNestingLimit(t *testing.T) {
	var ok nestReq
	if err := DecodeStrict([]byte(nestedArrays(MaxJSONDepth-2)), &ok); err != nil {
		t.Fatalf("%d levels refused: %v", MaxJSONDepth, err)
	}
	var r nestReq
	err := DecodeStrict([]byte(nestedArrays(MaxJSONDepth-1)), &r)
	if err == nil {
		t.Fatalf("%d levels accepted", MaxJSONDepth+1)
	}
	want := fmt.Sprintf("more than %d levels deep (at \"context.x%s\"); the limit MaxJSONDepth is %d", MaxJSONDepth, strings.Repeat("[0]", MaxJSONDepth-2), MaxJSONDepth)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
}

// The paths named by key errors are built only when reported, and still read as before.
func TestDecodeStrictKeyErrorsNamePaths(t *testing.T) {
	cases := map[string]string{
		`{"org_id":"a","track":{"name":"x","name":"y"}}`:     `key "track.name" appears twice`,
		`{"org_id":"a","Track":{}}`:                          `key "Track" must be spelled "track"`,
		`{"org_id":"a","track":{"Name":"x"}}`:                `key "track.Name" must be spelled "track.name"`,
		`{"org_id":"a","context":{"l":[{"k":1,"k":2}]}}`:     `key "context.l[0].k" appears twice`,
		`{"org_id":"a","context":{"l":[1,2,{"k":1,"k":2}]}}`: `key "context.l[2].k" appears twice`,
		`{"org_id":"a","context":{"` + strings.Repeat("k", 5000) + `":1,"` + strings.Repeat("k", 5000) + `":2}}`: `key "context.kkk`,
	}
	for body, want := range cases {
		var r nestReq
		err := DecodeStrict([]byte(body), &r)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: error %v, want %q", body, err, want)
		}
		if err != nil && len(err.Error()) > 2*maxPathInError+200 {
			t.Errorf("%.60s: error is %d bytes; paths are not truncated", body, len(err.Error()))
		}
	}
}

// A body that is not UTF-8 is refused naming the first bad byte; U+FFFD written out in
// UTF-8 is valid input here (stored text refuses it elsewhere).
func TestDecodeStrictRefusesInvalidUTF8(t *testing.T) {
	var r nestReq
	err := DecodeStrict([]byte("{\"org_id\":\"a\xffb\"}"), &r)
	if err == nil || !strings.Contains(err.Error(), "not valid UTF-8") || !strings.Contains(err.Error(), "offset 12") {
		t.Fatalf("error %v", err)
	}
	if err := DecodeStrict([]byte("{\"org_id\":\"a\uFFFDb\"}"), &r); err != nil {
		t.Fatalf("encoded U+FFFD: %v", err)
	}
}

// BenchmarkDecodeDeepNesting shows a deeply nested body costs about what a flat one of the
// same size does, and grows linearly with size: refusing it stops at the 17th level, so
// time per op stays flat from 6 KB to 600 KB (the cost is then the scan for UTF-8), and
// the flat bodies grow linearly.
func BenchmarkDecodeDeepNesting(b *testing.B) {
	for _, levels := range []int{3_000, 30_000, 300_000} {
		deep := []byte(`{"org_id":"a","roles":` + strings.Repeat("[", levels) + strings.Repeat("]", levels) + `}`)
		b.Run(fmt.Sprintf("nested-%dKB", len(deep)/1000), func(b *testing.B) {
			b.SetBytes(int64(len(deep)))
			b.ReportAllocs()
			for b.Loop() {
				var r nestReq
				if err := DecodeStrict(deep, &r); err == nil {
					b.Fatal("accepted")
				}
			}
		})
		items := make([]string, levels/4)
		for i := range items {
			items[i] = `"r"`
		}
		flat := []byte(`{"org_id":"a","roles":[` + strings.Join(items, ",") + `]}`)
		b.Run(fmt.Sprintf("flat-%dKB", len(flat)/1000), func(b *testing.B) {
			b.SetBytes(int64(len(flat)))
			b.ReportAllocs()
			for b.Loop() {
				var r nestReq
				if err := DecodeStrict(flat, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
