package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"roster/domain"
	"roster/eventstore"
)

// HistoryIndex is a view of the log that answers the as-of questions (AccessAt, Check's
// explanations, Audit) without reading an organization's whole stream. For each
// organization it keeps sorted lists of positions (posting lists) under keys:
//
//   - the facts that decide a user's access, one timeline per entity: "u:" user (their
//     organization membership, their workgroup memberships, their direct project and track
//     memberships), "g:" workgroup (its creation and its project and track memberships),
//     "p:" project (creation, status, visibility, tracks, partners), "i:" invitation, and "o"
//     for every other event of the organization (creation, custom roles, accounts, and any
//     event type this index does not know, so a new event type is never left out of a fold);
//   - Audit's dimensions: "A" every event, "P:" project_id, "U:" user_id or admin_user_id,
//     "C:" actor, "T:" type.
//
// An answer as of position P reads only the lists it needs, seeks to P by binary search
// and fetches only the records it folds or returns: O(log n + answer), whatever the size of
// the organization's history. A time is turned into a position the same way, by binary
// search over the times of the records indexed (PositionAt), without reading the log.
//
// The layout keeps the collector's work small however large the history grows: a key is
// interned as an id by a hash table of integers (map[uint64]uint32) over one byte arena of
// the keys' text, a key with a single position holds it in one []uint64 by id, and only a
// key with more positions has a slice of its own. So the index is a handful of pointer-free
// arrays plus one slice per key with several positions (a user with several events, a
// project, a type), not a string and a slice per key: at a million events of members
// joining (two single-position keys per member) that is a few dozen objects instead of
// millions for the collector to trace.
//
// The index lives in memory and is derived from the log alone: CatchUp reads what the log
// gained since the last call (each query calls it first), Reset forgets everything, and
// Rebuild (roster rebuild) builds it again from position 1. With a store (UseStore, Run:
// historyindex_store.go) it is a view with a checkpoint: saved beside the views' snapshots
// with the position it covers, loaded at start after checks against the log, and caught up
// from there; without one, a process builds it from the log on first use (a million events
// take some seconds). Its memory is about 30 bytes per key plus the key's text, 16 bytes per
// record (its position and time), and 8 bytes per position of a key with several.
type HistoryIndex struct {
	h History
	// catch serialises catch-ups; mu guards pos, orgs and the time index.
	catch sync.Mutex
	mu    sync.RWMutex
	pos   uint64
	// hash and id of the record at pos: a saved copy is checked against the log's record there.
	hash, lastID string
	orgs         map[string]*orgPostings
	seed         maphash.Seed
	// positions and times (Unix nanoseconds) of every record indexed, in log order; the
	// times never decrease (the log's own rule). timesOK is false once a record's time is
	// outside what Unix nanoseconds hold: PositionAt then asks the log.
	positions []uint64
	times     []int64
	timesOK   bool
	// decoded holds the events that carry a whole preset, decoded (Event).
	decMu   sync.Mutex
	decoded map[uint64]decodedEvent

	// read counts the records this index (and the copies Rebuild built) read from the log.
	read atomic.Uint64
	// store, when set (UseStore), saves and loads the index (historyindex_store.go).
	store *indexStore
}

// decodedEvent is a decoded event and its record's id (a log restored in place of another
// holds other records at the same positions).
type decodedEvent struct {
	id string
	ev domain.Event
}

// MaxDecodedPresetEvents bounds the history index's cache of decoded preset-bearing events
// (OrganizationCreated, PresetUpgraded: one per organization and upgrade, some tens of KiB
// each); when full, the cache starts over, and a fold whose event is not cached decodes it as
// it would without the cache.
const MaxDecodedPresetEvents = 512

// Event decodes a record's event. The events that carry a whole preset (OrganizationCreated,
// PresetUpgraded), which every as-of fold of their organization reads and whose decoding
// costs most of such a fold's allocations, are decoded once and shared: the log never
// changes a record, and folding only reads them (the preset they carry is read-only, like the
// presets a release ships). Every other event is decoded afresh, so a fold owns it.
func (x *HistoryIndex) Event(r eventstore.Record) (domain.Event, error) {
	if r.Type != domain.EvOrganizationCreated && r.Type != domain.EvPresetUpgraded {
		return domain.DecodeEvent(r.Type, r.Data)
	}
	x.decMu.Lock()
	d, ok := x.decoded[r.Position]
	x.decMu.Unlock()
	if ok && d.id == r.ID {
		return d.ev, nil
	}
	ev, err := domain.DecodeEvent(r.Type, r.Data)
	if err != nil {
		return nil, err
	}
	x.decMu.Lock()
	if x.decoded == nil || len(x.decoded) >= MaxDecodedPresetEvents {
		x.decoded = map[uint64]decodedEvent{}
	}
	x.decoded[r.Position] = decodedEvent{r.ID, ev}
	x.decMu.Unlock()
	return ev, nil
}

// orgPostings are one organization's posting lists. A key's id is found through byHash
// (the key's hash to its id) and checked against its text in arena (ends[id-1]:ends[id]);
// a key whose hash an earlier key holds goes to clash (rare: 64-bit hashes).
type orgPostings struct {
	byHash map[uint64]uint32
	clash  map[string]uint32
	arena  []byte
	ends   []int
	// first[id] is the key's first position; more[id] its whole list once it has two.
	first []uint64
	more  map[uint32][]uint64
}

func newOrgPostings() *orgPostings {
	return &orgPostings{byHash: map[uint64]uint32{}, more: map[uint32][]uint64{}}
}

func (o *orgPostings) text(id uint32) []byte {
	from := 0
	if id > 0 {
		from = o.ends[id-1]
	}
	return o.arena[from:o.ends[id]]
}

// id finds a key's id.
func (o *orgPostings) id(seed maphash.Seed, key string) (uint32, bool) {
	h := maphash.String(seed, key)
	if id, ok := o.byHash[h]; ok && string(o.text(id)) == key {
		return id, true
	}
	id, ok := o.clash[key]
	return id, ok
}

// intern finds or adds a key's id.
func (o *orgPostings) intern(seed maphash.Seed, key string) uint32 {
	h := maphash.String(seed, key)
	if id, ok := o.byHash[h]; ok {
		if string(o.text(id)) == key {
			return id
		}
		if id, ok := o.clash[key]; ok {
			return id
		}
	}
	id := uint32(len(o.ends))
	o.arena = append(o.arena, key...)
	o.ends = append(o.ends, len(o.arena))
	o.first = append(o.first, 0)
	if _, taken := o.byHash[h]; taken {
		if o.clash == nil {
			o.clash = map[string]uint32{}
		}
		o.clash[key] = id
	} else {
		o.byHash[h] = id
	}
	return id
}

// put adds pos to a key's list (each position once, in order).
func (o *orgPostings) put(seed maphash.Seed, key string, pos uint64) {
	id := o.intern(seed, key)
	switch l, ok := o.more[id]; {
	case ok:
		if l[len(l)-1] < pos {
			o.more[id] = append(l, pos)
		}
	case o.first[id] == 0:
		o.first[id] = pos
	case o.first[id] < pos:
		o.more[id] = []uint64{o.first[id], pos}
	}
}

// list is a key's posting list; it is never written below its length again.
func (o *orgPostings) list(seed maphash.Seed, key string) []uint64 {
	id, ok := o.id(seed, key)
	if !ok {
		return nil
	}
	if l, ok := o.more[id]; ok {
		return l[:len(l):len(l)]
	}
	if o.first[id] == 0 {
		return nil
	}
	return o.first[id : id+1 : id+1]
}

// NewHistoryIndex indexes the records of h.
func NewHistoryIndex(h History) *HistoryIndex {
	return &HistoryIndex{h: h, orgs: map[string]*orgPostings{}, seed: maphash.MakeSeed(), timesOK: true}
}

// Position is the last position indexed.
func (x *HistoryIndex) Position() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.pos
}

// Reset forgets the index; the next CatchUp builds it again from position 1.
func (x *HistoryIndex) Reset() {
	x.catch.Lock()
	defer x.catch.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.pos, x.hash, x.lastID, x.orgs = 0, "", "", map[string]*orgPostings{}
	x.positions, x.times, x.timesOK = nil, nil, true
	x.forgetDecoded()
}

func (x *HistoryIndex) forgetDecoded() {
	x.decMu.Lock()
	defer x.decMu.Unlock()
	x.decoded = nil
}

// Rebuild builds the index again from position 1 (roster rebuild's counterpart for the
// index: it is derived from the log alone) beside the one in use, and swaps it in: queries
// keep answering from the old copy until then. With a store, the rebuilt index is saved
// (replacing the saved copy) before Rebuild returns.
func (x *HistoryIndex) Rebuild(ctx context.Context) error {
	fresh := NewHistoryIndex(x.h)
	err := fresh.CatchUp(ctx)
	x.read.Add(fresh.read.Load())
	if err != nil {
		return err
	}
	x.catch.Lock()
	x.mu.Lock()
	x.pos, x.hash, x.lastID, x.orgs, x.seed = fresh.pos, fresh.hash, fresh.lastID, fresh.orgs, fresh.seed
	x.positions, x.times, x.timesOK = fresh.positions, fresh.times, fresh.timesOK
	x.forgetDecoded()
	x.mu.Unlock()
	x.catch.Unlock()
	if x.store != nil {
		x.store.built(SourceLog, 0)
		if err := x.save(ctx, true); err != nil {
			return fmt.Errorf("history index: save the rebuilt index: %w", err)
		}
	}
	return nil
}

// CatchUp indexes every record the log holds beyond the index's position. With a store, it
// first waits until the saved copy was loaded (or refused) at start (Run).
func (x *HistoryIndex) CatchUp(ctx context.Context) error {
	if x.store != nil {
		select {
		case <-x.store.ready:
		case <-ctx.Done():
			return fmt.Errorf("history index: wait for the saved copy to load: %w", ctx.Err())
		}
	}
	head, err := x.h.Head(ctx)
	if err != nil {
		return fmt.Errorf("history index: read the head: %w", err)
	}
	if head <= x.Position() {
		return nil
	}
	x.catch.Lock()
	defer x.catch.Unlock()
	from := x.Position() + 1
	if head < from {
		return nil
	}
	const batch = 4096
	pending := make([]eventstore.Record, 0, batch)
	flush := func() {
		if len(pending) == 0 {
			return
		}
		x.mu.Lock()
		for _, r := range pending {
			x.add(r)
		}
		x.mu.Unlock()
		x.read.Add(uint64(len(pending)))
		pending = pending[:0]
	}
	errDone := errors.New("done")
	err = x.h.Scan(ctx, from, func(r eventstore.Record) error {
		if r.Position > head {
			return errDone
		}
		pending = append(pending, r)
		if len(pending) == batch {
			flush()
		}
		if r.Position == head {
			return errDone
		}
		return nil
	})
	flush()
	if err != nil && !errors.Is(err, errDone) {
		return fmt.Errorf("history index: read the log from %d: %w", from, err)
	}
	return nil
}

// indexFields are the data fields the index reads of an event.
type indexFields struct {
	ProjectID    string `json:"project_id"`
	UserID       string `json:"user_id"`
	GroupID      string `json:"group_id"`
	AdminID      string `json:"admin_user_id"`
	InvitationID string `json:"invitation_id"`
}

// add indexes one record; x.mu is held.
func (x *HistoryIndex) add(r eventstore.Record) {
	if r.Position <= x.pos {
		return // indexed already
	}
	x.pos, x.hash, x.lastID = r.Position, r.Hash, r.ID
	if x.timesOK {
		if r.Time.Before(minIndexTime) || r.Time.After(maxIndexTime) {
			x.timesOK, x.positions, x.times = false, nil, nil
		} else {
			x.positions = append(x.positions, r.Position)
			x.times = append(x.times, r.Time.UnixNano())
		}
	}
	if r.OrgID == "" {
		return
	}
	o := x.orgs[r.OrgID]
	if o == nil {
		o = newOrgPostings()
		x.orgs[r.OrgID] = o
	}
	var f indexFields
	_ = jsonv2.Unmarshal(r.Data, &f)
	put := func(key string) { o.put(x.seed, key, r.Position) }
	put("A")
	put("T:" + r.Type)
	if r.Actor != "" {
		put("C:" + r.Actor)
	}
	if f.ProjectID != "" {
		put("P:" + f.ProjectID)
	}
	if f.UserID != "" {
		put("U:" + f.UserID)
	}
	if f.AdminID != "" && f.AdminID != f.UserID {
		put("U:" + f.AdminID)
	}
	put(factKey(r.Type, f))
}

// factKey is the access timeline an event belongs to (see HistoryIndex).
func factKey(typ string, f indexFields) string {
	switch typ {
	case domain.EvOrgMemberAdded, domain.EvOrgRoleChanged, domain.EvOrgMemberRemoved,
		domain.EvWorkgroupMemberAdded, domain.EvWorkgroupMemberRemoved:
		if f.UserID != "" {
			return "u:" + f.UserID
		}
	case domain.EvWorkgroupCreated:
		if f.GroupID != "" {
			return "g:" + f.GroupID
		}
	case domain.EvMemberAdded, domain.EvRoleChanged, domain.EvGrantsSet, domain.EvMemberRemoved:
		switch {
		case f.UserID != "" && f.GroupID == "":
			return "u:" + f.UserID
		case f.GroupID != "" && f.UserID == "":
			return "g:" + f.GroupID
		}
	case domain.EvProjectCreated, domain.EvProjectRenamed, domain.EvProjectVisibilitySet, domain.EvProjectArchived,
		domain.EvProjectUnarchived, domain.EvProjectDeleted, domain.EvTrackCreated, domain.EvTrackConfigured, domain.EvPartnerAdded:
		if f.ProjectID != "" {
			return "p:" + f.ProjectID
		}
	case domain.EvInvitationCreated, domain.EvInvitationAccepted, domain.EvInvitationRejected,
		domain.EvInvitationRevoked, domain.EvInvitationExpired:
		if f.InvitationID != "" {
			return "i:" + f.InvitationID
		}
	}
	return "o"
}

// Known reports whether the index holds any event of the organization.
func (x *HistoryIndex) Known(orgID string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.orgs[orgID]
	return ok
}

// List returns the posting list of one key of an organization (sorted positions). The
// slice is never written below its length again: callers may read it without the lock.
func (x *HistoryIndex) List(orgID, key string) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	o := x.orgs[orgID]
	if o == nil {
		return nil
	}
	return o.list(x.seed, key)
}

// The times the time index holds (Unix nanoseconds).
var (
	minIndexTime = time.Unix(0, math.MinInt64)
	maxIndexTime = time.Unix(0, math.MaxInt64)
)

// PositionAt is the last position whose time is at or before t (0 if none), as
// History.PositionAt answers it at the head it catches up to, found by binary search over
// the times indexed instead of reading records of the log. Should a record's time lie
// outside what the index holds (Unix nanoseconds), it asks the log.
func (x *HistoryIndex) PositionAt(ctx context.Context, t time.Time) (uint64, error) {
	if err := x.CatchUp(ctx); err != nil {
		return 0, err
	}
	x.mu.RLock()
	ok, indexed := x.timesOK, x.pos
	positions, times := x.positions, x.times
	x.mu.RUnlock()
	if !ok {
		return x.h.PositionAt(ctx, t)
	}
	switch {
	case t.Before(minIndexTime):
		return 0, nil
	case t.After(maxIndexTime):
		return indexed, nil
	}
	ns := t.UnixNano()
	i := sort.Search(len(times), func(i int) bool { return times[i] > ns })
	if i == 0 {
		return 0, nil
	}
	return positions[i-1], nil
}

// UpTo cuts a posting list to the positions at or before pos.
func UpTo(l []uint64, pos uint64) []uint64 {
	return l[:sort.Search(len(l), func(i int) bool { return l[i] > pos })]
}

// From cuts a posting list to the positions at or after pos.
func From(l []uint64, pos uint64) []uint64 {
	return l[sort.Search(len(l), func(i int) bool { return l[i] >= pos }):]
}

// Contains reports whether a posting list holds pos.
func Contains(l []uint64, pos uint64) bool {
	_, ok := slices.BinarySearch(l, pos)
	return ok
}

// RecordReader fetches records by position; the histories of this package implement it.
type RecordReader interface {
	RecordsAt(ctx context.Context, positions []uint64) ([]eventstore.Record, error)
}

// Records fetches the records at the given positions, in the order given.
func (x *HistoryIndex) Records(ctx context.Context, positions []uint64) ([]eventstore.Record, error) {
	if len(positions) == 0 {
		return nil, nil
	}
	if rr, ok := x.h.(RecordReader); ok {
		return rr.RecordsAt(ctx, positions)
	}
	out := make([]eventstore.Record, 0, len(positions))
	for _, p := range positions {
		var got *eventstore.Record
		errDone := errors.New("done")
		err := x.h.Scan(ctx, p, func(r eventstore.Record) error {
			got = &r
			return errDone
		})
		if err != nil && !errors.Is(err, errDone) {
			return nil, fmt.Errorf("read record %d: %w", p, err)
		}
		if got == nil || got.Position != p {
			return nil, fmt.Errorf("read record %d: not in the log", p)
		}
		out = append(out, *got)
	}
	return out, nil
}

// Facts returns, in log order, the organization's records up to pos that decide userID's
// access at projectID (every project when projectID is ""): the organization-wide events,
// the user's own timeline, that of every workgroup the user was in, and the project's.
// With invitations, the events of the invitations those records name come too (Check's
// explanations show them). Folding them with domain.Evolve gives a state in which the
// user's permissions at the project are those of the whole organization's fold.
func (x *HistoryIndex) Facts(ctx context.Context, orgID, userID, projectID string, pos uint64, invitations bool) ([]eventstore.Record, error) {
	own, err := x.Records(ctx, UpTo(x.List(orgID, "u:"+userID), pos))
	if err != nil {
		return nil, err
	}
	var groups []string
	var lists [][]uint64
	lists = append(lists, UpTo(x.List(orgID, "o"), pos))
	if projectID != "" {
		lists = append(lists, UpTo(x.List(orgID, "p:"+projectID), pos))
	}
	for _, r := range own {
		if r.Type == domain.EvWorkgroupMemberAdded {
			var f indexFields
			if json.Unmarshal(r.Data, &f) == nil && f.GroupID != "" && !slices.Contains(groups, f.GroupID) {
				groups = append(groups, f.GroupID)
				lists = append(lists, UpTo(x.List(orgID, "g:"+f.GroupID), pos))
			}
		}
	}
	rest, err := x.Records(ctx, mergePostings(lists...))
	if err != nil {
		return nil, err
	}
	out := append(own, rest...)
	if invitations {
		var ids []string
		for _, r := range out {
			var f indexFields
			if json.Unmarshal(r.Data, &f) == nil && f.InvitationID != "" && !slices.Contains(ids, f.InvitationID) {
				ids = append(ids, f.InvitationID)
			}
		}
		var il [][]uint64
		for _, id := range ids {
			il = append(il, UpTo(x.List(orgID, "i:"+id), pos))
		}
		inv, err := x.Records(ctx, mergePostings(il...))
		if err != nil {
			return nil, err
		}
		out = append(out, inv...)
	}
	slices.SortFunc(out, func(a, b eventstore.Record) int {
		switch {
		case a.Position < b.Position:
			return -1
		case a.Position > b.Position:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(out, func(a, b eventstore.Record) bool { return a.Position == b.Position }), nil
}

// mergePostings is the sorted union of posting lists.
func mergePostings(lists ...[]uint64) []uint64 {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]uint64, 0, n)
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// RecordsAt implements RecordReader over the local log.
func (h StoreHistory) RecordsAt(ctx context.Context, positions []uint64) ([]eventstore.Record, error) {
	out := make([]eventstore.Record, 0, len(positions))
	for i := 0; i < len(positions); {
		// A run of consecutive positions is one read.
		j := i + 1
		for j < len(positions) && positions[j] == positions[j-1]+1 {
			j++
		}
		recs, err := h.Store.Read(ctx, positions[i], j-i)
		if err != nil {
			return nil, fmt.Errorf("read records %d..%d: %w", positions[i], positions[j-1], err)
		}
		if len(recs) != j-i {
			return nil, fmt.Errorf("read records %d..%d: the log holds %d of them", positions[i], positions[j-1], len(recs))
		}
		out = append(out, recs...)
		i = j
	}
	return out, nil
}

// RecordsAt implements RecordReader over the stream (sequence = position).
func (h StreamHistory) RecordsAt(ctx context.Context, positions []uint64) ([]eventstore.Record, error) {
	s, err := h.stream(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.Record, 0, len(positions))
	for _, p := range positions {
		msg, err := s.GetMsg(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("read record %d: %w", p, err)
		}
		var r eventstore.Record
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			return nil, fmt.Errorf("decode record %d: %w", p, err)
		}
		out = append(out, r)
	}
	return out, nil
}
