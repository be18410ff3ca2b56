package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys set on every Watermill message made from a stream message.
const (
	MetaPosition = "position"
	MetaSubject  = "subject"
)

// StreamSubscriber is a Watermill subscriber that reads the JetStream stream with an
// ordered consumer, starting after the position its view has applied. It hands out one
// message at a time and waits for its Ack (next) or Nack (the same message again),
// so a view sees the stream in order. Messages are built here, so a body that does not
// decode still reaches the handler (and its poison queue) instead of stalling delivery.
type StreamSubscriber struct {
	js     jetstream.JetStream
	stream string
	// startAfter gives the position to resume after, read at each (re)subscription.
	startAfter func() uint64
	log        *slog.Logger

	mu     sync.Mutex
	closed bool
	cancel []context.CancelFunc
	wg     sync.WaitGroup
}

// NewStreamSubscriber reads stream (ROSTER_EVENTS) through js.
func NewStreamSubscriber(js jetstream.JetStream, stream string, startAfter func() uint64, log *slog.Logger) *StreamSubscriber {
	if log == nil {
		log = slog.Default()
	}
	return &StreamSubscriber{js: js, stream: stream, startAfter: startAfter, log: log}
}

// Subscribe starts delivery; topic is the subject filter (e.g. roster.events.>).
func (s *StreamSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("stream subscriber closed")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = append(s.cancel, cancel)
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		s.deliver(ctx, topic, out)
	}()
	return out, nil
}

// errNotApplied: the view acknowledged a message without applying it (refused); the consumer
// starts again from the view's position after a pause, re-reading what is there then.
var errNotApplied = errors.New("message not applied by the view")

// MaxRefusedBackoff is the longest pause before a view re-reads the stream after a refusal.
const MaxRefusedBackoff = 5 * time.Second

// deliver (re)creates the ordered consumer after each failure and feeds out until ctx ends.
func (s *StreamSubscriber) deliver(ctx context.Context, topic string, out chan<- *message.Message) {
	backoff, refusedBackoff := 50*time.Millisecond, 100*time.Millisecond
	for ctx.Err() == nil {
		before := s.startAfter()
		err := s.consume(ctx, topic, out)
		if ctx.Err() != nil {
			return
		}
		wait := backoff
		if errors.Is(err, errNotApplied) {
			if s.startAfter() > before {
				refusedBackoff = 100 * time.Millisecond
			}
			wait = refusedBackoff
			refusedBackoff = min(refusedBackoff*2, MaxRefusedBackoff)
			s.log.Debug("stream message refused; re-reading after a pause", "err", err, "after", wait)
		} else {
			s.log.Warn("stream consumer stopped; resubscribing", "err", err, "after", wait)
			backoff = min(backoff*2, 2*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (s *StreamSubscriber) consume(ctx context.Context, topic string, out chan<- *message.Message) error {
	start := s.startAfter() + 1
	cons, err := s.js.OrderedConsumer(ctx, s.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topic},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer on %s from %d: %w", s.stream, start, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("consume %s: %w", s.stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		for {
			wm := message.NewMessage(msg.Headers().Get("Nats-Msg-Id"), msg.Data())
			wm.Metadata.Set(MetaPosition, strconv.FormatUint(meta.Sequence.Stream, 10))
			wm.Metadata.Set(MetaSubject, msg.Subject())
			wm.SetContext(ctx)
			select {
			case out <- wm:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-wm.Acked():
			case <-wm.Nacked():
				// Redeliver the same message after a pause; the view decides again.
				select {
				case <-time.After(100 * time.Millisecond):
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
			break
		}
		if at := s.startAfter(); at < meta.Sequence.Stream {
			return fmt.Errorf("%w: sequence %d (view at %d)", errNotApplied, meta.Sequence.Stream, at)
		}
	}
}

// Close stops every subscription and waits for them.
func (s *StreamSubscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, c := range s.cancel {
		c()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
