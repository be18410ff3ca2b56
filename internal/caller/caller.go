// Package caller tells who sent a request. The NATS server stamps every request
// that crosses a service import with share: true with the Nats-Request-Info
// header (the caller's account and user), overwriting any header of that name
// the client sent; Roster trusts that stamp and nothing in the payload.
package caller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"roster/domain"
)

// Header is the header the server stamps on imported requests (nats-server's ClientInfoHdr).
const Header = server.ClientInfoHdr

// Kind is what an account is to Roster.
type Kind string

// The kinds of caller.
const (
	// Application accounts are back ends that speak for their users: the payload's actor is trusted.
	Application Kind = "application"
	// User accounts hold one NATS user per person: the actor is the authenticated user.
	User Kind = "user"
	// Operator accounts run admin jobs and see every organization.
	Operator Kind = "operator"
)

// AnonymousAccount is the account of a caller in insecure mode (NATS's global account).
const AnonymousAccount = "$G"

// Caller is the authenticated principal of a request.
type Caller struct {
	Account string
	User    string
	Kind    Kind
	// Anonymous is true in insecure mode, where the request carried no server stamp.
	Anonymous bool
}

func (c Caller) String() string {
	if c.User == "" {
		return c.Account + " (" + string(c.Kind) + ")"
	}
	return c.User + "@" + c.Account + " (" + string(c.Kind) + ")"
}

// IdentityError refuses a request whose caller cannot be established in secured mode. It
// unwraps to a forbidden domain error, so the edges answer it as forbidden.
type IdentityError struct {
	Reason string
}

func (e *IdentityError) Error() string { return "caller identity: " + e.Reason }

// Unwrap maps the refusal to API.md's forbidden.
func (e *IdentityError) Unwrap() error {
	return &domain.Error{Code: domain.CodeForbidden, Message: "caller identity: " + e.Reason}
}

// Policy turns the server's stamp into a Caller.
type Policy struct {
	// Secured refuses requests without the stamp (a config file, or an external NATS with
	// credentials). Insecure mode answers them as an anonymous application.
	Secured   bool
	users     map[string]bool
	operators map[string]bool
}

// NewPolicy builds a policy; userAccounts and operatorAccounts name the accounts of those kinds
// (every other account is an application). An account cannot be both.
func NewPolicy(secured bool, userAccounts, operatorAccounts []string) (*Policy, error) {
	p := &Policy{Secured: secured, users: map[string]bool{}, operators: map[string]bool{}}
	for _, a := range userAccounts {
		if a = strings.TrimSpace(a); a != "" {
			p.users[a] = true
		}
	}
	for _, a := range operatorAccounts {
		if a = strings.TrimSpace(a); a == "" {
			continue
		} else if p.users[a] {
			return nil, fmt.Errorf("account %q is named both a user account and an operator account", a)
		}
		p.operators[a] = true
	}
	return p, nil
}

// SplitList splits a comma-separated flag value (--user-accounts A,B).
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// KindOf says what kind an account is.
func (p *Policy) KindOf(account string) Kind {
	switch {
	case p.operators[account]:
		return Operator
	case p.users[account]:
		return User
	}
	return Application
}

// FromHeader reads the caller from a request's headers. In secured mode a request without a
// valid stamp is refused with an *IdentityError (forbidden). In insecure mode every request is
// an anonymous application in the global account: there are no imports there, so a header
// present was written by the client and is ignored.
func (p *Policy) FromHeader(h nats.Header) (Caller, error) {
	if !p.Secured {
		return Caller{Account: AnonymousAccount, Kind: p.KindOf(AnonymousAccount), Anonymous: true}, nil
	}
	raw := ""
	if h != nil {
		raw = h.Get(Header)
	}
	if raw == "" {
		return Caller{}, &IdentityError{Reason: "the request carries no " + Header + " (it did not come through a service import)"}
	}
	var ci server.ClientInfo
	if err := json.Unmarshal([]byte(raw), &ci); err != nil {
		return Caller{}, &IdentityError{Reason: "malformed " + Header}
	}
	if ci.Account == "" {
		return Caller{}, &IdentityError{Reason: Header + " names no account"}
	}
	return Caller{Account: ci.Account, User: ci.User, Kind: p.KindOf(ci.Account)}, nil
}

type ctxKey struct{}

// With returns a context carrying c.
func With(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// From returns the caller a context carries.
func From(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(ctxKey{}).(Caller)
	return c, ok
}
