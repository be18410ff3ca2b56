package commands

import (
	"roster/client"
	"roster/internal/edge"
)

// Halt makes the service refuse every further command (and stop expiring
// invitations): each is answered unavailable with reason, which says what is
// damaged and what to run. rosterd calls it when the log fails a check after
// it is serving (the background checksum pass): nothing more is written on a
// damaged log. There is no way back short of a restart.
func (s *Service) Halt(reason string) {
	s.halt.CompareAndSwap(nil, &reason)
}

// halted returns the refusal of a halted service, or nil.
func (s *Service) halted() error {
	if r := s.halt.Load(); r != nil {
		return edge.Refuse(client.CodeUnavailable, "writes are refused: %s", *r)
	}
	return nil
}
