package commands

import (
	"context"

	"roster/domain"
)

// ExpireMembershipsNow records the end of every membership whose time ran out
// (MembershipExpired, domain/expiry.go), in every organization this process knows: those
// loaded, and those Warm installed after a restart. The command is decided against the
// state, so a membership's end is appended once, however many passes run.
func (s *Service) ExpireMembershipsNow(ctx context.Context) {
	s.mu.Lock()
	ids := make([]string, 0, len(s.orgs))
	for id := range s.orgs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	now := s.cfg.Now()
	for _, id := range ids {
		entry := s.entry(id)
		entry.mu.Lock()
		due := entry.loaded && entry.state.Exists() && !entry.state.NextExpiry().IsZero() && !now.Before(entry.state.NextExpiry())
		entry.mu.Unlock()
		if !due {
			continue
		}
		cmd := &domain.ExpireMemberships{Meta: domain.Meta{OrgID: id, Actor: domain.SystemActor}}
		if _, err := s.run(ctx, entry, cmd, principal{operator: true}); err != nil {
			s.cfg.Logger.Warn("expire memberships", "org", id, "err", err)
		}
	}
}
