package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/daemon"
	"roster/internal/natstest"
)

// icaTeam builds an ICA organization where uma reaches p1 directly, through workgroup bio,
// and ext through an accepted e-mail invitation.
func icaTeam(r *rig) (invitation string) {
	r.ok("CreateOrganization", obj{"org_id": "ica", "kind": "team", "preset": "ica", "actor": "tina"})
	for _, u := range []string{"ola", "uma"} {
		r.ok("AddOrgMember", obj{"org_id": "ica", "actor": "tina", "user_id": u, "email": u + "@ica.test"})
	}
	r.ok("CreateWorkgroup", obj{"org_id": "ica", "actor": "tina", "group_id": "bio"})
	r.ok("CreateProject", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "name": "Genomes"})
	r.ok("AddMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "user_id": "uma", "roles": strs{"project_viewer"}})
	r.ok("AddMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "group_id": "bio", "roles": strs{"project_contributor"}})
	r.ok("AddWorkgroupMember", obj{"org_id": "ica", "actor": "tina", "group_id": "bio", "user_id": "uma"})
	inv := result[invited](r.t, r.ok("InviteMember", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "email": "ext@lab.test", "roles": strs{"project_viewer"}}))
	r.ok("AcceptInvite", obj{"org_id": "ica", "actor": "ext", "invitation_id": inv.InvitationID, "actor_email": "ext@lab.test"})
	return inv.InvitationID
}

type explained struct {
	Decision string `json:"decision"`
	Via      []struct {
		Kind    string `json:"kind"`
		GroupID string `json:"group_id"`
		Events  []struct {
			Position uint64 `json:"position"`
			Type     string `json:"type"`
			Actor    string `json:"actor"`
		} `json:"events"`
	} `json:"via"`
}

// Check with explain: true gives, for each membership that grants, the events that created it.
func TestCheckExplainsItsProvenance(t *testing.T) {
	r := newRig(t)
	icaTeam(r)
	var res explained
	r.query("Check", obj{"org_id": "ica", "project_id": "p1", "user_id": "uma", "permission": "View project resources", "explain": true}, &res)
	if res.Decision != "allowed" || len(res.Via) != 2 {
		t.Fatalf("explained check: %+v", res)
	}
	story := func(i int) []string {
		var out []string
		for _, e := range res.Via[i].Events {
			out = append(out, e.Type+" by "+e.Actor)
		}
		return out
	}
	if res.Via[0].Kind != "direct" || !slices.Equal(story(0), strs{"MemberAdded by ola"}) {
		t.Fatalf("direct via: %+v", res.Via[0])
	}
	if res.Via[1].Kind != "workgroup" || !slices.Equal(story(1), strs{"MemberAdded by ola", "WorkgroupMemberAdded by tina"}) {
		t.Fatalf("workgroup via: %s %v", res.Via[1].Kind, story(1))
	}
	// An invited member's story starts with the invitation.
	r.query("Check", obj{"org_id": "ica", "project_id": "p1", "user_id": "ext", "permission": "View project resources", "explain": true}, &res)
	if len(res.Via) != 1 || !slices.Equal(story(0), strs{"InvitationCreated by ola", "InvitationAccepted by ext", "MemberAdded by ext"}) {
		t.Fatalf("invited via: %+v", res.Via)
	}
}

// A command followed at once by a query with the reply's position always sees it.
func TestReadYourWrites(t *testing.T) {
	r := newRig(t)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	r.ok("CreateProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1"})
	ctx := context.Background()
	for i := range 150 {
		user := fmt.Sprintf("u%d", i)
		if _, err := r.c.Command(ctx, "AddOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": user}); err != nil {
			t.Fatal(err)
		}
		rep, err := r.c.Command(ctx, "AddMember", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": user, "roles": strs{"contributor"}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.c.Check(ctx, client.CheckRequest{OrgID: "acme", ProjectID: "p1", UserID: user, Permission: "Editing project content", MinPosition: rep.Position})
		if err != nil || res.Decision != "allowed" {
			t.Fatalf("round %d: check right after the command: %+v %v", i, res, err)
		}
		var page client.MembersPage
		if _, err := r.c.Query(ctx, "ListMembers", obj{"org_id": "acme", "project_id": "p1", "q": user, "min_position": rep.Position}, &page); err != nil || len(page.Members) == 0 {
			t.Fatalf("round %d: list right after the command: %+v %v", i, page, err)
		}
	}
}

// A rebuilt view is identical (same digest) to the incrementally built one, and queries keep
// answering while it is rebuilt.
func TestRebuildGivesTheSameDigestWithoutDowntime(t *testing.T) {
	r := newRig(t)
	icaTeam(r)
	for i := range 300 {
		r.ok("AddOrgMember", obj{"org_id": "ica", "actor": "tina", "user_id": fmt.Sprintf("x%d", i)})
	}
	// Enough of a log that the rebuild outlasts many Checks (it rebuilds ~250,000 events a
	// second): a 10,000-row import.
	var csv strings.Builder
	csv.WriteString("email,user_id,name,roles,grants\n")
	for i := range 10000 {
		fmt.Fprintf(&csv, "g%d@lab.test,,Guest %d,project_viewer,\n", i, i)
	}
	r.ok("ImportMembers", obj{"org_id": "ica", "actor": "ola", "project_id": "p1", "csv": csv.String()})
	var before client.Status
	r.query("Status", obj{"digests": true, "wait_ms": 30000}, &before)
	stop := make(chan struct{})
	started := make(chan struct{})
	var answered, failed, during atomic.Int64
	var rebuilding atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		first := true
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Sent after the rebuild request went out and answered before its reply came back:
			// an answer served during the rebuild.
			sentDuring := rebuilding.Load()
			res, err := r.c.Check(context.Background(), client.CheckRequest{OrgID: "ica", ProjectID: "p1", UserID: "uma", Permission: "View project resources"})
			if err != nil || res.Decision != "allowed" {
				failed.Add(1)
			}
			answered.Add(1)
			if sentDuring && rebuilding.Load() {
				during.Add(1)
			}
			if first {
				first = false
				close(started)
			}
		}
	}()
	<-started
	rebuilding.Store(true)
	raw, err := r.c.Request(context.Background(), client.AdminRebuild, []byte(`{}`))
	rebuilding.Store(false)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		OK     bool `json:"ok"`
		Result struct {
			Views []client.RebuiltView `json:"views"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil || !rep.OK || len(rep.Result.Views) != 2 {
		t.Fatalf("rebuild reply %s (%v)", raw, err)
	}
	for i, v := range rep.Result.Views {
		if v.Position != before.Head || before.Projections[i].Position != before.Head || v.Digest != before.Projections[i].Digest || v.Digest == "" {
			t.Fatalf("rebuilt %s at %d digest %s; before at %d digest %s", v.Name, v.Position, v.Digest, before.Head, before.Projections[i].Digest)
		}
	}
	t.Logf("%d Checks answered, %d of them sent and answered while the rebuild ran", answered.Load(), during.Load())
	if failed.Load() != 0 || during.Load() == 0 {
		t.Fatalf("during the rebuild: %d answered in all, %d sent and answered while it ran, %d failed", answered.Load(), during.Load(), failed.Load())
	}
	// Only known views.
	raw, _ = r.c.Request(context.Background(), client.AdminRebuild, []byte(`{"views":["nope"]}`))
	var bad client.QueryReply
	_ = json.Unmarshal(raw, &bad)
	if bad.OK || bad.Error == nil || bad.Error.Code != client.CodeInvalid {
		t.Fatalf("rebuild of an unknown view: %s", raw)
	}
}

type auditEvent struct {
	Position uint64          `json:"position"`
	Type     string          `json:"type"`
	Actor    string          `json:"actor"`
	Time     time.Time       `json:"time"`
	Data     json.RawMessage `json:"data"`
}

func (r *rig) audit(req obj) []auditEvent {
	r.t.Helper()
	var res struct {
		Events []auditEvent `json:"events"`
	}
	r.query("Audit", req, &res)
	return res.Events
}

func types(evs []auditEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// Audit over NATS: filters return exactly the expected events, in log order.
func TestAuditFilters(t *testing.T) {
	r := newRig(t)
	icaTeam(r)
	r.ok("CreateOrganization", obj{"org_id": "other", "kind": "team", "preset": "neptune", "actor": "ola"})
	all := r.audit(obj{"org_id": "ica", "limit": 1000})
	if len(all) != 12 {
		t.Fatalf("ica trail: %v", types(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Position <= all[i-1].Position {
			t.Fatalf("not in log order: %v", all)
		}
	}
	if got := types(r.audit(obj{"org_id": "ica", "actor": "tina"})); !slices.Equal(got, strs{"OrganizationCreated", "OrgMemberAdded", "OrgMemberAdded", "WorkgroupCreated", "WorkgroupMemberAdded"}) {
		t.Fatalf("by actor: %v", got)
	}
	if got := types(r.audit(obj{"org_id": "ica", "user_id": "uma"})); !slices.Equal(got, strs{"OrgMemberAdded", "MemberAdded", "WorkgroupMemberAdded"}) {
		t.Fatalf("by user affected: %v", got)
	}
	if got := types(r.audit(obj{"org_id": "ica", "project_id": "p1", "type": "MemberAdded"})); !slices.Equal(got, strs{"MemberAdded", "MemberAdded", "MemberAdded", "MemberAdded"}) {
		t.Fatalf("by project and type: %v", got)
	}
	// Paging by after_position, and time ranges.
	page1 := r.audit(obj{"org_id": "ica", "limit": 4})
	page2 := r.audit(obj{"org_id": "ica", "limit": 100, "after_position": page1[len(page1)-1].Position})
	if got := append(types(page1), types(page2)...); !slices.Equal(got, types(all)) {
		t.Fatalf("paged: %v", got)
	}
	since := all[3].Time.Format(time.RFC3339Nano)
	for _, e := range r.audit(obj{"org_id": "ica", "since": since}) {
		if e.Time.Before(all[3].Time) {
			t.Fatalf("event before since: %+v", e)
		}
	}
	if got := r.audit(obj{"org_id": "ica", "until": "2000-01-01T00:00:00Z"}); len(got) != 0 {
		t.Fatalf("until in the past: %v", got)
	}
	_, err := r.c.Query(context.Background(), "Audit", obj{"org_id": "ica", "since": "yesterday"}, nil)
	if client.CodeOf(err) != client.CodeInvalid {
		t.Fatalf("bad since: %v", err)
	}
}

// AccessAt answers what Permissions answered then, by position and by time.
func TestAccessAtTheWholeLifeOfTheLog(t *testing.T) {
	r := newRig(t)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	r.ok("AddOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "bob"})
	r.ok("CreateProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1"})
	added := r.ok("AddMember", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "bob", "roles": strs{"contributor"}})
	var then struct {
		Permissions []string `json:"permissions"`
		Roles       []string `json:"roles"`
	}
	r.query("Permissions", obj{"org_id": "acme", "project_id": "p1", "user_id": "bob"}, &then)
	time.Sleep(5 * time.Millisecond) // a distinct instant between the two states
	between := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	r.ok("ChangeRole", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "bob", "roles": strs{"viewer"}})
	r.ok("RemoveMember", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "bob"})

	var at struct {
		Permissions []string `json:"permissions"`
		Roles       []string `json:"roles"`
	}
	r.query("AccessAt", obj{"org_id": "acme", "project_id": "p1", "user_id": "bob", "position": added.Position}, &at)
	if !slices.Equal(at.Permissions, then.Permissions) || !slices.Equal(at.Roles, strs{"contributor"}) {
		t.Fatalf("at position %d: %+v, then %+v", added.Position, at, then)
	}
	r.query("AccessAt", obj{"org_id": "acme", "project_id": "p1", "user_id": "bob", "at": between.Format(time.RFC3339Nano)}, &at)
	if !slices.Equal(at.Permissions, then.Permissions) {
		t.Fatalf("at %s: %+v, then %+v", between, at, then)
	}
	r.query("AccessAt", obj{"org_id": "acme", "project_id": "p1", "user_id": "bob", "position": r.pos}, &at)
	if len(at.Permissions) != 0 {
		t.Fatalf("after removal: %+v", at)
	}
}

// dry_run answers with the events a command would append and who would gain or lose what, appending nothing.
func TestDryRunAppendsNothing(t *testing.T) {
	r := newRig(t)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	r.ok("AddOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "bob"})
	r.ok("CreateProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1"})
	head, _ := r.d.Store.Head(context.Background())
	rep := r.ok("AddMember", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "bob", "roles": strs{"contributor"}, "dry_run": true})
	if !rep.DryRun || len(rep.Planned) != 1 || rep.Planned[0].Type != "MemberAdded" {
		t.Fatalf("dry run: %+v", rep)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].UserID != "bob" || rep.Changes[0].ProjectID != "p1" || !slices.Contains(rep.Changes[0].Gained, "project.content.edit") {
		t.Fatalf("changes: %+v", rep.Changes)
	}
	if after, _ := r.d.Store.Head(context.Background()); after != head {
		t.Fatalf("dry run appended: %d -> %d", head, after)
	}
	r.want("acme", "p1", "", "bob", "Editing project content", "denied")
	// A dry run of a refused command is refused the same way.
	r.refused("AddMember", obj{"org_id": "acme", "actor": "bob", "project_id": "p1", "user_id": "bob", "roles": strs{"owner"}, "dry_run": true}, client.CodeForbidden)
}

// On a NATS server of its own, a writer process and a read-only process split the work; the reader
// answers every query, Audit and AccessAt included, from the stream.
func TestWriterAndReaderProcesses(t *testing.T) {
	ns, _ := natstest.StartForTest(t)
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	w, err := daemon.Start(ctx, daemon.Config{DataDir: t.TempDir(), NATSURL: ns.ClientURL(), Role: daemon.RoleWriter, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rd, err := daemon.Start(ctx, daemon.Config{DataDir: t.TempDir(), NATSURL: ns.ClientURL(), Role: daemon.RoleReader, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := &rig{t: t, c: client.New(nc), nc: nc}
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	r.ok("AddOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "bob"})
	r.ok("CreateProject", obj{"org_id": "acme", "actor": "ana", "project_id": "p1"})
	r.ok("AddMember", obj{"org_id": "acme", "actor": "ana", "project_id": "p1", "user_id": "bob", "roles": strs{"viewer"}})
	r.want("acme", "p1", "", "bob", "Viewing project content", "allowed")
	if got := types(r.audit(obj{"org_id": "acme"})); len(got) != 5 {
		t.Fatalf("audit from the reader: %v", got)
	}
	var at struct {
		Roles []string `json:"roles"`
	}
	r.query("AccessAt", obj{"org_id": "acme", "project_id": "p1", "user_id": "bob", "position": r.pos}, &at)
	if !slices.Equal(at.Roles, strs{"viewer"}) {
		t.Fatalf("access at from the reader: %+v", at)
	}
}

// Small things a platform relies on: search by role, context values as given, a bad page
// token refused, access before an organization existed is empty, the trail by project holds
// the invitation's answer.
func TestQueryDetails(t *testing.T) {
	r := newRig(t)
	inv := icaTeam(r)
	var page client.MembersPage
	r.query("ListMembers", obj{"org_id": "ica", "project_id": "p1", "q": "contributor"}, &page)
	if len(page.Members) != 1 || page.Members[0].GroupID != "bio" {
		t.Fatalf("search by role: %+v", page.Members)
	}
	r.query("ListMembers", obj{"org_id": "ica", "project_id": "p1", "q": "Viewer"}, &page)
	if len(page.Members) != 2 {
		t.Fatalf("search by role label: %+v", page.Members)
	}
	if _, err := r.c.Query(context.Background(), "ListMembers", obj{"org_id": "ica", "page_token": "bm9wZQ"}, nil); client.CodeOf(err) != client.CodeInvalid {
		t.Fatalf("a page token this service did not issue: %v", err)
	}
	if _, err := r.c.Query(context.Background(), "Check", obj{"org_id": "ica", "user_id": "uma", "permission": "x", "context": obj{"a": obj{}}}, nil); client.CodeOf(err) != client.CodeInvalid {
		t.Fatalf("a nested context value: %v", err)
	}
	var at struct {
		Permissions []string `json:"permissions"`
	}
	r.query("AccessAt", obj{"org_id": "ica", "user_id": "uma", "at": "2001-01-01T00:00:00Z"}, &at)
	if at.Permissions == nil || len(at.Permissions) != 0 {
		t.Fatalf("access before the organization existed: %+v", at)
	}
	found := false
	for _, e := range r.audit(obj{"org_id": "ica", "project_id": "p1", "type": "InvitationAccepted"}) {
		found = found || strings.Contains(string(e.Data), inv)
	}
	if !found {
		t.Fatal("the trail of p1 lacks the invitation's acceptance")
	}

	dl := newRig(t)
	dl.ok("CreateOrganization", obj{"org_id": "dl", "kind": "team", "preset": "dataloop", "actor": "olga"})
	dl.ok("AddOrgMember", obj{"org_id": "dl", "actor": "olga", "user_id": "ann"})
	dl.ok("CreateProject", obj{"org_id": "dl", "actor": "olga", "project_id": "p"})
	dl.ok("AddMember", obj{"org_id": "dl", "actor": "olga", "project_id": "p", "user_id": "ann", "roles": strs{"annotator"}})
	if got := dl.checkAt("dl", "p", "", "ann", "Open an issue", map[string]string{"task_type": "QA"}); got.Decision != "allowed" {
		t.Fatalf("QA in capitals: %+v", got)
	}
}

// A query waiting for a position not yet reached does not hold up the questions behind it.
// Ordering, not sleeping: the waiting query is published first on the same connection as the
// others (NATS keeps one connection's order to the service's subscription), so it reaches the
// service before them; it waits for a position only a later command creates, so it cannot
// have answered before that command; the others must all answer in the meantime.
func TestWaitingQueryDoesNotBlockOthers(t *testing.T) {
	r := newRig(t)
	r.ok("CreateOrganization", obj{"org_id": "acme", "kind": "team", "preset": "neptune", "actor": "ana"})
	inbox := nats.NewInbox()
	replies, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(obj{"org_id": "acme", "user_id": "ana", "permission": "Managing organization members",
		"min_position": r.pos + 1, "wait_ms": 25000})
	if err := r.nc.PublishRequest(client.QueryPrefix+"Check", inbox, body); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if got := r.check("acme", "", "ana", "Managing organization members"); got != "allowed" {
			t.Fatalf("check: %s", got)
		}
	}
	if msg, err := replies.NextMsg(0); err == nil {
		t.Fatalf("the waiting query answered before its position existed: %s", msg.Data)
	}
	r.ok("AddOrgMember", obj{"org_id": "acme", "actor": "ana", "user_id": "bo"})
	msg, err := replies.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("the waiting query never answered after its position was reached: %v", err)
	}
	var rep client.QueryReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil || !rep.OK || rep.Position < r.pos {
		t.Fatalf("waiting query reply %s (%v); want ok at position >= %d", msg.Data, err, r.pos)
	}
}
