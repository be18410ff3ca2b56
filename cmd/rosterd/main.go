// Command rosterd runs Roster: by default with an embedded NATS server (JetStream)
// on 127.0.0.1:4222 and its data under ./data.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"roster/cmd/internal/daemon"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rosterd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("rosterd", flag.ContinueOnError)
	var cfg daemon.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "data", "directory for the event log, the views and the embedded NATS server's JetStream data")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:4222", "client address of the embedded NATS server (port 0 picks a free port)")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "use this external NATS instead of embedding one")
	fs.StringVar(&cfg.Role, "role", daemon.RoleAll, "all, writer (commands, log, relay) or reader (views and queries); writer/reader need --nats-url")
	fs.DurationVar(&cfg.InviteTTL, "invite-ttl", 0, "how long invitations stay pending (default 168h)")
	fs.IntVar(&cfg.Replicas, "replicas", 1, "JetStream stream replicas (3 on a cluster)")
	fs.DurationVar(&cfg.FlushEvery, "view-flush", 0, "how often views write their snapshots and checkpoints (default 10s; a restart re-applies at most this much of the log)")
	recoverLog := fs.Bool("recover-from-stream", false, "before starting, rebuild the event log from the JetStream stream ROSTER_EVENTS (the old log is moved aside; see docs/INTEGRITY.md)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *recoverLog {
		if _, err := daemon.RecoverLog(ctx, cfg); err != nil {
			return err
		}
	}
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	cfg.Logger.Info("stopping: draining NATS and flushing the views")
	d.Close()
	cfg.Logger.Info("stopped")
	return nil
}
