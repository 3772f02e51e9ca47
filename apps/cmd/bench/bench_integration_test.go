//go:build integration

package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The benchmark is run by hand (make bench-apps, tools/benchab/run), so a
// small run here keeps it working and keeps the rows those tools and
// docs/BENCHMARKS.md read.
func TestBenchRunsTheWholeSystemAndReportsEveryRow(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-orders", "400", "-concurrency", "16", "-half-seconds", "1", "-low-rate", "300",
		"-raw-messages", "2000", "-raw-transactions", "100")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	report := string(out)
	number := `[0-9]+(\.[0-9]+)?`
	ms := number + ` ms`
	for _, row := range []string{
		`completed sagas/s, full speed \(400 orders, 16 callers\) \| ` + number,
		`process CPU \(user\+sys\) per saga, full speed \| ` + number + ` µs`,
		`end-to-end latency at half the sustained rate .* \| ` + ms + ` / ` + ms + ` / ` + ms,
		`end-to-end latency at 300 orders/s \(300 orders\) p50 / p99 / max \| ` + ms + ` / ` + ms + ` / ` + ms,
		`process CPU \(user\+sys\) per saga at 300 orders/s \| ` + number + ` µs`,
		`database connection, per second, at 300 orders/s \| order ` + number + ` s`,
		`disk: sync of a 4 KiB write beside the databases every 50ms at 300 orders/s, p50 / p99 / max \| ` + ms + ` / ` + ms + ` / ` + ms,
		`raw kfake produce, 256 B, acks=all \(msgs/s\) \| ` + number,
		`raw kfake consume, consumer group \(msgs/s\) \| ` + number,
		`raw store: one saga-step transaction per message \(tx/s\) \| ` + number,
		`raw store: 500 saga steps per transaction \(steps/s\) \| ` + number,
		`outcomes \(full speed\) \| \[completed:400\] \|`,
		`target: ≥ 5000 sagas/s at full speed, p99 < 50.0 ms at 2500 orders/s \| missed: .*p99 at 2500 orders/s not measured \(-low-rate 300\)`,
	} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("no row matching %q in the report:\n%s", row, report)
		}
	}
}
