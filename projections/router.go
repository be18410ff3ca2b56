package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"roster/client"
	"roster/eventstore"
)

// DeadLetterPrefix is where events a view cannot apply are published, per view.
const DeadLetterPrefix = "roster.deadletter."

// EventsTopic is the subject filter the views consume.
const EventsTopic = client.EventPrefix + ">"

// Handler turns a stream message into a view update. A message whose envelope does not
// decode, or whose position disagrees with its stream sequence, is poison: the view's
// position still advances past it and the error sends it to the dead-letter subject.
func Handler(v *View) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		seq, err := strconv.ParseUint(msg.Metadata.Get(MetaPosition), 10, 64)
		if err != nil || seq == 0 {
			return fmt.Errorf("%w: message without a stream position", ErrPoison)
		}
		var r eventstore.Record
		if err := jsonv2.Unmarshal(msg.Payload, &r); err != nil {
			return v.Skip(seq, fmt.Errorf("%w: position %d: malformed envelope: %v", ErrPoison, seq, err))
		}
		if r.Position != seq {
			return v.Skip(seq, fmt.Errorf("%w: envelope position %d at stream sequence %d", ErrPoison, r.Position, seq))
		}
		return v.Apply(r)
	}
}

// Skip advances the view past a position it cannot apply and returns reason.
func (v *View) Skip(pos uint64, reason error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if pos > v.position {
		v.position = pos
		close(v.applied)
		v.applied = make(chan struct{})
	}
	return reason
}

// natsPublisher is a Watermill publisher over core NATS, for dead letters.
type natsPublisher struct {
	nc *nats.Conn
}

func (p natsPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		out := nats.NewMsg(topic)
		out.Data = m.Payload
		for k, v := range m.Metadata {
			out.Header.Set(k, v)
		}
		out.Header.Set("Roster-Message-Id", m.UUID)
		if err := p.nc.PublishMsg(out); err != nil {
			return fmt.Errorf("publish dead letter: %w", err)
		}
	}
	return nil
}

func (natsPublisher) Close() error { return nil }

// DeadLetterStream keeps dead letters for operators.
const DeadLetterStream = "ROSTER_DEADLETTER"

// RouterConfig wires the Watermill router feeding the views.
type RouterConfig struct {
	NC     *nats.Conn
	JS     jetstream.JetStream
	Stream string // default ROSTER_EVENTS
	Views  []*View
	// Log is the log when it is in the same process: every stream message is checked against
	// it (TrustedHandler). Nil in a reader-only process.
	Log    LocalLog
	Logger *slog.Logger
}

// DeadLetterCounter counts dead-lettered messages.
type DeadLetterCounter struct{ n atomic.Uint64 }

// Load returns the count.
func (c *DeadLetterCounter) Load() uint64 { return c.n.Load() }

// NewRouter builds a Watermill router with one handler per view, each with its own
// ordered consumer starting after the view's position. Retry runs inside the poison queue:
// poison is never retried, other errors are retried a few times, then dead-lettered.
func NewRouter(cfg RouterConfig, dead *DeadLetterCounter) (*message.Router, error) {
	if cfg.Stream == "" {
		cfg.Stream = client.EventStream
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(cfg.Logger.With("component", "watermill"), map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 5 * time.Second}, wlog)
	if err != nil {
		return nil, fmt.Errorf("watermill router: %w", err)
	}
	router.AddMiddleware(middleware.Recoverer)
	pub := natsPublisher{nc: cfg.NC}
	for _, v := range cfg.Views {
		poison, err := middleware.PoisonQueue(countingPublisher{pub, dead}, DeadLetterPrefix+v.Name())
		if err != nil {
			return nil, fmt.Errorf("poison queue: %w", err)
		}
		retry := middleware.Retry{MaxRetries: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 200 * time.Millisecond, Multiplier: 2,
			ShouldRetry: func(p middleware.RetryParams) bool { return !errors.Is(p.Err, ErrPoison) }, Logger: wlog}
		sub := NewStreamSubscriber(cfg.JS, cfg.Stream, v.Position, cfg.Logger)
		var local LocalLog
		if cfg.Log != nil {
			local = &readAhead{LocalLog: cfg.Log}
		}
		h := router.AddConsumerHandler("view-"+v.Name(), EventsTopic, sub, TrustedHandler(v, local))
		h.AddMiddleware(poison, retry.Middleware)
	}
	return router, nil
}

// ReadAhead is how many records a view's check of the stream against the log reads at once.
const ReadAhead = 256

// readAhead is one view's LocalLog for the check of each stream message against the log: a
// read of one record that is not buffered reads up to ReadAhead records from there in one
// read transaction, and the next messages, which come in order, take theirs from the buffer.
// A burst of messages (a 10,000-row import) costs a log read per ReadAhead messages instead
// of one per message. The log below its head never changes, so a buffered record is the
// log's record; each is handed out once.
type readAhead struct {
	LocalLog
	mu  sync.Mutex
	buf []eventstore.Record // consecutive positions
}

func (r *readAhead) Read(ctx context.Context, from uint64, limit int) ([]eventstore.Record, error) {
	if limit != 1 {
		return r.LocalLog.Read(ctx, from, limit)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.buf); n > 0 && from >= r.buf[0].Position && from-r.buf[0].Position < uint64(n) {
		i := from - r.buf[0].Position
		rec := r.buf[i]
		r.buf = r.buf[i+1:]
		return []eventstore.Record{rec}, nil
	}
	r.buf = nil
	recs, err := r.LocalLog.Read(ctx, from, ReadAhead)
	if err != nil || len(recs) <= 1 || recs[0].Position != from {
		return recs[:min(len(recs), 1)], err
	}
	r.buf = recs[1:]
	return recs[:1:1], nil
}

type countingPublisher struct {
	natsPublisher
	dead *DeadLetterCounter
}

func (c countingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if c.dead != nil {
		c.dead.n.Add(uint64(len(msgs)))
	}
	return c.natsPublisher.Publish(topic, msgs...)
}
