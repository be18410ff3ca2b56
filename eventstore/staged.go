package eventstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"roster/internal/pace"
)

// Staged appends: a big append that does not hold the committer.
//
// Written at once, a 10,000-row import is some 20,000 keys and megabytes in one commit, and
// every other organization's one-record command queued behind it waited for all of it. A big
// append (BigAppend records or more) is staged instead:
//
//  1. AppendAsync writes its events, not yet sequenced, and its ReplyArg under staging keys of
//     their own (S<id16><chunk4>), a synced transaction per chunk, before the append joins the
//     queue. Nothing reads them but recoverStaged.
//  2. The committer checks it as any append (duplicate command, expected version) and writes
//     its header (T) with its first slice. From then on the append is completed, by this
//     committer or by the next open.
//  3. A group commit after that chains the next StageSlice records after the small appends
//     of that commit, with their positions and hashes: every one, unless BadgerOptions.Pacer
//     says other requests are being served, when a slice is a quantum of bulk work that waits
//     its pause (the small appends arriving meanwhile are committed alone). The last slice
//     writes the stream's version and the stored reply; the append is answered once that is
//     synced.
//  4. The next group commit deletes the header and the staging keys.
//
// Readers see the log up to its visible head: while an append is staged, the position before
// its first record (as Kafka's read-committed consumers stop at the last stable offset). The
// small appends chained between its slices are durable and answered at once; readers see them
// with it. An open that finds a header chains the events no slice reached (recoverStaged)
// before it serves anything.
//
// Badger keeps a value of ValueThreshold bytes or more in its value log and the key in its
// write-ahead log; a power cut before a sync may keep the key of a transaction and lose its
// value. So the header is small (the reply argument is staged, synced before the header is
// written), and it is deleted only after the stored reply (megabytes for an import, in the
// value log) is synced; an open that finds the header of a whole append rewrites a reply it
// cannot read.
//
// An append is staged only when its stored reply can be rebuilt at an open: it has no Reply
// func, or it has a ReplyArg and the store has a StagedReply (BadgerOptions).
const (
	prefixStaging = 'S'
	prefixStaged  = 'T'

	// StageSlice is how many records of a staged append one group commit chains (README
	// "Limits"): a one-record append queued beside it waits for at most that many.
	StageSlice = 256
	// MaxStaged bounds the big appends being staged or waiting to be chained at once (README
	// "Limits"); one more is refused with ErrStagedBusy before anything of it is written. Each
	// holds its events in memory and on disk until it is answered.
	MaxStaged = 4
	// stageChunk is how many events one staging key holds, stageArgChunk how many bytes of
	// the reply argument.
	stageChunk    = 256
	stageArgChunk = 256 << 10
	// stagedFormat is the header's encoding version.
	stagedFormat = 1
)

// ErrStagedBusy refuses a big append while MaxStaged others are staged or waiting to be chained.
var ErrStagedBusy = fmt.Errorf("%d big appends (1,024 records or more) are being written, the limit (eventstore.MaxStaged); retry shortly", MaxStaged)

// ErrStagedReply reports an open that found a staged append it cannot complete: the append's
// reply is built by the BadgerOptions.StagedReply the opener did not pass.
var ErrStagedReply = errors.New("a staged append needs BadgerOptions.StagedReply to be completed")

func stagedKey() []byte { return []byte{prefixStaged} }

func stagingPrefix(id [16]byte) []byte { return append([]byte{prefixStaging}, id[:]...) }

func stagingKey(id [16]byte, chunk int) []byte {
	return binary.BigEndian.AppendUint32(stagingPrefix(id), uint32(chunk))
}

// staging is where a big append's events and reply argument are staged (AppendAsync writes
// them): the events in keys 0..chunks-1, the argument in the argChunks keys after them.
type staging struct {
	id        [16]byte
	chunks    int
	argChunks int
	withReply bool // the stored reply is StagedReply(arg, records); else it is empty
}

// stagedAppend is the append the committer is chaining (committer only).
type stagedAppend struct {
	op       *appendOp
	staging  staging
	ck       string       // its command key ("" without a command id)
	version  uint64       // its stream's version before it
	firstPos uint64       // the position of its first record
	stored   []Record     // the records chained so far
	res      AppendResult // its answer, set by its last slice
	whole    bool         // its last slice is synced and it is answered: only the cleanup is left
	bulk     *pace.Bulk   // its slices' pace (BadgerOptions.Pacer)
}

// stagedHeader is what the header key holds: enough to complete the append at an open.
type stagedHeader struct {
	staging
	stream    string
	version   uint64
	commandID string
	events    int
}

func (h stagedHeader) encode() []byte {
	b := []byte{stagedFormat}
	b = append(b, h.id[:]...)
	b = binary.AppendUvarint(b, uint64(h.chunks))
	b = binary.AppendUvarint(b, uint64(h.argChunks))
	if h.withReply {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendString(b, h.stream)
	b = binary.AppendUvarint(b, h.version)
	b = appendString(b, h.commandID)
	return binary.AppendUvarint(b, uint64(h.events))
}

func decodeStagedHeader(v []byte) (stagedHeader, error) {
	var h stagedHeader
	bad := func(what string) (stagedHeader, error) {
		return stagedHeader{}, fmt.Errorf("%w: staged append header: %s", ErrCorruptLog, what)
	}
	if len(v) < 17 || v[0] != stagedFormat {
		return bad("unknown encoding")
	}
	copy(h.id[:], v[1:17])
	d := decoder{b: v[17:]}
	h.chunks = int(d.uvarint())
	h.argChunks = int(d.uvarint())
	switch d.byte() {
	case 0:
	case 1:
		h.withReply = true
	default:
		return bad("reply flag")
	}
	h.stream = d.string()
	h.version = d.uvarint()
	h.commandID = d.string()
	h.events = int(d.uvarint())
	if d.err != nil || len(d.b) != 0 || h.stream == "" || h.events <= 0 || h.chunks != (h.events+stageChunk-1)/stageChunk ||
		h.argChunks < 0 || h.argChunks > 1<<20 || (!h.withReply && h.argChunks != 0) {
		return bad("fields")
	}
	return h, nil
}

// decoder reads the header's fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errors.New("short")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errors.New("short")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// stageable reports whether req is staged: big, and its stored reply can be rebuilt at an open.
func (s *BadgerStore) stageable(req AppendRequest) bool {
	return len(req.Events) >= BigAppend && (req.Reply == nil || (req.ReplyArg != nil && s.stagedReply != nil))
}

// stage writes req's events and reply argument under staging keys, a chunk per transaction,
// each synced (a later one may open a memtable whose file a power cut keeps while it loses
// this one's). Small transactions matter: a reader of the log (a command's duplicate check among
// them) waits for every transaction being written, and one of a whole import held them ~100 ms.
//
// A chunk is a quantum of bulk work (BadgerOptions.Pacer): while other requests are active,
// the next chunk waits so that staging keeps only the pacer's share of the time.
func (s *BadgerStore) stage(ctx context.Context, req AppendRequest) (staging, error) {
	release, err := s.readGuard()
	if err != nil {
		return staging{}, err
	}
	defer release()
	st := staging{id: uuid.New(), chunks: (len(req.Events) + stageChunk - 1) / stageChunk, withReply: req.Reply != nil}
	var arg []byte
	if st.withReply {
		arg = req.ReplyArg
		st.argChunks = (len(arg) + stageArgChunk - 1) / stageArgChunk
	}
	put := func(c int, v []byte) error {
		txn := s.db.NewTransaction(true)
		defer txn.Discard()
		if err := txn.Set(stagingKey(st.id, c), v); err != nil {
			return fmt.Errorf("stage chunk %d: %w", c, err)
		}
		return s.commitSynced(txn)
	}
	var v []byte
	bulk := s.pacer.Bulk()
	for c := range st.chunks {
		v = v[:0]
		for _, ev := range req.Events[c*stageChunk : min((c+1)*stageChunk, len(req.Events))] {
			rec := encodeRecord(ev)
			v = binary.AppendUvarint(v, uint64(len(rec)))
			v = append(v, rec...)
		}
		if err := put(c, v); err != nil {
			return staging{}, err
		}
		if err := bulk.Yield(ctx); err != nil {
			s.drop(&st)
			return staging{}, err
		}
	}
	for c := range st.argChunks {
		if err := put(st.chunks+c, arg[c*stageArgChunk:min((c+1)*stageArgChunk, len(arg))]); err != nil {
			return staging{}, err
		}
	}
	return st, nil
}

func (s *BadgerStore) commitSynced(txn *badger.Txn) error {
	if err := commitAndSync(s.db, txn); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	return nil
}

// dropStaging deletes the staging keys of the ids drop matches (nil: all of them): an
// append refused or never admitted. Leftovers are deleted at the next open.
func dropStaging(db *badger.DB, drop func(id []byte) bool) error {
	var keys [][]byte
	if err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixStaging}, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if k := it.Item().Key(); drop == nil || (len(k) >= 17 && drop(k[1:17])) {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), dropUnit)
		if err := db.Update(func(txn *badger.Txn) error {
			for _, k := range keys[:n] {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// drop deletes st's keys; a failure leaves them to the next open.
func (s *BadgerStore) drop(st *staging) {
	if err := dropStaging(s.db, func(id []byte) bool { return bytes.Equal(id, st.id[:]) }); err != nil {
		s.log.Warn("eventstore: could not remove the staging of a refused append; the next open removes it", "err", err)
	}
}

// readStaging reads a staging's events and reply argument back.
func readStaging(txn *badger.Txn, h stagedHeader) (evs []Record, arg []byte, err error) {
	evs = make([]Record, 0, h.events)
	if h.withReply {
		arg = []byte{}
	}
	for c := range h.chunks + h.argChunks {
		item, err := txn.Get(stagingKey(h.id, c))
		if err != nil {
			return nil, nil, fmt.Errorf("staging chunk %d: %w", c, err)
		}
		if err := itemValue(item, func(v []byte) error {
			if c >= h.chunks {
				arg = append(arg, v...)
				return nil
			}
			for len(v) > 0 {
				n, k := binary.Uvarint(v)
				if k <= 0 || n > uint64(len(v)-k) {
					return fmt.Errorf("%w: staging chunk %d is cut short", ErrCorruptLog, c)
				}
				var r Record
				if err := decodeRecord(v[k:k+int(n)], &r); err != nil {
					return fmt.Errorf("staging chunk %d: %w", c, err)
				}
				evs = append(evs, r)
				v = v[k+int(n):]
			}
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	if len(evs) != h.events {
		return nil, nil, fmt.Errorf("%w: staged append has %d events where its header says %d", ErrCorruptLog, len(evs), h.events)
	}
	return evs, arg, nil
}

// sliceEntries are the writes of records stored for stream: each record and its stream key,
// then a tail of the head key and the marker, which extra entries follow.
func sliceEntries(stream string, stored []Record, extra ...kv) appendEntries {
	e := appendEntries{records: make([]kv, 0, 2*len(stored)), tail: make([]kv, 0, 2+len(extra))}
	for _, r := range stored {
		e.records = append(e.records, kv{eventKey(r.Position), encodeRecord(r)}, kv{streamKey(stream, r.Version), u64(r.Position)})
	}
	last := stored[len(stored)-1]
	// The committer chained these records on a verified head: the marker follows.
	e.tail = append(e.tail, kv{headKey(), u64(last.Position)}, kv{markerKey(), markerValue(last.Position, last.Hash)})
	e.tail = append(e.tail, extra...)
	return e
}

// commitTail is what commits an append's records after sliceEntries' tail: the stream's version
// and, with a command id, the stored reply (stored even without a Reply func, so that a repeat
// is still detected). The last slice of a staged append writes it too. stored is what is
// written for the reply (storedReply: never nil), which nothing may alter until it is committed.
func commitTail(stream, commandID string, version uint64, stored []byte) []kv {
	out := []kv{{versionKey(stream), u64(version)}}
	if commandID != "" {
		out = append(out, kv{commandKey(stream, commandID), stored})
	}
	return out
}

// cleanupEntries delete a staged append's header and staging keys.
func cleanupEntries(h staging) []kv {
	out := []kv{{stagedKey(), nil}}
	for c := range h.chunks + h.argChunks {
		out = append(out, kv{stagingKey(h.id, c), nil})
	}
	return out
}

func (g *stagedAppend) header() stagedHeader {
	req := g.op.req
	return stagedHeader{staging: g.staging, stream: req.Stream, version: g.version, commandID: req.CommandID, events: len(req.Events)}
}

// stagedReplyOf builds a staged append's stored reply from its argument and all its records,
// appending it to dst. StagedReply gets stored itself, not a copy (it must not alter it).
func (s *BadgerStore) stagedReplyOf(dst []byte, h stagedHeader, arg []byte, stored []Record) (reply []byte, err error) {
	if !h.withReply {
		return nil, nil
	}
	if s.stagedReply == nil {
		return nil, ErrStagedReply
	}
	defer func() {
		if p := recover(); p != nil {
			reply, err = nil, fmt.Errorf("staged reply func panicked: %v", p)
		}
	}()
	if reply, err = s.stagedReply(dst, arg, stored); err != nil {
		return nil, fmt.Errorf("staged reply func: %w", err)
	}
	if reply == nil {
		reply = []byte{}
	}
	return reply, nil
}

// stagedBufs are the buffers a staged append's last slice fills: its records as chained and
// its reply.
type stagedBufs struct {
	stored []Record
	reply  []byte
}

// newStagedBufs sizes req's buffers: every record, and a reply of the argument and, for each
// record, its id, type and position with room for their quoting (a guess: a reply that does
// not fit grows).
func newStagedBufs(req AppendRequest) *stagedBufs {
	n := 128 + len(req.ReplyArg)
	for _, ev := range req.Events {
		n += 64 + len(ev.ID) + len(ev.Type)
	}
	b := &stagedBufs{stored: make([]Record, 0, len(req.Events))}
	if req.ReplyArg != nil {
		b.reply = make([]byte, 0, n)
	}
	return b
}

// stagedStep is what a group commit did for the staged append.
type stagedStep int

const (
	stepNone    stagedStep = iota
	stepSlice              // chained a slice
	stepWhole              // chained its last slice, with the version and the reply: answer it
	stepCleanup            // deleted its header and staging keys: it is done
)

// advanceStaged adds the staged append's next step to w after the batch's appends, on st. An
// error fails the batch.
func (s *BadgerStore) advanceStaged(w *txnWriter, st *batchState) (stagedStep, error) {
	g := s.staged
	if g.whole {
		if _, fatal := w.add(appendEntries{tail: cleanupEntries(g.staging)}); fatal != nil {
			return stepNone, fatal
		}
		return stepCleanup, nil
	}
	req := g.op.req
	from := len(g.stored)
	to := min(from+StageSlice, len(req.Events))
	stored := sequence(AppendRequest{Stream: req.Stream, Events: req.Events[from:to]}, st.head, g.version+uint64(from), st.lastTime, st.lastHash)
	h := g.header()
	var extra []kv
	if from == 0 {
		g.firstPos = stored[0].Position
		extra = append(extra, kv{stagedKey(), h.encode()})
	}
	step := stepSlice
	var reply []byte
	if to == len(req.Events) {
		step = stepWhole
		// g.stored has room for every record (stagedBufs): appending to it allocates nothing,
		// and g.stored keeps its length if this slice fails. The reply goes into its buffer
		// and is stored as it is: the caller gets it only after it is committed.
		all := append(g.stored, stored...)
		var err error
		if reply, err = s.stagedReplyOf(g.op.stagedBufs.reply, h, req.ReplyArg, all); err != nil {
			return stepNone, fmt.Errorf("staged append of %s: %w", req.Stream, err)
		}
		reply = storedReplyOwned(reply)
		g.res = AppendResult{Records: all, Reply: reply}
		extra = append(extra, commitTail(h.stream, h.commandID, stored[len(stored)-1].Version, reply)...)
	}
	opErr, fatal := w.add(sliceEntries(req.Stream, stored, extra...))
	if fatal == nil && opErr != nil {
		fatal = opErr // admitted, its header perhaps written: no refusal of it alone
	}
	if fatal != nil {
		return stepNone, fatal
	}
	g.stored = append(g.stored, stored...)
	end := stored[len(stored)-1]
	st.head, st.lastTime, st.lastHash = end.Position, end.Time, end.Hash
	if step == stepWhole {
		st.versions[req.Stream] = end.Version
		if g.ck != "" {
			st.cmds[g.ck] = reply
		}
	}
	return step, nil
}

// recoverStaged completes a staged append an earlier process left (its header is on disk):
// the events no slice chained are chained after head with the stream's version and the reply,
// or, when it is whole, a reply whose value a power cut lost is written again; then the header
// and the staging keys are deleted. Staging keys no header names are deleted too. It returns
// the new head.
func (s *BadgerStore) recoverStaged(head uint64) (uint64, error) {
	var h stagedHeader
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stagedKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return itemValue(item, func(v []byte) (err error) {
			h, err = decodeStagedHeader(v)
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("read staged header: %w", err)
	}
	if !found {
		if err := dropStaging(s.db, nil); err != nil {
			return 0, fmt.Errorf("remove the staging of appends never admitted: %w", err)
		}
		return head, nil
	}
	if h.withReply && s.stagedReply == nil {
		return 0, fmt.Errorf("the append of command %q to %s was cut short: %w", h.commandID, h.stream, ErrStagedReply)
	}
	var evs, chained []Record
	var arg []byte
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if evs, arg, err = readStaging(txn, h); err != nil {
			return err
		}
		for i := range evs {
			item, err := txn.Get(streamKey(h.stream, h.version+uint64(i)+1))
			if errors.Is(err, badger.ErrKeyNotFound) {
				break
			}
			if err != nil {
				return err
			}
			var pos uint64
			if err := itemValue(item, func(v []byte) error { pos = binary.BigEndian.Uint64(v); return nil }); err != nil {
				return err
			}
			r, err := recordAt(txn, pos)
			if err != nil {
				return err
			}
			if r.ID != evs[i].ID || pos > head {
				return fmt.Errorf("%w: record %d is not event %d of the staged append", ErrCorruptLog, pos, i)
			}
			chained = append(chained, r)
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("read staged append of %s: %w", h.stream, err)
	}
	v := s.versions[h.stream]
	whole := len(chained) == len(evs)
	if (!whole && v != h.version) || (whole && v != h.version+uint64(len(evs))) {
		return 0, fmt.Errorf("%w: staged append of %s after version %d with %d of its %d events chained, but the stream is at %d",
			ErrCorruptLog, h.stream, h.version, len(chained), len(evs), v)
	}
	rest := sequence(AppendRequest{Stream: h.stream, Events: evs[len(chained):]}, head, h.version+uint64(len(chained)), s.lastTime, s.lastHash)
	all := append(chained, rest...)
	var entries appendEntries
	switch {
	case !whole:
		reply, err := s.stagedReplyOf(nil, h, arg, all)
		if err != nil {
			return 0, err
		}
		entries = sliceEntries(h.stream, rest, commitTail(h.stream, h.commandID, all[len(all)-1].Version, storedReplyOwned(reply))...)
	case h.commandID != "":
		if _, ok, err := s.readReply(h.stream, h.commandID); err != nil || !ok {
			// Whole, but the reply's value-log bytes did not outlive the power cut.
			reply, err := s.stagedReplyOf(nil, h, arg, all)
			if err != nil {
				return 0, err
			}
			entries.tail = []kv{{commandKey(h.stream, h.commandID), storedReply(reply)}}
		}
	}
	if err := s.writeSynced(entries); err != nil {
		return 0, fmt.Errorf("complete staged append of %s: %w", h.stream, err)
	}
	// The header goes before the staging it names: a header left without it would stop every open.
	if err := s.writeSynced(appendEntries{tail: []kv{{stagedKey(), nil}}}); err != nil {
		return 0, fmt.Errorf("complete staged append of %s: %w", h.stream, err)
	}
	if err := dropStaging(s.db, nil); err != nil {
		return 0, fmt.Errorf("remove the staging of a completed append: %w", err)
	}
	s.versions[h.stream] = all[len(all)-1].Version
	if len(rest) > 0 {
		end := rest[len(rest)-1]
		s.lastTime, s.lastHash, head = end.Time, end.Hash, end.Position
	}
	s.log.Warn("eventstore: completed an append that was cut short after it was admitted (never acknowledged)",
		"stream", h.stream, "events", len(all), "chained_now", len(rest), "reply_rewritten", whole && len(entries.tail) > 0)
	return head, nil
}

// writeSynced writes entries (none: nothing) in as few transactions as they take, and syncs.
func (s *BadgerStore) writeSynced(entries appendEntries) error {
	if len(entries.records) == 0 && len(entries.tail) == 0 {
		return nil
	}
	w := &txnWriter{db: s.db, syncs: &s.syncs}
	defer w.discard()
	if opErr, fatal := w.add(entries); fatal != nil || opErr != nil {
		return errors.Join(opErr, fatal)
	}
	if err := w.commit(); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// dropRefused deletes the staging of an append that will not be chained.
func (s *BadgerStore) dropRefused(a *appendOp) {
	if a.staging == nil {
		return
	}
	if release, err := s.readGuard(); err == nil {
		defer release()
		s.drop(a.staging)
	}
}
