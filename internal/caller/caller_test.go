package caller_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"roster/domain"
	"roster/internal/caller"
)

func stamp(t *testing.T, ci server.ClientInfo) nats.Header {
	b, err := json.Marshal(ci)
	if err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	h.Set(caller.Header, string(b))
	return h
}

func TestFromHeaderKinds(t *testing.T) {
	p, err := caller.NewPolicy(true, caller.SplitList("PEOPLE, STAFF"), caller.SplitList("OPS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		acc  string
		kind caller.Kind
	}{{"ACME", caller.Application}, {"PEOPLE", caller.User}, {"STAFF", caller.User}, {"OPS", caller.Operator}} {
		got, err := p.FromHeader(stamp(t, server.ClientInfo{Account: c.acc, User: "u1", Name: "x"}))
		if err != nil {
			t.Fatal(err)
		}
		if got != (caller.Caller{Account: c.acc, User: "u1", Kind: c.kind}) {
			t.Fatalf("%s: %+v", c.acc, got)
		}
	}
}

func TestSecuredRefusesWithoutStamp(t *testing.T) {
	p, _ := caller.NewPolicy(true, nil, nil)
	bad := map[string]nats.Header{"nil": nil, "empty": {}, "malformed": {caller.Header: {"{"}},
		"no account": stamp(t, server.ClientInfo{User: "u"})}
	for name, h := range bad {
		_, err := p.FromHeader(h)
		var ie *caller.IdentityError
		if !errors.As(err, &ie) || !errors.Is(err, domain.ErrForbidden) || domain.CodeOf(err) != domain.CodeForbidden {
			t.Fatalf("%s: %v, want a forbidden IdentityError", name, err)
		}
	}
}

func TestInsecureIsAnonymousApplicationWhateverTheHeader(t *testing.T) {
	p, _ := caller.NewPolicy(false, nil, nil)
	for _, h := range []nats.Header{nil, stamp(t, server.ClientInfo{Account: "OPS", User: "root"})} {
		got, err := p.FromHeader(h)
		if err != nil || got != (caller.Caller{Account: caller.AnonymousAccount, Kind: caller.Application, Anonymous: true}) {
			t.Fatalf("%+v %v", got, err)
		}
	}
}

func TestPolicyRejectsAccountOfTwoKinds(t *testing.T) {
	if _, err := caller.NewPolicy(true, []string{"A"}, []string{"A"}); err == nil {
		t.Fatal("an account both user and operator was accepted")
	}
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := caller.From(ctx); ok {
		t.Fatal("a caller in an empty context")
	}
	c := caller.Caller{Account: "ACME", User: "svc", Kind: caller.Application}
	got, ok := caller.From(caller.With(ctx, c))
	if !ok || got != c {
		t.Fatalf("%+v %v", got, ok)
	}
}
