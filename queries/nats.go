package queries

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/internal/caller"
	"roster/internal/edge"
)

// NATS

// Limits of the query endpoint (README "Limits").
const (
	// DefaultMaxWaiters bounds the queries waiting at once (for min_position or a log read)
	// over all organizations; one more is answered unavailable at once.
	DefaultMaxWaiters = 1024
	// replyHeadroom is kept below the connection's max payload for the headers of a reply.
	replyHeadroom = 1024
)

// AddEndpoints registers roster.query.* on the micro service.
func (q *Queries) AddEndpoints(ctx context.Context, svc micro.Service) error {
	maxWaiters := q.cfg.MaxWaiters
	if maxWaiters <= 0 {
		maxWaiters = DefaultMaxWaiters
	}
	sem := make(chan struct{}, maxWaiters)
	// Questions the views can answer at once are answered on the subscription's goroutine (a
	// goroutine per request costs a fifth of the throughput); one that must wait for
	// min_position or read the log goes to a goroutine of its own, if one of the MaxWaiters
	// slots is free: the subscription's goroutine never waits for a slot.
	handler := micro.HandlerFunc(func(req micro.Request) {
		name := strings.TrimPrefix(req.Subject(), client.QueryPrefix)
		ctx, err := q.callerContext(ctx, req)
		if err != nil {
			body, code := edge.ErrorBody(err)
			edge.Respond(req, body, code)
			return
		}
		if !q.Blocks(name) {
			end := q.cfg.Pacer.Begin()
			body, code, answered := q.Answer(ctx, name, req.Data(), false)
			if answered {
				q.respond(req, name, body, code)
			}
			end()
			if answered {
				return
			}
		}
		select {
		case sem <- struct{}{}:
		default:
			body, code := edge.ErrorBody(fail(client.CodeUnavailable,
				"%d queries are waiting (for min_position or the log; the limit is %d); retry shortly", maxWaiters, maxWaiters))
			q.respond(req, name, body, code)
			return
		}
		go func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, MaxWait+5*time.Second)
			defer cancel()
			body, code, _ := q.Answer(rctx, name, req.Data(), true)
			q.respond(req, name, body, code)
		}()
	})
	return svc.AddEndpoint("queries", handler, micro.WithEndpointSubject(client.QueryPrefix+"*"),
		micro.WithEndpointMetadata(map[string]string{"description": "roster.query.<Query>: ask a question (API.md)"}))
}

// callerContext puts the request's caller (the server's stamp) into ctx; in secured mode a
// request without the stamp is refused as forbidden.
func (q *Queries) callerContext(ctx context.Context, req micro.Request) (context.Context, error) {
	if q.cfg.Policy == nil {
		return ctx, nil
	}
	who, err := q.cfg.Policy.FromHeader(nats.Header(req.Headers()))
	if err != nil {
		return ctx, err
	}
	return caller.With(ctx, who), nil
}

// respond sends a reply; one that would exceed the connection's max payload becomes an
// invalid error naming the limit (ask a smaller page), and a failed send is logged.
func (q *Queries) respond(req micro.Request, name string, body []byte, code string) {
	if limit := q.cfg.MaxPayload; limit > 0 && int64(len(body))+replyHeadroom > limit {
		size := len(body)
		body, code = edge.ErrorBody(fail(client.CodeInvalid,
			"the reply to %s would be %d bytes; the connection's max payload is %d bytes; ask for a smaller page (limit)", name, size, limit))
	}
	var err error
	if code == "" {
		err = req.Respond(body)
	} else {
		err = req.Error(strconv.Itoa(client.StatusOf(code)), code, body)
	}
	if err != nil && !errors.Is(err, nats.ErrMsgNoReply) {
		q.cfg.Logger.Warn("reply not sent", "query", name, "bytes", len(body), "code", code, "err", err)
	}
}
