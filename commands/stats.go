package commands

import (
	"sync"
	"time"

	"roster/internal/edge"
)

// Stats are the command endpoint's own figures, from a command's arrival to its reply (micro's
// endpoint stats only see the hand-off to the scheduler). Every account that imports $SRV.>
// reads them, so they carry codes and counts only, never an error's message: a message names
// another tenant's organizations, users and ids.
type Stats struct {
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	ErrorsByCode map[string]int64 `json:"errors_by_code"`
	// LastError is the code of the last refusal (e.g. "not_found"), never its message.
	LastError             string        `json:"last_error,omitempty"`
	ProcessingTime        time.Duration `json:"processing_time"`
	AverageProcessingTime time.Duration `json:"average_processing_time"`
}

type stats struct {
	mu sync.Mutex
	s  Stats
}

func (st *stats) record(arrived time.Time, err error) {
	took := time.Since(arrived)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.Requests++
	st.s.ProcessingTime += took
	st.s.AverageProcessingTime = st.s.ProcessingTime / time.Duration(st.s.Requests)
	if err != nil {
		code, _ := edge.CodeOf(err)
		st.s.Errors++
		if st.s.ErrorsByCode == nil {
			st.s.ErrorsByCode = map[string]int64{}
		}
		st.s.ErrorsByCode[code]++
		st.s.LastError = code
	}
}

// Stats returns the command endpoint's figures so far; the daemon reports them as the
// commands endpoint's data in `nats micro stats roster`.
func (s *Service) Stats() Stats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	out := s.stats.s
	out.ErrorsByCode = make(map[string]int64, len(s.stats.s.ErrorsByCode))
	for k, v := range s.stats.s.ErrorsByCode {
		out.ErrorsByCode[k] = v
	}
	return out
}
