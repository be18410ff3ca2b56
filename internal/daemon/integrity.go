package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go/jetstream"

	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/projections"
)

// ErrStoreDamaged reports a store rosterd refuses to serve from; the
// IntegrityError wrapping it says what is wrong and what to run.
var ErrStoreDamaged = errors.New("store damaged: not serving")

// IntegrityError is a failed start-up check.
type IntegrityError struct {
	Problem string // what is wrong, with the positions involved
	Fix     string // what to run
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("%v: %s; %s", ErrStoreDamaged, e.Problem, e.Fix)
}

// Unwrap returns ErrStoreDamaged.
func (e *IntegrityError) Unwrap() error { return ErrStoreDamaged }

const (
	fixRecover = "run `rosterd --recover-from-stream` (it moves the log aside and rebuilds it from the stream " +
		eventstore.DefaultStreamName + "; see docs/INTEGRITY.md)"
	fixViews = "move the views directory aside (they are rebuilt from the log at the next start), or, if the log lost " +
		"events the stream still holds, " + fixRecover
)

func (d *Daemon) logDir() string   { return filepath.Join(d.cfg.DataDir, "log") }
func (d *Daemon) viewsDir() string { return filepath.Join(d.cfg.DataDir, "views") }

// viewNames are the views whose checkpoints are compared with the log.
var viewNames = []string{"members", "permissions"}

// checkpoint is a view's stored position and the hash it recorded for the record there.
type checkpoint struct {
	at   uint64
	hash string
}

// prepareViews makes sure the views directory opens: a directory Badger cannot
// open (a truncated table, a lost MANIFEST, garbage) is moved aside to
// views.damaged-<time> and the views start empty, to be rebuilt from the log
// (or the stream); it never panics. It returns each view's stored checkpoint.
func (d *Daemon) prepareViews(presets domain.Presets) (map[string]checkpoint, error) {
	dir := d.viewsDir()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return map[string]checkpoint{}, nil
	}
	cps, err := readCheckpoints(dir, presets, d.cfg.Logger)
	if err == nil {
		return cps, nil
	}
	if !errors.Is(err, eventstore.ErrCorruptLog) && !errors.Is(err, projections.ErrSnapshotDamaged) {
		return nil, fmt.Errorf("views store at %s: %w", dir, err) // e.g. locked by another process: not damage
	}
	if err := d.moveViewsAside("damaged", "views store is damaged: moving it aside; the views are rebuilt from the log", "err", err); err != nil {
		return nil, err
	}
	return map[string]checkpoint{}, nil
}

// moveViewsAside moves the views directory to views.<what>-<time>, logging msg and args
// with where it went, so that the views are rebuilt from the log.
func (d *Daemon) moveViewsAside(what, msg string, args ...any) error {
	dir := d.viewsDir()
	aside := fmt.Sprintf("%s.%s-%d", dir, what, time.Now().UnixNano())
	d.cfg.Logger.Error(msg, append(args, "moved_to", aside)...)
	if err := os.Rename(dir, aside); err != nil {
		return fmt.Errorf("views store at %s (%s) cannot be moved aside: %w", dir, what, err)
	}
	return nil
}

func readCheckpoints(dir string, presets domain.Presets, log *slog.Logger) (map[string]checkpoint, error) {
	if err := eventstore.CheckTables(dir); err != nil {
		return nil, err
	}
	db, err := eventstore.OpenBadgerDir(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		return nil, fmt.Errorf("open views: %w", err)
	}
	defer db.Close()
	cps := map[string]checkpoint{}
	for _, name := range viewNames {
		at, hash, err := projections.NewView(name, presets, db, log).StoredCheckpoint()
		if err != nil {
			return nil, err
		}
		cps[name] = checkpoint{at: at, hash: hash}
	}
	return cps, nil
}

// foreignViews says why the views' checkpoints are not the log's history ("" when they
// are): a view's checkpoint whose recorded hash is not the log's record's at its position
// (projections.NotLogCheckpoint). Such views were folded from another log (a views
// directory copied from another instance, a log restored or recovered under views that
// applied a different history); they are rebuilt from the log, like damaged ones. So is a
// checkpoint with no hash: one written before the chain cannot be checked, and one whose hash
// was deleted with its position raised would make the view skip the events in between.
func foreignViews(ctx context.Context, bs *eventstore.BadgerStore, cps map[string]checkpoint) (string, error) {
	for _, name := range viewNames {
		cp := cps[name]
		if cp.at == 0 {
			continue
		}
		if cp.hash == "" {
			return fmt.Sprintf("the %s view's checkpoint at position %d has no hash to check against the log", name, cp.at), nil
		}
		recs, err := bs.Read(ctx, cp.at, 1)
		if err != nil {
			return "", fmt.Errorf("start-up check: read the log at the %s view's position %d: %w", name, cp.at, err)
		}
		if len(recs) != 1 {
			continue // beyond the head: refused by the caller
		}
		if reason := projections.NotLogCheckpoint(cp.hash, recs[0]); reason != "" {
			return fmt.Sprintf("the %s view's checkpoint at position %d is not the log's record (%s)", name, cp.at, reason), nil
		}
	}
	return "", nil
}

// checkStore runs the start-up checks of the log against its copies before
// anything is served or published: the hash chain from the verified marker to
// the head (the marker's record still has its hash; eventstore/marker.go), the
// views' checkpoints and the stream's last sequence and message. Any failure is
// an *IntegrityError. The tables' checksums are checked after ready, in the
// background (startChecksums).
func (d *Daemon) checkStore(ctx context.Context, js jetstream.JetStream, streamName string, presets domain.Presets) error {
	bs, ok := d.Store.(*eventstore.BadgerStore)
	if !ok {
		return nil
	}
	rep, m, err := bs.VerifySinceMarker(ctx)
	if err != nil || !rep.OK() {
		reason := rep.Reason
		if reason == "" && err != nil {
			reason = err.Error()
		}
		return &IntegrityError{Problem: fmt.Sprintf("the log's hash chain fails at position %d: %s", rep.BadPosition, reason), Fix: fixRecover}
	}
	d.cfg.Logger.Debug("log chain verified", "from", rep.From, "checked", rep.Checked, "marker", m.Position)
	head, err := bs.Head(ctx)
	if err != nil {
		return fmt.Errorf("start-up check: %w", err)
	}
	if err := d.checkStream(ctx, js, streamName, bs, head); err != nil {
		return err
	}
	if d.reads() {
		cps, err := d.prepareViews(presets)
		if err != nil {
			return err
		}
		for _, name := range viewNames {
			at := cps[name].at
			switch {
			case at > head && head == 0:
				return &IntegrityError{Problem: fmt.Sprintf("the log is empty while the %s view stands at position %d: the log was lost", name, at), Fix: fixRecover}
			case at > head:
				return &IntegrityError{Problem: fmt.Sprintf("the %s view stands at position %d, ahead of the log head %d", name, at, head), Fix: fixViews}
			}
		}
		foreign, err := foreignViews(ctx, bs, cps)
		if err != nil {
			return err
		}
		if foreign != "" {
			if err := d.moveViewsAside("foreign", "views directory is from another history: moving it aside; the views are rebuilt from the log",
				"reason", foreign); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkStream compares the stream with the log: not ahead of it, and its last
// message is the log's record at that position.
func (d *Daemon) checkStream(ctx context.Context, js jetstream.JetStream, streamName string, bs *eventstore.BadgerStore, head uint64) error {
	st, err := js.Stream(ctx, streamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil // the relay creates it and copies the log
	}
	if err != nil {
		return fmt.Errorf("start-up check: stream %s: %w", streamName, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("start-up check: stream %s info: %w", streamName, err)
	}
	last := info.State.LastSeq
	switch {
	case last > head && head == 0:
		return &IntegrityError{Problem: fmt.Sprintf("the log is empty while the stream %s holds %d events: the log was lost", streamName, last), Fix: fixRecover}
	case last > head:
		if problem := foreignAfterHead(ctx, st, bs, head); problem != "" {
			return &IntegrityError{Problem: fmt.Sprintf("the stream %s is at sequence %d, ahead of the log head %d, and %s", streamName, last, head, problem),
				Fix: "the log is intact and the stream is not its copy: remove the messages after " + fmt.Sprint(head) +
					" from the stream (or delete the stream: the relay refills it from the log), and move the views directory aside if they applied them"}
		}
		return &IntegrityError{Problem: fmt.Sprintf("the stream %s is at sequence %d, ahead of the log head %d: the log lost events", streamName, last, head), Fix: fixRecover}
	case last == 0:
		return nil
	}
	msg, err := st.GetMsg(ctx, last)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // deleted: nothing to compare
	}
	if err != nil {
		return fmt.Errorf("start-up check: stream %s message %d: %w", streamName, last, err)
	}
	recs, err := bs.Read(ctx, last, 1)
	if err != nil || len(recs) != 1 {
		return &IntegrityError{Problem: fmt.Sprintf("the log cannot read position %d: %v", last, err), Fix: fixRecover}
	}
	var env eventstore.Record
	_ = json.Unmarshal(msg.Data, &env)
	if id := msg.Header.Get(jetstream.MsgIDHeader); id != recs[0].ID || (env.Hash != "" && env.Hash != recs[0].Hash) {
		return &IntegrityError{
			Problem: fmt.Sprintf("the stream %s diverges from the log at sequence %d (stream id %q hash %.12s, log id %q hash %.12s): one of them is not the other's history",
				streamName, last, id, env.Hash, recs[0].ID, recs[0].Hash),
			Fix: "find which is the truth with `roster verify`; if the log is, delete the stream (`nats stream rm " + streamName +
				"`: the relay refills it from the log); if the stream is, " + fixRecover,
		}
	}
	return nil
}

// storeAlarm is a damage found in the log while serving ("" none).
type storeAlarm struct{ msg atomic.Pointer[string] }

func (a *storeAlarm) get() string {
	if m := a.msg.Load(); m != nil {
		return *m
	}
	return ""
}

// startChecksums raises the store alarm (raiseStoreAlarm) on damage found in the log
// after the start-up checks: by any read that serves (an organization's load, queries,
// Export, Verify: eventstore.BadgerStore.OnCorrupt, told also of damage met before this
// call) and by the background checksum pass, run once after the start-up checks (a full
// pass reads the whole log: it is not on the way to ready): every block of every table,
// then every value (those in Badger's value log checked against their checksums). The pass
// stops when ctx ends.
func (d *Daemon) startChecksums(ctx context.Context, cmds *commands.Service) {
	bs, ok := d.Store.(*eventstore.BadgerStore)
	if !ok {
		return
	}
	bs.OnCorrupt(func(err error) { d.raiseStoreAlarm(err, cmds) })
	d.goRun(func() {
		err := bs.VerifyChecksumsContext(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		d.raiseStoreAlarm(err, cmds)
	})
}

// raiseStoreAlarm records damage found in the log while serving: an alarm in Status, one
// error in the log, and every further command is refused (unavailable, naming the damage
// and the fix; commands.Service.Halt); the views keep answering from what they applied
// before. Only the first damage is kept.
func (d *Daemon) raiseStoreAlarm(err error, cmds *commands.Service) {
	msg := (&IntegrityError{Problem: fmt.Sprintf("the log at %s failed its checksums or cannot be read: %v", d.logDir(), err), Fix: fixRecover}).Error()
	if !d.alarm.msg.CompareAndSwap(nil, &msg) {
		return
	}
	d.cfg.Logger.Error("the log is damaged: refusing every command", "err", err, "fix", fixRecover)
	if cmds != nil {
		cmds.Halt(msg)
	}
}

// logOpenError turns a log that Badger cannot open because it is damaged
// into an *IntegrityError naming the fix.
func (d *Daemon) logOpenError(err error) error {
	if errors.Is(err, eventstore.ErrCorruptLog) {
		return &IntegrityError{Problem: fmt.Sprintf("the log at %s cannot be opened: %v", d.logDir(), err), Fix: fixRecover}
	}
	return err
}

// startHousekeeping runs Badger's value-log GC on the log and the views until ctx ends.
func (d *Daemon) startHousekeeping(ctx context.Context) {
	log := d.cfg.Logger.With("component", "gc")
	if bs, ok := d.Store.(*eventstore.BadgerStore); ok {
		d.goRun(func() { bs.RunGC(ctx, eventstore.DefaultGCInterval) })
	}
	if d.viewsDB != nil {
		d.goRun(func() {
			eventstore.RunValueLogGC(ctx, d.viewsDB, eventstore.DefaultGCInterval, log.With("db", "views"))
		})
	}
}

// RecoverLog rebuilds the log of cfg.DataDir from the stream ROSTER_EVENTS
// (rosterd --recover-from-stream): the current log directory, if any, is moved
// to log.damaged-<time>, the stream is copied into a fresh log with every
// check of eventstore.RecoverFromStream, and only then is it renamed to log.
// If the recovery fails the old log is put back and nothing else changes.
// With an embedded server it starts it on the data dir for the recovery and
// stops it after.
func RecoverLog(ctx context.Context, cfg Config) (eventstore.Report, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return eventstore.Report{}, err
	}
	log := cfg.Logger
	// The same NATS as a start: the embedded server with its configuration (the stream lives in
	// the ROSTER account in secured mode), or the external one with the credentials given.
	d := &Daemon{cfg: cfg}
	if err := d.connect(ctx); err != nil {
		return eventstore.Report{}, fmt.Errorf("recover: %w", err)
	}
	defer func() {
		d.NC.Close()
		if d.NS != nil {
			d.NS.Shutdown()
			d.NS.WaitForShutdown()
		}
	}()
	nc := d.NC
	js, err := jetstream.New(nc)
	if err != nil {
		return eventstore.Report{}, fmt.Errorf("recover: jetstream: %w", err)
	}
	logDir := filepath.Join(cfg.DataDir, "log")
	work := logDir + ".recovering"
	if err := os.RemoveAll(work); err != nil {
		return eventstore.Report{}, fmt.Errorf("recover: clear %s: %w", work, err)
	}
	rep, err := eventstore.RecoverFromStream(ctx, js, eventstore.RelayConfig{}, work, eventstore.BadgerOptions{Logger: log.With("component", "recover")})
	if err != nil {
		return rep, fmt.Errorf("%w (the log at %s is unchanged; the partial copy is in %s)", err, logDir, work)
	}
	if _, err := os.Stat(logDir); err == nil {
		oldHead, known := eventstore.HeadOf(logDir)
		aside := fmt.Sprintf("%s.damaged-%d", logDir, time.Now().UnixNano())
		if err := os.Rename(logDir, aside); err != nil {
			return rep, fmt.Errorf("recover: move the old log aside: %w", err)
		}
		log.Warn("old log moved aside", "to", aside)
		if known && oldHead > rep.Last {
			// Acknowledged commands the stream never had (the relay had not copied them, or a
			// large import was being chained): only the old log holds them.
			log.Error("the old log was written up to a later position than the stream holds: the recovered log lacks those records; they are only in the old log",
				"old_head", oldHead, "recovered_head", rep.Last, "lacking", oldHead-rep.Last, "old_log", aside)
		}
	}
	if err := os.Rename(work, logDir); err != nil {
		return rep, fmt.Errorf("recover: install the recovered log: %w", err)
	}
	log.Info("log recovered from the stream", "head", rep.Last, "head_hash", rep.LastHash)
	return rep, nil
}

// foreignAfterHead checks whether the stream's message after the log head
// links into the log's hash chain; if not it says why ("" when it links: the
// log lost events the stream holds).
func foreignAfterHead(ctx context.Context, st jetstream.Stream, bs *eventstore.BadgerStore, head uint64) string {
	msg, err := st.GetMsg(ctx, head+1)
	if err != nil {
		return ""
	}
	var env eventstore.Record
	if err := json.Unmarshal(msg.Data, &env); err != nil {
		return fmt.Sprintf("its message %d is not an event envelope", head+1)
	}
	if env.Hash == "" && env.PrevHash == "" {
		// Published before the chain existed, unless the message at the log
		// head already carries hashes: then the relay that wrote the stream
		// had the chain, and this one did not come from it.
		if at, err := st.GetMsg(ctx, head); err == nil {
			var before eventstore.Record
			if json.Unmarshal(at.Data, &before) == nil && before.Hash != "" {
				return fmt.Sprintf("its message %d has no hash after hashed ones: it is forged or foreign", head+1)
			}
		}
		return "" // the recovery checks ids, positions and versions of pre-chain envelopes
	}
	prev := eventstore.GenesisHash
	if head > 0 {
		recs, err := bs.Read(ctx, head, 1)
		if err != nil || len(recs) != 1 {
			return ""
		}
		prev = recs[0].Hash
	}
	if env.PrevHash != prev {
		return fmt.Sprintf("its message %d does not link to the log's last hash (prev_hash %q): it is forged or foreign", head+1, env.PrevHash)
	}
	if h, err := eventstore.HashRecord(env, prev); err != nil || h != env.Hash {
		return fmt.Sprintf("its message %d does not match its own hash: it is forged or altered", head+1)
	}
	return ""
}
