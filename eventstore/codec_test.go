package eventstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestRecordCodecRoundTrip(t *testing.T) {
	r := Record{ID: "0190-aa", Position: 1042, Stream: "org-acme", Version: 17, Type: "MemberAdded",
		Time: time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC), OrgID: "acme", Actor: "u1", CommandID: "c1",
		CorrelationID: "k1", Data: json.RawMessage(`{"project_id":"p1","user_id":"u7","roles":["developer"]}`)}
	var got Record
	if err := decodeRecord(encodeRecord(r), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip:\n%+v\n%+v", got, r)
	}
	b := encodeRecord(r)
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(append([]byte{}, b...), 'x'), b[:5]} {
		if err := decodeRecord(bad, &got); err == nil {
			t.Fatalf("decoded corrupt input %q", bad)
		}
	}
}

func FuzzRecordCodec(f *testing.F) {
	f.Add(encodeRecord(Record{ID: "a", Position: 1, Data: json.RawMessage(`{}`)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if decodeRecord(b, &r) == nil {
			var again Record
			if err := decodeRecord(encodeRecord(r), &again); err != nil || !reflect.DeepEqual(r, again) {
				t.Fatalf("re-encoding a decoded record: %v", err)
			}
		}
	})
}
