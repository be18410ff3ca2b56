package commands

import (
	"context"
	"sync"
	"time"

	"roster/client"
	"roster/domain"
	"roster/internal/caller"
	"roster/internal/edge"
)

// Limits of the command scheduler (README "Limits").
const (
	// MaxOrgQueue bounds one caller's commands of one organization waiting to be decided (in
	// insecure mode, where every request is the same anonymous caller, all the organization's
	// commands); one more is answered unavailable at once.
	MaxOrgQueue = 256
	// MaxQueued bounds the commands waiting to be decided over all organizations.
	MaxQueued = 16384
	// MaxQueuedBytes bounds the request bytes waiting to be decided over all organizations,
	// and MaxCallerQueuedBytes those of one caller: a command is queued with its body (a large
	// one is decoded only on its turn), so a count alone would let a few callers hold gigabytes.
	MaxQueuedBytes       = 128 << 20
	MaxCallerQueuedBytes = 8 << 20
	// Workers bounds the organizations whose commands are decided at once.
	Workers = 8
	// TurnJobs bounds the commands of one organization a worker decides in one turn before
	// the organization goes back to the end of the ready list: queued commands of a busy
	// organization are decided back to back, so their appends reach the committer together
	// and share a group commit, and other organizations still wait at most Workers turns.
	TurnJobs = 8
)

// Callers. A command is queued under the org_id its request names, before the decider can
// tell a stranger that the organization does not exist for them; so within an organization's
// queue each caller (an application account, or one person of a user account: callerKey) has
// a queue of its own, and a turn takes their commands round-robin. A stranger naming a
// victim's organization fills only their own queue and delays the victim's commands by at
// most one of theirs each. A caller may also have at most half of MaxOrgQueue (callerLimit)
// and MaxCallerQueuedBytes waiting over all organizations. One caller's commands of one
// organization keep their arrival order; commands of different callers are concurrent and
// have none to keep. In insecure mode every request is the same anonymous caller: one queue
// per organization, as before, and no per-caller bound.

// job is one decoded command waiting in its organization's queue.
type job struct {
	org string
	// cmd is the decoded command; nil when body is decoded on the worker (InlineDecode).
	cmd     domain.Command
	body    []byte
	size    int // the request's bytes, counted against the byte bounds
	who     caller.Caller
	as      principal
	name    string
	arrived time.Time
	reply   func(body []byte, code string)
}

// orgQueue is one organization's commands: a queue per caller in arrival order, served
// round-robin. An organization is in the ready list or held by one worker (scheduled) while it
// has commands, never both, so its commands are decided one at a time; a worker decides up to
// TurnJobs of them and puts the organization back at the end of the ready list, so
// organizations take turns.
type orgQueue struct {
	id        string
	entry     *orgEntry
	callers   map[string]*callerQueue
	turns     []*callerQueue // the callers with commands, in the order they are served
	n         int
	scheduled bool
}

type callerQueue struct {
	key  string
	jobs []*job
}

type scheduler struct {
	s       *Service
	ctx     context.Context
	waiters chan struct{}

	mu     sync.Mutex
	cond   *sync.Cond
	queues map[string]*orgQueue
	ready  []*orgQueue
	queued int
	bytes  int
	// byCaller counts the queued commands and bytes of each caller (callerKey).
	byCaller map[string]*callerLoad
	stopped  bool
}

type callerLoad struct{ jobs, bytes int }

// callerKey is who a command counts against for the per-caller bounds: the account of an
// application or operator, the account and user of a person; "" (no per-caller bound) in
// insecure mode.
func callerKey(who caller.Caller) string {
	switch {
	case who.Anonymous:
		return ""
	case who.Kind == caller.User:
		return who.Account + "\x00" + who.User
	}
	return who.Account
}

// callerLimit is the per-caller bound over all organizations: half of the per-organization one.
func (sch *scheduler) callerLimit() int { return max(1, sch.orgLimit()/2) }

func (sch *scheduler) orgLimit() int {
	if l := sch.s.cfg.OrgQueue; l > 0 {
		return l
	}
	return MaxOrgQueue
}

// scheduler starts the workers, which stop when ctx ends (refusing what is still queued).
func (s *Service) scheduler(ctx context.Context) *scheduler {
	sch := &scheduler{s: s, ctx: ctx, waiters: make(chan struct{}, DefaultConcurrency), queues: map[string]*orgQueue{}}
	sch.cond = sync.NewCond(&sch.mu)
	for range Workers {
		go sch.work()
	}
	go func() {
		<-ctx.Done()
		sch.mu.Lock()
		sch.stopped = true
		sch.mu.Unlock()
		sch.cond.Broadcast()
	}()
	return sch
}

// admit checks, before a request is read further, that a command of size bytes from who
// would fit the global and per-caller bounds (submit checks again and counts it).
func (sch *scheduler) admit(who caller.Caller, size int) error {
	sch.mu.Lock()
	defer sch.mu.Unlock()
	return sch.admitLocked(callerKey(who), size)
}

func (sch *scheduler) admitLocked(key string, size int) error {
	if sch.stopped {
		return edge.Refuse(client.CodeUnavailable, "the service is stopping; retry")
	}
	if sch.queued >= MaxQueued {
		return edge.Refuse(client.CodeUnavailable, "%d commands are queued (the limit is %d); retry shortly", sch.queued, MaxQueued)
	}
	if sch.bytes+size > MaxQueuedBytes {
		return edge.Refuse(client.CodeUnavailable, "%d bytes of commands are queued (the limit is %d); retry shortly", sch.bytes, MaxQueuedBytes)
	}
	if key == "" {
		return nil
	}
	load := sch.byCaller[key]
	if load == nil {
		return nil
	}
	if load.jobs >= sch.callerLimit() {
		return edge.Refuse(client.CodeUnavailable, "you have %d commands queued (the per-caller limit is %d); retry after the earlier ones are answered",
			load.jobs, sch.callerLimit())
	}
	if load.bytes+size > MaxCallerQueuedBytes {
		return edge.Refuse(client.CodeUnavailable, "you have %d bytes of commands queued (the per-caller limit is %d); retry after the earlier ones are answered",
			load.bytes, MaxCallerQueuedBytes)
	}
	return nil
}

// submit queues a command, or refuses it at once when a bound is reached or the scheduler
// is stopping.
func (sch *scheduler) submit(j *job) error {
	org, key := j.org, callerKey(j.who)
	if !bulkCommand(j.name) {
		sch.s.cfg.Pacer.Touch() // a command waiting for its turn wants the processors too
	}
	sch.mu.Lock()
	defer sch.mu.Unlock()
	if err := sch.admitLocked(key, j.size); err != nil {
		return err
	}
	q := sch.queues[org]
	var cq *callerQueue
	if q != nil {
		cq = q.callers[key]
	}
	if limit := sch.orgLimit(); cq != nil && len(cq.jobs) >= limit {
		if key == "" {
			return edge.Refuse(client.CodeUnavailable, "organization %s has %d commands queued (the per-organization limit is %d); retry after the earlier ones are answered",
				org, len(cq.jobs), limit)
		}
		return edge.Refuse(client.CodeUnavailable, "organization %s has %d of your commands queued (the per-organization limit is %d); retry after the earlier ones are answered",
			org, len(cq.jobs), limit)
	}
	if q == nil {
		q = &orgQueue{id: org, entry: sch.s.entry(org), callers: map[string]*callerQueue{}}
		sch.queues[org] = q
	}
	if cq == nil {
		cq = &callerQueue{key: key}
		q.callers[key] = cq
		q.turns = append(q.turns, cq)
	}
	cq.jobs = append(cq.jobs, j)
	q.n++
	sch.queued++
	sch.bytes += j.size
	if key != "" {
		if sch.byCaller == nil {
			sch.byCaller = map[string]*callerLoad{}
		}
		load := sch.byCaller[key]
		if load == nil {
			load = &callerLoad{}
			sch.byCaller[key] = load
		}
		load.jobs++
		load.bytes += j.size
	}
	if !q.scheduled {
		q.scheduled = true
		sch.ready = append(sch.ready, q)
		sch.cond.Signal()
	}
	return nil
}

// take removes the next command of q, round-robin over its callers, and uncounts it.
func (sch *scheduler) take(q *orgQueue) *job {
	cq := q.turns[0]
	j := cq.jobs[0]
	cq.jobs[0] = nil
	cq.jobs = cq.jobs[1:]
	q.turns[0] = nil
	q.turns = q.turns[1:]
	if len(cq.jobs) > 0 {
		q.turns = append(q.turns, cq)
	} else {
		delete(q.callers, cq.key)
	}
	q.n--
	sch.queued--
	sch.bytes -= j.size
	if load := sch.byCaller[cq.key]; load != nil {
		load.jobs--
		load.bytes -= j.size
		if load.jobs <= 0 {
			delete(sch.byCaller, cq.key)
		}
	}
	return j
}

func (sch *scheduler) work() {
	for {
		q, turn, ok := sch.next()
		if !ok {
			return
		}
		for _, j := range turn {
			sch.process(q.entry, j)
		}
		sch.turnDone(q)
	}
}

// next waits for an organization with queued commands and takes up to TurnJobs of them, in
// order; false once the scheduler stops (what is queued is refused).
func (sch *scheduler) next() (*orgQueue, []*job, bool) {
	sch.mu.Lock()
	defer sch.mu.Unlock()
	for len(sch.ready) == 0 && !sch.stopped {
		sch.cond.Wait()
	}
	if sch.stopped {
		sch.drainLocked()
		return nil, nil, false
	}
	q := sch.ready[0]
	sch.ready[0] = nil
	sch.ready = sch.ready[1:]
	turn := make([]*job, 0, min(q.n, TurnJobs))
	for len(turn) < TurnJobs && q.n > 0 {
		turn = append(turn, sch.take(q))
	}
	return q, turn, true
}

// turnDone puts an organization whose turn ended back at the end of the ready list if it has
// more commands queued.
func (sch *scheduler) turnDone(q *orgQueue) {
	sch.mu.Lock()
	defer sch.mu.Unlock()
	if q.n > 0 {
		sch.ready = append(sch.ready, q)
		sch.cond.Signal()
	} else {
		q.scheduled = false
		delete(sch.queues, q.id)
		// An organization that does not exist keeps no state once nobody waits on it: any
		// org_id may be named, and each would otherwise stay in memory for good.
		sch.s.forgetIfAbsent(q.id, q.entry)
	}
}

// drainLocked refuses every queued command once the scheduler stops.
func (sch *scheduler) drainLocked() {
	for _, q := range sch.ready {
		for q.n > 0 {
			j := sch.take(q)
			err := edge.Refuse(client.CodeUnavailable, "the service is stopping; retry")
			sch.s.stats.record(j.arrived, err)
			body, code := edge.ErrorBody(err)
			j.reply(body, code)
		}
	}
	sch.ready = nil
	clear(sch.byCaller)
}

// process decides one command and queues its events on the worker; the wait for the fsync
// runs on a waiter of its own (at most DefaultConcurrency), so the worker goes on to the next
// command and the appends share group commits.
func (sch *scheduler) process(entry *orgEntry, j *job) {
	if !bulkCommand(j.name) {
		// Interactive until its append is queued: bulk work gives way meanwhile (Config.Pacer).
		end := sch.s.cfg.Pacer.Begin()
		defer end()
	}
	if j.cmd == nil {
		// A stranger's large body is refused before it costs this organization its decoding.
		if err := sch.s.reachesBeforeDecode(sch.ctx, entry, j); err != nil {
			sch.finish(j, nil, err)
			return
		}
		cmd, err := sch.s.decodeLater(j)
		if err != nil {
			sch.finish(j, nil, err)
			return
		}
		j.cmd, j.body = cmd, nil
	}
	ctx, cancel := context.WithDeadline(sch.ctx, j.arrived.Add(CommandTimeout))
	wait, err := sch.s.lockAndStart(ctx, entry, j.cmd, j.as)
	if err != nil {
		cancel()
		sch.finish(j, nil, err)
		return
	}
	// A command whose deadline passed takes no waiter slot (its wait ends at once): it must
	// not give one back either, or the slot of another command's waiter goes with it, and
	// with none left a waiter blocks for good and its command is never answered.
	slot := false
	select {
	case sch.waiters <- struct{}{}:
		slot = true
	case <-ctx.Done():
	}
	go func() {
		defer cancel()
		reply, err := wait()
		if slot {
			<-sch.waiters
		}
		sch.finish(j, reply, err)
	}()
}

// reachesBeforeDecode refuses a command queued with its body undecoded (InlineDecode) when its
// caller cannot reach the organization at all (another account's, or one a person may not see),
// with the very answer Decide gives such a command (an unknown organization's not_found), so
// that a stranger's large bodies cost the organization's turn no decoding. Answering an
// invitation, or creating the organization, depends on the body: those are decoded as usual.
func (s *Service) reachesBeforeDecode(ctx context.Context, entry *orgEntry, j *job) error {
	switch j.name {
	case client.CmdAcceptInvite, client.CmdRejectInvite, client.CmdCreateOrganization:
		return nil
	}
	entry.mu.Lock()
	defer entry.mu.Unlock()
	if err := s.load(ctx, entry, j.org); err != nil {
		return err
	}
	actor := "caller" // an application speaks for its users: only the account decides reach
	if j.as.person {
		actor = j.who.User // a person is their NATS user (actorRule)
	}
	probe := &domain.ImportMembers{Meta: domain.Meta{OrgID: j.org, Actor: actor}}
	env := s.env(j.as)
	if entry.state.ReachedBy(probe, env) {
		return nil
	}
	_, err := domain.Decide(entry.state, probe, env)
	if err == nil {
		return refuse(client.CodeNotFound, "organization %s not found", j.org)
	}
	return err
}

// decodeLater decodes and checks a command queued by the org_id of its body (InlineDecode).
func (s *Service) decodeLater(j *job) (domain.Command, error) {
	cmd, err := s.decode(j.name, j.body)
	if err != nil {
		return nil, err
	}
	if org := cmd.CommandMeta().OrgID; org != j.org {
		return nil, refuse(client.CodeInvalid, "%s: org_id %q is not the %q the request was queued under", j.name, org, j.org)
	}
	return cmd, actorRule(j.who, cmd)
}

func (sch *scheduler) finish(j *job, reply []byte, err error) {
	sch.s.stats.record(j.arrived, err)
	body, code := sch.s.answer(j.name, reply, err)()
	j.reply(body, code)
}
