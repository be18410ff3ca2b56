package projections

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"roster/eventstore"
)

// The relay publishes a record as encoding/json writes it; the views read the envelope with
// json v2. A record with every field set (data with escapes, a principal, the hashes) reads
// back as encoding/json reads it, its data byte for byte (the hash link covers those bytes).
func TestEnvelopeDecodesAsEncodingJSONDoes(t *testing.T) {
	rec := eventstore.Record{ID: "019a-id", Position: 42, Stream: "org-acme", Version: 7, Type: "MemberAdded",
		Time: time.Date(2026, 11, 29, 17, 4, 5, 123456789, time.UTC), OrgID: "acme", Actor: "ana", CommandID: "c1",
		CorrelationID: "k1", Data: json.RawMessage(`{"project_id":"p1","user_id":"u\"1\u2028","roles":["viewer"],"n":1.50}`),
		Principal: &eventstore.Principal{Account: "APP", User: "UAB"}, PrevHash: "aa", Hash: "bb"}
	for _, r := range []eventstore.Record{rec, {Position: 1, Data: json.RawMessage(`null`)}} {
		body, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var want, got eventstore.Record
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatal(err)
		}
		if err := jsonv2.Unmarshal(body, &got); err != nil {
			t.Fatalf("json v2: %v\n%s", err, body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("the envelope decodes differently\n json v2:       %+v\n encoding/json: %+v", got, want)
		}
	}
}
