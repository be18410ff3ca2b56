package eventstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// MemoryStore is a Store kept in memory, for tests and tools. It is safe for
// concurrent use. Nothing survives the process.
type MemoryStore struct {
	mu      sync.RWMutex
	records []Record            // records[i].Position == i+1
	streams map[string][]uint64 // stream -> positions, index = version-1
	cmds    map[string][]byte   // cmdKey(stream, command id) -> reply
	closed  bool

	head *notifier
	stop chan struct{} // closed by Close
}

var _ Store = (*MemoryStore)(nil)

// NewMemory returns an empty MemoryStore.
func NewMemory() *MemoryStore {
	return &MemoryStore{
		streams: make(map[string][]uint64),
		cmds:    make(map[string][]byte),
		head:    newNotifier(0),
		stop:    make(chan struct{}),
	}
}

// Append implements Store.
// AppendAsync implements Store; the memory store appends at once, so waiting returns at once.
func (m *MemoryStore) AppendAsync(ctx context.Context, req AppendRequest) (func() (AppendResult, error), error) {
	res, err := m.Append(ctx, req)
	return func() (AppendResult, error) { return res, err }, nil
}

// Append implements Store.
func (m *MemoryStore) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	const op = "append"
	if err := ctx.Err(); err != nil {
		return AppendResult{}, &StoreError{Op: op, Stream: req.Stream, Err: err}
	}
	req, err := checkRequest(req)
	if err != nil {
		return AppendResult{}, &StoreError{Op: op, Stream: req.Stream, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return AppendResult{}, &StoreError{Op: op, Stream: req.Stream, Err: ErrClosed}
	}
	if req.CommandID != "" {
		if reply, ok := m.cmds[cmdKey(req.Stream, req.CommandID)]; ok {
			return AppendResult{Reply: bytes.Clone(reply)}, &StoreError{Op: op, Stream: req.Stream,
				Err: fmt.Errorf("command %s: %w", req.CommandID, ErrDuplicateCommand)}
		}
	}
	current := uint64(len(m.streams[req.Stream]))
	if req.ExpectedVersion != current {
		return AppendResult{}, &StoreError{Op: op, Stream: req.Stream,
			Err: fmt.Errorf("expected version %d, stream is at %d: %w", req.ExpectedVersion, current, ErrWrongExpectedVersion)}
	}
	head := uint64(len(m.records))
	var lastTime time.Time
	var lastHash string
	if head > 0 {
		lastTime, lastHash = m.records[head-1].Time, m.records[head-1].Hash
	}
	stored := sequence(req, head, current, lastTime, lastHash)
	reply, err := callReply(req, stored)
	if err != nil {
		return AppendResult{}, &StoreError{Op: op, Stream: req.Stream, Err: err}
	}
	for _, r := range stored {
		m.records = append(m.records, r)
		m.streams[req.Stream] = append(m.streams[req.Stream], r.Position)
	}
	if req.CommandID != "" {
		m.cmds[cmdKey(req.Stream, req.CommandID)] = storedReply(reply)
	}
	m.head.advance(uint64(len(m.records)))
	return AppendResult{Records: cloneRecords(stored), Reply: reply}, nil
}

// CommandReply implements Store.
func (m *MemoryStore) CommandReply(ctx context.Context, stream, commandID string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, &StoreError{Op: "command reply", Stream: stream, Err: err}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	reply, ok := m.cmds[cmdKey(stream, commandID)]
	return bytes.Clone(reply), ok, nil
}

// Read implements Store.
func (m *MemoryStore) Read(ctx context.Context, from uint64, limit int) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, &StoreError{Op: "read", Err: err}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if from == 0 {
		from = 1
	}
	if from > uint64(len(m.records)) {
		return nil, nil
	}
	recs := m.records[from-1:]
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
	}
	return cloneRecords(recs), nil
}

// Scan implements Store.
func (m *MemoryStore) Scan(ctx context.Context, from uint64, fn func(Record) error) error {
	head := m.head.value()
	if from == 0 {
		from = 1
	}
	for pos := from; pos <= head; pos++ {
		if err := ctx.Err(); err != nil {
			return &StoreError{Op: "scan", Err: err}
		}
		m.mu.RLock()
		r := cloneRecord(m.records[pos-1])
		m.mu.RUnlock()
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// ReadStream implements Store.
func (m *MemoryStore) ReadStream(ctx context.Context, stream string, fromVersion uint64) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, &StoreError{Op: "read stream", Stream: stream, Err: err}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if fromVersion == 0 {
		fromVersion = 1
	}
	positions := m.streams[stream]
	if fromVersion > uint64(len(positions)) {
		return nil, nil
	}
	out := make([]Record, 0, uint64(len(positions))-fromVersion+1)
	for _, p := range positions[fromVersion-1:] {
		out = append(out, cloneRecord(m.records[p-1]))
	}
	return out, nil
}

// StreamVersion implements Store.
func (m *MemoryStore) StreamVersion(ctx context.Context, stream string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, &StoreError{Op: "stream version", Stream: stream, Err: err}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return uint64(len(m.streams[stream])), nil
}

// Head implements Store.
func (m *MemoryStore) Head(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, &StoreError{Op: "head", Err: err}
	}
	return m.head.value(), nil
}

// PositionAt implements Store.
func (m *MemoryStore) PositionAt(ctx context.Context, t time.Time) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, &StoreError{Op: "position at", Err: err}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	// Times never decrease with position: the first record after t ends the prefix.
	n := sort.Search(len(m.records), func(i int) bool { return m.records[i].Time.After(t) })
	return uint64(n), nil
}

// WaitFor implements Store.
func (m *MemoryStore) WaitFor(ctx context.Context, pos uint64) error {
	if err := m.head.wait(ctx, pos, m.stop); err != nil {
		return &StoreError{Op: "wait for", Err: fmt.Errorf("position %d: %w", pos, err)}
	}
	return nil
}

// Close implements Store. Waiters get ErrClosed.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.stop)
	}
	return nil
}

func cloneRecord(r Record) Record {
	r.Data = bytes.Clone(r.Data)
	return r
}

func cloneRecords(rs []Record) []Record {
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = cloneRecord(r)
	}
	return out
}
