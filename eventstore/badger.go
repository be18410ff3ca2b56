package eventstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"roster/internal/pace"
)

// Key layout. Every key starts with a one-byte type; numbers are fixed-width
// big-endian so that keys sort like the numbers.
//
//	e<pos8>                   -> record in the binary codec (codec.go; not JSON)
//	s<stream>\x00<version8>   -> pos8
//	v<stream>                 -> current version8
//	c<stream>\x00<commandID>  -> reply bytes
//	h                         -> head pos8
//	f                         -> format version8 (format.go)
//	m                         -> verified marker: pos8 + hash (32 raw bytes) (marker.go)
//	T                         -> the staged append being chained (staged.go)
//	S<id16><chunk4>           -> a big append's events, not yet sequenced (staged.go)
const (
	prefixEvent   = 'e'
	prefixStream  = 's'
	prefixVersion = 'v'
	prefixCommand = 'c'
	prefixHead    = 'h'
)

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func eventKey(pos uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixEvent
	binary.BigEndian.PutUint64(k[1:], pos)
	return k
}

func streamPrefix(stream string) []byte {
	k := make([]byte, 0, len(stream)+10)
	k = append(k, prefixStream)
	k = append(k, stream...)
	return append(k, 0)
}

func streamKey(stream string, version uint64) []byte {
	return append(streamPrefix(stream), u64(version)...)
}

func versionKey(stream string) []byte {
	return append([]byte{prefixVersion}, stream...)
}

func commandKey(stream, commandID string) []byte {
	k := make([]byte, 0, len(stream)+len(commandID)+2)
	k = append(k, prefixCommand)
	k = append(k, stream...)
	k = append(k, 0)
	return append(k, commandID...)
}

func headKey() []byte { return []byte{prefixHead} }

// BadgerOptions configures OpenBadger.
type BadgerOptions struct {
	// InMemory keeps everything in memory (tests only: nothing is durable).
	InMemory bool
	// Logger receives the store's and Badger's warnings and errors; nil discards them.
	Logger *slog.Logger
	// MaxBatch is the most appends one group commit takes; <= 0 gives 256.
	MaxBatch int
	// MemTableSize and BlockCacheSize size Badger's memtables and block cache in bytes (0 keeps
	// Badger's defaults).
	MemTableSize, BlockCacheSize int64
	// NumMemtables, NumCompactors, IndexCacheSize and ValueLogFileSize are Badger's options of
	// those names (BadgerSizing; 0 keeps Badger's defaults).
	NumMemtables, NumCompactors                      int
	IndexCacheSize, ValueLogFileSize, ValueThreshold int64
	// StagedReply builds the stored reply of a staged append (staged.go) from its request's
	// ReplyArg and its records as stored; it must give what the request's Reply gives. An open
	// that finds a staged append with a reply to complete needs it (ErrStagedReply). Nil: big
	// appends with a Reply func are written in one commit.
	//
	// It appends the reply to dst (which has room for it, so that the last slice of a big
	// append allocates little on the committer, where the collector's assist for a few
	// megabytes held every other append) and must not alter stored.
	StagedReply func(dst, arg []byte, stored []Record) ([]byte, error)
	// ReplySpan reads the positions of the first and last events a stored reply names (ok false:
	// not a reply it can read). With it the checksum pass checks that each command's records
	// and its stored reply agree (VerifyValues); nil: it checks only that the reply exists.
	ReplySpan func(reply []byte) (first, last uint64, ok bool)
	// Pacer, if set, makes a staged append bulk work (package pace): its staging chunks and
	// the group commits that chain its slices keep only the pacer's share of the time while
	// other requests are active. Nil: a staged append is chained in every group commit.
	Pacer *pace.Pacer
}

// BadgerSizing is the memory of a Badger database: what rosterd sizes for its working set
// (README "rosterd flags"). A zero field keeps Badger's default.
type BadgerSizing struct {
	// MemTableSize is one memtable's size; a transaction may take 15% of it, and each memtable
	// is an arena of about 1.3 times it in memory plus a write-ahead file of it mapped.
	MemTableSize int64
	// NumMemtables is how many memtables (the one written and those waiting to be flushed)
	// Badger keeps before writes stall (Badger: 5).
	NumMemtables int
	// BlockCacheSize and IndexCacheSize bound the caches of table blocks and of table indexes
	// and bloom filters (Badger: 256 MiB and 0, indexes then stay in memory unbounded).
	BlockCacheSize, IndexCacheSize int64
	// NumCompactors is how many compaction goroutines run (Badger: 4; at least 2).
	NumCompactors int
	// ValueLogFileSize is the size of one value-log file, mapped in memory (Badger: 1 GiB).
	ValueLogFileSize int64
	// BaseTableSize is the size of a table of the first level; compactions build tables of it
	// (and multiples) in memory before writing them (Badger: 2 MiB).
	BaseTableSize int64
	// ValueThreshold is the size from which a value is kept in the value log, the memtable and
	// the tables holding only a pointer to it (Badger: 1 MiB). A transaction's size counts such
	// a value as its pointer: a lower threshold lets a large transaction fit a smaller memtable.
	ValueThreshold int64
}

// Apply sets the non-zero sizes on o.
func (s BadgerSizing) Apply(o badger.Options) badger.Options {
	if s.MemTableSize > 0 {
		o = o.WithMemTableSize(s.MemTableSize)
	}
	if s.NumMemtables > 0 {
		o = o.WithNumMemtables(s.NumMemtables)
	}
	if s.BlockCacheSize > 0 {
		o = o.WithBlockCacheSize(s.BlockCacheSize)
	}
	if s.IndexCacheSize > 0 {
		o = o.WithIndexCacheSize(s.IndexCacheSize)
	}
	if s.NumCompactors > 0 {
		o = o.WithNumCompactors(s.NumCompactors)
	}
	if s.ValueLogFileSize > 0 {
		o = o.WithValueLogFileSize(s.ValueLogFileSize)
	}
	if s.ValueThreshold > 0 {
		o = o.WithValueThreshold(s.ValueThreshold)
	}
	if s.BaseTableSize > 0 {
		o = o.WithBaseTableSize(s.BaseTableSize)
	}
	return o
}

const defaultMaxBatch = 256

// BadgerStore is the durable Store on Badger. Appends go through one
// committer goroutine that writes the queued requests in as few transactions as
// they take (an append too big for one in slices, addSliced) and syncs once per
// batch (group commit). Badger runs with SyncWrites off: the
// explicit DB.Sync before any caller is answered is what makes an append
// durable, and readers see a record only after that sync.
//
// After a failed commit or sync the store refuses every further append (the
// outcome of the failed batch is unknown); reopen it to recover.
type BadgerStore struct {
	db       *badger.DB
	log      *slog.Logger
	maxBatch int

	reqs      chan *appendOp
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the committer has exited
	closeOnce sync.Once
	closeErr  error
	closeMu   sync.RWMutex // readers hold it shared so Close never closes Badger under them
	closed    bool         // guarded by closeMu

	// Durable state, written by the committer after each sync.
	mu       sync.RWMutex
	versions map[string]uint64
	lastTime time.Time
	lastHash string
	unsynced map[string]struct{} // command keys written but not yet synced
	// head is what readers see: the last position written and synced, or, while an append is
	// staged, the position before its first record (staged.go).
	head *notifier

	stagedReply func(dst, arg []byte, stored []Record) ([]byte, error)
	replySpan   func(reply []byte) (first, last uint64, ok bool)
	pacer       *pace.Pacer
	// stagedSlots holds a token for every big append being staged or not yet answered
	// (MaxStaged).
	stagedSlots chan struct{}

	// durable is the last position written and synced (the committer's written, for readers):
	// beyond head while an append is staged.
	durable atomic.Uint64

	// Committer-only state.
	broken  error
	written uint64        // the last position written and synced
	staged  *stagedAppend // the big append being chained, nil when none
	// nextSlice is when the staged append's next slice may be chained (BadgerOptions.Pacer),
	// and pause the timer the committer waits for it with.
	nextSlice time.Time
	pause     *time.Timer

	// Damage met by a read (values.go): the first error, the handler, whether it ran.
	corruptErr   atomic.Pointer[error]
	corruptFn    atomic.Pointer[func(error)]
	corruptFired atomic.Bool

	appends atomic.Uint64
	syncs   atomic.Uint64

	// beforeDrain, if set, runs on the committer after it takes the first
	// request of a batch and before it drains the queue (tests).
	beforeDrain func()
	beforeTail  func() error // testHooks.beforeTail
	afterSlice  func() error // testHooks.afterSlice
}

var _ Store = (*BadgerStore)(nil)

type appendOp struct {
	ctx  context.Context
	req  AppendRequest
	done chan appendOutcome // buffered: the committer never blocks on it
	// passed marks a big append that small ones were committed before (committer only).
	passed bool
	// staging holds the events of a staged append (staged.go); nil for the others.
	staging *staging
	// stagedBufs are a staged append's records and reply, allocated with it on the caller's
	// goroutine so that its last slice allocates little on the committer (staged.go).
	stagedBufs *stagedBufs
	// release gives back a staged append's slot (MaxStaged) once it is answered; nil for the
	// others.
	release func()
}

// answer delivers a's outcome (once: done is buffered for one) and gives back its slot.
func (a *appendOp) answer(out appendOutcome) {
	a.done <- out
	if a.release != nil {
		a.release()
	}
}

type appendOutcome struct {
	res AppendResult
	err error
}

// OpenBadger opens (or creates) the log in dir and recovers its head and
// stream versions.
func OpenBadger(dir string, opts BadgerOptions) (*BadgerStore, error) {
	if _, err := os.Stat(filepath.Join(dir, restoringFile)); err == nil {
		return nil, fmt.Errorf("eventstore: open %s: %w: a restore into it did not finish (%s is there): it holds part of the backup; empty the dir and restore again",
			dir, ErrCorruptLog, restoringFile)
	}
	return openBadger(dir, opts, testHooks{})
}

// testHooks let tests adjust Badger's options and pause the committer.
type testHooks struct {
	tune        func(badger.Options) badger.Options
	beforeDrain func()
	// beforeTail, if set, runs after a sliced append's records are written and synced and
	// before its tail is; an error fails the batch there, as a crash would cut it (tests).
	beforeTail func() error
	// afterSlice, if set, runs on the committer after each group commit that chained a slice of
	// a staged append and is synced, before anyone is answered; an error fails the store there,
	// as a crash would stop it (tests).
	afterSlice func() error
}

func openBadger(dir string, opts BadgerOptions, hooks testHooks) (*BadgerStore, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(false).
		WithDetectConflicts(false). // one writer: the committer
		// Every block read from a table and every value read from the value
		// log is checked against its checksum: a damaged file is an error
		// (ErrCorruptLog), never data. Not OnTableRead: Badger 4.9 verifies
		// tables at open on goroutines of its own, and a bad block makes one
		// of them panic (nil block in Table.VerifyChecksum), which nothing can
		// recover; VerifyChecksums checks every table on the caller's goroutine.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithLogger(badgerLogger{logger})
	bo = BadgerSizing{MemTableSize: opts.MemTableSize, NumMemtables: opts.NumMemtables, BlockCacheSize: opts.BlockCacheSize,
		IndexCacheSize: opts.IndexCacheSize, NumCompactors: opts.NumCompactors, ValueLogFileSize: opts.ValueLogFileSize,
		ValueThreshold: opts.ValueThreshold}.Apply(bo)
	if opts.InMemory {
		bo = bo.WithDir("").WithValueDir("").WithInMemory(true)
	}
	if hooks.tune != nil {
		bo = hooks.tune(bo)
	}
	if !opts.InMemory {
		if err := CheckTables(dir); err != nil {
			return nil, &StoreError{Op: "open", Err: fmt.Errorf("badger at %q: %w", dir, err)}
		}
	}
	db, err := openBadgerDB(bo)
	if err != nil {
		return nil, &StoreError{Op: "open", Err: fmt.Errorf("badger at %q: %w", dir, err)}
	}
	if err := migrate(db, logger); err != nil {
		_ = db.Close()
		return nil, &StoreError{Op: "open", Err: fmt.Errorf("log format of %q: %w", dir, err)}
	}
	maxBatch := opts.MaxBatch
	if maxBatch <= 0 {
		maxBatch = defaultMaxBatch
	}
	s := &BadgerStore{
		db:       db,
		log:      logger,
		maxBatch: maxBatch,
		reqs:     make(chan *appendOp, maxBatch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		versions: make(map[string]uint64),
		unsynced: make(map[string]struct{}),

		stagedReply: opts.StagedReply,
		replySpan:   opts.ReplySpan,
		pacer:       opts.Pacer,
		stagedSlots: make(chan struct{}, MaxStaged),
		beforeDrain: hooks.beforeDrain,
		beforeTail:  hooks.beforeTail,
		afterSlice:  hooks.afterSlice,
	}
	head, err := s.recover()
	if err == nil {
		head, err = s.recoverStaged(head)
	}
	if err == nil {
		err = s.checkStreamEnds()
	}
	if err != nil {
		_ = db.Close()
		return nil, &StoreError{Op: "open", Err: fmt.Errorf("recover state from %q: %w", dir, err)}
	}
	s.head, s.written = newNotifier(head), head
	s.durable.Store(head)
	go s.run()
	return s, nil
}

// recover loads the head, the last record's time and every stream version. Records beyond
// the head key are an append written in slices whose tail never reached the disk: never
// acknowledged, they are removed first (dropUncommitted).
func (s *BadgerStore) recover() (uint64, error) {
	last, headAt, hasHeadKey, err := s.readHeads()
	if err != nil {
		return 0, err
	}
	head := last
	switch {
	case hasHeadKey && headAt < last:
		if err := s.checkUncommitted(headAt); err != nil {
			return 0, err
		}
		n, err := s.dropUncommitted(headAt)
		if err != nil {
			return 0, fmt.Errorf("remove the uncommitted records after the head %d: %w", headAt, err)
		}
		s.log.Warn("eventstore: removed the records of an append that was cut short before its commit (never acknowledged)",
			"head", headAt, "removed", n)
		head = headAt
	case hasHeadKey && headAt > last:
		s.log.Warn("eventstore: head key disagrees with last record, using last record", "head_key", headAt, "head", last)
	case !hasHeadKey && last != 0:
		s.log.Warn("eventstore: head key missing, using last record", "head", last)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		if head > 0 {
			r, err := recordAt(txn, head)
			if err != nil {
				return err
			}
			s.lastTime, s.lastHash = r.Time, r.Hash
		}
		vit := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixVersion}})
		defer vit.Close()
		for vit.Rewind(); vit.Valid(); vit.Next() {
			item := vit.Item()
			stream := string(item.Key()[1:])
			if err := itemValue(item, func(v []byte) error {
				s.versions[stream] = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return fmt.Errorf("read version of %s: %w", stream, err)
			}
		}
		return nil
	})
	return head, err
}

// checkStreamEnds checks that each stream's version key names its last record: a record at
// that version and none beyond it (one would be a record no append committed: a staged append
// whose header was lost, a version key lowered or restored from elsewhere; the stream's next
// append would take its version again), and that every stream with records has a version key
// (without it the next append would start the stream over at version 1, and the organization
// would be folded from that append alone). Two lookups per stream, and one seek per stream
// over the stream index.
func (s *BadgerStore) checkStreamEnds() error {
	return s.db.View(func(txn *badger.Txn) error {
		for stream, v := range s.versions {
			if v > 0 {
				if _, err := txn.Get(streamKey(stream, v)); errors.Is(err, badger.ErrKeyNotFound) {
					return fmt.Errorf("%w: stream %s has no record at its version %d: the version key is beyond the stream (raised or restored from elsewhere?)",
						ErrCorruptLog, stream, v)
				} else if err != nil {
					return fmt.Errorf("read stream %s at version %d: %w", stream, v, err)
				}
			}
			item, err := txn.Get(streamKey(stream, v+1))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read stream %s at version %d: %w", stream, v+1, err)
			}
			var pos uint64
			_ = itemValue(item, func(b []byte) error {
				if len(b) == 8 {
					pos = binary.BigEndian.Uint64(b)
				}
				return nil
			})
			return fmt.Errorf("%w: stream %s holds version %d (position %d) beyond its version %d: records no append committed (a staged append's header lost?)",
				ErrCorruptLog, stream, v+1, pos, v)
		}
		return s.checkStreamsHaveVersions(txn)
	})
}

// checkStreamsHaveVersions walks the stream index one stream at a time (a seek past each) and
// refuses a stream that has records but no version key.
func (s *BadgerStore) checkStreamsHaveVersions(txn *badger.Txn) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixStream}, PrefetchValues: false})
	defer it.Close()
	for it.Rewind(); it.Valid(); {
		key := it.Item().Key()
		end := bytes.IndexByte(key, 0)
		if end < 1 {
			return fmt.Errorf("%w: stream index key %q has no stream name", ErrCorruptLog, key)
		}
		stream := string(key[1:end])
		if _, ok := s.versions[stream]; !ok {
			return fmt.Errorf("%w: stream %s has records but no version key: its next append would start it over", ErrCorruptLog, stream)
		}
		// Past every key of this stream: its prefix ends with 0, the next stream's sorts after 1.
		next := append([]byte{prefixStream}, stream...)
		it.Seek(append(next, 1))
	}
	return nil
}

// readHeads reads the position of the last record on disk and the head key.
func (s *BadgerStore) readHeads() (last, headAt uint64, hasHeadKey bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: []byte{prefixEvent}, PrefetchValues: false})
		it.Seek(append([]byte{prefixEvent}, bytes.Repeat([]byte{0xff}, 8)...))
		if it.Valid() {
			last = binary.BigEndian.Uint64(it.Item().Key()[1:])
		}
		it.Close()
		item, err := txn.Get(headKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		hasHeadKey = true
		return itemValue(item, func(v []byte) (err error) {
			headAt, err = decodeHead(v)
			return err
		})
	})
	return last, headAt, hasHeadKey, err
}

// decodeHead reads the head key's value.
func decodeHead(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: head key has %d bytes", ErrCorruptLog, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// dropUnit is how many uncommitted records one transaction of dropUncommitted removes.
const dropUnit = 512

// checkUncommitted checks, before the records beyond the head key are dropped, that none of
// them was committed: an append's tail writes its stream's version with the head key, so a
// record beyond the head key whose stream's version already counts it was committed, and the
// head key is what is damaged (lowered or restored from elsewhere). Dropping would delete
// acknowledged records. It reads the records beyond the head key until it finds one.
func (s *BadgerStore) checkUncommitted(head uint64) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEvent}})
		defer it.Close()
		for it.Seek(eventKey(head + 1)); it.Valid(); it.Next() {
			item := it.Item()
			pos := binary.BigEndian.Uint64(item.Key()[1:])
			var r Record
			if err := itemValue(item, func(v []byte) error { return decodeRecordAt(v, pos, &r) }); err != nil {
				continue // a record cut short is not committed
			}
			vitem, err := txn.Get(versionKey(r.Stream))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read version of %s: %w", r.Stream, err)
			}
			var version uint64
			_ = itemValue(vitem, func(v []byte) error {
				if len(v) == 8 {
					version = binary.BigEndian.Uint64(v)
				}
				return nil
			})
			if version >= r.Version {
				return fmt.Errorf("%w: the head key says %d, but record %d beyond it (stream %s version %d) was committed: its stream's version is %d; the head key is damaged, and dropping the records beyond it would delete acknowledged ones",
					ErrCorruptLog, head, pos, r.Stream, r.Version, version)
			}
		}
		return nil
	})
}

// dropUncommitted removes every record after head, with its stream key when that still
// points at it, a chunk per transaction (a removal cut short runs again at the next open),
// and syncs. It returns how many records it removed.
func (s *BadgerStore) dropUncommitted(head uint64) (int, error) {
	removed := 0
	for {
		var keys [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEvent}})
			defer it.Close()
			for it.Seek(eventKey(head + 1)); it.Valid() && len(keys) < 2*dropUnit; it.Next() {
				item := it.Item()
				pos := binary.BigEndian.Uint64(item.Key()[1:])
				keys = append(keys, item.KeyCopy(nil))
				var r Record
				if err := itemValue(item, func(v []byte) error { return decodeRecord(v, &r) }); err != nil {
					continue // a record cut short: its stream key, if any, is found by no one
				}
				sk := streamKey(r.Stream, r.Version)
				switch sitem, err := txn.Get(sk); {
				case errors.Is(err, badger.ErrKeyNotFound):
				case err != nil:
					return fmt.Errorf("read stream key of record %d: %w", pos, err)
				default:
					if err := itemValue(sitem, func(v []byte) error {
						if len(v) == 8 && binary.BigEndian.Uint64(v) == pos {
							keys = append(keys, sk)
						}
						return nil
					}); err != nil {
						return fmt.Errorf("read stream key of record %d: %w", pos, err)
					}
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		if len(keys) == 0 {
			break
		}
		if err := s.db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				if k[0] == prefixEvent {
					removed++
				}
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return removed, fmt.Errorf("delete: %w", err)
		}
	}
	if err := s.db.Sync(); err != nil {
		return removed, fmt.Errorf("sync: %w", err)
	}
	return removed, nil
}

// Stats reports how many appends were committed and how many syncs they took.
func (s *BadgerStore) Stats() (appends, syncs uint64) {
	return s.appends.Load(), s.syncs.Load()
}

// Append implements Store.
func (s *BadgerStore) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	wait, err := s.AppendAsync(ctx, req)
	if err != nil {
		return AppendResult{}, err
	}
	return wait()
}

// AppendAsync implements Store: the request joins the committer's queue before it returns. A big
// append is staged first, on the caller's goroutine (staged.go).
func (s *BadgerStore) AppendAsync(ctx context.Context, req AppendRequest) (func() (AppendResult, error), error) {
	const op = "append"
	refused := func(err error) (func() (AppendResult, error), error) {
		return nil, &StoreError{Op: op, Stream: req.Stream, Err: err}
	}
	req, err := checkRequest(req)
	if err != nil {
		return refused(err)
	}
	if err := ctx.Err(); err != nil {
		return refused(err)
	}
	a := &appendOp{ctx: ctx, req: req, done: make(chan appendOutcome, 1)}
	if s.stageable(req) {
		select {
		case s.stagedSlots <- struct{}{}:
		default:
			return refused(ErrStagedBusy)
		}
		a.release = sync.OnceFunc(func() { <-s.stagedSlots })
		st, err := s.stage(ctx, req)
		if err != nil {
			a.release()
			return refused(err)
		}
		a.staging = &st
		a.stagedBufs = newStagedBufs(req)
	}
	select {
	case s.reqs <- a:
	case <-s.stop:
		s.dropRefused(a)
		if a.release != nil {
			a.release()
		}
		return refused(ErrClosed)
	case <-ctx.Done():
		s.dropRefused(a)
		if a.release != nil {
			a.release()
		}
		return refused(ctx.Err())
	}
	return func() (AppendResult, error) {
		select {
		case out := <-a.done:
			return out.res, out.err
		case <-s.done:
			// The committer answered everything it took before it exited.
			select {
			case out := <-a.done:
				return out.res, out.err
			default:
				return AppendResult{}, &StoreError{Op: op, Stream: req.Stream, Err: ErrClosed}
			}
		case <-ctx.Done():
			return AppendResult{}, &StoreError{Op: op, Stream: req.Stream,
				Err: fmt.Errorf("outcome unknown (a repeat with the same command id is safe): %w", ctx.Err())}
		}
	}, nil
}

// BigAppend is the number of records from which an append is big (README "Limits"): the committer commits
// the small appends queued with a big one first, in a group commit of their own, and a big one
// that can be is staged and chained a slice per group commit (staged.go), so that a 10,000-row
// import does not hold up other organizations' one-record commands queued beside it. A big
// append is passed over once at most, so a steady stream of small appends never starves it; an
// append never passes one of its own stream.
const BigAppend = 1024

// run is the committer.
func (s *BadgerStore) run() {
	defer close(s.done)
	var pending []*appendOp // taken from the queue, not yet committed, in arrival order
	batch := make([]*appendOp, 0, s.maxBatch)
	for {
		select {
		case <-s.stop:
			s.finishStaged()
			s.failOps(pending)
			s.failQueued()
			return
		default:
		}
		if len(pending) == 0 && !s.sliceDue() {
			// Idle: the first append of the next batch is awaited (the drain takes the rest).
			a := s.await()
			if a == nil {
				continue
			}
			pending = append(pending, a)
		}
	drain:
		for len(pending) < s.maxBatch {
			select {
			case a := <-s.reqs:
				pending = append(pending, a)
			default:
				break drain
			}
		}
		batch, pending = nextBatch(batch[:0], pending, s.maxBatch, s.staged)
		chain := s.sliceDue()
		if len(batch) == 0 && !chain {
			// Only appends held behind the staged one: wait for another append, or for the
			// staged append's next slice.
			if a := s.await(); a != nil {
				pending = append(pending, a)
			}
			continue
		}
		if s.staged != nil {
			s.staged.bulk.Next()
		}
		if s.commit(batch, chain) && s.staged != nil {
			// A slice (or the admission, which writes the first) was a quantum of bulk
			// work: the next waits while other requests are active (BadgerOptions.Pacer).
			g := s.staged
			due := g.bulk.Due()
			g.bulk.Paused(due)
			s.nextSlice = time.Now().Add(due)
		}
		clear(batch)
	}
}

// await waits for an append (which it returns), for the stop, or, while an append is staged,
// until its next slice may be due: looked at again every pace.Poll, since the pause ends when
// other requests do.
func (s *BadgerStore) await() *appendOp {
	var due <-chan time.Time
	if s.staged != nil {
		wait := min(time.Until(s.nextSlice), pace.Poll)
		if s.pause == nil {
			s.pause = time.NewTimer(wait)
		} else {
			s.pause.Reset(wait)
		}
		due = s.pause.C
	}
	select {
	case <-s.stop:
	case a := <-s.reqs:
		if s.beforeDrain != nil {
			s.beforeDrain()
		}
		return a
	case <-due:
	}
	return nil
}

// sliceDue reports whether a staged append's next slice may be chained now: its pause is
// over, or no other request is active (BadgerOptions.Pacer).
func (s *BadgerStore) sliceDue() bool {
	return s.staged != nil && (!time.Now().Before(s.nextSlice) || !s.pacer.Contended())
}

// finishStaged chains what is left of the staged append before the committer exits: it was
// admitted, so it is completed, not failed.
func (s *BadgerStore) finishStaged() {
	for s.staged != nil {
		s.commit(nil, true)
	}
}

// nextBatch moves the next group commit from pending to batch: the small appends, in
// arrival order, that no big append of their stream comes before, unless the first big
// append was passed over already; then that big append alone. While an append is staged,
// big appends and the appends of its stream wait until it is chained.
func nextBatch(batch, pending []*appendOp, maxBatch int, staged *stagedAppend) ([]*appendOp, []*appendOp) {
	var held map[string]bool // streams with a big append waiting
	rest := pending[:0]
	for i, a := range pending {
		big := len(a.req.Events) >= BigAppend
		if staged != nil && (big || a.req.Stream == staged.op.req.Stream || held[a.req.Stream]) {
			if big {
				if held == nil {
					held = map[string]bool{}
				}
				held[a.req.Stream] = true // its stream's later appends wait behind it
			}
			rest = append(rest, a)
			continue
		}
		if big && a.passed {
			if len(batch) > 0 {
				// Small appends before it go first; it goes in the next batch.
				rest = append(rest, pending[i:]...)
				break
			}
			batch = append(batch, a)
			rest = append(rest, pending[i+1:]...)
			break
		}
		if big || held[a.req.Stream] || len(batch) >= maxBatch {
			if big {
				if held == nil {
					held = map[string]bool{}
				}
				held[a.req.Stream] = true
			}
			rest = append(rest, a)
			continue
		}
		batch = append(batch, a)
	}
	kept := len(rest) // rest is pending[:kept]; what follows in pending was moved or taken
	if len(batch) == 0 && len(rest) > 0 && staged == nil {
		// Only big appends and appends behind them: the first (always big) goes alone.
		batch = append(batch, rest[0])
		rest = rest[1:]
	}
	for _, a := range rest {
		if len(a.req.Events) >= BigAppend {
			a.passed = true
		}
	}
	clear(pending[kept:])
	return batch, rest
}

// failOps answers appends taken from the queue but not committed with ErrClosed.
func (s *BadgerStore) failOps(ops []*appendOp) {
	for _, a := range ops {
		s.dropRefused(a)
		a.answer(appendOutcome{err: &StoreError{Op: "append", Stream: a.req.Stream, Err: ErrClosed}})
	}
}

func (s *BadgerStore) failQueued() {
	for {
		select {
		case a := <-s.reqs:
			s.dropRefused(a)
			a.answer(appendOutcome{err: &StoreError{Op: "append", Stream: a.req.Stream, Err: ErrClosed}})
		default:
			return
		}
	}
}

// batchState is the state a batch builds on top of the durable state.
type batchState struct {
	head     uint64
	lastTime time.Time
	lastHash string
	versions map[string]uint64 // streams changed in this batch
	cmds     map[string][]byte // replies stored in this batch
}

// commit validates, writes and syncs one batch, then answers every request.
//
// With chain, the staged append, if any, is advanced by a slice too. It reports whether the
// commit admitted or advanced a staged append.
func (s *BadgerStore) commit(batch []*appendOp, chain bool) (staged bool) {
	outs := make([]appendOutcome, len(batch))
	admitted := -1 // the index in batch of an append staged by this commit, answered apart
	answer := func() {
		for i, a := range batch {
			if i != admitted {
				a.answer(outs[i])
			}
		}
	}
	if s.broken != nil {
		for i, a := range batch {
			s.dropRefused(a)
			outs[i].err = &StoreError{Op: "append", Stream: a.req.Stream, Err: s.broken}
		}
		answer()
		s.failStaged(s.broken)
		return false
	}

	s.mu.RLock()
	st := batchState{head: s.written, lastTime: s.lastTime, lastHash: s.lastHash, versions: map[string]uint64{}, cmds: map[string][]byte{}}
	s.mu.RUnlock()
	w := &txnWriter{db: s.db, syncs: &s.syncs, beforeTail: s.beforeTail}
	var newCmdKeys []string
	written := 0
	var fatal error

	for i, a := range batch {
		if a.staging != nil {
			ck, current, res, err := s.admit(a, &st)
			if err != nil {
				s.drop(a.staging)
				outs[i] = appendOutcome{res: res, err: err}
				continue
			}
			// Admitted: answered when its last slice is synced (chainSlice).
			s.staged = &stagedAppend{op: a, staging: *a.staging, ck: ck, version: current, stored: a.stagedBufs.stored,
				bulk: s.pacer.Bulk()}
			admitted = i
			continue
		}
		res, entries, cmd, err := s.prepare(a, &st)
		if err != nil || entries.tail == nil {
			outs[i] = appendOutcome{res: res, err: err}
			continue
		}
		if opErr, fatalErr := w.add(entries); fatalErr != nil {
			fatal = fatalErr
			break
		} else if opErr != nil {
			outs[i].err = &StoreError{Op: "append", Stream: a.req.Stream, Err: fmt.Errorf("write: %w", opErr)}
			continue
		}
		// Accepted: advance the batch state.
		if n := len(res.Records); n > 0 {
			last := res.Records[n-1]
			st.head, st.lastTime, st.lastHash = last.Position, last.Time, last.Hash
			st.versions[a.req.Stream] = last.Version
		}
		if cmd != "" {
			st.cmds[cmd] = storedReply(res.Reply)
			newCmdKeys = append(newCmdKeys, cmd)
		}
		outs[i] = appendOutcome{res: res}
		written++
	}
	step := stepNone
	// An append admitted now writes its header with its first slice: it is chained at once.
	if fatal == nil && s.staged != nil && (chain || admitted >= 0) {
		if step, fatal = s.advanceStaged(w, &st); step == stepWhole && s.staged.ck != "" {
			newCmdKeys = append(newCmdKeys, s.staged.ck)
		}
	}

	if fatal == nil && (written > 0 || step != stepNone) {
		if len(newCmdKeys) > 0 {
			s.mu.Lock()
			for _, k := range newCmdKeys {
				s.unsynced[k] = struct{}{}
			}
			s.mu.Unlock()
		}
		if err := w.commit(); err != nil {
			fatal = err
		} else if err := s.db.Sync(); err != nil {
			fatal = fmt.Errorf("sync: %w", err)
		} else {
			s.syncs.Add(1)
		}
	}
	w.discard()

	if fatal != nil {
		// Some transactions of this batch may be on disk, unsynced: the outcome
		// of every request in it is unknown, and so is the state to build on.
		s.broken = fmt.Errorf("store failed, reopen it: %w", fatal)
		s.log.Error("eventstore: group commit failed; refusing further appends", "err", fatal)
		for i, a := range batch {
			if i != admitted {
				outs[i] = appendOutcome{err: &StoreError{Op: "append", Stream: a.req.Stream, Err: fmt.Errorf("group commit: %w", fatal)}}
			}
		}
		answer()
		s.failStaged(fmt.Errorf("group commit: %w", fatal))
		return false
	}

	if written > 0 || step != stepNone {
		s.mu.Lock()
		for stream, v := range st.versions {
			s.versions[stream] = v
		}
		s.lastTime, s.lastHash = st.lastTime, st.lastHash
		for _, k := range newCmdKeys {
			delete(s.unsynced, k)
		}
		s.mu.Unlock()
		s.written = st.head
		s.durable.Store(st.head)
		if s.staged != nil && step != stepWhole && !s.staged.whole {
			s.head.advance(s.staged.firstPos - 1) // readers stop before the staged append
		} else {
			s.head.advance(st.head)
		}
		if step == stepWhole {
			written++
		}
		s.appends.Add(uint64(written))
	}
	if step != stepNone && s.afterSlice != nil {
		if err := s.afterSlice(); err != nil {
			s.broken = fmt.Errorf("store failed, reopen it: %w", err)
			s.failStaged(err)
			step = stepNone
		}
	}
	answer()
	switch step {
	case stepWhole:
		g := s.staged
		g.whole = true
		g.op.answer(appendOutcome{res: g.res})
	case stepCleanup:
		s.staged = nil
	}
	return admitted >= 0 || step != stepNone
}

// failStaged answers the staged append, if any, with err: it was admitted, so the next open
// completes it.
func (s *BadgerStore) failStaged(err error) {
	g := s.staged
	s.staged = nil
	if g == nil || g.whole { // a whole append was answered; the next open deletes its staging
		return
	}
	g.op.answer(appendOutcome{err: &StoreError{Op: "append", Stream: g.op.req.Stream,
		Err: fmt.Errorf("outcome unknown (admitted: the next open completes it; a repeat with the same command id is safe): %w", err)}})
}

// prepare validates one request against the batch state. It returns the
// result, the entries to write (none when nothing is written), the command key
// whose reply is stored, and an error for this request only.
func (s *BadgerStore) prepare(a *appendOp, st *batchState) (AppendResult, appendEntries, string, error) {
	req := a.req
	fail := func(err error) (AppendResult, appendEntries, string, error) {
		return AppendResult{}, appendEntries{}, "", &StoreError{Op: "append", Stream: req.Stream, Err: err}
	}
	ck, current, res, err := s.admit(a, st)
	if err != nil {
		return res, appendEntries{}, "", err
	}
	stored := sequence(req, st.head, current, st.lastTime, st.lastHash)
	reply, err := callReply(req, stored)
	if err != nil {
		return fail(err)
	}
	var entries appendEntries
	if n := len(stored); n > 0 {
		entries = sliceEntries(req.Stream, stored, commitTail(req.Stream, req.CommandID, stored[n-1].Version, storedReply(reply))...)
	} else {
		// No records (validateRequest: then there is a command id): the reply alone.
		entries.tail = []kv{{commandKey(req.Stream, req.CommandID), storedReply(reply)}}
	}
	return AppendResult{Records: stored, Reply: reply}, entries, ck, nil
}

// admit checks an append against the batch state: its context, a repeat of a stored command
// (the error carries the first reply), the expected version. It returns the command key ("" without
// a command id) and the stream's current version.
func (s *BadgerStore) admit(a *appendOp, st *batchState) (ck string, current uint64, res AppendResult, err error) {
	req := a.req
	fail := func(err error) (string, uint64, AppendResult, error) {
		return "", 0, AppendResult{}, &StoreError{Op: "append", Stream: req.Stream, Err: err}
	}
	if err := a.ctx.Err(); err != nil {
		return fail(err)
	}
	if req.CommandID != "" {
		ck = cmdKey(req.Stream, req.CommandID)
		reply, ok := st.cmds[ck]
		if !ok {
			var err error
			reply, ok, err = s.readReply(req.Stream, req.CommandID)
			if err != nil {
				return fail(s.noteCorrupt(err))
			}
		}
		if ok {
			return "", 0, AppendResult{Reply: bytes.Clone(reply)}, &StoreError{Op: "append", Stream: req.Stream,
				Err: fmt.Errorf("command %s: %w", req.CommandID, ErrDuplicateCommand)}
		}
	}
	current, ok := st.versions[req.Stream]
	if !ok {
		s.mu.RLock()
		current = s.versions[req.Stream]
		s.mu.RUnlock()
	}
	if req.ExpectedVersion != current {
		return fail(fmt.Errorf("expected version %d, stream is at %d: %w", req.ExpectedVersion, current, ErrWrongExpectedVersion))
	}
	return ck, current, AppendResult{}, nil
}

// kv is one write of a batch; a nil v deletes k.
type kv struct{ k, v []byte }

// appendEntries are one append's writes: its records (each record's key and its stream key),
// then the tail that commits them (the stream's version, the head key, the marker and the
// stored reply). The tail is never split from the last record's transaction by a crash: an
// append's records beyond the head key on disk are an append that was never committed
// (recover drops them).
type appendEntries struct {
	records, tail []kv
}

// txnWriter spreads a batch over as few transactions as Badger allows. An
// append fits one transaction or is written in slices (addSliced).
type txnWriter struct {
	db    *badger.DB
	txn   *badger.Txn
	ops   []appendEntries // appends in txn
	syncs *atomic.Uint64  // counts the syncs between transactions

	beforeTail func() error // testHooks.beforeTail
}

func setAll(txn *badger.Txn, e appendEntries) error {
	for _, part := range [2][]kv{e.records, e.tail} {
		for _, kv := range part {
			var err error
			if kv.v == nil {
				err = txn.Delete(kv.k)
			} else {
				err = txn.Set(kv.k, kv.v)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// commitDurably commits a transaction that a later one of the same batch follows, and syncs
// it: Badger writes each memtable's log to a file of its own, and without the sync a power
// cut after a memtable switch could keep the later transaction and lose this one.
func (w *txnWriter) commitDurably(txn *badger.Txn) error {
	if err := commitAndSync(w.db, txn); err != nil {
		return err
	}
	w.syncs.Add(1)
	return nil
}

// commitAndSync commits txn and syncs db.
func commitAndSync(db *badger.DB, txn *badger.Txn) error {
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := db.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// add writes one append's entries. opErr fails only this append; fatalErr fails the batch.
func (w *txnWriter) add(entries appendEntries) (opErr, fatalErr error) {
	if w.txn == nil {
		w.txn = w.db.NewTransaction(true)
	}
	err := setAll(w.txn, entries)
	if err == nil {
		w.ops = append(w.ops, entries)
		return nil, nil
	}
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return nil, fmt.Errorf("set: %w", err)
	}
	// The transaction holds part of this append: rebuild it without it,
	// commit it, and give this append a transaction of its own.
	w.txn.Discard()
	w.txn = nil
	if len(w.ops) > 0 {
		txn := w.db.NewTransaction(true)
		for _, op := range w.ops {
			if err := setAll(txn, op); err != nil {
				txn.Discard()
				return nil, fmt.Errorf("rebuild transaction: %w", err)
			}
		}
		if err := w.commitDurably(txn); err != nil {
			return nil, err
		}
		w.ops = nil
	}
	w.txn = w.db.NewTransaction(true)
	if err := setAll(w.txn, entries); err != nil {
		w.txn.Discard()
		w.txn = nil
		if errors.Is(err, badger.ErrTxnTooBig) {
			return w.addSliced(entries)
		}
		return nil, fmt.Errorf("set: %w", err)
	}
	w.ops = []appendEntries{entries}
	return nil, nil
}

// addSliced writes an append too big for one transaction (a large ImportMembers on small
// memtables): its records in as many transactions as they take, each synced, then its tail in a
// transaction of its own, which the batch's commit commits. Until the tail is on disk the
// records lie beyond the head key, where no reader looks and from where an open removes
// them (recover), so the append is still all or nothing. Nothing else is written between
// its slices: the committer writes one batch at a time. Once a slice is written, a failure
// fails the batch: the store then refuses appends until an open has removed the slices.
func (w *txnWriter) addSliced(entries appendEntries) (opErr, fatalErr error) {
	// The tail's transaction is filled first and committed last (a transaction is a buffer
	// until then): a tail that no transaction holds (a reply just under the value threshold on
	// a small memtable) fails this append alone, before anything is written.
	tailTxn := w.db.NewTransaction(true)
	tail := appendEntries{tail: entries.tail}
	if err := setAll(tailTxn, tail); err != nil {
		tailTxn.Discard()
		if errors.Is(err, badger.ErrTxnTooBig) {
			return fmt.Errorf("%w: its reply (%d bytes) with the head does not fit one transaction: %w", ErrAppendTooBig, len(entries.tail[len(entries.tail)-1].v), err), nil
		}
		return nil, fmt.Errorf("set: %w", err)
	}
	txn := w.db.NewTransaction(true)
	inTxn, sliced := 0, false
	for _, e := range entries.records {
		err := txn.Set(e.k, e.v)
		if errors.Is(err, badger.ErrTxnTooBig) && inTxn > 0 {
			// Each slice is synced before the next is written: a slice may open a new
			// memtable, whose log file a power cut could keep while losing the last one's
			// unsynced end (TestPowerLossDuringSlicedImport found that gap).
			sliced = true
			if err := w.commitDurably(txn); err != nil {
				tailTxn.Discard()
				return nil, fmt.Errorf("slice: %w", err)
			}
			txn, inTxn = w.db.NewTransaction(true), 0
			err = txn.Set(e.k, e.v)
		}
		if err != nil {
			txn.Discard()
			tailTxn.Discard()
			if !sliced && errors.Is(err, badger.ErrTxnTooBig) {
				// One record larger than a transaction; nothing was written.
				return fmt.Errorf("%w: a record of %d bytes: %w", ErrAppendTooBig, len(e.v), err), nil
			}
			return nil, fmt.Errorf("sliced append: %w", err)
		}
		inTxn++
	}
	// Every slice is on disk before the tail that commits them is.
	if err := w.commitDurably(txn); err != nil {
		tailTxn.Discard()
		return nil, fmt.Errorf("slice: %w", err)
	}
	if w.beforeTail != nil {
		if err := w.beforeTail(); err != nil {
			tailTxn.Discard()
			return nil, err
		}
	}
	w.txn, w.ops = tailTxn, []appendEntries{tail}
	return nil, nil
}

func (w *txnWriter) commit() error {
	if w.txn == nil {
		return nil
	}
	err := w.txn.Commit()
	w.txn = nil
	w.ops = nil
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *txnWriter) discard() {
	if w.txn != nil {
		w.txn.Discard()
		w.txn = nil
	}
}

func (s *BadgerStore) readReply(stream, commandID string) ([]byte, bool, error) {
	var reply []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(commandKey(stream, commandID))
		if err != nil {
			return err
		}
		return itemValue(item, func(v []byte) error {
			reply = append([]byte{}, v...)
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read reply of command %s: %w", commandID, err)
	}
	return reply, true, nil
}

// readGuard keeps Close from closing Badger under a reader.
func (s *BadgerStore) readGuard() (release func(), err error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, ErrClosed
	}
	return s.closeMu.RUnlock, nil
}

// CommandReply implements Store. A reply whose append is not yet synced is
// not reported.
func (s *BadgerStore) CommandReply(ctx context.Context, stream, commandID string) ([]byte, bool, error) {
	const op = "command reply"
	if err := ctx.Err(); err != nil {
		return nil, false, &StoreError{Op: op, Stream: stream, Err: err}
	}
	release, err := s.readGuard()
	if err != nil {
		return nil, false, &StoreError{Op: op, Stream: stream, Err: err}
	}
	defer release()
	s.mu.RLock()
	_, pending := s.unsynced[cmdKey(stream, commandID)]
	s.mu.RUnlock()
	if pending {
		return nil, false, nil
	}
	reply, ok, err := s.readReply(stream, commandID)
	if err != nil {
		return nil, false, &StoreError{Op: op, Stream: stream, Err: s.noteCorrupt(err)}
	}
	return reply, ok, nil
}

// Read implements Store.
func (s *BadgerStore) Read(ctx context.Context, from uint64, limit int) ([]Record, error) {
	recs, err := s.read(ctx, from, limit, s.head.value())
	if err != nil {
		return nil, &StoreError{Op: "read", Err: s.noteCorrupt(err)}
	}
	return recs, nil
}

// read returns the records from..min(head, from+limit-1). With an error it also returns the
// records read whole before the one that failed.
func (s *BadgerStore) read(ctx context.Context, from uint64, limit int, head uint64) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from == 0 {
		from = 1
	}
	if from > head {
		return nil, nil
	}
	end := head
	if limit > 0 && uint64(limit) <= head-from {
		end = from + uint64(limit) - 1
	}
	release, err := s.readGuard()
	if err != nil {
		return nil, err
	}
	defer release()
	n := end - from + 1
	recs := make([]Record, 0, min(n, 1024))
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEvent}}) // values are small and live in the LSM tree: no prefetch goroutines
		defer it.Close()
		want := from
		for it.Seek(eventKey(from)); it.Valid() && want <= end; it.Next() {
			item := it.Item()
			pos := binary.BigEndian.Uint64(item.Key()[1:])
			if pos != want {
				return fmt.Errorf("log has position %d where %d was expected", pos, want)
			}
			var r Record
			if err := itemValue(item, func(v []byte) error { return decodeRecordAt(v, pos, &r) }); err != nil {
				return err
			}
			recs = append(recs, r)
			want++
		}
		if want <= end {
			return fmt.Errorf("log ends at %d, before head %d", want-1, end)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrCorruptLog) {
			// Anything that stops a read of the log inside the head is damage.
			err = fmt.Errorf("%w: %w", ErrCorruptLog, err)
		}
		return recs, err // the records read whole before it, for Scan to hand on first
	}
	return recs, nil
}

const scanChunk = 256

// Scan implements Store. It reads in chunks, each in its own read transaction.
func (s *BadgerStore) Scan(ctx context.Context, from uint64, fn func(Record) error) error {
	head := s.head.value()
	if from == 0 {
		from = 1
	}
	for from <= head {
		recs, err := s.read(ctx, from, scanChunk, head)
		for _, r := range recs { // with an error: those before the damage, each whole
			if err := fn(r); err != nil {
				return err
			}
		}
		if err != nil {
			return &StoreError{Op: "scan", Err: s.noteCorrupt(err)}
		}
		from += uint64(len(recs))
	}
	return nil
}

// ReadStream implements Store.
func (s *BadgerStore) ReadStream(ctx context.Context, stream string, fromVersion uint64) ([]Record, error) {
	const op = "read stream"
	if err := ctx.Err(); err != nil {
		return nil, &StoreError{Op: op, Stream: stream, Err: err}
	}
	if fromVersion == 0 {
		fromVersion = 1
	}
	s.mu.RLock()
	last := s.versions[stream]
	s.mu.RUnlock()
	if fromVersion > last {
		return nil, nil
	}
	release, err := s.readGuard()
	if err != nil {
		return nil, &StoreError{Op: op, Stream: stream, Err: err}
	}
	defer release()
	recs := make([]Record, 0, min(last-fromVersion+1, 1024))
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: streamPrefix(stream)})
		defer it.Close()
		want := fromVersion
		for it.Seek(streamKey(stream, fromVersion)); it.Valid() && want <= last; it.Next() {
			var pos uint64
			if err := itemValue(it.Item(), func(v []byte) error {
				pos = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return fmt.Errorf("read version %d: %w", want, err)
			}
			r, err := recordAt(txn, pos)
			if err != nil {
				return fmt.Errorf("version %d: %w", want, err)
			}
			if r.Stream != stream || r.Version != want {
				return fmt.Errorf("the stream index names record %d as %s version %d, but it is %s version %d", pos, stream, want, r.Stream, r.Version)
			}
			recs = append(recs, r)
			want++
		}
		if want <= last {
			return fmt.Errorf("stream ends at version %d, before %d", want-1, last)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrCorruptLog) {
			// Anything that stops a read of a stream inside its version is damage.
			err = fmt.Errorf("%w: %w", ErrCorruptLog, err)
		}
		return nil, &StoreError{Op: op, Stream: stream, Err: s.noteCorrupt(err)}
	}
	return recs, nil
}

// StreamVersion implements Store.
func (s *BadgerStore) StreamVersion(ctx context.Context, stream string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, &StoreError{Op: "stream version", Stream: stream, Err: err}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.versions[stream], nil
}

// Head implements Store.
func (s *BadgerStore) Head(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, &StoreError{Op: "head", Err: err}
	}
	return s.head.value(), nil
}

// Durable is the last position written and synced: every acknowledged append is at or before
// it. It is beyond Head while a big append is staged (staged.go): the appends chained meanwhile
// are acknowledged, and readers see them once it is whole.
func (s *BadgerStore) Durable(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, &StoreError{Op: "durable", Err: err}
	}
	return s.durable.Load(), nil
}

// PositionAt implements Store: a binary search, since Time never decreases
// with Position.
func (s *BadgerStore) PositionAt(ctx context.Context, t time.Time) (uint64, error) {
	const op = "position at"
	if err := ctx.Err(); err != nil {
		return 0, &StoreError{Op: op, Err: err}
	}
	head := s.head.value()
	release, err := s.readGuard()
	if err != nil {
		return 0, &StoreError{Op: op, Err: err}
	}
	defer release()
	// Invariant: time(lo) <= t (lo 0 stands for "before the log"), time(hi+1) > t.
	lo, hi := uint64(0), head
	err = s.db.View(func(txn *badger.Txn) error {
		for lo < hi {
			mid := lo + (hi-lo+1)/2
			r, err := recordAt(txn, mid)
			if err != nil {
				return err
			}
			if r.Time.After(t) {
				hi = mid - 1
			} else {
				lo = mid
			}
		}
		return nil
	})
	if err != nil {
		return 0, &StoreError{Op: op, Err: s.noteCorrupt(err)}
	}
	return lo, nil
}

// WaitFor implements Store.
func (s *BadgerStore) WaitFor(ctx context.Context, pos uint64) error {
	if err := s.head.wait(ctx, pos, s.stop); err != nil {
		return &StoreError{Op: "wait for", Err: fmt.Errorf("position %d: %w", pos, err)}
	}
	return nil
}

// BadgerOptions reports the options Badger was opened with (its sizes).
func (s *BadgerStore) BadgerOptions() badger.Options { return s.db.Opts() }

// Close stops the committer (queued appends get ErrClosed), waits for the
// batch in progress, and closes Badger.
func (s *BadgerStore) Close() error {
	if s == nil { // a failed OpenBadger assigned to a Store variable
		return nil
	}
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		if err := s.db.Close(); err != nil {
			s.closeErr = &StoreError{Op: "close", Err: err}
		}
	})
	return s.closeErr
}

// badgerLogger passes Badger's warnings and errors to slog and drops the rest.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, args ...any) {
	b.l.Error("badger: " + trimNL(fmt.Sprintf(f, args...)))
}

func (b badgerLogger) Warningf(f string, args ...any) {
	b.l.Warn("badger: " + trimNL(fmt.Sprintf(f, args...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

func trimNL(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}

// recordAt reads the record at pos in txn.
func recordAt(txn *badger.Txn, pos uint64) (Record, error) {
	var r Record
	item, err := txn.Get(eventKey(pos))
	if err != nil {
		return r, fmt.Errorf("read record %d: %w", pos, err)
	}
	if err := itemValue(item, func(v []byte) error { return decodeRecordAt(v, pos, &r) }); err != nil {
		return r, err
	}
	return r, nil
}

// decodeRecordAt decodes the record stored under position pos and checks that it is that
// position's: a record moved to another key (values swapped or copied between keys) would
// otherwise be served in the place of the one lost there, its hash still its own.
func decodeRecordAt(v []byte, pos uint64, r *Record) error {
	if err := decodeRecord(v, r); err != nil {
		return fmt.Errorf("%w: decode record %d: %w", ErrCorruptLog, pos, err)
	}
	if r.Position != pos {
		return fmt.Errorf("%w: the record stored at position %d is the one of position %d", ErrCorruptLog, pos, r.Position)
	}
	return nil
}
