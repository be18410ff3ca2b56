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
	// MaxOrgQueue bounds the commands of one organization waiting to be decided; one more is
	// answered unavailable at once.
	MaxOrgQueue = 256
	// MaxQueued bounds the commands waiting to be decided over all organizations.
	MaxQueued = 16384
	// A caller (an application account, or one person of a user account) may have at most
	// half of an organization's queue bound (MaxOrgQueue/2 by default) waiting over all
	// organizations: an organization is queued by the org_id a request names, before the
	// decider tells a stranger it does not exist, so without this bound another tenant could
	// fill a victim's queue with requests naming it. In insecure mode every request is the
	// same anonymous caller and only the organization and global bounds apply.
	// Workers bounds the organizations whose commands are decided at once.
	Workers = 8
	// TurnJobs bounds the commands of one organization a worker decides in one turn before
	// the organization goes back to the end of the ready list: queued commands of a busy
	// organization are decided back to back, so their appends reach the committer together
	// and share a group commit, and other organizations still wait at most Workers turns.
	TurnJobs = 8
)

// job is one decoded command waiting in its organization's queue.
type job struct {
	org string
	// cmd is the decoded command; nil when body is decoded on the worker (InlineDecode).
	cmd     domain.Command
	body    []byte
	who     caller.Caller
	as      principal
	name    string
	arrived time.Time
	reply   func(body []byte, code string)
}

// orgQueue is one organization's commands in arrival order. An organization is in the ready
// list or held by one worker (scheduled) while it has commands, never both, so its commands
// are decided one at a time in order; a worker decides up to TurnJobs of its commands and puts
// the organization back at the end of the ready list, so organizations take turns.
type orgQueue struct {
	id        string
	entry     *orgEntry
	jobs      []*job
	scheduled bool
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
	// byCaller counts the queued commands of each caller (callerKey).
	byCaller map[string]int
	stopped  bool
}

// callerKey is who a command counts against for the per-caller bound: the account of an
// application or operator, the account and user of a person; "" (no bound) in insecure mode.
func callerKey(who caller.Caller) string {
	switch {
	case who.Anonymous:
		return ""
	case who.Kind == caller.User:
		return who.Account + "\x00" + who.User
	}
	return who.Account
}

// callerLimit is the per-caller bound: half of the per-organization one.
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

// submit queues a command, or refuses it at once when its organization's queue (or the
// scheduler) is full or stopping.
func (sch *scheduler) submit(j *job) error {
	org := j.org
	sch.mu.Lock()
	defer sch.mu.Unlock()
	if sch.stopped {
		return edge.Refuse(client.CodeUnavailable, "the service is stopping; retry")
	}
	q := sch.queues[org]
	limit := sch.orgLimit()
	if q != nil && len(q.jobs) >= limit {
		return edge.Refuse(client.CodeUnavailable, "organization %s has %d commands queued (the per-organization limit is %d); retry after the earlier ones are answered",
			org, len(q.jobs), limit)
	}
	if sch.queued >= MaxQueued {
		return edge.Refuse(client.CodeUnavailable, "%d commands are queued (the limit is %d); retry shortly", sch.queued, MaxQueued)
	}
	key := callerKey(j.who)
	if key != "" && sch.byCaller[key] >= sch.callerLimit() {
		return edge.Refuse(client.CodeUnavailable, "you have %d commands queued (the per-caller limit is %d); retry after the earlier ones are answered",
			sch.byCaller[key], sch.callerLimit())
	}
	if key != "" {
		if sch.byCaller == nil {
			sch.byCaller = map[string]int{}
		}
		sch.byCaller[key]++
	}
	if q == nil {
		q = &orgQueue{id: org, entry: sch.s.entry(org)}
		sch.queues[org] = q
	}
	q.jobs = append(q.jobs, j)
	sch.queued++
	if !q.scheduled {
		q.scheduled = true
		sch.ready = append(sch.ready, q)
		sch.cond.Signal()
	}
	return nil
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
	n := min(len(q.jobs), TurnJobs)
	turn := make([]*job, n)
	copy(turn, q.jobs)
	clear(q.jobs[:n])
	q.jobs = q.jobs[n:]
	sch.queued -= n
	for _, j := range turn {
		if key := callerKey(j.who); key != "" {
			if sch.byCaller[key]--; sch.byCaller[key] <= 0 {
				delete(sch.byCaller, key)
			}
		}
	}
	return q, turn, true
}

// turnDone puts an organization whose turn ended back at the end of the ready list if it has
// more commands queued.
func (sch *scheduler) turnDone(q *orgQueue) {
	sch.mu.Lock()
	defer sch.mu.Unlock()
	if len(q.jobs) > 0 {
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
		for _, j := range q.jobs {
			err := edge.Refuse(client.CodeUnavailable, "the service is stopping; retry")
			sch.s.stats.record(j.arrived, err)
			body, code := edge.ErrorBody(err)
			j.reply(body, code)
		}
		q.jobs = nil
	}
	sch.ready = nil
	clear(sch.byCaller)
}

// process decides one command and queues its events on the worker; the wait for the fsync
// runs on a waiter of its own (at most DefaultConcurrency), so the worker goes on to the next
// command and the appends share group commits.
func (sch *scheduler) process(entry *orgEntry, j *job) {
	if j.cmd == nil {
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
	select {
	case sch.waiters <- struct{}{}:
	case <-ctx.Done():
	}
	go func() {
		defer cancel()
		reply, err := wait()
		<-sch.waiters
		sch.finish(j, reply, err)
	}()
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
