package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"roster/internal/daemon"
)

// --invite-ttl is refused at start outside [1m, 1y], 0 included, naming the bounds.
func TestInviteTTLBounds(t *testing.T) {
	for _, v := range []string{"0", "1ns", "59s", "8761h", "-1h"} {
		var out, errOut bytes.Buffer
		_, _, err := parse([]string{"--invite-ttl", v}, noEnv, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "--invite-ttl") || !strings.Contains(err.Error(), "at least 1m0s") {
			t.Fatalf("--invite-ttl %s: %v", v, err)
		}
	}
	for v, want := range map[string]time.Duration{"1m": time.Minute, "8760h": 8760 * time.Hour, "": 168 * time.Hour} {
		args := []string{}
		if v != "" {
			args = []string{"--invite-ttl", v}
		}
		var out, errOut bytes.Buffer
		cfg, _, err := parse(args, noEnv, &out, &errOut)
		if err != nil || cfg.InviteTTL != want {
			t.Fatalf("--invite-ttl %q: %v %v", v, cfg.InviteTTL, err)
		}
	}
}

// The Go memory limit defaults to --memory-limit-mib's default; GOMEMLIMIT, when set, wins over
// the default (rosterd leaves the runtime's limit as the environment set it) but not over the flag.
func TestMemoryLimitFlagAndEnvironment(t *testing.T) {
	env := func(vals map[string]string) func(string) string { return func(k string) string { return vals[k] } }
	cases := []struct {
		args []string
		env  map[string]string
		want int64
	}{
		{nil, nil, daemon.DefaultMemoryLimitMiB << 20},
		{[]string{"--memory-limit-mib", "300"}, nil, 300 << 20},
		{[]string{"--memory-limit-mib", "0"}, nil, 0},
		{nil, map[string]string{"GOMEMLIMIT": "1GiB"}, 0},
		{[]string{"--memory-limit-mib", "300"}, map[string]string{"GOMEMLIMIT": "1GiB"}, 300 << 20},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		cfg, _, err := parse(c.args, env(c.env), &out, &errOut)
		if err != nil || cfg.MemoryLimit != c.want {
			t.Fatalf("%v with %v: memory limit %d, want %d (%v)", c.args, c.env, cfg.MemoryLimit, c.want, err)
		}
	}
	var out, errOut bytes.Buffer
	if _, _, err := parse([]string{"--memory-limit-mib", "-1"}, noEnv, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--memory-limit-mib") {
		t.Fatalf("a negative limit: %v", err)
	}
	if _, _, err := parse([]string{"--badger-compactors", "1"}, noEnv, &out, &errOut); err == nil || !strings.Contains(err.Error(), "--badger-compactors") {
		t.Fatalf("one compactor: %v", err)
	}
}

// The soft memory limit is --memory-limit-mib while the live heap fits under it with an eighth
// of headroom, and follows the live heap beyond: never at or below the working set, where the
// GC would run back to back.
func TestMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ live, want int64 }{
		{0, 200 * mib}, {100 * mib, 200 * mib}, {160 * mib, 200 * mib}, {240 * mib, 270 * mib}, {1000 * mib, 1125 * mib},
	} {
		if got := memoryLimitFor(200*mib, c.live); got != c.want {
			t.Fatalf("live %d MiB: limit %d MiB, want %d", c.live/mib, got/mib, c.want/mib)
		}
		if got := memoryLimitFor(200*mib, c.live); c.live > 0 && got <= c.live {
			t.Fatalf("live %d MiB: the limit %d MiB is not above it", c.live/mib, got/mib)
		}
	}
}
