package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"roster/internal/embeddednats"
)

// NonLoopbackPprofError refuses a --pprof address beyond loopback: profiles show the process's
// memory, so they are served to the machine only.
type NonLoopbackPprofError struct {
	Addr string
}

func (e *NonLoopbackPprofError) Error() string {
	return fmt.Sprintf("pprof %s: the profiling endpoint listens on loopback only (127.0.0.1, ::1 or localhost)", e.Addr)
}

func validPprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("pprof address %q: %w", addr, err)
	}
	if !embeddednats.IsLoopback(host) {
		return &NonLoopbackPprofError{Addr: addr}
	}
	return nil
}

// servePprof serves net/http/pprof's handlers on cfg.Pprof until runCtx ends. The handlers
// are on a mux of their own, not http.DefaultServeMux.
func (d *Daemon) servePprof(runCtx context.Context) error {
	ln, err := net.Listen("tcp", d.cfg.Pprof)
	if err != nil {
		return fmt.Errorf("pprof listen %s: %w", d.cfg.Pprof, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	d.PprofAddr = ln.Addr().String()
	d.cfg.Logger.Info("pprof listening", "pprof", "http://"+d.PprofAddr+"/debug/pprof/")
	d.goRun(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.cfg.Logger.Warn("pprof stopped", "err", err)
		}
	})
	d.goRun(func() {
		<-runCtx.Done()
		_ = srv.Close()
	})
	return nil
}
