package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// A principal is part of the stored record and of its hash; a record without one encodes and
// hashes exactly as records did before principals existed.
func TestPrincipalStoredAndChained(t *testing.T) {
	ctx := context.Background()
	s, err := OpenBadger(t.TempDir(), BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	who := &Principal{Account: "ACME", User: "acme"}
	ev := func(id string, p *Principal) Record {
		return Record{ID: id, Type: "T", Time: time.Unix(1_800_000_000, 0), OrgID: "o", Actor: "ann", Data: json.RawMessage(`{}`), Principal: p}
	}
	if _, err := s.Append(ctx, AppendRequest{Stream: "org-o", Events: []Record{ev("a", nil), ev("b", who), ev("c", &Principal{})}}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ReadStream(ctx, "org-o", 1)
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Principal != nil || recs[2].Principal != nil || recs[1].Principal == nil || *recs[1].Principal != *who {
		t.Fatalf("principals after a round trip: %+v %+v %+v", recs[0].Principal, recs[1].Principal, recs[2].Principal)
	}
	if rep, err := VerifyStore(ctx, s, 1); err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	// Without a principal the hash is the pre-principal one: the canonical form ends at data.
	plain := recs[0]
	if got, _ := HashRecord(plain, plain.PrevHash); got != plain.Hash {
		t.Fatal("hash of a record without a principal changed")
	}
	withP := plain
	withP.Principal = who
	if got, _ := HashRecord(withP, plain.PrevHash); got == plain.Hash {
		t.Fatal("the principal is not in the hash")
	}
	b, _ := json.Marshal(recs[1])
	var back Record
	if err := json.Unmarshal(b, &back); err != nil || back.Principal == nil || *back.Principal != *who {
		t.Fatalf("envelope %s: %v", b, err)
	}
	if j, _ := json.Marshal(recs[0]); bytes.Contains(j, []byte("principal")) {
		t.Fatalf("an event without a principal shows one: %s", j)
	}
	recs[1].Principal = &Principal{Account: "GLOBEX", User: "acme"}
	if _, err := VerifyRecords(recs); !errors.Is(err, ErrChainBroken) {
		t.Fatalf("a rewritten principal verified: %v", err)
	}
	// The stored form round-trips through the codec.
	var dec Record
	if err := decodeRecord(encodeRecord(withP), &dec); err != nil || dec.Principal == nil || *dec.Principal != *who {
		t.Fatalf("codec: %+v %v", dec.Principal, err)
	}
}
