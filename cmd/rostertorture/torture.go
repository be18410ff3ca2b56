package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"roster/client"
	"roster/internal/embeddednats"
)

// torture is one run: rosterd as a child, the load, the kills.
type torture struct {
	ctx     context.Context
	cfg     config
	out     *printer
	rng     *rand.Rand
	bin     string
	dir     string
	logFile *os.File

	port    int            // rosterd's embedded NATS port, or the external server's
	ns      *server.Server // the external NATS server (--external)
	natsURL string
	nc      *nats.Conn
	gate    *gate
	ledger  *ledger
	send    *sender
	child   *child
	starts  int

	natsRestarts int
	upAt         time.Time // when rosterd last logged ready
	childErrMu   sync.Mutex
	childErrors  []string // rosterd's ERROR log lines
}

func newTorture(ctx context.Context, cfg config, out *printer, rng *rand.Rand, bin, dir string) (*torture, error) {
	logFile, err := os.OpenFile(filepath.Join(dir, "rosterd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	t := &torture{ctx: ctx, cfg: cfg, out: out, rng: rng, bin: bin, dir: dir, logFile: logFile, gate: newGate(), ledger: newLedger()}
	if t.port, err = freePort(); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	t.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", t.port)
	if cfg.external {
		if err := t.startNATS(); err != nil {
			_ = logFile.Close()
			return nil, err
		}
	}
	return t, nil
}

func (t *torture) startNATS() error {
	ns, err := embeddednats.Start(embeddednats.Config{Host: "127.0.0.1", Port: t.port, StoreDir: filepath.Join(t.dir, "nats"), ServerName: "torture-nats"})
	if err != nil {
		return fmt.Errorf("start the external NATS server: %w", err)
	}
	t.ns = ns
	return nil
}

func (t *torture) stopNATS() {
	if t.ns != nil {
		t.ns.Shutdown()
		t.ns.WaitForShutdown()
		t.ns = nil
	}
}

// restartNATS shuts the external server down and starts it again on the same port and store.
func (t *torture) restartNATS() error {
	t.stopNATS()
	if d := t.delay(0, 100*time.Millisecond); !sleep(t.ctx, d) {
		return t.ctx.Err()
	}
	t.natsRestarts++
	return t.startNATS()
}

func (t *torture) close() {
	if t.child != nil {
		t.child.kill()
		t.child = nil
	}
	if t.nc != nil {
		t.nc.Close()
	}
	t.stopNATS()
	_ = t.logFile.Close()
}

func (t *torture) delay(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(t.rng.Int64N(int64(hi-lo)))
}

func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// up starts rosterd and opens the gate.
func (t *torture) up() (time.Duration, error) {
	c, took, err := t.startChild()
	if err != nil {
		return 0, err
	}
	t.child = c
	t.upAt = time.Now()
	t.ledger.firstAck.Store(0)
	if t.nc == nil {
		t.nc, err = nats.Connect(t.natsURL, nats.Name("rostertorture"), nats.MaxReconnects(-1),
			nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond),
			nats.RetryOnFailedConnect(true))
		if err != nil {
			return 0, fmt.Errorf("connect to %s: %w", t.natsURL, err)
		}
		t.send = &sender{c: client.New(t.nc), g: t.gate, l: t.ledger, reqTO: t.cfg.reqTO, ctx: t.ctx}
	}
	t.gate.open()
	return took, nil
}

// killChild shuts the gate and SIGKILLs rosterd.
func (t *torture) killChild() {
	t.gate.shut()
	t.child.kill()
	t.child = nil
}

// torture runs the kills and the final check.
func (t *torture) torture() (*report, error) {
	if _, err := t.up(); err != nil {
		return nil, err
	}
	// The load ends with the run, or at once when the run fails.
	loadCtx, cancelLoad := context.WithCancel(t.ctx)
	defer cancelLoad()
	t.send.ctx = loadCtx
	if err := t.createOrgs(); err != nil {
		return nil, err
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, o := range orgSpecs {
		for w := range t.cfg.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.worker(o, w, &stop)
			}()
		}
	}
	stopLoad := func() error {
		stop.Store(true)
		giveUp := time.Now().Add(60 * time.Second)
		t.send.giveUp.Store(&giveUp)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(70 * time.Second):
			return errors.New("HANG: the load workers did not finish within 70s")
		}
	}
	defer func() {
		cancelLoad()
		_ = stopLoad()
	}()

	for k := 1; k <= t.cfg.kills; k++ {
		if t.child == nil {
			if _, err := t.up(); err != nil {
				return nil, err
			}
		}
		before := t.ledger.acked.Load()
		upAt := t.upAt
		ran := t.delay(t.cfg.minDelay, t.cfg.maxDelay)
		if !sleep(t.ctx, ran) {
			return nil, t.ctx.Err()
		}
		firstAck := "no acknowledgement"
		if fa := t.ledger.firstAck.Load(); fa != 0 {
			firstAck = "first ack " + time.Unix(0, fa).Sub(upAt).Round(time.Millisecond).String() + " after ready"
		}
		what := ""
		if t.cfg.external && t.rng.Float64() < t.cfg.natsEvery {
			if t.rng.IntN(2) == 0 {
				// Restart NATS under a running rosterd, let it run on, then kill rosterd.
				t.gate.shut()
				if err := t.restartNATS(); err != nil {
					return nil, err
				}
				t.gate.open()
				more := t.delay(t.cfg.minDelay, t.cfg.maxDelay)
				if !sleep(t.ctx, more) {
					return nil, t.ctx.Err()
				}
				ran += more
				t.killChild()
				what = " (NATS restarted under it first)"
			} else {
				// Kill rosterd and restart NATS while it is down.
				t.killChild()
				if err := t.restartNATS(); err != nil {
					return nil, err
				}
				what = " (then NATS restarted while it was down)"
			}
		} else {
			t.killChild()
		}
		took, err := t.up()
		if err != nil {
			return nil, err
		}
		t.out.f("kill %d/%d: rosterd killed after %s%s; %s; acked %d (+%d), refused %d, unknown outcomes so far %d; restarted in %s",
			k, t.cfg.kills, ran.Round(time.Millisecond), what, firstAck, t.ledger.acked.Load(), t.ledger.acked.Load()-before,
			t.ledger.refused.Load(), t.ledger.unknowns.Load(), took.Round(time.Millisecond))
	}
	if t.child == nil {
		if _, err := t.up(); err != nil {
			return nil, err
		}
	}
	if !sleep(t.ctx, t.cfg.settle) {
		return nil, t.ctx.Err()
	}
	t.out.f("stopping the load")
	if err := stopLoad(); err != nil {
		return nil, err
	}
	return t.check()
}

// printChildErrors lists rosterd's ERROR log lines, distinct by message.
func (t *torture) printChildErrors() {
	t.childErrMu.Lock()
	defer t.childErrMu.Unlock()
	if len(t.childErrors) == 0 {
		return
	}
	seen := map[string]int{}
	var order []string
	for _, line := range t.childErrors {
		k := line
		if i := strings.Index(line, "msg="); i >= 0 {
			k = line[i:]
		}
		if seen[k] == 0 {
			order = append(order, k)
		}
		seen[k]++
	}
	t.out.f("rosterd logged %d ERROR lines:", len(t.childErrors))
	for i, k := range order {
		if i == 10 {
			t.out.f("  … %d more distinct", len(order)-10)
			break
		}
		t.out.f("  %dx %s", seen[k], k)
	}
}
