//go:build promtool

// These tests run the generated alert expressions through Prometheus's own
// rule engine (promtool test rules) on synthetic series: each alert must
// fire on a breach of its profile threshold and stay silent when healthy.
// They need promtool (Debian package "prometheus"): go test -tags promtool.

package observability

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type series struct{ name, values string }

func TestAlertExpressionsFireOnlyOnBreach(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	a := prodArgs() // saga 0.995, p99 300ms, lag 500, dlq 0.5/min
	a.applyDefaults()
	rules := map[string]Rule{}
	for _, r := range a.AlertRules() {
		rules[r.Alert] = r
	}
	// 1 sample per minute; counters grow by the per-minute amount given.
	cases := []struct {
		alert  string
		input  []series
		firing bool
	}{
		{"OrderSagaSuccessRatioLow", []series{
			{`ordermesh_saga_outcomes_total{outcome="completed"}`, "0+990x30"},
			{`ordermesh_saga_outcomes_total{outcome="compensated"}`, "0+10x30"},
		}, true}, // 99% < 99.5%
		{"OrderSagaSuccessRatioLow", []series{
			{`ordermesh_saga_outcomes_total{outcome="completed"}`, "0+999x30"},
			{`ordermesh_saga_outcomes_total{outcome="compensated"}`, "0+1x30"},
		}, false}, // 99.9%
		{"OrderSagaSuccessRatioLow", []series{
			{`ordermesh_saga_outcomes_total{outcome="completed"}`, "0+0x30"},
		}, false}, // no traffic is not a breach
		{"OrderAPILatencyP99High", latency(1000), true}, // every request in (500ms, 1000ms]
		{"OrderAPILatencyP99High", latency(250), false}, // every request <= 250ms
		{"KafkaConsumerLagHigh", []series{
			{`kafka_consumergroup_lag{namespace="kafka",consumergroup="payment",topic="order.events",partition="0"}`, "400x30"},
			{`kafka_consumergroup_lag{namespace="kafka",consumergroup="payment",topic="order.events",partition="1"}`, "200x30"},
		}, true}, // 600 summed over partitions
		{"KafkaConsumerLagHigh", []series{
			{`kafka_consumergroup_lag{namespace="kafka",consumergroup="payment",topic="order.events",partition="0"}`, "400x30"},
		}, false},
		{"DeadLetterRateHigh", []series{
			{`kafka_topic_partition_current_offset{namespace="kafka",topic="order.events.dlq",partition="0"}`, "0+5x30"},
		}, true},
		{"DeadLetterRateHigh", []series{
			{`kafka_topic_partition_current_offset{namespace="kafka",topic="order.events",partition="0"}`, "0+5000x30"},
		}, false}, // busy ordinary topic, no dead letters
	}

	dir := t.TempDir()
	ruleFile := map[string]any{"groups": []any{map[string]any{"name": "ordermesh.slo", "rules": a.AlertRules()}}}
	writeJSON(t, filepath.Join(dir, "rules.yaml"), ruleFile) // JSON is YAML

	var tests []any
	for _, c := range cases {
		var in []any
		for _, s := range c.input {
			in = append(in, map[string]string{"series": s.name, "values": s.values})
		}
		samples := []any{}
		if c.firing {
			samples = append(samples, map[string]any{"labels": "{}", "value": 1})
		}
		tests = append(tests, map[string]any{
			"interval":     "1m",
			"input_series": in,
			"promql_expr_test": []any{map[string]any{
				"expr": "count(" + rules[c.alert].Expr + ")", "eval_time": (20 * time.Minute).String(), "exp_samples": samples,
			}},
		})
	}
	writeJSON(t, filepath.Join(dir, "test.yaml"), map[string]any{
		"rule_files": []string{"rules.yaml"}, "evaluation_interval": "1m", "tests": tests,
	})
	cmd := exec.Command(promtool, "test", "rules", "test.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// latency returns a cumulative Istio request-duration histogram for the
// order API where every request falls in the bucket ending at leMs.
func latency(leMs float64) []series {
	var out []series
	for _, b := range []float64{250, 500, 1000, math.Inf(1)} {
		v := "0+0x30"
		if b >= leMs {
			v = "0+100x30"
		}
		le := strconv.FormatFloat(b, 'g', -1, 64)
		if math.IsInf(b, 1) {
			le = "+Inf"
		}
		out = append(out, series{
			`istio_request_duration_milliseconds_bucket{reporter="destination",destination_service_name="order",destination_service_namespace="orders",le="` + le + `"}`, v,
		})
	}
	return out
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
