// Package client is the typed Go client of Roster's NATS wire contract (API.md):
// it submits commands on roster.cmd.<Command>, asks queries on
// roster.query.<Query>, and holds the contract's reply and error types, which
// the service itself uses to answer.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultTimeout bounds one request.
const DefaultTimeout = 10 * time.Second

// Client talks to Roster over an existing NATS connection.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
}

// New returns a client on nc.
func New(nc *nats.Conn) *Client { return &Client{nc: nc, timeout: DefaultTimeout} }

// WithTimeout returns a copy with another per-request timeout (used when ctx has no deadline).
func (c *Client) WithTimeout(d time.Duration) *Client {
	cp := *c
	cp.timeout = d
	return &cp
}

// Request sends a raw body to a subject and returns the raw reply body.
func (c *Client) Request(ctx context.Context, subject string, body []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	msg, err := c.nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, &Error{Code: CodeUnavailable, Message: "no Roster service answers on " + subject}
		}
		return nil, fmt.Errorf("request %s: %w", subject, err)
	}
	return msg.Data, nil
}

func encode(req any) ([]byte, error) {
	switch r := req.(type) {
	case []byte:
		return r, nil
	case json.RawMessage:
		return r, nil
	case nil:
		return []byte("{}"), nil
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}

// Command submits a command (a struct, a map or raw JSON bytes). A refusal is returned as *Error.
func (c *Client) Command(ctx context.Context, name string, req any) (*CommandReply, error) {
	body, err := encode(req)
	if err != nil {
		return nil, err
	}
	raw, err := c.Request(ctx, CommandPrefix+name, body)
	if err != nil {
		return nil, err
	}
	var rep CommandReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("decode %s reply: %w", name, err)
	}
	if !rep.OK {
		return &rep, replyError(rep.Error)
	}
	return &rep, nil
}

// Query asks a query and decodes its result into out (if not nil); it returns the view position.
func (c *Client) Query(ctx context.Context, name string, req any, out any) (uint64, error) {
	body, err := encode(req)
	if err != nil {
		return 0, err
	}
	raw, err := c.Request(ctx, QueryPrefix+name, body)
	if err != nil {
		return 0, err
	}
	var rep QueryReply
	if err := json.Unmarshal(raw, &rep); err != nil {
		return 0, fmt.Errorf("decode %s reply: %w", name, err)
	}
	if !rep.OK {
		return 0, replyError(rep.Error)
	}
	if out != nil {
		if err := json.Unmarshal(rep.Result, out); err != nil {
			return rep.Position, fmt.Errorf("decode %s result: %w", name, err)
		}
	}
	return rep.Position, nil
}

func replyError(e *ErrorBody) error {
	if e == nil {
		return &Error{Code: CodeUnavailable, Message: "refused without an error body"}
	}
	return &Error{Code: e.Code, Message: e.Message}
}

// CodeOf returns the wire code of a client error ("" if it is not a refusal).
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Via is one membership behind a Check answer.
type Via struct {
	Kind      string `json:"kind"`
	Role      string `json:"role,omitempty"`
	GroupID   string `json:"group_id,omitempty"`
	Scope     string `json:"scope,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	TrackID   string `json:"track_id,omitempty"`
	Condition string `json:"condition,omitempty"`
}

// CheckResult is the result of Check.
type CheckResult struct {
	Decision   string `json:"decision"`
	Permission string `json:"permission"`
	Via        []Via  `json:"via"`
}

// CheckRequest asks whether a user may do something.
type CheckRequest struct {
	OrgID       string            `json:"org_id"`
	ProjectID   string            `json:"project_id,omitempty"`
	TrackID     string            `json:"track_id,omitempty"`
	UserID      string            `json:"user_id"`
	Permission  string            `json:"permission"`
	Context     map[string]string `json:"context,omitempty"`
	Explain     bool              `json:"explain,omitempty"`
	MinPosition uint64            `json:"min_position,omitempty"`
}

// Check asks the Check query.
func (c *Client) Check(ctx context.Context, req CheckRequest) (CheckResult, error) {
	var res CheckResult
	_, err := c.Query(ctx, "Check", req, &res)
	return res, err
}

// Member is one row of ListMembers.
type Member struct {
	UserID       string   `json:"user_id,omitempty"`
	GroupID      string   `json:"group_id,omitempty"`
	Email        string   `json:"email"`
	Name         string   `json:"name"`
	Roles        []string `json:"roles"`
	Grants       []string `json:"grants"`
	Status       string   `json:"status"`
	PartnerID    string   `json:"partner_id,omitempty"`
	InvitationID string   `json:"invitation_id,omitempty"`
	Guest        bool     `json:"guest,omitempty"`
	Members      []string `json:"members,omitempty"`
}

// MembersPage is the result of ListMembers.
type MembersPage struct {
	Members       []Member `json:"members"`
	NextPageToken string   `json:"next_page_token,omitempty"`
}

// Status is the result of the Status query.
type Status struct {
	Head        uint64 `json:"head"`
	Projections []struct {
		Name     string `json:"name"`
		Position uint64 `json:"position"`
		Lag      uint64 `json:"lag"`
		Digest   string `json:"digest,omitempty"`
	} `json:"projections"`
	DeadLetters uint64 `json:"dead_letters"`
}
