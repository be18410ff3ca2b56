package queries

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/eventstore"
	"roster/internal/caller"
	"roster/internal/edge"
)

// Integrity serves the operators' integrity endpoints (roster.admin.Verify and
// roster.admin.Export) in a process that has the log.
type Integrity struct {
	Store  eventstore.Store
	JS     jetstream.JetStream
	Stream string // default ROSTER_EVENTS
	Policy *caller.Policy
	Logger *slog.Logger

	// A verify reads the whole log, the stream and the log's keys: one runs at a time
	// (verifying holds when the running one started, and from where).
	mu        sync.Mutex
	verifying *verifyRun
	// exports counts the export pages being read (at most MaxConcurrentExports).
	exports atomic.Int32
	// verifyHeld, when set (tests), runs once a verify holds its slot.
	verifyHeld func()
}

// verifyRun is the verify running.
type verifyRun struct {
	from  uint64
	since time.Time
}

// MaxConcurrentExports bounds the export pages read at once (roster backup reads one at a
// time); one more is refused unavailable.
const MaxConcurrentExports = 4

// verifyFetchWait bounds the wait for one batch of stream messages while verifying.
const verifyFetchWait = 10 * time.Second

// AddEndpoints registers roster.admin.Verify and roster.admin.Export.
func (in *Integrity) AddEndpoints(ctx context.Context, svc micro.Service) error {
	if in.Stream == "" {
		in.Stream = client.EventStream
	}
	if in.Logger == nil {
		in.Logger = slog.Default()
	}
	// fn's done, when not nil, is called once the reply is sent: what fn holds (an export's
	// slot) is held while its result is encoded and sent too.
	serve := func(name, subject, desc string, fn func(ctx context.Context, body []byte) (res any, done func(), err error)) error {
		h := micro.HandlerFunc(func(req micro.Request) {
			go func() {
				if err := in.authorize(req); err != nil {
					body, code := edge.ErrorBody(err)
					edge.Respond(req, body, code)
					return
				}
				res, done, err := fn(ctx, req.Data())
				if done != nil {
					defer done()
				}
				if err != nil {
					body, code := edge.ErrorBody(err)
					edge.Respond(req, body, code)
					return
				}
				raw, _ := json.Marshal(res)
				body, _ := json.Marshal(client.QueryReply{OK: true, Result: raw})
				_ = req.Respond(body)
			}()
		})
		if err := svc.AddEndpoint(name, h, micro.WithEndpointSubject(subject),
			micro.WithEndpointMetadata(map[string]string{"description": desc})); err != nil {
			return fmt.Errorf("%s endpoint: %w", name, err)
		}
		return nil
	}
	verify := func(ctx context.Context, body []byte) (any, func(), error) {
		res, err := in.verify(ctx, body)
		return res, nil, err
	}
	if err := serve("verify", client.AdminVerify, "check the hash chain of the log and of the stream", verify); err != nil {
		return err
	}
	return serve("export", client.AdminExport, "page through the log's records with their hashes (backup)", in.export)
}

// authorize admits operators only, in secured mode (insecure mode has no identities).
func (in *Integrity) authorize(req micro.Request) error {
	if in.Policy == nil || !in.Policy.Secured {
		return nil
	}
	c, err := in.Policy.FromHeader(nats.Header(req.Headers()))
	if err != nil {
		return fail(client.CodeForbidden, "%v", err)
	}
	if c.Kind != caller.Operator {
		return fail(client.CodeForbidden, "%s is not an operator account", c)
	}
	return nil
}

// decodeAdmin decodes an operator request (Rebuild, Verify, Export) like every other request:
// unknown, duplicate and wrong-case keys, trailing data, invalid UTF-8 and nesting deeper than
// MaxJSONDepth are refused invalid. An empty body is the request with every field omitted.
func decodeAdmin(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := edge.DecodeStrict(body, v); err != nil {
		return fail(client.CodeInvalid, "%v", err)
	}
	return nil
}

func chainReport(r eventstore.Report) client.ChainReport {
	return client.ChainReport{BadPosition: r.BadPosition, Checked: r.Checked, From: r.From, Last: r.Last,
		LastHash: r.LastHash, OK: r.OK(), Reason: r.Reason}
}

func (in *Integrity) verify(ctx context.Context, body []byte) (any, error) {
	var req client.Verify
	if err := decodeAdmin(body, &req); err != nil {
		return nil, err
	}
	if req.From > 1 {
		head, err := in.Store.Head(ctx)
		if err != nil {
			return nil, fail(client.CodeUnavailable, "read the log head: %v", err)
		}
		if req.From > head {
			return nil, fail(client.CodeInvalid, "from %d is beyond the log head %d; from is at most the head", req.From, head)
		}
	}
	from := max(req.From, 1)
	in.mu.Lock()
	if run := in.verifying; run != nil {
		in.mu.Unlock()
		return nil, fail(client.CodeConflict, "a verify from position %d has been running since %s (one verify at a time); retry when it is done",
			run.from, run.since.UTC().Format(time.RFC3339))
	}
	in.verifying = &verifyRun{from: from, since: time.Now()}
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.verifying = nil
		in.mu.Unlock()
	}()
	if in.verifyHeld != nil {
		in.verifyHeld()
	}
	logRep, err := eventstore.VerifyStore(ctx, in.Store, from)
	if err != nil && logRep.OK() {
		return nil, fail(client.CodeUnavailable, "verify the log: %v", err)
	}
	streamRep, err := in.verifyStream(ctx, from)
	if err != nil {
		return nil, fail(client.CodeUnavailable, "verify the stream: %v", err)
	}
	res := client.VerifyResult{Log: chainReport(logRep), Stream: chainReport(streamRep)}
	if ks, ok := in.Store.(keyChecker); ok {
		keys, err := ks.VerifyKeys(ctx)
		if err != nil {
			return nil, fail(client.CodeUnavailable, "verify the log's keys: %v", err)
		}
		res.Keys = &keys
	}
	in.Logger.Info("verified", "from", from, "log_ok", logRep.OK(), "log_bad", logRep.BadPosition,
		"stream_ok", streamRep.OK(), "stream_bad", streamRep.BadPosition, "keys_ok", res.Keys == nil || res.Keys.OK)
	return res, nil
}

// keyChecker is a log that checks its keys as the background checksum pass does, damage found
// raising the store's alarm too (eventstore.BadgerStore.VerifyKeys).
type keyChecker interface {
	VerifyKeys(ctx context.Context) (client.ChainReport, error)
}

// verifyStream walks the stream from from to its last sequence (at the start): every message
// must be an envelope at its sequence, link to the one before, match its own hash, and be the
// log's record there (id and hash). The report names the first that is not.
func (in *Integrity) verifyStream(ctx context.Context, from uint64) (eventstore.Report, error) {
	st, err := in.JS.Stream(ctx, in.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return eventstore.Report{From: from, BadPosition: from, Reason: "the stream does not exist (the relay creates and fills it)"}, nil
	}
	if err != nil {
		return eventstore.Report{}, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return eventstore.Report{}, err
	}
	last := info.State.LastSeq
	prev := ""
	if from > 1 {
		if recs, err := in.Store.Read(ctx, from-1, 1); err == nil && len(recs) == 1 && recs[0].Position == from-1 {
			prev = recs[0].Hash
		}
	}
	v := eventstore.NewChainVerifier(from, prev)
	if last < from {
		return v.Report(), nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from})
	if err != nil {
		return eventstore.Report{}, err
	}
	bad := func(pos uint64, format string, args ...any) (eventstore.Report, error) {
		rep := v.Report()
		rep.BadPosition, rep.Reason = pos, fmt.Sprintf(format, args...)
		return rep, nil
	}
	var logBuf []eventstore.Record
	next := from
	for next <= last {
		batch, err := cons.Fetch(int(min(last-next+1, 1000)), jetstream.FetchMaxWait(verifyFetchWait))
		if err != nil {
			return eventstore.Report{}, err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				return eventstore.Report{}, err
			}
			seq := meta.Sequence.Stream
			if seq != next {
				return bad(next, "stream message %d is missing (deleted or purged)", next)
			}
			var env eventstore.Record
			if err := json.Unmarshal(msg.Data(), &env); err != nil {
				return bad(seq, "not an event envelope: %v", err)
			}
			if env.Position != seq {
				return bad(seq, "envelope position %d at stream sequence %d", env.Position, seq)
			}
			if err := v.Add(env); err != nil {
				return v.Report(), nil
			}
			if len(logBuf) == 0 {
				if logBuf, err = in.Store.Read(ctx, seq, 1000); err != nil {
					return bad(seq, "the log cannot be read here: %v", err)
				}
			}
			if len(logBuf) == 0 || logBuf[0].Position != seq {
				return bad(seq, "the log has no record at position %d: the stream is ahead of the log", seq)
			}
			rec := logBuf[0]
			logBuf = logBuf[1:]
			if env.ID != rec.ID || env.Hash != rec.Hash {
				return bad(seq, "the stream's message (id %s, hash %.12s) is not the log's record (id %s, hash %.12s)", env.ID, env.Hash, rec.ID, rec.Hash)
			}
			next++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return eventstore.Report{}, err
		}
		if n == 0 {
			return bad(next, "stream message %d could not be read", next)
		}
	}
	return v.Report(), nil
}

// export answers one page; done gives its slot back (MaxConcurrentExports), once the page is
// sent: a page is read, encoded and sent under the bound.
func (in *Integrity) export(ctx context.Context, body []byte) (res any, done func(), err error) {
	var req client.Export
	if err := decodeAdmin(body, &req); err != nil {
		return nil, nil, err
	}
	if n := in.exports.Add(1); n > MaxConcurrentExports {
		in.exports.Add(-1)
		return nil, nil, fail(client.CodeUnavailable, "%d export pages are being read or sent (at most %d at once, MaxConcurrentExports); retry shortly", n-1, MaxConcurrentExports)
	}
	done = func() { in.exports.Add(-1) }
	res, err = in.exportPage(ctx, req)
	return res, done, err
}

// exportPage reads the page req asks for.
func (in *Integrity) exportPage(ctx context.Context, req client.Export) (any, error) {
	if req.Limit < 0 || req.Limit > client.MaxExportPage {
		return nil, fail(client.CodeInvalid, "limit %d: at most %d records per page (MaxExportPage)", req.Limit, client.MaxExportPage)
	}
	limit := req.Limit
	if limit == 0 {
		limit = client.MaxExportPage
	}
	head, err := in.Store.Head(ctx)
	if err != nil {
		return nil, fail(client.CodeUnavailable, "read the log head: %v", err)
	}
	upTo := req.UpTo
	if upTo == 0 {
		upTo = head
	}
	if upTo > head {
		return nil, fail(client.CodeInvalid, "up_to %d is beyond the log head %d", upTo, head)
	}
	if req.AfterPosition > upTo {
		return nil, fail(client.CodeInvalid, "after_position %d is beyond up_to %d (the log head is %d); after_position is at most up_to", req.AfterPosition, upTo, head)
	}
	page := client.ExportPage{Head: head, UpTo: upTo, Records: []client.Event{}}
	if upTo > 0 {
		recs, err := in.Store.Read(ctx, upTo, 1)
		if err != nil || len(recs) != 1 {
			return nil, fail(client.CodeUnavailable, "read position %d: %v", upTo, err)
		}
		page.UpToHash = recs[0].Hash
	}
	if req.AfterPosition >= upTo {
		return page, nil
	}
	recs, err := in.Store.Read(ctx, req.AfterPosition+1, int(min(uint64(limit), upTo-req.AfterPosition)))
	if err != nil {
		return nil, fail(client.CodeUnavailable, "read the log after %d: %v", req.AfterPosition, err)
	}
	size := 0
	for _, r := range recs {
		if r.Position > upTo {
			break
		}
		size += len(r.Data) + 512
		if len(page.Records) > 0 && size > client.MaxExportBytes {
			break
		}
		page.Records = append(page.Records, client.Event(r))
	}
	if n := len(page.Records); n > 0 && page.Records[n-1].Position < upTo {
		page.NextAfterPosition = page.Records[n-1].Position
	}
	return page, nil
}
