package daemon_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"roster/client"
)

// testDeadline bounds every test that starts a rosterd (newRig, start): past it the test binary
// stops at once with what the test was waiting for (the daemon's log head and each view's
// position, the last position the test acknowledged) and every goroutine's stack, instead of
// hanging until Go's 10-minute timeout. ROSTER_TEST_DEADLINE (seconds) overrides it.
func testDeadline() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("ROSTER_TEST_DEADLINE")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 3 * time.Minute
}

// watch arms the deadline for one rig; the test's cleanup disarms it.
func (r *rig) watch() {
	name := r.t.Name()
	deadline := testDeadline()
	timer := time.AfterFunc(deadline, func() {
		fmt.Fprintf(os.Stderr, "\n%s: deadline of %s passed; the test was waiting for position %d\n", name, deadline, r.pos)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := r.c.Status(ctx, client.StatusRequest{})
		if err != nil {
			fmt.Fprintf(os.Stderr, "status: %v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "log head %d\n", st.Head)
			for _, p := range st.Projections {
				fmt.Fprintf(os.Stderr, "view %s at %d\n", p.Name, p.Position)
			}
		}
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
		os.Exit(3)
	})
	r.t.Cleanup(func() { timer.Stop() })
}
