package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
	"roster/projections"
)

// The same command_id sent ten times appends one set of events and gets ten identical replies.
func TestSameCommandIDTenTimes(t *testing.T) {
	r := newRig(t)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	req := obj{"org_id": "acme", "actor": "ana", "user_id": "bob", "role": "member", "command_id": "cmd-42"}
	var replies []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, err := r.c.Request(context.Background(), client.CommandPrefix+"AddOrgMember", mustJSON(t, req))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			replies = append(replies, string(raw))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(replies) != 10 {
		t.Fatalf("%d replies", len(replies))
	}
	for _, rep := range replies[1:] {
		if rep != replies[0] {
			t.Fatalf("replies differ:\n%s\n%s", replies[0], rep)
		}
	}
	var first client.CommandReply
	if err := json.Unmarshal([]byte(replies[0]), &first); err != nil || !first.OK || len(first.Events) != 1 {
		t.Fatalf("reply %s (%v)", replies[0], err)
	}
	recs, err := r.d.Store.Read(context.Background(), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rec := range recs {
		if rec.CommandID == "cmd-42" {
			n++
		}
	}
	if n != 1 || len(recs) != 2 {
		t.Fatalf("log has %d events (%d of cmd-42), want 2 (1)", len(recs), n)
	}
	// The same command id in another organization is another command.
	r.ok("CreateOrganization", obj{"org_id": "other", "kind": "team", "preset": "neptune", "actor": "ana"})
	rep := r.ok("AddOrgMember", obj{"org_id": "other", "actor": "ana", "user_id": "bob", "role": "member", "command_id": "cmd-42"})
	if rep.Position == first.Position {
		t.Fatal("a command id of one organization answered another's command")
	}
}

// Bad input gets its typed error and appends nothing.
func TestBadInputIsRefusedAndAppendsNothing(t *testing.T) {
	r := newRig(t)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	head := func() uint64 {
		h, err := r.d.Store.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := head()
	cases := []struct {
		name, subject string
		body          []byte
		code          string
	}{
		{"malformed JSON", "roster.cmd.AddOrgMember", []byte(`{"org_id": "acme", "actor": `), client.CodeInvalid},
		{"not an object", "roster.cmd.AddOrgMember", []byte(`[1,2]`), client.CodeInvalid},
		{"empty body", "roster.cmd.AddOrgMember", nil, client.CodeInvalid},
		{"unknown command", "roster.cmd.MakeMeAdmin", []byte(`{"org_id":"acme","actor":"ana"}`), client.CodeInvalid},
		{"unknown field", "roster.cmd.AddOrgMember", []byte(`{"org_id":"acme","actor":"ana","user_id":"bob","rolez":"admin"}`), client.CodeInvalid},
		{"id with a dot", "roster.cmd.AddOrgMember", []byte(`{"org_id":"acme","actor":"ana","user_id":"bob.smith"}`), client.CodeInvalid},
		{"id with a star", "roster.cmd.CreateProject", []byte(`{"org_id":"acme","actor":"ana","project_id":"p*"}`), client.CodeInvalid},
		{"org id with a dot", "roster.cmd.AddOrgMember", []byte(`{"org_id":"ac.me","actor":"ana","user_id":"bob"}`), client.CodeInvalid},
		{"missing actor", "roster.cmd.AddOrgMember", []byte(`{"org_id":"acme","user_id":"bob"}`), client.CodeInvalid},
		{"unknown organization", "roster.cmd.AddOrgMember", []byte(`{"org_id":"nope","actor":"ana","user_id":"bob"}`), client.CodeNotFound},
		{"actor without the right", "roster.cmd.AddOrgMember", []byte(`{"org_id":"acme","actor":"mallory","user_id":"bob"}`), client.CodeForbidden},
		{"2 MiB payload", "roster.cmd.AddOrgMember", []byte(`{"org_id":"acme","actor":"ana","user_id":"bob","name":"` + strings.Repeat("x", 2<<20) + `"}`), client.CodeInvalid},
		{"unknown query", "roster.query.Everything", []byte(`{}`), client.CodeInvalid},
		{"query with bad id", "roster.query.Check", []byte(`{"org_id":"acme","user_id":"a.b","permission":"x"}`), client.CodeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := r.nc.Request(tc.subject, tc.body, 5*time.Second)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			var rep struct {
				OK    bool              `json:"ok"`
				Error *client.ErrorBody `json:"error"`
			}
			if err := json.Unmarshal(msg.Data, &rep); err != nil {
				t.Fatalf("reply %q: %v", msg.Data, err)
			}
			if rep.OK || rep.Error == nil || rep.Error.Code != tc.code || rep.Error.Message == "" {
				t.Fatalf("reply %s, want code %s", msg.Data, tc.code)
			}
			if got, want := msg.Header.Get("Nats-Service-Error-Code"), fmt.Sprint(client.StatusOf(tc.code)); got != want {
				t.Fatalf("Nats-Service-Error-Code %q, want %q", got, want)
			}
		})
	}
	if after := head(); after != before {
		t.Fatalf("refused input appended: head %d -> %d", before, after)
	}
}

// Stop rosterd while commands stream in, start it again on the same data directory: no
// acknowledged event is lost, none is duplicated, in the log, the stream or the views.
func TestRestartMidStreamLosesAndDuplicatesNothing(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})

	type ack struct {
		id  string
		pos uint64
	}
	var mu sync.Mutex
	var acked []ack
	var wg sync.WaitGroup
	enough := make(chan struct{})
	var once sync.Once
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				rep, err := r.c.Command(context.Background(), "AddOrgMember",
					obj{"org_id": "acme", "actor": "ana", "user_id": "u-" + id, "role": "member", "command_id": id})
				if err != nil {
					return // the service went away mid-stream
				}
				mu.Lock()
				acked = append(acked, ack{id, rep.Position})
				if len(acked) >= 300 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	<-enough
	r.stop() // while the writers are still sending
	wg.Wait()

	r2 := start(t, dir)
	ctx := context.Background()
	store := r2.d.Store
	head, err := store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.Read(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The log: gap-free positions and stream versions, each command once.
	byCommand := map[string]eventstore.Record{}
	for i, rec := range recs {
		if rec.Position != uint64(i+1) || rec.Version != uint64(i+1) {
			t.Fatalf("record %d has position %d version %d", i+1, rec.Position, rec.Version)
		}
		if rec.CommandID != "" {
			if _, dup := byCommand[rec.CommandID]; dup {
				t.Fatalf("command %s recorded twice", rec.CommandID)
			}
			byCommand[rec.CommandID] = rec
		}
	}
	if uint64(len(recs)) != head {
		t.Fatalf("head %d but %d records", head, len(recs))
	}
	for _, a := range acked {
		rec, ok := byCommand[a.id]
		if !ok || rec.Position != a.pos {
			t.Fatalf("acknowledged command %s (position %d) lost: %+v", a.id, a.pos, rec)
		}
	}
	t.Logf("acked %d commands before the stop; log head %d", len(acked), head)

	// The stream: exactly the log, in order.
	if err := r2.d.Relay.WaitPublished(withTimeout(t, 10*time.Second), head); err != nil {
		t.Fatalf("relay did not publish up to %d: %v", head, err)
	}
	js, err := jetstream.New(r2.nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, client.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.LastSeq != head || info.State.Msgs != head {
		t.Fatalf("stream has %d messages up to %d, log head %d", info.State.Msgs, info.State.LastSeq, head)
	}
	for _, rec := range recs {
		msg, err := stream.GetMsg(ctx, rec.Position)
		if err != nil {
			t.Fatalf("stream seq %d: %v", rec.Position, err)
		}
		if msg.Header.Get("Nats-Msg-Id") != rec.ID || msg.Subject != eventstore.Subject(rec) {
			t.Fatalf("stream seq %d is %s %s, log has %s %s", rec.Position, msg.Subject, msg.Header.Get("Nats-Msg-Id"), eventstore.Subject(rec), rec.ID)
		}
	}

	// The views: at the head, equal to a fresh fold of the log.
	presets := domain.MustLoadPresets()
	want, err := commands.LoadOrg(ctx, store, presets, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []*projections.View{r2.d.Members, r2.d.Perms} {
		if err := v.WaitFor(withTimeout(t, 10*time.Second), head); err != nil {
			t.Fatalf("view %s stuck at %d, head %d", v.Name(), v.Position(), head)
		}
		var got []byte
		_ = v.Read("acme", func(o *domain.Org, _ uint64) error {
			got, err = json.Marshal(o)
			return err
		})
		if w := mustJSON(t, want); !bytes.Equal(got, w) {
			t.Fatalf("view %s differs from the log's fold", v.Name())
		}
	}
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
