package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLoggerAddsCorrelationIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(&buf, "order", slog.LevelInfo).With("unit", "x")
	l.InfoContext(WithCorrelationID(context.Background(), "corr-1"), "hello", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %q", buf.String())
	}
	if rec["correlation_id"] != "corr-1" || rec["service"] != "order" || rec["unit"] != "x" || rec["msg"] != "hello" {
		t.Errorf("record %v", rec)
	}
	buf.Reset()
	l.Info("no context")
	if bytes.Contains(buf.Bytes(), []byte("correlation_id")) {
		t.Errorf("correlation id without one in context: %s", buf.String())
	}
}
