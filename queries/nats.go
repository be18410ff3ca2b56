package queries

import (
	"context"
	"roster/client"
	"roster/internal/caller"
	"roster/internal/edge"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// NATS

// AddEndpoints registers roster.query.* on the micro service.
func (q *Queries) AddEndpoints(ctx context.Context, svc micro.Service) error {
	sem := make(chan struct{}, 1024)
	// Questions the views can answer at once are answered on the subscription's goroutine (a
	// goroutine per request costs a fifth of the throughput); one that must wait for
	// min_position or read the log goes to a goroutine of its own.
	handler := micro.HandlerFunc(func(req micro.Request) {
		name := strings.TrimPrefix(req.Subject(), client.QueryPrefix)
		ctx, err := q.callerContext(ctx, req)
		if err != nil {
			body, code := edge.ErrorBody(err)
			edge.Respond(req, body, code)
			return
		}
		if !q.Blocks(name) {
			if body, code, answered := q.Answer(ctx, name, req.Data(), false); answered {
				edge.Respond(req, body, code)
				return
			}
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, MaxWait+5*time.Second)
			defer cancel()
			body, code, _ := q.Answer(rctx, name, req.Data(), true)
			edge.Respond(req, body, code)
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
