package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"roster/client"
)

// gate tells the workers whether rosterd is up. Each up period is an epoch
// with its own context: taking rosterd down cancels the requests in flight,
// whose outcome is then unknown and which are retried with the same command
// id once it is up again.
type gate struct {
	mu     sync.Mutex
	up     chan struct{} // closed while up
	isUp   bool
	ctx    context.Context
	cancel context.CancelFunc
}

func newGate() *gate {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &gate{up: make(chan struct{}), ctx: ctx, cancel: cancel}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isUp {
		return
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.isUp = true
	close(g.up)
}

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.isUp {
		return
	}
	g.cancel()
	g.isUp = false
	g.up = make(chan struct{})
}

// wait returns the context of the current up epoch, waiting for one to start.
func (g *gate) wait(ctx context.Context) (context.Context, error) {
	for {
		g.mu.Lock()
		up, ectx, isUp := g.up, g.ctx, g.isUp
		g.mu.Unlock()
		if isUp {
			return ectx, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Outcomes of a command.
const (
	statePending = iota // no definite answer yet (unknown)
	stateAcked          // ok reply with events
	stateRefused        // definite refusal
)

// cmdRecord is the history of one command id.
type cmdRecord struct {
	id       string
	org      string
	name     string
	req      map[string]any
	state    int
	reply    *client.CommandReply
	code     string // refusal code
	message  string
	attempts int // requests sent
	// interrupted is when a request of this command was cut off by a kill
	// (its outcome unknown); zero if none was.
	interrupted time.Time
}

// ledger records every command the load sent.
type ledger struct {
	mu       sync.Mutex
	cmds     map[string]*cmdRecord
	order    []*cmdRecord
	acked    atomic.Int64
	refused  atomic.Int64
	unknowns atomic.Int64 // requests that ended without a definite answer (later retried)
	firstAck atomic.Int64 // unix nanos of the first acknowledgement since the last reset (0: none yet)
}

func newLedger() *ledger { return &ledger{cmds: map[string]*cmdRecord{}} }

func (l *ledger) add(r *cmdRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.cmds[r.id]; dup {
		panic("rostertorture: command id used twice: " + r.id)
	}
	l.cmds[r.id] = r
	l.order = append(l.order, r)
}

func (l *ledger) snapshot() []*cmdRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*cmdRecord(nil), l.order...)
}

// sender submits commands at least once: an error that is not a definite
// refusal leaves the outcome unknown, and the command is sent again with the
// same command id until a definite answer comes back.
type sender struct {
	c      *client.Client
	g      *gate
	l      *ledger
	reqTO  time.Duration
	ctx    context.Context // ends the whole run
	giveUp atomic.Pointer[time.Time]
}

// send submits one command and returns its final record (pending only if the run ended or the sender gave up).
func (s *sender) send(id, org, name string, req map[string]any) *cmdRecord {
	req["command_id"] = id
	r := &cmdRecord{id: id, org: org, name: name, req: req}
	s.l.add(r)
	for {
		if s.ctx.Err() != nil {
			return r
		}
		if g := s.giveUp.Load(); g != nil && time.Now().After(*g) {
			return r
		}
		ectx, err := s.g.wait(s.ctx)
		if err != nil {
			return r
		}
		rctx, cancel := context.WithTimeout(ectx, s.reqTO)
		r.attempts++
		rep, err := s.c.Command(rctx, name, req)
		cancel()
		if err == nil {
			s.l.mu.Lock()
			r.state, r.reply = stateAcked, rep
			s.l.mu.Unlock()
			s.l.acked.Add(1)
			s.l.firstAck.CompareAndSwap(0, time.Now().UnixNano())
			return r
		}
		if code := client.CodeOf(err); code != "" && code != client.CodeUnavailable {
			s.l.mu.Lock()
			r.state, r.code, r.message = stateRefused, code, err.Error()
			s.l.mu.Unlock()
			s.l.refused.Add(1)
			return r
		}
		s.l.unknowns.Add(1)
		if ectx.Err() != nil && r.interrupted.IsZero() {
			r.interrupted = time.Now().Round(0)
		}
		select {
		case <-time.After(15 * time.Millisecond):
		case <-s.ctx.Done():
		}
	}
}

// orgSpec is one organization of the load and what its preset calls things.
type orgSpec struct {
	id, preset  string
	admin       string // the creator: first admin
	adminRole   string
	memberRole  string
	roleA       string // a project (or track) role
	roleB       string // another one
	tracks      bool   // members go into the project's first track
	projectOpts map[string]any
}

var orgSpecs = []orgSpec{
	{id: "nep", preset: "neptune", admin: "ana", adminRole: "admin", memberRole: "member", roleA: "contributor", roleB: "viewer"},
	{id: "dl", preset: "dataloop", admin: "olga", adminRole: "admin", memberRole: "member", roleA: "developer", roleB: "annotator"},
	{id: "ica", preset: "ica", admin: "tina", adminRole: "tenant_admin", memberRole: "member", roleA: "project_viewer", roleB: "project_contributor"},
	{id: "al", preset: "allonia", admin: "tess", adminRole: "tenant_admin", memberRole: "member", roleA: "data_scientist", roleB: "ml_ops", tracks: true},
}

// createOrgs creates the organizations of the load.
func (t *torture) createOrgs() error {
	for _, o := range orgSpecs {
		r := t.send.send("setup-"+o.id, o.id, "CreateOrganization", map[string]any{"org_id": o.id, "name": o.preset + " org",
			"kind": "team", "preset": o.preset, "actor": o.admin, "actor_email": o.admin + "@" + o.id + ".test", "actor_name": o.admin})
		if r.state != stateAcked {
			return fmt.Errorf("create organization %s: %s %s", o.id, r.code, r.message)
		}
	}
	return nil
}

// worker runs one stream of commands in one organization until stop is set;
// it uses its own users and projects, so that its commands are accepted.
func (t *torture) worker(o orgSpec, w int, stop *atomic.Bool) {
	n := 0
	cmd := func(name string, req map[string]any) bool {
		n++
		req["org_id"], req["actor"] = o.id, o.admin
		r := t.send.send(fmt.Sprintf("%s-w%d-%d", o.id, w, n), o.id, name, req)
		return r.state == stateAcked
	}
	project, track := "", ""
	for i := 0; !stop.Load() && t.ctx.Err() == nil; i++ {
		if i%4 == 0 {
			p := fmt.Sprintf("p-w%d-%d", w, i/4)
			req := map[string]any{"project_id": p, "name": "Project " + p}
			if o.tracks {
				req["track"] = map[string]any{"track_id": "t-" + p, "name": "Track " + p, "compute": "cpu-small", "notebook_env": "python-3.11"}
			}
			if cmd("CreateProject", req) {
				project = p
				if o.tracks {
					track = "t-" + p
				}
			}
		}
		u := fmt.Sprintf("u-w%d-%d", w, i)
		if !cmd("AddOrgMember", map[string]any{"user_id": u, "email": u + "@" + o.id + ".test", "name": "User " + u, "role": o.memberRole}) {
			continue
		}
		if project == "" {
			continue
		}
		scope := func(m map[string]any) map[string]any {
			m["project_id"], m["user_id"] = project, u
			if track != "" {
				m["track_id"] = track
			}
			return m
		}
		if !cmd("AddMember", scope(map[string]any{"roles": []string{o.roleA}})) {
			continue
		}
		if !cmd("ChangeRole", scope(map[string]any{"roles": []string{o.roleB}})) {
			continue
		}
		switch i % 6 {
		case 1:
			cmd("RemoveMember", scope(map[string]any{}))
		case 2:
			cmd("RemoveOrgMember", map[string]any{"user_id": u})
		case 3:
			if cmd("ChangeOrgRole", map[string]any{"user_id": u, "role": o.adminRole}) {
				cmd("ChangeOrgRole", map[string]any{"user_id": u, "role": o.memberRole})
			}
		}
	}
}
