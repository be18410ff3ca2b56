package commands_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	"roster/client"
	"roster/commands"
	"roster/domain"
	"roster/eventstore"
)

// A stream whose records are out of the order a log can hold them in (a damaged data dir:
// an organization's event before its creation, or a second creation) is refused as damage
// when it is loaded, never folded: folding a member into an organization that was never
// created stopped the process.
func TestLoadOrgRefusesAStreamOutOfOrder(t *testing.T) {
	ctx := context.Background()
	record := func(ev domain.Event) eventstore.Record {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return eventstore.Record{ID: commands.NewUUIDv7(), Type: ev.EventType(), OrgID: "acme", Actor: "ana", Data: data}
	}
	created := &domain.OrganizationCreated{Name: "Acme", Kind: "team", Preset: "ica", AdminID: "ana", AdminRole: "org_admin"}
	member := &domain.OrgMemberAdded{UserID: "bob", Role: "org_member"}
	for name, evs := range map[string][]domain.Event{
		"an event before the creation": {member},
		"a second creation":            {created, member, created},
	} {
		t.Run(name, func(t *testing.T) {
			store := eventstore.NewMemory()
			recs := make([]eventstore.Record, len(evs))
			for i, ev := range evs {
				recs[i] = record(ev)
			}
			if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: commands.StreamOf("acme"), Events: recs}); err != nil {
				t.Fatal(err)
			}
			_, err := commands.LoadOrg(ctx, store, domain.MustLoadPresets(), "acme")
			if !errors.Is(err, eventstore.ErrCorruptLog) {
				t.Fatalf("load: %v; want ErrCorruptLog", err)
			}
		})
	}
	store := eventstore.NewMemory()
	if _, err := store.Append(ctx, eventstore.AppendRequest{Stream: commands.StreamOf("acme"),
		Events: []eventstore.Record{record(created), record(member)}}); err != nil {
		t.Fatal(err)
	}
	if st, err := commands.LoadOrg(ctx, store, domain.MustLoadPresets(), "acme"); err != nil || st.Members["bob"] == nil {
		t.Fatalf("load of a whole stream: %v, members %v", err, st)
	}
}

// A log restored from a backup or recovered from the stream keeps its commands' ids but not
// their replies: a repeat of such a command is answered with a reply rebuilt from its events
// (API.md: a repeat returns the first reply), not an empty body, and nothing is appended.
func TestRepeatAfterRestoreGetsAReply(t *testing.T) {
	ctx := context.Background()
	presets := domain.MustLoadPresets()
	original := eventstore.NewMemory()
	first, err := commands.New(commands.Config{Presets: presets, Store: original})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, body string }{
		{"CreateOrganization", `{"org_id":"acme","kind":"team","preset":"ica","actor":"ana","actor_email":"ana@x.test","name":"Acme","command_id":"c1"}`},
		{"AddOrgMember", `{"org_id":"acme","actor":"ana","user_id":"bob","command_id":"add-bob"}`},
	} {
		if reply, code := first.Execute(ctx, c.name, []byte(c.body)); code != "" {
			t.Fatalf("%s: %s %s", c.name, code, reply)
		}
	}
	// The restore: the same records, appended again with their command ids and no reply.
	src, err := original.Read(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	restored := eventstore.NewMemory()
	for _, r := range src {
		if _, err := restored.Append(ctx, eventstore.AppendRequest{Stream: r.Stream, ExpectedVersion: r.Version - 1, CommandID: r.CommandID,
			Events: []eventstore.Record{r}}); err != nil {
			t.Fatal(err)
		}
	}
	counted := &countingStore{Store: restored}
	svc, err := commands.New(commands.Config{Presets: presets, Store: counted})
	if err != nil {
		t.Fatal(err)
	}
	reply, code := svc.Execute(ctx, "AddOrgMember", []byte(`{"org_id":"acme","actor":"ana","user_id":"bob","command_id":"add-bob"}`))
	var got struct {
		OK       bool   `json:"ok"`
		Position uint64 `json:"position"`
		Events   []struct {
			Type     string `json:"type"`
			Position uint64 `json:"position"`
		} `json:"events"`
	}
	if code != "" || json.Unmarshal(reply, &got) != nil || !got.OK || got.Position != 2 || len(got.Events) != 1 || got.Events[0].Position != 2 {
		t.Fatalf("repeat after restore: code %q reply %q", code, reply)
	}
	if head, _ := restored.Head(ctx); head != 2 {
		t.Fatalf("head %d after the repeat, want 2", head)
	}
	// A second repeat is answered from the rebuilt reply kept: the stream is not read again.
	reads := counted.streamReads.Load()
	again, code := svc.Execute(ctx, "AddOrgMember", []byte(`{"org_id":"acme","actor":"ana","user_id":"bob","command_id":"add-bob"}`))
	if code != "" || string(again) != string(reply) || counted.streamReads.Load() != reads {
		t.Fatalf("second repeat: code %q, same reply %v, stream reads %d → %d", code, string(again) == string(reply), reads, counted.streamReads.Load())
	}
}

// countingStore counts the stream reads of the store it wraps.
type countingStore struct {
	eventstore.Store
	streamReads atomic.Int64
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, fromVersion uint64) ([]eventstore.Record, error) {
	c.streamReads.Add(1)
	return c.Store.ReadStream(ctx, stream, fromVersion)
}

// ReplySpan reads the first and last event positions of the replies the service stores, in
// the form ReplyOf writes and the form json.Marshal gave before it, and refuses anything else.
func TestReplySpan(t *testing.T) {
	recs := []eventstore.Record{{ID: "e\"1", Type: "MemberAdded", Position: 7}, {ID: "e2", Type: "MemberAdded", Position: 9}}
	built, err := commands.ReplyOf([]byte(`{"user_id":"bob"}`), recs)
	if err != nil {
		t.Fatal(err)
	}
	marshalled, err := json.Marshal(client.CommandReply{OK: true, Position: 9, Result: json.RawMessage(`{}`),
		Events: []client.EventRef{{ID: "e1", Type: "MemberAdded", Position: 7}, {ID: "e2", Type: "MemberAdded", Position: 9}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, reply := range [][]byte{built, marshalled} {
		if first, last, ok := commands.ReplySpan(reply); !ok || first != 7 || last != 9 {
			t.Errorf("ReplySpan(%s) = %d, %d, %v; want 7, 9, true", reply, first, last, ok)
		}
	}
	for _, reply := range []string{
		``,
		`{"ok":true,"position":5,"events":[],"result":{}}`, // a command that appended nothing
		`{"ok":true,"result":{}}`,
		`{"ok":false,"error":{"code":"invalid","message":"x"}}`,
		`{"position":9,"ok":true,"events":[{"id":"e","type":"T","position":7}]}`,
		`{"ok":true,"position":6,"events":[{"id":"e","type":"T","position":7}]}`, // first after last
		`{"ok":true,"position":9,"events":[{"id":"e","type":"T","position":-7}]}`,
	} {
		if _, _, ok := commands.ReplySpan([]byte(reply)); ok {
			t.Errorf("ReplySpan(%s) read a span", reply)
		}
	}
}
