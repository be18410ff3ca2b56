package embeddednats

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The embedded server's slow-consumer notices (a client it disconnected, rosterd's own
// connections included) reach the log as warnings; its other notices stay at debug level.
func TestServerLogRaisesSlowConsumers(t *testing.T) {
	var buf bytes.Buffer
	l := serverLog{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l.Noticef("Starting nats-server")
	l.Noticef("%s - Slow Consumer Detected: MaxPending of %d Exceeded", "cid:10", 67108864)
	l.Warnf("plaintext password in %s", "config")
	out := buf.String()
	if strings.Contains(out, "Starting") || !strings.Contains(out, `level=WARN msg="cid:10 - Slow Consumer Detected: MaxPending of 67108864 Exceeded"`) ||
		!strings.Contains(out, "level=WARN msg=\"plaintext password in config\"") {
		t.Fatalf("log:\n%s", out)
	}
}
