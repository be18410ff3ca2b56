package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/domain"
	"roster/eventstore"
	"roster/internal/edge"
	"roster/internal/natstest"
)

// A big request is decoded by a worker, not on the subscription's goroutine: while an
// ImportMembers is held in its decode, another organization's command behind it on the same
// subscription is answered; then the import is answered too, in one piece.
func TestBigRequestDecodedOffTheSubscription(t *testing.T) {
	s, _ := newService(t)
	inDecode, release := make(chan struct{}), make(chan struct{})
	s.beforeDecode = func(name string) {
		if name == client.CmdImportMembers {
			close(inDecode)
			<-release
		}
	}
	nc, _ := serve(t, s)
	request := func(name string, body map[string]any) *nats.Msg {
		t.Helper()
		b, _ := json.Marshal(body)
		msg, err := nc.Request(client.CommandPrefix+name, b, 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
			t.Fatalf("%s refused: %s", name, msg.Data)
		}
		return msg
	}
	for _, org := range []string{"a", "b"} {
		request(client.CmdCreateOrganization, map[string]any{"org_id": org, "kind": "team", "preset": "ica", "actor": "tina", "name": strings.ToUpper(org)})
	}
	request(client.CmdCreateProject, map[string]any{"org_id": "a", "actor": "tina", "project_id": "p", "name": "P"})

	var csv strings.Builder
	csv.WriteString("email,user_id,name,roles,grants\n")
	for i := 0; csv.Len() <= InlineDecode; i++ {
		fmt.Fprintf(&csv, "u%d@a.test,,,project_viewer,\n", i)
	}
	body, _ := json.Marshal(map[string]any{"org_id": "a", "actor": "tina", "project_id": "p", "csv": csv.String()})
	imported := make(chan *nats.Msg, 1)
	go func() {
		msg, err := nc.Request(client.CommandPrefix+client.CmdImportMembers, body, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		imported <- msg
	}()
	<-inDecode
	// The import is held in its decode; organization B's command is still answered.
	request(client.CmdCreateProject, map[string]any{"org_id": "b", "actor": "tina", "project_id": "q", "name": "Q"})
	close(release)
	msg := <-imported
	if msg == nil {
		t.Fatal("no reply to the import")
	}
	var rep client.CommandReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil || !rep.OK {
		t.Fatalf("import reply %s (%v)", msg.Data, err)
	}
}

// A body over InlineDecode whose top-level org_id the scan cannot read (an escaped key before
// it, an invalid id, not an object) is refused at once, never decoded on the subscription's
// goroutine; nothing is appended. A beforeDecode hook that would block shows no decode runs.
func TestUnscannableBigRequestIsRefused(t *testing.T) {
	s, store := newService(t)
	s.beforeDecode = func(name string) { t.Errorf("%s decoded", name) }
	nc, ctx := serve(t, s)
	csv := "email,user_id,name,roles,grants\n" + strings.Repeat("x@a.test,,X,project_viewer,\n", 1000)
	pad, _ := json.Marshal(csv)
	for _, body := range []string{
		`{"\u0061ctor":"ana","org_id":"acme","project_id":"p","csv":` + string(pad) + `}`,
		`{"actor":"ana","org_id":"NO SUCH!","project_id":"p","csv":` + string(pad) + `}`,
		`[` + string(pad) + `]`,
	} {
		msg, err := nc.Request(client.CommandPrefix+client.CmdImportMembers, []byte(body), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var rep client.CommandReply
		if err := json.Unmarshal(msg.Data, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.OK || rep.Error == nil || rep.Error.Code != client.CodeInvalid || !strings.Contains(rep.Error.Message, fmt.Sprint(InlineDecode)) {
			t.Fatalf("%.40s…: %s", body, msg.Data)
		}
	}
	// A large body of a command that is small by nature: refused by its bound, not decoded.
	accept := `{"org_id":"acme","actor":"ana","invitation_id":"i","token":` + string(pad) + `}`
	msg, err := nc.Request(client.CommandPrefix+client.CmdAcceptInvite, []byte(accept), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), fmt.Sprintf(`"code":"invalid","message":"AcceptInvite: the request has %d bytes; the limit for this command is %d"`, len(accept), InlineDecode)) {
		t.Fatalf("AcceptInvite of %d bytes: %s", len(accept), msg.Data)
	}
	if h, _ := store.Head(ctx); h != 0 {
		t.Fatalf("log head %d after refusals", h)
	}
}

// Every command but ImportMembers has a body bound: MaxCommandBody, and InlineDecode for those
// that answer invitations or create an organization. Over it the request is refused before
// anything reads it.
func TestCommandBodiesAreBounded(t *testing.T) {
	pad := func(n int) string { return strings.Repeat("[1],", n/4) + "[1]" }
	for _, c := range []struct {
		name  string
		body  string
		limit int
	}{
		{client.CmdAcceptInvite, `{"org_id":"acme","actor":"ana","invitation_id":"i","zz":[` + pad(InlineDecode) + `]}`, InlineDecode},
		{client.CmdCreateOrganization, `{"org_id":"acme","actor":"ana","zz":[` + pad(InlineDecode) + `]}`, InlineDecode},
		{client.CmdDefineRole, `{"org_id":"acme","actor":"ana","zz":[` + pad(MaxCommandBody) + `]}`, MaxCommandBody},
	} {
		err := bodyWithinLimit(c.name, len(c.body))
		code, _ := edge.CodeOf(err)
		if code != client.CodeInvalid || !strings.Contains(err.Error(), fmt.Sprintf("limit for this command is %d", c.limit)) {
			t.Errorf("%s of %d bytes: %v", c.name, len(c.body), err)
		}
	}
	if err := bodyWithinLimit(client.CmdDefineRole, InlineDecode+1); err != nil {
		t.Errorf("DefineRole just over InlineDecode: %v", err)
	}
	if err := bodyWithinLimit(client.CmdImportMembers, 1<<20); err != nil {
		t.Errorf("ImportMembers of 1 MiB: %v", err)
	}
}

// newService is a command service over a memory log.
func newService(t *testing.T) (*Service, eventstore.Store) {
	t.Helper()
	store := eventstore.NewMemory()
	s, err := New(Config{Presets: domain.MustLoadPresets(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return s, store
}

// serve puts s's command endpoints on a NATS server of the test's own and returns a connection
// to it and the context the endpoints run in (both end with the test).
func serve(t *testing.T, s *Service) (*nats.Conn, context.Context) {
	t.Helper()
	_, nc := natstest.StartForTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svc, err := micro.AddService(nc, micro.Config{Name: "rostertest", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddEndpoints(ctx, svc); err != nil {
		t.Fatal(err)
	}
	return nc, ctx
}
