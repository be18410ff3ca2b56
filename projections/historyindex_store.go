package projections

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The history index as a view with a checkpoint: its arrays are saved, as they are in memory,
// into the views' Badger database beside the views' snapshots, with the position they cover
// and the id and hash of the log's record there. At start the saved copy is checked and
// loaded, and the index catches up from its position; a copy that fails any check is
// discarded (logged, counted in Stats) and the index is built from the log, as without a
// store. A saved copy is never served unchecked:
//
//   - its header names the format this release writes (HistoryIndexFormat);
//   - its position is at or before the log head, and the log's record there has the id and
//     hash the copy recorded (the checks the views make of stream messages, trust.go): a log
//     restored or replaced since the save is another history;
//   - every chunk is present, of the length the header says, and matches its CRC-32C; the
//     whole matches its SHA-256;
//   - it decodes: every count fits in the bytes that follow, positions are sorted and at or
//     before the copy's position, and nothing is left over.
//
// Layout in the database: "x/history/meta" is the header (JSON: historyMeta) and
// "x/history/c/<generation>/<n>" the chunks of the body. A save writes the chunks of a new
// generation, then the header naming it, then deletes the chunks of other generations: a
// save cut short leaves the previous copy (or none) in force, never a mix.

// HistoryIndexFormat is the stored format of the history index; a copy of another format is
// discarded at load and the index is built from the log.
const HistoryIndexFormat = 1

// HistoryIndexChunk is the most bytes of the saved history index one Badger value holds
// (well under Badger's value and transaction limits, even with small memtables).
const HistoryIndexChunk = 256 << 10

// maxHistoryChunk bounds the chunk size a saved header may claim (a damaged header does not
// make the load allocate without bound).
const maxHistoryChunk = 64 << 20

// When the index is saved. A save writes the whole index (about 16 bytes per record plus the
// keys: some tens of MiB at a million events), so at a checkpoint it is saved only once it has
// grown by HistorySaveMin records and by 1/HistorySaveGrowth of what the saved copy covers:
// after a crash the catch-up from the saved copy reads at most that share of the log. A clean
// shutdown and roster rebuild always save it.
const (
	HistorySaveMin    = 4096
	HistorySaveGrowth = 8
)

// Where the index in memory came from (HistoryIndexStats.Source).
const (
	SourceLog   = "log"   // built by reading the log from position 1
	SourceSaved = "saved" // loaded from the saved copy, then caught up
)

// ErrHistoryCopyRefused marks a saved copy of the history index that failed a check at load.
var ErrHistoryCopyRefused = errors.New("saved history index refused")

// HistoryCopyError says why a saved copy of the history index was refused.
type HistoryCopyError struct{ Reason string }

func (e *HistoryCopyError) Error() string {
	return fmt.Sprintf("%v: %s", ErrHistoryCopyRefused, e.Reason)
}

// Unwrap returns ErrHistoryCopyRefused.
func (e *HistoryCopyError) Unwrap() error { return ErrHistoryCopyRefused }

func refusedCopy(format string, args ...any) error {
	return &HistoryCopyError{Reason: fmt.Sprintf(format, args...)}
}

// HistoryIndexStats is the state of the history index and of its saved copy.
type HistoryIndexStats struct {
	// Position is the last position indexed.
	Position uint64
	// Source is how the index in memory began: SourceSaved (loaded at LoadedAt) or SourceLog
	// ("" before anything was indexed).
	Source   string
	LoadedAt uint64
	// Read counts the records the index read from the log since the process started
	// (catch-ups and rebuilds).
	Read uint64
	// Saved is the position the saved copy covers (0: none known); Saves counts the saves.
	Saved uint64
	Saves uint64
	// Discarded counts the saved copies refused at load; LastDiscard says why the last was.
	Discarded   uint64
	LastDiscard string
}

// indexStore saves and loads one history index.
type indexStore struct {
	db    *badger.DB
	log   *slog.Logger
	chunk int
	// ready is closed once the saved copy was loaded or refused (Load).
	ready     chan struct{}
	readyOnce sync.Once
	saveMu    sync.Mutex // one save at a time

	mu          sync.Mutex // guards the fields below
	source      string
	loadedAt    uint64
	saved       uint64
	saves       uint64
	discarded   uint64
	lastDiscard string
}

func (s *indexStore) built(source string, at uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.source, s.loadedAt = source, at
}

func (s *indexStore) savedAt() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saved
}

// historyMeta is the header of the saved copy.
type historyMeta struct {
	Format   int    `json:"format"`
	Position uint64 `json:"position"`
	// ID and Hash are those of the log's record at Position.
	ID         string   `json:"id"`
	Hash       string   `json:"hash,omitempty"`
	Generation uint64   `json:"generation"`
	Size       int      `json:"size"`
	ChunkSize  int      `json:"chunk_size"`
	CRC32C     []uint32 `json:"crc32c"` // one per chunk
	SHA256     string   `json:"sha256"` // of the whole body
}

var (
	histMetaKey     = []byte("x/history/meta")
	histChunkPrefix = []byte("x/history/c/")
	castagnoli      = crc32.MakeTable(crc32.Castagnoli)
)

func histGenPrefix(gen uint64) []byte { return fmt.Appendf(nil, "x/history/c/%016x/", gen) }
func histChunkKey(gen uint64, n int) []byte {
	return fmt.Appendf(histGenPrefix(gen), "%08d", n)
}

// UseStore makes the index a view with a checkpoint in db (the views' database). Call it
// before the index answers anything, and then Run (or Load): until the saved copy is loaded
// or refused, CatchUp waits.
func (x *HistoryIndex) UseStore(db *badger.DB, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	x.store = &indexStore{db: db, log: log, chunk: HistoryIndexChunk, ready: make(chan struct{})}
}

// Run loads the saved copy (Load), catches up from its position in the background of the
// queries (they wait for the catch-up as on first use), then saves the index at each
// checkpoint (every interval, when it has grown enough: HistorySaveGrowth) and once more when
// ctx ends (a clean shutdown). It returns when ctx ends.
func (x *HistoryIndex) Run(ctx context.Context, every time.Duration) {
	s := x.store
	if s == nil {
		return
	}
	if every <= 0 {
		every = 10 * time.Second
	}
	if err := x.Load(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("history index: the saved copy was not loaded; building from the log", "err", err)
	}
	if err := x.CatchUp(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("history index: catch up after start", "err", err)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := x.Save(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("history index: save at shutdown", "err", err)
			}
			return
		case <-t.C:
			pos, saved := x.Position(), s.savedAt()
			if pos > saved && pos-saved >= HistorySaveMin && pos-saved >= saved/HistorySaveGrowth {
				if err := x.Save(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("history index: save at checkpoint", "err", err)
				}
			}
		}
	}
}

// Stats reports where the index came from, what it read and its saved copy.
func (x *HistoryIndex) Stats() HistoryIndexStats {
	st := HistoryIndexStats{Position: x.Position(), Read: x.read.Load()}
	if s := x.store; s != nil {
		s.mu.Lock()
		st.Source, st.LoadedAt, st.Saved, st.Saves = s.source, s.loadedAt, s.saved, s.saves
		st.Discarded, st.LastDiscard = s.discarded, s.lastDiscard
		s.mu.Unlock()
	}
	if st.Source == "" && st.Position > 0 {
		st.Source = SourceLog
	}
	return st
}

// Save writes the index to its store when it covers another position than the saved copy
// (nothing without a store or before anything was indexed).
func (x *HistoryIndex) Save(ctx context.Context) error {
	if x.store == nil {
		return nil
	}
	return x.save(ctx, false)
}

func (x *HistoryIndex) save(ctx context.Context, force bool) error {
	s := x.store
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	// The encoding reads the arrays under the read lock: queries go on, a catch-up waits.
	x.mu.RLock()
	pos, id, hash := x.pos, x.lastID, x.hash
	if pos == 0 || (!force && pos == s.savedAt()) {
		x.mu.RUnlock()
		return nil
	}
	body := x.encodeLocked()
	x.mu.RUnlock()

	start := time.Now()
	sum := sha256.Sum256(body)
	meta := historyMeta{Format: HistoryIndexFormat, Position: pos, ID: id, Hash: hash, Generation: uint64(time.Now().UnixNano()),
		Size: len(body), ChunkSize: s.chunk, SHA256: hex.EncodeToString(sum[:])}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for i := 0; i*s.chunk < len(body); i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("history index: save: %w", err)
		}
		part := body[i*s.chunk : min((i+1)*s.chunk, len(body))]
		meta.CRC32C = append(meta.CRC32C, crc32.Checksum(part, castagnoli))
		if err := wb.Set(histChunkKey(meta.Generation, i), part); err != nil {
			return fmt.Errorf("history index: save chunk %d: %w", i, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("history index: save the chunks: %w", err)
	}
	raw, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("history index: encode the header: %w", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(histMetaKey, raw) }); err != nil {
		return fmt.Errorf("history index: save the header: %w", err)
	}
	s.mu.Lock()
	s.saved = pos
	s.saves++
	s.mu.Unlock()
	if err := s.dropOtherGenerations(meta.Generation); err != nil {
		s.log.Warn("history index: delete the previous copy", "err", err)
	}
	s.log.Debug("history index saved", "position", pos, "bytes", len(body), "chunks", len(meta.CRC32C), "seconds", time.Since(start).Seconds())
	return nil
}

// dropOtherGenerations deletes the chunks of every copy but gen (the previous one, and any
// left by a save cut short).
func (s *indexStore) dropOtherGenerations(gen uint64) error {
	keep := histGenPrefix(gen)
	var stale [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: histChunkPrefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if k := it.Item().Key(); !bytes.HasPrefix(k, keep) {
				stale = append(stale, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil || len(stale) == 0 {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range stale {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// Load reads the saved copy, checks it (see the top of this file) and, if it passes and the
// index holds nothing yet, makes it the index; CatchUp then reads the log from its position
// on. A copy that fails a check is discarded: logged, counted (Stats) and the index is built
// from the log. An error is returned only when the store or the log cannot be read; the
// index is then built from the log too. Either way, CatchUp stops waiting for it.
func (x *HistoryIndex) Load(ctx context.Context) error {
	s := x.store
	if s == nil {
		return nil
	}
	defer s.readyOnce.Do(func() { close(s.ready) })
	start := time.Now()
	d, meta, err := x.loadCopy(ctx)
	var refused *HistoryCopyError
	switch {
	case errors.As(err, &refused):
		s.mu.Lock()
		s.discarded++
		s.lastDiscard = refused.Reason
		s.source = SourceLog
		s.mu.Unlock()
		s.log.Warn("history index: saved copy discarded; building it from the log", "reason", refused.Reason)
		return nil
	case err != nil:
		s.built(SourceLog, 0)
		return err
	case d == nil:
		s.built(SourceLog, 0)
		s.log.Info("history index: no saved copy; building it from the log")
		return nil
	}
	x.catch.Lock()
	defer x.catch.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.pos != 0 {
		return nil // built meanwhile (a rebuild): keep it
	}
	x.pos, x.hash, x.lastID, x.orgs = d.pos, meta.Hash, meta.ID, d.orgs
	x.positions, x.times, x.timesOK = d.positions, d.times, d.timesOK
	s.mu.Lock()
	s.source, s.loadedAt, s.saved = SourceSaved, d.pos, d.pos
	s.mu.Unlock()
	s.log.Info("history index loaded from its saved copy", "position", d.pos, "bytes", meta.Size, "seconds", time.Since(start).Seconds())
	return nil
}

// loadCopy reads and checks the saved copy (nil when there is none).
func (x *HistoryIndex) loadCopy(ctx context.Context) (*decodedIndex, historyMeta, error) {
	s := x.store
	var meta historyMeta
	var raw []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(histMetaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		raw, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, meta, fmt.Errorf("history index: read the saved header: %w", err)
	}
	if raw == nil {
		return nil, meta, nil
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, meta, refusedCopy("its header does not decode: %v", err)
	}
	if meta.Format != HistoryIndexFormat {
		return nil, meta, refusedCopy("it has format %d; this release reads format %d", meta.Format, HistoryIndexFormat)
	}
	if meta.Position == 0 {
		return nil, meta, refusedCopy("its header covers no position")
	}
	head, err := x.h.Head(ctx)
	if err != nil {
		return nil, meta, fmt.Errorf("history index: read the log head: %w", err)
	}
	if meta.Position > head {
		return nil, meta, refusedCopy("it covers position %d, beyond the log head %d (the log was restored or replaced)", meta.Position, head)
	}
	recs, err := x.Records(ctx, []uint64{meta.Position})
	if err != nil || len(recs) != 1 {
		return nil, meta, refusedCopy("the log cannot read position %d to compare it: %v", meta.Position, err)
	}
	if reason := notLogRecord(meta.ID, meta.Hash, recs[0]); reason != "" {
		return nil, meta, refusedCopy("its last record is not the log's (the log was restored or replaced): %s", reason)
	}
	if meta.ChunkSize <= 0 || meta.ChunkSize > maxHistoryChunk || meta.Size <= 0 ||
		len(meta.CRC32C) != (meta.Size+meta.ChunkSize-1)/meta.ChunkSize {
		return nil, meta, refusedCopy("its header is inconsistent (size %d, chunk size %d, %d checksums)", meta.Size, meta.ChunkSize, len(meta.CRC32C))
	}
	body := make([]byte, 0, meta.Size)
	err = s.db.View(func(txn *badger.Txn) error {
		for i, want := range meta.CRC32C {
			if err := ctx.Err(); err != nil {
				return err
			}
			item, err := txn.Get(histChunkKey(meta.Generation, i))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return refusedCopy("chunk %d of %d is missing (the copy is truncated)", i, len(meta.CRC32C))
			}
			if err != nil {
				return err
			}
			n := min(meta.ChunkSize, meta.Size-len(body))
			if int(item.ValueSize()) != n {
				return refusedCopy("chunk %d holds %d bytes, the header says %d (the copy is truncated or damaged)", i, item.ValueSize(), n)
			}
			from := len(body)
			// ValueCopy writes into body's spare capacity (it holds the whole size).
			if _, err := item.ValueCopy(body[from:from]); err != nil {
				return err
			}
			body = body[:from+n]
			if crc32.Checksum(body[from:], castagnoli) != want {
				return refusedCopy("chunk %d fails its CRC-32C (the copy is damaged)", i)
			}
		}
		return nil
	})
	if err != nil {
		var refused *HistoryCopyError
		if errors.As(err, &refused) {
			return nil, meta, err
		}
		return nil, meta, fmt.Errorf("history index: read the saved chunks: %w", err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != meta.SHA256 {
		return nil, meta, refusedCopy("the whole fails its SHA-256 (the copy is damaged)")
	}
	d, err := decodeIndex(body, meta.Position, x.seed)
	if err != nil {
		return nil, meta, refusedCopy("it does not decode: %v", err)
	}
	return d, meta, nil
}

// The body of a saved copy (little-endian):
//
//	"RHIX" format:u32 position:u64 timesOK:u8
//	n:u64 positions:n×u64 times:n×i64
//	orgs:u64, then per organization (by id):
//	  len:u64 id, len:u64 arena, keys:u64 ends:keys×u64 first:keys×u64,
//	  several:u64, then per key with several positions (by key id): id:u32 n:u64 n×u64
const histMagic = "RHIX"

// encodeLocked encodes the index; x.mu is held (read).
func (x *HistoryIndex) encodeLocked() []byte {
	ids := make([]string, 0, len(x.orgs))
	size := len(histMagic) + 4 + 8 + 1 + 8 + 16*len(x.positions) + 8
	for id, o := range x.orgs {
		ids = append(ids, id)
		size += 8 + len(id) + 8 + len(o.arena) + 8 + 16*len(o.ends) + 8
		for _, l := range o.more {
			size += 4 + 8 + 8*len(l)
		}
	}
	slices.Sort(ids)
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	b = append(b, histMagic...)
	b = le.AppendUint32(b, HistoryIndexFormat)
	b = le.AppendUint64(b, x.pos)
	if x.timesOK {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = le.AppendUint64(b, uint64(len(x.positions)))
	for _, p := range x.positions {
		b = le.AppendUint64(b, p)
	}
	for _, t := range x.times {
		b = le.AppendUint64(b, uint64(t))
	}
	b = le.AppendUint64(b, uint64(len(ids)))
	for _, id := range ids {
		o := x.orgs[id]
		b = le.AppendUint64(b, uint64(len(id)))
		b = append(b, id...)
		b = le.AppendUint64(b, uint64(len(o.arena)))
		b = append(b, o.arena...)
		b = le.AppendUint64(b, uint64(len(o.ends)))
		for _, e := range o.ends {
			b = le.AppendUint64(b, uint64(e))
		}
		for _, f := range o.first {
			b = le.AppendUint64(b, f)
		}
		several := make([]uint32, 0, len(o.more))
		for k := range o.more {
			several = append(several, k)
		}
		slices.Sort(several)
		b = le.AppendUint64(b, uint64(len(several)))
		for _, k := range several {
			l := o.more[k]
			b = le.AppendUint32(b, k)
			b = le.AppendUint64(b, uint64(len(l)))
			for _, p := range l {
				b = le.AppendUint64(b, p)
			}
		}
	}
	return b
}

// decodedIndex is a saved copy decoded.
type decodedIndex struct {
	pos       uint64
	orgs      map[string]*orgPostings
	positions []uint64
	times     []int64
	timesOK   bool
}

// byteReader reads a body; the first error sticks.
type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *byteReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated: %d bytes wanted, %d left", n, len(r.b))
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *byteReader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (r *byteReader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// count reads a count of items of each bytes, which must fit in what is left.
func (r *byteReader) count(each uint64, what string) uint64 {
	n := r.u64()
	if r.err == nil && n > uint64(len(r.b))/each {
		r.fail("%s: %d items of %d bytes do not fit in the %d bytes left", what, n, each, len(r.b))
		return 0
	}
	return n
}

// sortedUpTo reports whether l is strictly increasing, above 0 and at most pos.
func sortedUpTo(l []uint64, pos uint64) bool {
	for i, p := range l {
		if p == 0 || p > pos || (i > 0 && p <= l[i-1]) {
			return false
		}
	}
	return true
}

// decodeIndex decodes a body saved at pos, interning its keys with seed.
func decodeIndex(body []byte, pos uint64, seed maphash.Seed) (*decodedIndex, error) {
	r := &byteReader{b: body}
	if string(r.take(uint64(len(histMagic)))) != histMagic {
		r.fail("not a history index (no %q)", histMagic)
	}
	if f := r.u32(); r.err == nil && f != HistoryIndexFormat {
		r.fail("body format %d", f)
	}
	if p := r.u64(); r.err == nil && p != pos {
		r.fail("body position %d, header %d", p, pos)
	}
	d := &decodedIndex{pos: pos, orgs: map[string]*orgPostings{}}
	switch ok := r.take(1); {
	case ok == nil:
	case ok[0] <= 1:
		d.timesOK = ok[0] == 1
	default:
		r.fail("times flag %d", ok[0])
	}
	n := r.count(16, "time index")
	d.positions = make([]uint64, n)
	for i := range d.positions {
		d.positions[i] = r.u64()
	}
	d.times = make([]int64, n)
	for i := range d.times {
		d.times[i] = int64(r.u64())
	}
	if r.err == nil && !sortedUpTo(d.positions, pos) {
		r.fail("the time index's positions are not sorted up to %d", pos)
	}
	orgs := r.count(32, "organizations")
	for range orgs {
		if r.err != nil {
			break
		}
		id := string(r.take(r.count(1, "organization id")))
		if _, dup := d.orgs[id]; r.err == nil && (id == "" || dup) {
			r.fail("organization id %q empty or twice", id)
		}
		o := newOrgPostings()
		o.arena = slices.Clone(r.take(r.count(1, "keys of "+id)))
		keys := r.count(16, "key ends of "+id)
		o.ends = make([]int, keys)
		last := 0
		for i := range o.ends {
			e := r.u64()
			if r.err == nil && (e < uint64(last) || e > uint64(len(o.arena))) {
				r.fail("organization %s: key %d ends at %d, outside %d..%d", id, i, e, last, len(o.arena))
			}
			o.ends[i] = int(e)
			last = int(e)
		}
		if r.err == nil && last != len(o.arena) {
			r.fail("organization %s: the keys end at %d of %d bytes", id, last, len(o.arena))
		}
		o.first = make([]uint64, keys)
		for i := range o.first {
			o.first[i] = r.u64()
		}
		if r.err == nil && slices.ContainsFunc(o.first, func(p uint64) bool { return p > pos }) {
			r.fail("organization %s: a key's first position is beyond %d", id, pos)
		}
		several := r.count(12, "lists of "+id)
		// The lists share one array; each has its own capacity, so appending to one
		// reallocates it and never writes into the next.
		shared := make([]uint64, 0, min(uint64(len(r.b))/8, several*4))
		for range several {
			if r.err != nil {
				break
			}
			k := r.u32()
			m := r.count(8, "positions of a key of "+id)
			if r.err == nil && (uint64(k) >= keys || m < 2) {
				r.fail("organization %s: list of key %d (of %d) with %d positions", id, k, keys, m)
			}
			if _, dup := o.more[k]; r.err == nil && dup {
				r.fail("organization %s: key %d has two lists", id, k)
			}
			from := len(shared)
			for range m {
				shared = append(shared, r.u64())
			}
			l := shared[from:len(shared):len(shared)]
			if r.err == nil && !sortedUpTo(l, pos) {
				r.fail("organization %s: key %d's positions are not sorted up to %d", id, k, pos)
			}
			o.more[k] = l
		}
		if r.err != nil {
			break
		}
		o.byHash = make(map[uint64]uint32, keys)
		for i := range o.ends {
			text := o.text(uint32(i))
			h := maphash.Bytes(seed, text)
			if _, taken := o.byHash[h]; taken {
				if o.clash == nil {
					o.clash = map[string]uint32{}
				}
				o.clash[string(text)] = uint32(i)
			} else {
				o.byHash[h] = uint32(i)
			}
		}
		d.orgs[id] = o
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the last organization", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return d, nil
}
