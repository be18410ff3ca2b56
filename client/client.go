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
	return decodeQueryReply(QueryReply{}, name, raw, out)
}

// MaxFollowWait is how long one request of FollowAudit asks the server to wait for new
// events; it stays under DefaultTimeout so that the request itself does not time out.
const MaxFollowWait = 5 * time.Second

func decodeQueryReply(rep QueryReply, name string, raw []byte, out any) (uint64, error) {
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
