package commands

import (
	"context"
	"strconv"
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

// InlineDecode is the largest request body decoded on the subscription's goroutine. A larger
// one (an ImportMembers of thousands of rows takes tens of milliseconds to decode and check)
// is queued by its org_id, read with a quick scan, and decoded by the scheduler's worker in
// its turn, so the requests behind it on the subscription are not held up; its organization's
// order is the arrival order all the same.
const InlineDecode = 16 << 10

// MaxCommandBody bounds the request body of every command but ImportMembers (whose CSV makes
// it up to the payload limit): the largest legitimate one, DefineRole with MaxPermissions
// permissions, is under it. The commands that answer invitations or create an organization are
// small by nature and bounded by InlineDecode: they depend on their body to tell whether their
// caller may reach the organization, so a stranger's large one would cost a decode.
const MaxCommandBody = 64 << 10

// bodyWithinLimit refuses a request body over its command's bound, before anything reads it.
func bodyWithinLimit(name string, n int) error {
	limit := MaxCommandBody
	switch name {
	case client.CmdImportMembers:
		return nil // the payload limit bounds it
	case client.CmdAcceptInvite, client.CmdRejectInvite, client.CmdCreateOrganization:
		limit = InlineDecode
	}
	if n > limit {
		return refuse(client.CodeInvalid, "%s: the request has %d bytes; the limit for this command is %d", name, n, limit)
	}
	return nil
}

// PendingMsgs and PendingBytes bound the requests the commands' subscription holds before its
// goroutine reads them (nats.go's buffer); beyond them the client library drops requests
// (their callers time out and retry) rather than hold without bound what a flood sends.
const (
	PendingMsgs  = 65536
	PendingBytes = 64 << 20
)

// peekOrg reads a request's top-level org_id without decoding the rest (edge.TopLevelString:
// one pass that checks and skips the members before it). False when there is none that is a
// valid id, or the body is not shaped so that the pass can tell (an escaped key, say): the
// request is then refused, never decoded on the subscription's goroutine. The worker's strict
// decoding checks the whole body and that its org_id is the one found here.
func peekOrg(body []byte) (string, bool) {
	org, ok := edge.TopLevelString(body, "org_id")
	if !ok || !domain.ValidID(org) {
		return "", false
	}
	return org, true
}

// AddEndpoints registers roster.cmd.* on the micro service. The subscription's goroutine only
// reads the caller from the server's Nats-Request-Info stamp (refusing, in secured mode, a
// request without one: forbidden, nothing appended), decodes and checks a request (bounded by the payload limit) and hands it to its
// organization's bounded queue; deciding, folding, log reads and the wait for the fsync run on
// the scheduler's workers and waiters (see scheduler.go). A full queue is answered at once.
// A body larger than InlineDecode is only scanned for its org_id there and decoded on the
// worker.
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
		data := req.Data()
		who, err := s.cfg.Policy.FromHeader(nats.Header(req.Headers()))
		var cmd domain.Command
		var org string
		later := false
		if err == nil {
			err = bodyWithinLimit(name, len(data))
		}
		if err == nil && len(data) > InlineDecode && len(data) <= s.cfg.MaxPayload {
			// The bounds first: a caller over them costs no more than this.
			if err = sch.admit(who, len(data)); err == nil {
				if org, later = peekOrg(data); !later {
					// Never decoded here: a large body the scan cannot read is refused as it is.
					err = refuse(client.CodeInvalid, "%s: a request over %d bytes is queued by its top-level org_id, read without decoding it: "+
						"send a JSON object with a valid org_id and keys written without escapes", name, InlineDecode)
				}
			}
		}
		if err == nil && !later {
			cmd, err = s.decode(name, data)
		}
		if err == nil && !later {
			org = cmd.CommandMeta().OrgID
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
		job := &job{org: org, cmd: cmd, who: who, as: s.as(who), name: name, arrived: arrived, size: len(data),
			reply: func(body []byte, code string) { s.respondLater(req, name, body, code) }}
		if later {
			job.body = data
		}
		if err := sch.submit(job); err != nil {
			s.stats.record(arrived, err)
			body, code := edge.ErrorBody(err)
			Respond(req, body, code)
		}
	})
	return svc.AddEndpoint("commands", handler, micro.WithEndpointSubject(client.CommandPrefix+"*"),
		micro.WithEndpointPendingLimits(PendingMsgs, PendingBytes),
		micro.WithEndpointMetadata(map[string]string{"description": "roster.cmd.<Command>: submit a command (API.md)"}))
}

// respondLater sends a reply from a worker or waiter, after the handler returned. It writes the
// micro error headers itself (the same as Request.Error) instead of calling Request.Error,
// which records the error on the request while micro reads that field once the handler
// returns: a data race for a reply sent from another goroutine.
func (s *Service) respondLater(req micro.Request, name string, body []byte, code string) {
	var err error
	if code == "" {
		err = req.Respond(body)
	} else {
		err = req.Respond(body, micro.WithHeaders(micro.Headers{
			micro.ErrorHeader:     []string{code},
			micro.ErrorCodeHeader: []string{strconv.Itoa(client.StatusOf(code))},
		}))
	}
	if err != nil {
		s.cfg.Logger.Warn("reply to a command not sent", "command", name, "code", code, "err", err)
	}
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
