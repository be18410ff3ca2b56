package commands

import (
	"errors"

	"roster/client"
	"roster/eventstore"
	"roster/internal/edge"
)

// Halt makes the service refuse every further command (and stop expiring
// invitations): each is answered unavailable with reason, which says what is
// damaged and what to run. rosterd calls it when the log fails a check after
// it is serving (the background checksum pass, or a read that met damage):
// nothing more is written on a damaged log. There is no way back short of a
// restart.
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

// haltedOver answers err, an error met reading the log, with the halt's refusal when the
// read found damage and the service is halted for it (rosterd halts it from the store's
// OnCorrupt handler before the read returns), so that the command that met the damage is
// answered like every one after it, naming the damage and the fix.
func (s *Service) haltedOver(err error) error {
	if errors.Is(err, eventstore.ErrCorruptLog) {
		if h := s.halted(); h != nil {
			return h
		}
	}
	return err
}
