package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
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
