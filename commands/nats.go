package commands

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/domain"
	"roster/internal/edge"
)

// DefaultConcurrency bounds the commands whose appends are awaited at once; concurrent
// appends (of any organizations) share one fsync.
const DefaultConcurrency = 512

// CommandTimeout bounds one command from its arrival to its reply.
const CommandTimeout = 30 * time.Second

// AddEndpoints registers roster.cmd.* on the micro service. The subscription's goroutine only
// reads the caller from the server's Nats-Request-Info stamp (refusing, in secured mode, a
// request without one: forbidden, nothing appended), decodes and checks a request (bounded by the payload limit) and hands it to its
// organization's bounded queue; deciding, folding, log reads and the wait for the fsync run on
// the scheduler's workers and waiters (see scheduler.go). A full queue is answered at once.
//
// Micro measures an endpoint's processing time and counts its errors around the handler only,
// so for commands it sees the hand-off: requests refused at the edge (malformed, over a limit,
// full queue) are counted as errors there, the rest are not. The command's own figures (from
// arrival to reply, errors by code) are in the endpoint's stats data, see Stats.
func (s *Service) AddEndpoints(ctx context.Context, svc micro.Service) error {
	sch := s.scheduler(ctx)
	handler := micro.HandlerFunc(func(req micro.Request) {
		arrived := time.Now()
		name := strings.TrimPrefix(req.Subject(), client.CommandPrefix)
		who, err := s.cfg.Policy.FromHeader(nats.Header(req.Headers()))
		var cmd domain.Command
		if err == nil {
			cmd, err = s.decode(name, req.Data())
		}
		if err == nil {
			err = actorRule(who, cmd)
		}
		if err == nil {
			err = s.halted()
		}
		if err != nil {
			s.stats.record(arrived, err)
			body, code := edge.ErrorBody(err)
			Respond(req, body, code)
			return
		}
		job := &job{cmd: cmd, as: s.as(who), name: name, arrived: arrived, reply: func(body []byte, code string) { Respond(req, body, code) }}
		if err := sch.submit(job); err != nil {
			s.stats.record(arrived, err)
			body, code := edge.ErrorBody(err)
			Respond(req, body, code)
		}
	})
	return svc.AddEndpoint("commands", handler, micro.WithEndpointSubject(client.CommandPrefix+"*"),
		micro.WithEndpointMetadata(map[string]string{"description": "roster.cmd.<Command>: submit a command (API.md)"}))
}

// Respond sends a reply body, as a micro error when code is set.
func Respond(req micro.Request, body []byte, code string) { edge.Respond(req, body, code) }

// RunExpiry closes pending invitations past their expiry, every ExpireEvery, in the
// organizations this process has loaded, until ctx ends.
func (s *Service) RunExpiry(ctx context.Context) {
	t := time.NewTicker(s.cfg.ExpireEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.ExpireNow(ctx)
			s.ExpireMembershipsNow(ctx)
		}
	}
}

// ExpireNow runs one expiry pass over the loaded organizations.
func (s *Service) ExpireNow(ctx context.Context) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.orgs))
	for id := range s.orgs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		entry := s.entry(id)
		entry.mu.Lock()
		loaded := entry.loaded && entry.state.Exists()
		entry.mu.Unlock()
		if !loaded {
			continue
		}
		cmd := &domain.ExpireInvites{Meta: domain.Meta{OrgID: id, Actor: domain.SystemActor}}
		// Roster's own command runs as an operator and records no principal (its actor is
		// domain.SystemActor).
		if _, err := s.run(ctx, entry, cmd, principal{operator: true}); err != nil {
			s.cfg.Logger.Warn("expire invitations", "org", id, "err", err)
		}
	}
}
