package commands

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/domain"
	"roster/internal/edge"
)

// DefaultConcurrency bounds the commands decided at once; concurrent appends share one fsync.
const DefaultConcurrency = 512

// AddEndpoints registers roster.cmd.* on the micro service. Commands are decided on the
// subscription's goroutine; only the wait for the fsync runs on a goroutine of its own
// (bounded), so that appends of different commands share group commits.
func (s *Service) AddEndpoints(ctx context.Context, svc micro.Service) error {
	// A command is decided and its events queued on the subscription's goroutine (in arrival
	// order, which keeps each organization's commands in order); the wait for the fsync runs
	// on a goroutine of its own, so the next commands join the same group commit.
	sem := make(chan struct{}, DefaultConcurrency)
	handler := micro.HandlerFunc(func(req micro.Request) {
		name := strings.TrimPrefix(req.Subject(), client.CommandPrefix)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		wait := s.Start(rctx, name, req.Data())
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			defer cancel()
			reply, code := wait()
			Respond(req, reply, code)
		}()
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
		if _, err := s.run(ctx, entry, cmd); err != nil {
			s.cfg.Logger.Warn("expire invitations", "org", id, "err", err)
		}
	}
}
