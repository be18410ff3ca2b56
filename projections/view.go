package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	jsonv2 "github.com/go-json-experiment/json"

	"roster/domain"
	"roster/eventstore"
	"roster/internal/pace"
)

// FormatVersion is the stored format of the org-state views; a view stored with
// another version is rebuilt from the log at start.
const FormatVersion = 3

// ErrPoison marks an event a view cannot apply; it goes to the dead-letter subject.
var ErrPoison = errors.New("poison event")

// View is a read model: every organization's state folded from the log, with the
// log position it has applied. Reads take the read lock; Apply takes the write lock.
type View struct {
	name    string
	presets domain.Presets
	log     *slog.Logger
	// pacer makes a flush's encoding bulk work (SetPacer); nil: unpaced.
	pacer *pace.Pacer

	mu   sync.RWMutex
	orgs map[string]*domain.Org
	// orgPos is the last position applied to each organization: a snapshot written ahead of
	// the checkpoint (a flush cut short) is never applied twice.
	orgPos   map[string]uint64
	position uint64
	// hash is the hash of the record at position ("" when unknown: a checkpoint written
	// before the chain, or events published before it); the next record must link to it.
	hash    string
	hasher  eventstore.ChainHasher // checks each record applied (linkLocked), under mu
	dirty   map[string]bool
	alarm   alarmState
	refused chan struct{} // closed at the first refusal (the log follower starts)
	applied chan struct{} // closed and replaced on every apply
	// cache, when enabled, remembers Check answers until their organization changes.
	cache *decisionCache
	// now is the clock reads are answered at: a membership whose end is at or before it is
	// gone from every read (domain/expiry.go). time.Now unless SetClock replaced it.
	now func() time.Time

	db        *badger.DB // nil: not persisted
	persisted uint64
	// flushing, when set (tests), runs in Flush after the lock is released and before the
	// copies are encoded.
	flushing func()

	// members, when enabled (EnableMemberIndex), is each organization's member index
	// (memberindex.go), kept as events apply.
	members   map[string]*OrgMemberIndex
	membersMu sync.Mutex
}

// EnableMemberIndex makes the view keep a member index per organization (ListMembers), built
// now from the state it holds and then updated as events apply.
func (v *View) EnableMemberIndex() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rebuildMemberIndexLocked()
}

// rebuildMemberIndexLocked forgets every organization's member index: each is built again
// from the organization's state the first time it is asked for (MemberIndex), so that a
// start or a swap does not build the indexes of organizations nobody lists.
func (v *View) rebuildMemberIndexLocked() {
	v.membersMu.Lock()
	defer v.membersMu.Unlock()
	v.members = make(map[string]*OrgMemberIndex, len(v.orgs))
}

// MemberIndex is the organization's member index, nil when the view keeps none. Call it only
// inside Read's fn (under the view's read lock), and use the index there only.
func (v *View) MemberIndex(orgID string) *OrgMemberIndex {
	if v.members == nil {
		return nil
	}
	// Readers hold the view's read lock (the state does not change); membersMu orders the
	// readers that build an organization's index on first use.
	v.membersMu.Lock()
	defer v.membersMu.Unlock()
	x := v.members[orgID]
	if x == nil {
		if o, ok := v.orgs[orgID]; ok {
			x = buildOrgMemberIndex(o)
			v.members[orgID] = x
		}
	}
	return x
}

// NewView makes an empty view; db may be nil for a view kept only in memory.
func NewView(name string, presets domain.Presets, db *badger.DB, log *slog.Logger) *View {
	if log == nil {
		log = slog.Default()
	}
	return &View{name: name, presets: presets, db: db, log: log.With("view", name),
		orgs: map[string]*domain.Org{}, orgPos: map[string]uint64{}, dirty: map[string]bool{}, applied: make(chan struct{}),
		refused: make(chan struct{}), now: time.Now}
}

// SetClock sets the clock reads are answered at (tests inject theirs); nil restores time.Now.
func (v *View) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.now = now
}

// Name of the view.
func (v *View) Name() string { return v.name }

// Position is the last log position the view applied.
func (v *View) Position() uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.position
}

// WaitFor blocks until the view has applied pos or ctx ends.
func (v *View) WaitFor(ctx context.Context, pos uint64) error {
	for {
		v.mu.RLock()
		done, ch := v.position >= pos, v.applied
		v.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Read runs fn with the organization's state under the read lock (nil if unknown), as of the
// view's clock: without the memberships whose end has come (domain.Org.At).
func (v *View) Read(orgID string, fn func(o *domain.Org, position uint64) error) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	o := v.orgs[orgID]
	if o != nil {
		o = o.At(v.now())
	}
	return fn(o, v.position)
}

// ReadAll runs fn over every organization under the read lock, as of the view's clock (Read).
func (v *View) ReadAll(fn func(orgs map[string]*domain.Org, position uint64) error) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	orgs, now := v.orgs, v.now()
	var copied map[string]*domain.Org
	for id, o := range v.orgs {
		if at := o.At(now); at != o {
			if copied == nil {
				copied = maps.Clone(v.orgs)
			}
			copied[id] = at
		}
	}
	if copied != nil {
		orgs = copied
	}
	return fn(orgs, v.position)
}

// Apply folds one log record into the view. Records at or below the view's position are
// skipped (at-least-once delivery becomes exactly-once effects). A record the view cannot
// decode still advances the position and returns an error wrapping ErrPoison.
func (v *View) Apply(r eventstore.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r.Position <= v.position {
		return nil
	}
	if r.Position != v.position+1 {
		v.log.Warn("gap in the event sequence", "expected", v.position+1, "got", r.Position)
	}
	err := v.applyLocked(r)
	v.position, v.hash = r.Position, r.Hash
	close(v.applied)
	v.applied = make(chan struct{})
	return err
}

func (v *View) applyLocked(r eventstore.Record) error {
	ev, err := domain.DecodeEvent(r.Type, r.Data)
	return v.applyDecodedLocked(r, ev, err)
}

// applyDecodedLocked applies a record whose data was decoded already (ev, or decodeErr).
func (v *View) applyDecodedLocked(r eventstore.Record, ev domain.Event, decodeErr error) error {
	if decodeErr != nil {
		return fmt.Errorf("%w: position %d: %v", ErrPoison, r.Position, decodeErr)
	}
	if !domain.ValidID(r.OrgID) {
		return fmt.Errorf("%w: position %d: org_id %q", ErrPoison, r.Position, r.OrgID)
	}
	if r.Position <= v.orgPos[r.OrgID] {
		return nil // already in this organization's snapshot
	}
	o, ok := v.orgs[r.OrgID]
	_, created := ev.(*domain.OrganizationCreated)
	if created {
		if ok && o.Exists() {
			return fmt.Errorf("%w: position %d: organization %s created twice", ErrPoison, r.Position, r.OrgID)
		}
		o = domain.NewOrg(r.OrgID, v.presets)
		v.orgs[r.OrgID] = o
	} else if !ok || !o.Exists() {
		return fmt.Errorf("%w: position %d: %s for unknown organization %s", ErrPoison, r.Position, r.Type, r.OrgID)
	}
	domain.Evolve(o, ev)
	if v.members != nil {
		// An organization whose index was never asked for keeps none until it is (MemberIndex):
		// a new one included, so that the indexes in memory are those of the organizations
		// listed, not of every organization (they took more memory than the states).
		if x := v.members[r.OrgID]; x != nil && !created {
			x.apply(o, ev)
		} else if created {
			delete(v.members, r.OrgID)
		}
	}
	v.orgPos[r.OrgID] = r.Position
	v.dirty[r.OrgID] = true
	if v.cache != nil {
		v.cache.invalidate(r.OrgID)
	}
	return nil
}

// Keys of a view in the views database.
func metaKey(view string) []byte { return []byte("v/" + view + "/meta") }
func orgKey(view, org string) []byte {
	return []byte("v/" + view + "/org/" + org)
}
func orgPrefix(view string) []byte { return []byte("v/" + view + "/org/") }

// orgSnapshot is one organization's stored state and the last position applied to it.
type orgSnapshot struct {
	Position uint64      `json:"position"`
	Org      *domain.Org `json:"org"`
}

type viewMeta struct {
	Format   int    `json:"format"`
	Position uint64 `json:"position"`
	// Hash is the hash of the record at Position (absent in checkpoints written before the chain).
	Hash string `json:"hash,omitempty"`
}

// decodeMeta decodes a stored checkpoint strictly (names case-sensitive, none unknown, none
// twice): a checkpoint edited so that it still decodes under a lenient decoder (a second
// "position", a "Position") is damage, not state (ErrSnapshotDamaged).
func decodeMeta(b []byte) (viewMeta, error) {
	var m viewMeta
	if err := jsonv2.Unmarshal(b, &m, jsonv2.RejectUnknownMembers(true)); err != nil {
		return viewMeta{}, fmt.Errorf("%w: checkpoint: %w", ErrSnapshotDamaged, err)
	}
	return m, nil
}

// Load reads the view's snapshot and checkpoint. A snapshot of another format is
// dropped, so the view starts empty and is rebuilt from the log; stale reports that.
func (v *View) Load() (stale bool, err error) {
	if v.db == nil {
		return false, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	err = v.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(v.name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var m viewMeta
		if err := item.Value(func(b []byte) (err error) { m, err = decodeMeta(b); return err }); err != nil {
			return err
		}
		if m.Format != FormatVersion {
			stale = true
			return nil
		}
		if err := v.loadSnapshotsLocked(txn); err != nil {
			return err
		}
		v.position, v.persisted, v.hash = m.Position, m.Position, m.Hash
		if v.members != nil {
			v.rebuildMemberIndexLocked()
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("load view %s: %w", v.name, err)
	}
	if stale {
		v.log.Info("stored view has another format; rebuilding it from the log")
		if err := v.db.DropPrefix([]byte("v/" + v.name + "/")); err != nil {
			return true, fmt.Errorf("drop stale view %s: %w", v.name, err)
		}
	}
	return stale, nil
}

// ErrSnapshotDamaged is a stored snapshot that cannot be the view's: it does not decode
// strictly, it is stored under another organization's key, or it is not the log's
// (CheckAgainstLog). The views are derived data: the daemon moves them aside and rebuilds
// them from the log.
var ErrSnapshotDamaged = errors.New("view snapshot damaged")

// CheckAgainstLog checks every loaded organization against the log: the record at the
// position its snapshot says it was last changed must be that organization's event at the
// version the snapshot holds. A snapshot of an organization the log does not have, ahead of
// the log, or whose position or version was altered (the view would skip the organization's
// events up to that position) is ErrSnapshotDamaged; an error reading the log is returned
// wrapped.
func (v *View) CheckAgainstLog(ctx context.Context, log interface {
	Read(ctx context.Context, from uint64, limit int) ([]eventstore.Record, error)
}) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for id, o := range v.orgs {
		pos := v.orgPos[id]
		var rec eventstore.Record
		if pos > 0 {
			recs, err := log.Read(ctx, pos, 1)
			if err != nil {
				return fmt.Errorf("check view %s against the log at position %d: %w", v.name, pos, err)
			}
			if len(recs) == 1 {
				rec = recs[0]
			}
		}
		if pos == 0 || rec.Position != pos || rec.OrgID != id || rec.Version != o.Version {
			return fmt.Errorf("%w: %s: organization %s at version %d, last changed at position %d, is not the log's (the record there: organization %q, version %d)",
				ErrSnapshotDamaged, orgKey(v.name, id), id, o.Version, pos, rec.OrgID, rec.Version)
		}
	}
	return nil
}

// loadSnapshotsLocked decodes the organizations' snapshots on every core: decoding them is
// most of a start with a current snapshot. One goroutine reads the values in key order and
// at most loadQueue of them wait for a decoder; the first error stops the load.
func (v *View) loadSnapshotsLocked(txn *badger.Txn) error {
	const loadQueue = 64
	type raw struct{ key, val []byte }
	in := make(chan raw, loadQueue)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return firstErr != nil
	}
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range in {
				var snap orgSnapshot
				// A name the snapshot type does not have is damage, not a field to skip: a
				// key whose case was altered would otherwise drop what it holds in silence.
				err := jsonv2.Unmarshal(r.val, &snap, jsonv2.RejectUnknownMembers(true))
				switch {
				case err != nil:
				case snap.Org == nil:
					err = errors.New("no state")
				case !bytes.Equal(r.key, orgKey(v.name, snap.Org.ID)):
					err = fmt.Errorf("it holds organization %q", snap.Org.ID)
				default:
					snap.Org.Attach(v.presets)
				}
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = fmt.Errorf("%w: %s: %w", ErrSnapshotDamaged, r.key, err)
				case err == nil:
					v.orgs[snap.Org.ID] = snap.Org
					v.orgPos[snap.Org.ID] = snap.Position
				}
				mu.Unlock()
			}
		}()
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: orgPrefix(v.name), PrefetchValues: true, PrefetchSize: loadQueue})
	var readErr error
	for it.Rewind(); it.Valid() && !failed(); it.Next() {
		val, err := it.Item().ValueCopy(nil)
		if err != nil {
			readErr = fmt.Errorf("snapshot %s: %w", it.Item().Key(), err)
			break
		}
		in <- raw{key: it.Item().KeyCopy(nil), val: val}
	}
	it.Close()
	close(in)
	wg.Wait()
	return errors.Join(readErr, firstErr)
}

// SetPacer makes Flush encode the changed organizations as bulk work (package pace): one
// organization at a time, keeping only the pacer's share of the time while requests are
// active. Call it before the view is flushed.
func (v *View) SetPacer(p *pace.Pacer) { v.pacer = p }

// Flush writes the changed organizations and the checkpoint in one Badger transaction.
func (v *View) Flush() error {
	if v.db == nil {
		return nil
	}
	v.mu.RLock()
	if v.position == v.persisted && len(v.dirty) == 0 {
		v.mu.RUnlock()
		return nil
	}
	// The changed organizations are copied under the read lock and encoded after it: encoding a
	// large organization takes milliseconds, and while a read lock is held an Apply waiting for
	// the write lock holds back every other reader (Check of any organization) behind it.
	type copied struct {
		id  string
		pos uint64
		org *domain.Org
	}
	copies := make([]copied, 0, len(v.dirty))
	for id := range v.dirty {
		c := copied{id: id, pos: v.orgPos[id]}
		if o := v.orgs[id]; o != nil {
			c.org = o.Clone()
		}
		copies = append(copies, c)
	}
	pos := v.position
	meta, _ := json.Marshal(viewMeta{Format: FormatVersion, Position: pos, Hash: v.hash})
	v.mu.RUnlock()
	if v.flushing != nil {
		v.flushing()
	}

	type kv struct{ k, v []byte }
	entries := make([]kv, 0, len(copies)+1)
	bulk := v.pacer.Bulk() // encoding every changed organization is bulk work
	for i, c := range copies {
		if i > 0 {
			_ = bulk.Yield(context.Background()) // bounded by the pacer's MaxWait
		}
		b, err := json.Marshal(orgSnapshot{Position: c.pos, Org: c.org})
		if err != nil {
			return fmt.Errorf("encode snapshot %s: %w", c.id, err)
		}
		entries = append(entries, kv{orgKey(v.name, c.id), b})
	}
	entries = append(entries, kv{metaKey(v.name), meta})

	wb := v.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range entries {
		if err := wb.Set(e.k, e.v); err != nil {
			return fmt.Errorf("flush view %s: %w", v.name, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("flush view %s: %w", v.name, err)
	}
	v.mu.Lock()
	v.persisted = pos
	// Only what was written is clean; anything applied since stays dirty.
	if v.position == pos {
		clear(v.dirty)
	}
	v.mu.Unlock()
	return nil
}

// RunFlusher flushes the view every interval until ctx ends, then once more.
func (v *View) RunFlusher(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := v.Flush(); err != nil {
				v.log.Error("flush view", "err", err)
			}
			return
		case <-t.C:
			if err := v.Flush(); err != nil {
				v.log.Error("flush view", "err", err)
			}
		}
	}
}

// catchUpBatch is how many records a catch-up applies under one lock.
const catchUpBatch = 512

// CatchUp applies every record of the log after the view's position, reading the log
// directly, in batches (one lock and one wake-up of waiting readers per batch).
func (v *View) CatchUp(ctx context.Context, log Log) error {
	return v.catchUp(ctx, log, nil)
}

func (v *View) catchUp(ctx context.Context, log Log, after func(pos uint64)) error {
	// Three stages on their own goroutines: the scan reads records, a decoder turns their data
	// into domain events, and the view applies them in order, a batch per lock.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scanned := make(chan []eventstore.Record, 4)
	decoded := make(chan []decodedRecord, 4)
	scanErr := make(chan error, 1)
	go func() {
		defer close(scanned)
		batch := make([]eventstore.Record, 0, catchUpBatch)
		err := log.Scan(ctx, v.Position()+1, func(r eventstore.Record) error {
			if batch = append(batch, r); len(batch) == catchUpBatch {
				select {
				case scanned <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
				batch = make([]eventstore.Record, 0, catchUpBatch)
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			select {
			case scanned <- batch:
			case <-ctx.Done():
			}
		}
		scanErr <- err
	}()
	go func() {
		defer close(decoded)
		for batch := range scanned {
			out := make([]decodedRecord, len(batch))
			for i, r := range batch {
				out[i].rec = r
				out[i].ev, out[i].err = domain.DecodeEvent(r.Type, r.Data)
			}
			select {
			case decoded <- out:
			case <-ctx.Done():
				return
			}
		}
	}()
	for batch := range decoded {
		if err := v.applyAll(batch); err != nil {
			cancel()
			for range decoded {
			}
			<-scanErr
			return err
		}
		if after != nil {
			after(batch[len(batch)-1].rec.Position)
		}
	}
	return <-scanErr
}

type decodedRecord struct {
	rec eventstore.Record
	ev  domain.Event
	err error
}

// applyAll applies decoded records in order under one lock; poison is logged and skipped.
// A record that does not link to the view's last one (position or prev_hash) stops it with an
// error wrapping ErrRefused: the view never folds a history other than the one it holds.
func (v *View) applyAll(rs []decodedRecord) (err error) {
	if len(rs) == 0 {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	defer func() {
		close(v.applied)
		v.applied = make(chan struct{})
	}()
	for _, d := range rs {
		if d.rec.Position <= v.position {
			continue
		}
		if reason := v.linkLocked(d.rec); reason != "" {
			return fmt.Errorf("%w: position %d: %s", ErrRefused, d.rec.Position, reason)
		}
		if err := v.applyDecodedLocked(d.rec, d.ev, d.err); err != nil {
			v.log.Warn("skipped poison event", "err", err)
		}
		v.position, v.hash = d.rec.Position, d.rec.Hash
	}
	return nil
}

// swapFrom replaces the view's content with a freshly built copy's (rebuild without
// downtime). It refuses, returning false, when the live view has moved past the copy.
func (v *View) swapFrom(fresh *View) bool {
	fresh.mu.Lock()
	orgs, orgPos, pos, hash := fresh.orgs, fresh.orgPos, fresh.position, fresh.hash
	fresh.mu.Unlock()
	v.mu.Lock()
	if pos < v.position {
		v.mu.Unlock()
		return false
	}
	v.orgs, v.orgPos, v.position, v.hash = orgs, orgPos, pos, hash
	v.dirty = map[string]bool{}
	for id := range orgs {
		v.dirty[id] = true
	}
	v.persisted = 0
	if v.members != nil {
		v.rebuildMemberIndexLocked()
	}
	if v.cache != nil {
		v.cache.clear()
	}
	close(v.applied)
	v.applied = make(chan struct{})
	v.mu.Unlock()
	return true
}
