package domain

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestZZHangHunt(t *testing.T) {
	if os.Getenv("HANG_HUNT") == "" {
		t.Skip()
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 200000; i++ {
		n := rng.IntN(600)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				os.WriteFile("/tmp/fz/hang_input.bin", b, 0o644)
				os.WriteFile("/tmp/fz/hang_stack.txt", buf, 0o644)
				os.Exit(3)
			}
		}()
		runDomainSequence(t, b)
		close(done)
	}
}
