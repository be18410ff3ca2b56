package queries

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"roster/client"
	"roster/internal/caller"
	"roster/internal/edge"
	"roster/projections"
)

// AdminRebuild is the subject operators (roster rebuild) send rebuild requests to.
const AdminRebuild = client.AdminRebuild

// RebuildRequest is the wire type of the same name.
type RebuildRequest = client.Rebuild

// RebuildProgress is the wire type of the same name.
type RebuildProgress = client.RebuildProgress

// RebuiltView is the wire type of the same name.
type RebuiltView = client.RebuiltView

// Rebuilder runs rebuilds for the operators, one at a time.
type Rebuilder struct {
	nc    *nats.Conn
	views []*projections.View
	log   projections.Log
	slog  *slog.Logger
	mu    sync.Mutex
	// Policy reads the caller from the server's stamp: in secured mode only operator accounts
	// rebuild. Nil (in process, insecure) lets every request through.
	Policy  *caller.Policy
	running *runningRebuild // nil when none runs
	// History, when set, is rebuilt too by a rebuild of every view (it is derived from the log
	// like the views).
	History *projections.HistoryIndex
}

// runningRebuild names the rebuild under way, for the conflict a second request gets.
type runningRebuild struct {
	views   []string
	started time.Time
}

// NewRebuilder serves rebuilds of views from log; progress goes out on nc.
func NewRebuilder(nc *nats.Conn, views []*projections.View, log projections.Log, logger *slog.Logger) *Rebuilder {
	if logger == nil {
		logger = slog.Default()
	}
	return &Rebuilder{nc: nc, views: views, log: log, slog: logger}
}

// Run rebuilds the named views (all when none are named) and swaps each in.
func (b *Rebuilder) Run(ctx context.Context, req RebuildRequest) ([]RebuiltView, error) {
	var todo []*projections.View
	for _, v := range b.views {
		if len(req.Views) == 0 || slices.Contains(req.Views, v.Name()) {
			todo = append(todo, v)
		}
	}
	for _, name := range req.Views {
		if !slices.ContainsFunc(b.views, func(v *projections.View) bool { return v.Name() == name }) {
			return nil, fail(client.CodeInvalid, "no view named %q; views: %s", name, strings.Join(b.names(), ", "))
		}
	}
	names := make([]string, len(todo))
	for i, v := range todo {
		names[i] = v.Name()
	}
	release, err := b.begin(names)
	if err != nil {
		return nil, err
	}
	defer release()
	out := []RebuiltView{}
	for _, v := range todo {
		start := time.Now()
		last := time.Time{}
		progress := func(done, total uint64) {
			if req.Progress == "" || (time.Since(last) < 100*time.Millisecond && done != total) {
				return
			}
			last = time.Now()
			msg, _ := json.Marshal(RebuildProgress{View: v.Name(), Done: done, Total: total, Elapsed: time.Since(start).Seconds()})
			_ = b.nc.Publish(req.Progress, msg)
		}
		if err := projections.Rebuild(ctx, v, b.log, progress); err != nil {
			return nil, err
		}
		pos, digest, err := v.Digest()
		if err != nil {
			return nil, err
		}
		secs := time.Since(start).Seconds()
		progress(pos, pos)
		b.slog.Info("view rebuilt", "view", v.Name(), "position", pos, "seconds", secs)
		out = append(out, RebuiltView{Name: v.Name(), Position: pos, Seconds: secs, EventsPerSec: float64(pos) / max(secs, 1e-9), Digest: digest})
	}
	if b.History != nil && len(req.Views) == 0 {
		start := time.Now()
		if err := b.History.Rebuild(ctx); err != nil {
			return nil, fmt.Errorf("rebuild the history index: %w", err)
		}
		b.slog.Info("history index rebuilt", "position", b.History.Position(), "seconds", time.Since(start).Seconds())
	}
	return out, nil
}

// begin marks a rebuild of views as running, or refuses with conflict naming the one that
// runs: one rebuild at a time (README "Limits").
func (b *Rebuilder) begin(views []string) (release func(), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r := b.running; r != nil {
		return nil, fail(client.CodeConflict, "a rebuild of %s has been running since %s (one rebuild at a time); retry when it is done",
			strings.Join(r.views, ", "), r.started.UTC().Format(time.RFC3339))
	}
	b.running = &runningRebuild{views: views, started: time.Now()}
	return func() {
		b.mu.Lock()
		b.running = nil
		b.mu.Unlock()
	}, nil
}

func (b *Rebuilder) names() []string {
	out := make([]string, len(b.views))
	for i, v := range b.views {
		out[i] = v.Name()
	}
	return out
}

// AddEndpoints registers roster.admin.Rebuild on the micro service.
func (b *Rebuilder) AddEndpoints(ctx context.Context, svc micro.Service) error {
	handler := micro.HandlerFunc(func(req micro.Request) {
		if err := b.mayRebuild(req); err != nil {
			body, code := edge.ErrorBody(err)
			edge.Respond(req, body, code)
			return
		}
		go func() {
			var r RebuildRequest
			if err := decodeAdmin(req.Data(), &r); err != nil {
				body, code := edge.ErrorBody(err)
				edge.Respond(req, body, code)
				return
			}
			views, err := b.Run(ctx, r)
			if err != nil {
				body, code := edge.ErrorBody(err)
				edge.Respond(req, body, code)
				return
			}
			raw, _ := json.Marshal(client.RebuildResult{Views: views})
			var pos uint64 // a Rebuilder serving no views rebuilds nothing
			if len(views) > 0 {
				pos = views[len(views)-1].Position
			}
			body, _ := json.Marshal(client.QueryReply{OK: true, Position: pos, Result: raw})
			if err := req.Respond(body); err != nil {
				b.slog.Warn("rebuild reply not sent", "err", err)
			}
		}()
	})
	if err := svc.AddEndpoint("rebuild", handler, micro.WithEndpointSubject(AdminRebuild),
		micro.WithEndpointMetadata(map[string]string{"description": "rebuild views from the log and swap them in"})); err != nil {
		return fmt.Errorf("rebuild endpoint: %w", err)
	}
	return nil
}

// mayRebuild lets operators rebuild in secured mode (and everyone in insecure mode): a request
// without the server's stamp, or from any other account, is forbidden.
func (b *Rebuilder) mayRebuild(req micro.Request) error {
	if b.Policy == nil {
		return nil
	}
	who, err := b.Policy.FromHeader(nats.Header(req.Headers()))
	if err != nil {
		return err
	}
	if b.Policy.Secured && who.Kind != caller.Operator {
		return fail(client.CodeForbidden, "%s may not rebuild: only operator accounts may", who)
	}
	return nil
}
