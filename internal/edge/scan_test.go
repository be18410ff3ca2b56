package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"roster/client"
)

// decodeStrictBefore is DecodeStrict as it was before the single pass (cleanRequest) was put
// in front of it: the UTF-8 check, the walk of checkKeys, then a Decoder refusing unknown
// fields. It is the reference the new decoder must agree with, error message for message.
func decodeStrictBefore(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errors.New("empty body; send a JSON object")
	}
	if trimmed[0] != '{' {
		return errNotObject
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("the request is not valid UTF-8 (first bad byte at offset %d); send UTF-8 JSON", firstInvalidUTF8(body))
	}
	if err := checkKeys(body, reflect.TypeOf(v)); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	// Decoder.More does not count a stray '}' or ']' as more: look at the bytes themselves.
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return errors.New("malformed JSON: trailing data after the object")
	}
	return nil
}

// Two embedded structs naming the same key at the same depth: encoding/json drops the key
// (it is unknown), while fieldsOf keeps it.
type conflictA struct {
	X string
}
type conflictB struct {
	X string
}
type conflictReq struct {
	conflictA
	conflictB
	Y int `json:"y"`
}

// targets are the types the differential tests decode into.
var targets = []struct {
	name string
	new  func() any
}{
	{"nestReq", func() any { return new(nestReq) }},
	{"AddMember", func() any { return new(client.AddMember) }},
	{"ImportMembers", func() any { return new(client.ImportMembers) }},
	{"CreateProject", func() any { return new(client.CreateProject) }},
	{"conflictReq", func() any { return new(conflictReq) }},
	{"map", func() any { return new(map[string]any) }},
}

// sameAsBefore fails t when DecodeStrict and decodeStrictBefore differ on body, in the error
// (its message) or in the value decoded.
func sameAsBefore(t *testing.T, body []byte) {
	t.Helper()
	for _, target := range targets {
		got, want := target.new(), target.new()
		errGot, errWant := DecodeStrict(body, got), decodeStrictBefore(body, want)
		if fmt.Sprint(errGot) != fmt.Sprint(errWant) {
			t.Fatalf("%s %q:\nerror now    %v\nerror before %v", target.name, body, errGot, errWant)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %q:\ndecoded now    %#v\ndecoded before %#v", target.name, body, got, want)
		}
	}
}

// The single pass finds the typical bodies clean, so they skip the walk, and allocates
// nothing doing so; a wide object (past maxLinearKeys) is clean too.
func TestCleanRequestPassesTypicalBodies(t *testing.T) {
	var wide strings.Builder
	wide.WriteString(`{"org_id":"a","context":{`)
	for i := range 3 * maxLinearKeys {
		fmt.Fprintf(&wide, `"k%d":[%d,{"k":true}],`, i, i)
	}
	wide.WriteString(`"last":null}}`)
	cases := []struct {
		name string
		body []byte
		v    any
	}{
		{"AddMember", addMemberBody, new(client.AddMember)},
		{"ImportMembers", importBody(), new(client.ImportMembers)},
		{"CreateProject", []byte(` {"org_id":"a","actor":"b","name":"P","track":{"name":"t","compute":"gpu"}}` + "\r\n"), new(client.CreateProject)},
		{"wide", []byte(wide.String()), new(nestReq)},
		{"numbers", []byte(`{"org_id":"a","context":{"n":[0,-1,2.5,-0.0e+10,1E-3,12345678901234567890]}}`), new(nestReq)},
		{"escapes in values", []byte(`{"org_id":"a\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00","roles":["Zoë","🙂"]}`), new(nestReq)},
		{"deepest allowed", []byte(nestedArrays(MaxJSONDepth - 2)), new(nestReq)},
	}
	for _, c := range cases {
		if !cleanRequest(c.body, reflect.TypeOf(c.v)) {
			t.Errorf("%s: not clean", c.name)
		}
		if err := DecodeStrict(c.body, c.v); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	typ := reflect.TypeFor[*client.AddMember]()
	if n := testing.AllocsPerRun(100, func() { cleanRequest(addMemberBody, typ) }); n != 0 {
		t.Errorf("the pass over an AddMember body allocates %v times, want 0", n)
	}
}

// Every body the decoder refuses, and every body the pass cannot vouch for by its bytes alone
// (an escaped key, a key encoding/json does not know), is left to the walk.
func TestCleanRequestLeavesTheRestToTheWalk(t *testing.T) {
	var wideDup strings.Builder
	wideDup.WriteString(`{"org_id":"a","context":{`)
	for i := range 2 * maxLinearKeys {
		fmt.Fprintf(&wideDup, `"k%d":1,`, i)
	}
	wideDup.WriteString(`"k3":2}}`)
	cases := []struct {
		name string
		body string
		v    any
	}{
		{"duplicate", `{"org_id":"a","org_id":"b"}`, new(nestReq)},
		{"duplicate in a map", `{"org_id":"a","context":{"x":1,"y":2,"x":3}}`, new(nestReq)},
		{"duplicate past the linear keys", wideDup.String(), new(nestReq)},
		{"wrong case", `{"Org_id":"a"}`, new(nestReq)},
		{"unknown key", `{"org_id":"a","nope":1}`, new(nestReq)},
		{"escaped key", `{"\u006frg_id":"a"}`, new(nestReq)},
		{"key conflicting in embedded structs", `{"X":"a"}`, new(conflictReq)},
		{"too deep", nestedArrays(MaxJSONDepth - 1), new(nestReq)},
		{"invalid UTF-8", "{\"org_id\":\"a\xffb\"}", new(nestReq)},
		{"surrogate in UTF-8", "{\"org_id\":\"a\xed\xa0\x80\"}", new(nestReq)},
		{"control character", "{\"org_id\":\"a\tb\"}", new(nestReq)},
		{"bad escape", `{"org_id":"a\x"}`, new(nestReq)},
		{"short \\u", `{"org_id":"\u00e"}`, new(nestReq)},
		{"leading zero", `{"context":{"n":01}}`, new(nestReq)},
		{"bare minus", `{"context":{"n":-}}`, new(nestReq)},
		{"bare point", `{"context":{"n":1.}}`, new(nestReq)},
		{"bare exponent", `{"context":{"n":1e}}`, new(nestReq)},
		{"bad literal", `{"context":{"n":nul}}`, new(nestReq)},
		{"trailing comma", `{"org_id":"a",}`, new(nestReq)},
		{"missing colon", `{"org_id" "a"}`, new(nestReq)},
		{"unterminated", `{"org_id":"a"`, new(nestReq)},
		{"trailing data", `{"org_id":"a"} x`, new(nestReq)},
		{"trailing brace", `{"org_id":"a"}}`, new(nestReq)},
		{"vertical tab", "\v{\"org_id\":\"a\"}", new(nestReq)},
	}
	for _, c := range cases {
		if cleanRequest([]byte(c.body), reflect.TypeOf(c.v)) {
			t.Errorf("%s: %q found clean", c.name, c.body)
		}
		sameAsBefore(t, []byte(c.body))
	}
}

// jsonGen writes random request-like bodies: mostly well-formed, with the keys of the target
// types in and out of case, duplicates, escapes, deep nesting, odd numbers and bytes that
// are not UTF-8, and now and then a byte changed, inserted or removed.
type jsonGen struct {
	r *rand.Rand
	b []byte
}

var genKeys = []string{
	"org_id", "actor", "roles", "context", "track", "name", "project_id", "user_id", "grants",
	"csv", "X", "y", "compute", "command_id", "dry_run", "expires_at",
	"Org_id", "ACTOR", "Name", "nope", `\u006frg_id`, "k", "é", "\xff",
}

var genStrings = []string{
	"", "a", "Zoë", "🙂", `\n`, `\"`, `\u00e9`, `\uD83D\uDE00`, `\x`, "\t", "\xff", "\xed\xa0\x80", `\u12`,
}

var genScalars = []string{
	"0", "-1", "2.5", "1e3", "-0.0E-2", "01", "1.", "-", "1e", "true", "false", "null", "nul", "tru",
}

var genSpace = []string{"", "", "", " ", "\n", "\r\n\t", "\v", "\f"}

func (g *jsonGen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *jsonGen) value(depth int) {
	switch n := g.r.IntN(10); {
	case n < 3 && depth < MaxJSONDepth+2:
		g.object(depth + 1)
	case n < 5 && depth < MaxJSONDepth+2:
		g.b = append(g.b, '[')
		for i := range g.r.IntN(4) {
			if i > 0 {
				g.b = append(g.b, ',')
			}
			g.b = append(g.b, g.pick(genSpace)...)
			g.value(depth + 1)
		}
		g.b = append(g.b, ']')
	case n < 8:
		g.b = append(g.b, '"')
		for range g.r.IntN(3) {
			g.b = append(g.b, g.pick(genStrings)...)
		}
		g.b = append(g.b, '"')
	default:
		g.b = append(g.b, g.pick(genScalars)...)
	}
}

func (g *jsonGen) object(depth int) {
	g.b = append(g.b, '{')
	var keys []string
	for i := range g.r.IntN(6) {
		if i > 0 {
			g.b = append(g.b, ',')
		}
		key := g.pick(genKeys)
		if len(keys) > 0 && g.r.IntN(8) == 0 {
			key = keys[g.r.IntN(len(keys))]
		}
		keys = append(keys, key)
		g.b = append(g.b, g.pick(genSpace)...)
		g.b = append(g.b, '"')
		g.b = append(g.b, key...)
		g.b = append(g.b, '"', ':')
		g.b = append(g.b, g.pick(genSpace)...)
		g.value(depth)
	}
	g.b = append(g.b, '}')
}

func (g *jsonGen) body() []byte {
	g.b = append(g.b[:0], g.pick(genSpace)...)
	g.object(1)
	g.b = append(g.b, g.pick(genSpace)...)
	switch g.r.IntN(20) {
	case 0:
		g.b = append(g.b, `{}`...)
	case 1:
		g.b = append(g.b, `}`...)
	case 2:
		g.b = append(g.b, `x`...)
	}
	if len(g.b) > 2 && g.r.IntN(4) == 0 {
		i := g.r.IntN(len(g.b))
		switch g.r.IntN(3) {
		case 0:
			g.b[i] = byte(g.r.IntN(256))
		case 1:
			g.b = append(g.b[:i], g.b[i+1:]...)
		default:
			g.b = append(g.b[:i], append([]byte{`{}[]":,\`[g.r.IntN(8)]}, g.b[i:]...)...)
		}
	}
	return g.b
}

// The new decoder accepts and refuses exactly what the old one did, with the same messages and
// the same values, over many generated bodies (a fixed seed, so a failure repeats).
func TestDecodeStrictMatchesBefore(t *testing.T) {
	g := jsonGen{r: rand.New(rand.NewPCG(10, 2026))}
	clean := 0
	for range 20_000 {
		body := g.body()
		if cleanRequest(body, reflect.TypeFor[*map[string]any]()) {
			clean++
		}
		sameAsBefore(t, body)
	}
	// The generator must exercise both paths, or the comparison proves little.
	if clean < 1_000 || clean > 19_000 {
		t.Fatalf("%d of 20000 generated bodies clean; the generator is off balance", clean)
	}
}

// FuzzDecodeStrictMatchesBefore is the same comparison on inputs the fuzzer finds.
func FuzzDecodeStrictMatchesBefore(f *testing.F) {
	f.Add(addMemberBody)
	f.Add([]byte(`{"org_id":"a","context":{"l":[1,2,{"k":1,"k":2}]}}`))
	f.Add([]byte(`{"org_id":"a","track":{"Name":"x"}}`))
	f.Add([]byte(`{"\u006frg_id":"a","org_id":"b"}`))
	f.Add([]byte(`{"X":"a","y":1}`))
	f.Add([]byte(nestedArrays(MaxJSONDepth - 1)))
	f.Add([]byte("{\"org_id\":\"a\xffb\"} "))
	f.Add([]byte(`{"org_id":"a"}}`))
	g := jsonGen{r: rand.New(rand.NewPCG(1, 2))}
	for range 50 {
		f.Add(bytes.Clone(g.body()))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsBefore(t, body)
	})
}

// A stray closing brace or bracket after the object is trailing data like any other (the
// Decoder's More does not count them), refused on both paths.
func TestDecodeStrictRefusesStrayClosers(t *testing.T) {
	for _, body := range []string{`{"org_id":"a"}}`, `{"org_id":"a"}]`, "{\"org_id\":\"a\"} \n}", `{"org_id":"a"}]}`} {
		var v nestReq
		err := DecodeStrict([]byte(body), &v)
		if err == nil || !strings.Contains(err.Error(), "trailing data") {
			t.Errorf("%q: %v", body, err)
		}
	}
	var v nestReq
	if err := DecodeStrict([]byte("{\"org_id\":\"a\"} \n\t"), &v); err != nil {
		t.Errorf("trailing white space: %v", err)
	}
}
