package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"roster/internal/natsconn"
)

// LockFile is the file in the data dir a running rosterd holds locked (flock) and writes its
// process id to.
const LockFile = "rosterd.lock"

// DataDirInUseError refuses a data dir another process holds.
type DataDirInUseError struct {
	Lock string
	PID  int // 0 when unknown
}

func (e *DataDirInUseError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("data dir in use: %s holds the lock %s; stop it or give another --data-dir", who, e.Lock)
}

type dataDirLock struct{ f *os.File }

// lockDataDir takes the data dir's lock, or says which process holds it.
func lockDataDir(dir string) (*dataDirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &DataDirInUseError{Lock: path, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dataDirLock{f: f}, nil
}

func (l *dataDirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
}

// checkJetStream says plainly when the NATS reached has no JetStream for rosterd's account.
func checkJetStream(ctx context.Context, js jetstream.JetStream, url string) error {
	if _, err := js.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
			errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("NATS at %s has no JetStream for rosterd's account (start nats-server with -js, or enable JetStream for the account): %w",
				natsconn.Redact(url), err)
		}
		return fmt.Errorf("JetStream account info: %w", err)
	}
	return nil
}
