package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"roster/internal/embeddednats"
	"roster/internal/natstest"
)

// appendRecords appends n single-event records round-robin over a few orgs.
func appendRecords(t *testing.T, s Store, n int) {
	t.Helper()
	ctx := testCtx(t)
	orgs := []string{"acme", "globex", "initech"}
	for i := range n {
		org := orgs[i%len(orgs)]
		stream := "org-" + org
		v, err := s.StreamVersion(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		ev := newEvent(t, []string{"MemberAdded", "RoleChanged"}[i%2], map[string]int{"i": i})
		ev.OrgID = org
		mustAppend(t, s, AppendRequest{Stream: stream, ExpectedVersion: v, Events: []Record{ev}})
	}
}

func openRelayStore(t *testing.T) *BadgerStore {
	t.Helper()
	s, err := OpenBadger(t.TempDir(), BadgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startRelay runs a relay until the returned stop is called (or the test ends).
func startRelay(t *testing.T, s Store, js jetstream.JetStream, cfg RelayConfig) (r *Relay, stop func()) {
	t.Helper()
	r = NewRelay(s, js, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay run: %v", err)
		}
	}
	t.Cleanup(stop)
	return r, stop
}

func waitPublished(t *testing.T, r *Relay, pos uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.WaitPublished(ctx, pos); err != nil {
		t.Fatalf("published %d: %v", r.Published(), err)
	}
}

// assertStreamMirrorsLog checks that the stream holds exactly the log:
// sequence = position, Nats-Msg-Id = id, subject and body from the record.
func assertStreamMirrorsLog(t *testing.T, js jetstream.JetStream, s Store) {
	t.Helper()
	ctx := testCtx(t)
	st, err := js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs := mustRead(t, s, 1, 0)
	n := uint64(len(recs))
	if info.State.Msgs != n || info.State.LastSeq != n || (n > 0 && info.State.FirstSeq != 1) {
		t.Fatalf("stream has %d messages, seq %d..%d; log has %d records",
			info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, n)
	}
	for _, rec := range recs {
		msg, err := st.GetMsg(ctx, rec.Position)
		if err != nil {
			t.Fatalf("get message %d: %v", rec.Position, err)
		}
		if got := msg.Header.Get(jetstream.MsgIDHeader); got != rec.ID {
			t.Fatalf("message %d has id %q, record %q", rec.Position, got, rec.ID)
		}
		if msg.Subject != Subject(rec) {
			t.Fatalf("message %d on %s, want %s", rec.Position, msg.Subject, Subject(rec))
		}
		var body Record
		if err := json.Unmarshal(msg.Data, &body); err != nil {
			t.Fatalf("message %d body: %v", rec.Position, err)
		}
		assertRecords(t, []Record{body}, []Record{rec})
	}
}

func newJS(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestSubject(t *testing.T) {
	cases := map[string]Record{
		"roster.events.acme.MemberAdded": {OrgID: "acme", Type: "MemberAdded"},
		"roster.events._.UserInvited":    {Type: "UserInvited"},
		"roster.events.a_b_c.T_":         {OrgID: "a.b c", Type: "T>"},
	}
	for want, r := range cases {
		if got := Subject(r); got != want {
			t.Errorf("Subject(%+v) = %s, want %s", r, got, want)
		}
	}
}

func TestRelayConfigValidate(t *testing.T) {
	if err := (RelayConfig{}).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err := RelayConfig{Stream: "a.b", Window: -1, Replicas: -3}.Validate()
	if err == nil || !strings.Contains(err.Error(), "window") || !strings.Contains(err.Error(), "replicas") || !strings.Contains(err.Error(), "stream name") {
		t.Fatalf("Validate = %v, want every problem", err)
	}
}

func TestEnsureStream(t *testing.T) {
	_, nc := natstest.StartForTest(t)
	js := newJS(t, nc)
	ctx := testCtx(t)
	// A stream made by an earlier release, with JetStream's default duplicate window (two
	// minutes), gets the relay's.
	old, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: DefaultStreamName, Subjects: []string{"roster.events.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := old.CachedInfo().Config.Duplicates; w != 2*time.Minute {
		t.Fatalf("JetStream's default duplicate window is %s", w)
	}
	st, err := EnsureStream(ctx, js, RelayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Name != DefaultStreamName || cfg.Storage != jetstream.FileStorage || cfg.Retention != jetstream.LimitsPolicy ||
		cfg.MaxAge != 0 || cfg.Replicas != 1 || len(cfg.Subjects) != 1 || cfg.Subjects[0] != "roster.events.>" ||
		cfg.Duplicates != DuplicateWindow {
		t.Fatalf("stream config %+v", cfg)
	}
	if _, err := EnsureStream(ctx, js, RelayConfig{}); err != nil {
		t.Fatalf("second EnsureStream: %v", err)
	}
}

func TestRelayPublishesLogInOrder(t *testing.T) {
	s := openRelayStore(t)
	appendRecords(t, s, 40)
	_, nc := natstest.StartForTest(t)
	js := newJS(t, nc)
	r, stop := startRelay(t, s, js, RelayConfig{Window: 16})
	waitPublished(t, r, 40)
	assertStreamMirrorsLog(t, js, s)

	// Appended while running.
	appendRecords(t, s, 25)
	waitPublished(t, r, 65)
	stop()
	assertStreamMirrorsLog(t, js, s)
}

// A stream that lost writes (here: a fresh server) is refilled from the log,
// and a relay restarted on a complete stream continues after it.
func TestRelayRefillsStreamFromLog(t *testing.T) {
	s := openRelayStore(t)
	appendRecords(t, s, 30)

	_, ncA := natstest.StartForTest(t)
	jsA := newJS(t, ncA)
	r, stop := startRelay(t, s, jsA, RelayConfig{})
	waitPublished(t, r, 30)
	stop()

	_, ncB := natstest.StartForTest(t) // empty store dir
	jsB := newJS(t, ncB)
	r, stop = startRelay(t, s, jsB, RelayConfig{})
	waitPublished(t, r, 30)
	stop()
	assertStreamMirrorsLog(t, jsB, s)

	appendRecords(t, s, 5)
	r, stop = startRelay(t, s, jsA, RelayConfig{})
	waitPublished(t, r, 35)
	stop()
	assertStreamMirrorsLog(t, jsA, s)
}

func TestRelaySurvivesNATSRestart(t *testing.T) {
	s := openRelayStore(t)
	dir := t.TempDir()
	ns, err := embeddednats.Start(embeddednats.Config{Host: "127.0.0.1", StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	u, err := url.Parse(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js := newJS(t, nc)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	r, stop := startRelay(t, s, js, RelayConfig{Window: 32, Logger: logger})

	appendRecords(t, s, 100)
	ns.Shutdown()
	ns.WaitForShutdown()
	appendRecords(t, s, 100) // while NATS is down
	ns2, err := embeddednats.Start(embeddednats.Config{Host: "127.0.0.1", Port: port, StoreDir: dir})
	if err != nil {
		t.Fatalf("restart nats: %v", err)
	}
	t.Cleanup(ns2.Shutdown)
	appendRecords(t, s, 100)
	waitPublished(t, r, 300)
	stop()
	assertStreamMirrorsLog(t, js, s)
}

// captureHandler passes log records to a channel.
type captureHandler struct {
	ch chan slog.Record
	t  *testing.T // if set, also logs there
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	if h.t != nil {
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		h.t.Logf("%s %s%s", r.Level, r.Message, b.String())
	}
	select {
	case h.ch <- r.Clone():
	default:
	}
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

// waitLoggedError waits for an error-level log whose err attribute contains want.
func waitLoggedError(t *testing.T, ch <-chan slog.Record, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case r := <-ch:
			if r.Level < slog.LevelError {
				continue
			}
			var msg string
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "err" {
					msg = a.Value.String()
				}
				return true
			})
			if strings.Contains(msg, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no error log containing %q", want)
		}
	}
}

// publishForeign puts n messages that are not from the log into the stream.
func publishForeign(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	ctx := testCtx(t)
	if _, err := EnsureStream(ctx, js, RelayConfig{}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.Publish(ctx, "roster.events.other.Foreign", []byte(fmt.Sprintf(`{"foreign":%d}`, i)), jetstream.WithMsgID(fmt.Sprintf("foreign-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func assertStreamUntouched(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	ctx := testCtx(t)
	st, err := js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n || info.State.LastSeq != n {
		t.Fatalf("stream has %d messages, last seq %d; want %d untouched", info.State.Msgs, info.State.LastSeq, n)
	}
	for seq := uint64(1); seq <= n; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Subject != "roster.events.other.Foreign" {
			t.Fatalf("message %d replaced: %s", seq, msg.Subject)
		}
	}
}

func TestRelayDoesNotPublishOverStreamAhead(t *testing.T) {
	s := openRelayStore(t)
	appendRecords(t, s, 2)
	_, nc := natstest.StartForTest(t)
	js := newJS(t, nc)
	publishForeign(t, js, 5)

	logs := make(chan slog.Record, 64)
	r, stop := startRelay(t, s, js, RelayConfig{Logger: slog.New(captureHandler{ch: logs})})
	waitLoggedError(t, logs, errStreamAhead.Error())
	stop()
	if p := r.Published(); p != 0 {
		t.Fatalf("published %d", p)
	}
	assertStreamUntouched(t, js, 5)
}

func TestRelayDoesNotPublishOverDivergedStream(t *testing.T) {
	s := openRelayStore(t)
	appendRecords(t, s, 4)
	_, nc := natstest.StartForTest(t)
	js := newJS(t, nc)
	publishForeign(t, js, 2)

	logs := make(chan slog.Record, 64)
	r, stop := startRelay(t, s, js, RelayConfig{Logger: slog.New(captureHandler{ch: logs})})
	waitLoggedError(t, logs, errStreamDiverged.Error())
	stop()
	if p := r.Published(); p != 0 {
		t.Fatalf("published %d", p)
	}
	assertStreamUntouched(t, js, 2)
}

// Run works over any Store and returns nil when its context ends.
func TestRelayRunReturnsOnCancel(t *testing.T) {
	s := NewMemory()
	_, nc := natstest.StartForTest(t)
	r := NewRelay(s, newJS(t, nc), RelayConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	appendRecords(t, s, 3)
	waitPublished(t, r, 3)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// A publish rejected by the stream (someone else wrote to it) makes the relay
// drop its window and resync; it then refuses to publish over the foreign write.
func TestRelayResyncsAfterRejectedPublish(t *testing.T) {
	s := openRelayStore(t)
	appendRecords(t, s, 10)
	_, nc := natstest.StartForTest(t)
	js := newJS(t, nc)
	logs := make(chan slog.Record, 64)
	r, stop := startRelay(t, s, js, RelayConfig{Logger: slog.New(captureHandler{logs, t})})
	waitPublished(t, r, 10)

	ctx := testCtx(t)
	if _, err := js.Publish(ctx, "roster.events.other.Foreign", []byte(`{}`), jetstream.WithMsgID("foreign")); err != nil {
		t.Fatal(err)
	}
	appendRecords(t, s, 5)
	waitLoggedError(t, logs, errStreamDiverged.Error())
	stop()
	if p := r.Published(); p != 10 {
		t.Fatalf("published %d, want 10", p)
	}
	st, err := js.Stream(ctx, DefaultStreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 11 {
		t.Fatalf("stream has %d messages, want the 10 published and the foreign one", info.State.Msgs)
	}
}

// Run ends with an error when the store is closed under it.
func TestRelayStopsWhenStoreCloses(t *testing.T) {
	s := NewMemory()
	_, nc := natstest.StartForTest(t)
	r := NewRelay(s, newJS(t, nc), RelayConfig{})
	done := make(chan error, 1)
	go func() { done <- r.Run(testCtx(t)) }()
	appendRecords(t, s, 1)
	waitPublished(t, r, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("run after store close: %v", err)
	}
}

// The stream's copy does not rest on its duplicate window (DuplicateWindow is short): a record
// the stream holds, sent again once the window has forgotten its id, is refused by the
// sequence and message id it names, never stored a second time.
func TestRelayRepublishAfterDuplicateWindowIsRefused(t *testing.T) {
	s := openRelayStore(t)
	appendRecords(t, s, 5)
	_, nc := natstest.StartForTest(t)
	js := newJS(t, nc)
	r, stop := startRelay(t, s, js, RelayConfig{})
	waitPublished(t, r, 5)
	stop()
	ctx := testCtx(t)
	cfg := streamConfig(RelayConfig{}.withDefaults())
	cfg.Duplicates = 100 * time.Millisecond // JetStream's least
	st, err := js.UpdateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Read(ctx, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Within the window JetStream answers the repeat as a duplicate; once the id is forgotten,
	// the expected sequence refuses it. Either way nothing is stored.
	for refused := false; !refused; {
		fut, err := r.publish(recs[1], recs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ack := <-fut.Ok():
			if !ack.Duplicate {
				t.Fatalf("record 3 sent again was stored at sequence %d", ack.Sequence)
			}
			time.Sleep(50 * time.Millisecond)
		case err := <-fut.Err():
			if !strings.Contains(err.Error(), "wrong last sequence") {
				t.Fatalf("refused for another reason: %v", err)
			}
			refused = true
		case <-ctx.Done():
			t.Fatal("no answer to the repeated record")
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 5 {
		t.Fatalf("stream has %d messages, want the 5 records once", info.State.Msgs)
	}
}
