package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildRosterd builds ./cmd/rosterd of the enclosing module into dir.
func buildRosterd(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go tool to build rosterd (or pass --rosterd): %w", err)
	}
	var modOut bytes.Buffer
	env := exec.CommandContext(ctx, goBin, "env", "GOMOD")
	env.Stdout = &modOut
	if err := env.Run(); err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(modOut.String())
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the roster module: run from it or pass --rosterd")
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bin", "rosterd")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/rosterd")
	build.Dir = filepath.Dir(gomod)
	var buildOut bytes.Buffer
	build.Stdout, build.Stderr = &buildOut, &buildOut
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rosterd: %w\n%s", err, buildOut.String())
	}
	return bin, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// child is one run of rosterd.
type child struct {
	cmd    *exec.Cmd
	lines  *lineSink
	exited chan struct{} // closed once Wait returned
	err    error         // Wait's result, after exited
}

// lineSink receives rosterd's stderr: it appends it to the log file, keeps a
// tail for error messages, signals the ready line and collects ERROR lines.
type lineSink struct {
	mu      sync.Mutex
	file    io.Writer
	partial []byte
	tail    []string
	ready   chan struct{}
	isReady bool
	errors  *[]string // shared across runs
	errMu   *sync.Mutex
}

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.file.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		s.tail = append(s.tail, line)
		if len(s.tail) > 30 {
			s.tail = s.tail[len(s.tail)-30:]
		}
		if !s.isReady && strings.Contains(line, "msg=ready") && strings.Contains(line, "nats://") {
			s.isReady = true
			close(s.ready)
		}
		if strings.Contains(line, "level=ERROR") {
			s.errMu.Lock()
			*s.errors = append(*s.errors, line)
			s.errMu.Unlock()
		}
	}
	return len(p), nil
}

func (s *lineSink) tailText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// startChild runs rosterd and waits for its ready line.
func (t *torture) startChild() (*child, time.Duration, error) {
	args := []string{"--data-dir", filepath.Join(t.dir, "rosterd"), "--log-level", "info"}
	if t.cfg.external {
		args = append(args, "--nats-url", t.natsURL)
	} else {
		args = append(args, "--listen", fmt.Sprintf("127.0.0.1:%d", t.port))
	}
	t.starts++
	fmt.Fprintf(t.logFile, "==== start %d: %s %s\n", t.starts, t.bin, strings.Join(args, " "))
	sink := &lineSink{file: t.logFile, ready: make(chan struct{}), errors: &t.childErrors, errMu: &t.childErrMu}
	cmd := exec.Command(t.bin, args...)
	cmd.Stdout = sink
	cmd.Stderr = sink
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a ^C to us is not a SIGINT to it
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start rosterd: %w", err)
	}
	c := &child{cmd: cmd, lines: sink, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	timer := time.NewTimer(t.cfg.readyTO)
	defer timer.Stop()
	select {
	case <-sink.ready:
		return c, time.Since(begin), nil
	case <-c.exited:
		return nil, 0, fmt.Errorf("rosterd (start %d) exited before it was ready: %v\n--- last lines of its output ---\n%s", t.starts, c.err, sink.tailText())
	case <-timer.C:
		c.kill()
		return nil, 0, fmt.Errorf("HANG: rosterd (start %d) not ready after %s\n--- last lines of its output ---\n%s", t.starts, t.cfg.readyTO, sink.tailText())
	case <-t.ctx.Done():
		c.kill()
		return nil, 0, t.ctx.Err()
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop sends SIGTERM and waits up to d for a clean exit; it reports a hang or a failed exit.
func (c *child) stop(d time.Duration) error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c.exited:
		if c.err != nil {
			return fmt.Errorf("rosterd exited with %v after SIGTERM\n--- last lines of its output ---\n%s", c.err, c.lines.tailText())
		}
		return nil
	case <-timer.C:
		tail := c.lines.tailText()
		c.kill()
		return fmt.Errorf("HANG: rosterd did not stop within %s of SIGTERM (killed)\n--- last lines of its output ---\n%s", d, tail)
	}
}
