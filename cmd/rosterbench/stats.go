package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// latencies is a sorted sample of request durations.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(p/100*float64(len(l)) + 0.5)
	i = min(max(i-1, 0), len(l)-1)
	return l[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// median of the rounds' values (the mean of the middle two for an even count).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// errIdle tells closedLoop that the worker had nothing to do this time (not counted).
var errIdle = errors.New("idle")

// runResult is what one closed-loop run measured.
type runResult struct {
	ops      int
	errs     int
	elapsed  time.Duration
	lat      latencies
	firstErr error
}

func (r runResult) perSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// closedLoop runs workers goroutines, each calling op in a loop for d, and gathers
// throughput and latency. op gets the worker index and its iteration number.
func closedLoop(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, w, i int) error) runResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type part struct {
		lat  []time.Duration
		errs int
		err  error
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	var startWG sync.WaitGroup
	startWG.Add(1)
	deadline := time.Now().Add(d) // replaced below once everyone is ready
	var dmu sync.RWMutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			pt := &parts[w]
			pt.lat = make([]time.Duration, 0, 1024)
			startWG.Wait()
			dmu.RLock()
			end := deadline
			dmu.RUnlock()
			for i := 0; ; i++ {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				err := op(ctx, w, i)
				if err == errIdle {
					continue
				}
				if err != nil {
					pt.errs++
					if pt.err == nil {
						pt.err = err
					}
					continue
				}
				pt.lat = append(pt.lat, time.Since(t0))
			}
		}(w)
	}
	dmu.Lock()
	start := time.Now()
	deadline = start.Add(d)
	dmu.Unlock()
	startWG.Done()
	wg.Wait()
	res := runResult{elapsed: time.Since(start)}
	for _, pt := range parts {
		res.lat = append(res.lat, pt.lat...)
		res.errs += pt.errs
		if res.firstErr == nil {
			res.firstErr = pt.err
		}
	}
	res.ops = len(res.lat)
	slices.Sort(res.lat)
	return res
}
