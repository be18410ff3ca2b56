package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"roster/client"
)

// rosterdProc is a rosterd running as a process of its own (its memory is its own, apart from
// the load generator's).
type rosterdProc struct {
	cmd *exec.Cmd
	URL string
	// PprofURL is the base of its profiling endpoint (with --pprof), or "".
	PprofURL string
	done     chan struct{}
	err      error // set before done is closed

	mu   sync.Mutex
	tail []string // the last lines of its log
}

// buildRosterd builds cmd/rosterd of the module rosterbench runs in, into dir.
func buildRosterd(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("build rosterd: not inside the roster module (or give --rosterd BIN)")
	}
	bin := filepath.Join(dir, "rosterd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/rosterd")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build rosterd: %w\n%s", err, out)
	}
	return bin, nil
}

// startRosterd starts bin on a free loopback port with its own data dir and the extra flags,
// and returns once it logged ready.
func startRosterd(ctx context.Context, bin, dataDir string, extra []string) (*rosterdProc, error) {
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-level", "info"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start rosterd: %w", err)
	}
	p := &rosterdProc{cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > 20 {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
			if strings.Contains(line, `msg="pprof listening"`) {
				for _, f := range strings.Fields(line) {
					if u, ok := strings.CutPrefix(f, "pprof="); ok {
						p.mu.Lock()
						p.PprofURL = u
						p.mu.Unlock()
					}
				}
			}
			if strings.Contains(line, "msg=ready") {
				for _, f := range strings.Fields(line) {
					if u, ok := strings.CutPrefix(f, "url="); ok {
						select {
						case ready <- u:
						default:
						}
					}
				}
			}
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.URL = <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("rosterd exited before ready (%v): %s", p.err, p.lastLines())
	case <-time.After(2 * time.Minute):
		p.stop()
		return nil, fmt.Errorf("rosterd not ready after 2 minutes: %s", p.lastLines())
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

func (p *rosterdProc) lastLines() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// stop asks rosterd to stop (SIGTERM: it drains and flushes), and kills it after 30 s.
func (p *rosterdProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// memory reads rosterd's resident set now (VmRSS) and its peak (VmHWM), in MiB.
func (p *rosterdProc) memory() (rss, hwm float64, err error) {
	m, err := p.status("VmRSS", "VmHWM")
	if err != nil {
		return 0, 0, err
	}
	return m[0], m[1], nil
}

// cpu reads the processor time rosterd has used (utime and stime of /proc/PID/stat, in the
// kernel's USER_HZ of 100 ticks a second).
func (p *rosterdProc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("rosterd's CPU time: %w", err)
	}
	// The command name, in parentheses, may hold spaces: the fields follow its last ')'.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("rosterd's CPU time: unexpected /proc/%d/stat", p.cmd.Process.Pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("rosterd's CPU time: %w", err)
	}
	return time.Duration(utime+stime) * (time.Second / 100), nil
}

// residentParts reads the parts of rosterd's resident set, in MiB: anonymous (the Go heap,
// stacks) and file-backed (Badger's mapped tables, write-ahead and value-log files).
func (p *rosterdProc) residentParts() (anon, file float64, err error) {
	m, err := p.status("RssAnon", "RssFile")
	if err != nil {
		return 0, 0, err
	}
	return m[0], m[1], nil
}

// status reads fields of /proc/PID/status given in kB, in MiB.
func (p *rosterdProc) status(names ...string) ([]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return nil, fmt.Errorf("rosterd's memory: %w", err)
	}
	field := func(name string) (float64, error) {
		for _, line := range bytes.Split(b, []byte("\n")) {
			if rest, ok := bytes.CutPrefix(line, []byte(name+":")); ok {
				f := strings.Fields(string(rest))
				if len(f) == 2 && f[1] == "kB" {
					kb, err := strconv.ParseFloat(f[0], 64)
					return kb / 1024, err
				}
			}
		}
		return 0, fmt.Errorf("no %s in /proc/%d/status", name, p.cmd.Process.Pid)
	}
	out := make([]float64, len(names))
	for i, name := range names {
		if out[i], err = field(name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// heapProfile writes rosterd's heap profile (the pprof proto) and its text form (with the
// runtime's MemStats) to dir as NAME.pb.gz and NAME.txt.
func (p *rosterdProc) heapProfile(ctx context.Context, dir, name string) error {
	p.mu.Lock()
	base := p.PprofURL
	p.mu.Unlock()
	if base == "" {
		return errors.New("heap profile: rosterd logged no pprof address")
	}
	for _, f := range []struct{ query, file string }{{"heap?gc=1", name + ".pb.gz"}, {"heap?debug=1", name + ".txt"}} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+f.query, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("heap profile: %s: %s", resp.Status, b)
		}
		if err := os.WriteFile(filepath.Join(dir, f.file), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// statusHead asks rosterd for its log head.
func statusHead(ctx context.Context, c *client.Client) (uint64, error) {
	st, err := c.Status(ctx, client.StatusRequest{})
	if err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	return st.Head, nil
}

// statusWait waits until every view of rosterd has applied the log head.
func statusWait(ctx context.Context, c *client.Client) (time.Duration, error) {
	t0 := time.Now()
	head, err := statusHead(ctx, c)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := c.Status(ctx, client.StatusRequest{MinPosition: head, WaitMS: 2_000})
		if err == nil {
			return time.Since(t0), nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return 0, fmt.Errorf("views not at the head %d: %w", head, err)
		}
	}
}
