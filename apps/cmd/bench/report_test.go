package main

import (
	"testing"
	"time"
)

func TestVerdictJudgesBothBoundsOfTheTarget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sagas   float64
		lowRate float64
		p99     time.Duration
		want    string
	}{
		{"both met", 5950, 2500, 43500 * time.Microsecond, "met: 5950 sagas/s, p99 43.5 ms"},
		{"throughput short", 4999, 2500, 30 * time.Millisecond, "missed: 4999 sagas/s; met: p99 30.0 ms"},
		{"p99 at the bound misses", 6000, 2500, 50 * time.Millisecond, "missed: p99 50.0 ms; met: 6000 sagas/s"},
		{"both missed", 4000, 2500, 70 * time.Millisecond, "missed: 4000 sagas/s, p99 70.0 ms"},
		{"other rate is not judged", 6000, 100, 10 * time.Millisecond, "missed: p99 at 2500 orders/s not measured (-low-rate 100); met: 6000 sagas/s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdict(tc.sagas, tc.lowRate, tc.p99); got != tc.want {
				t.Errorf("verdict(%v, %v, %v) = %q; want %q", tc.sagas, tc.lowRate, tc.p99, got, tc.want)
			}
		})
	}
}

func TestQuantilesReadTheSortedSamples(t *testing.T) {
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		want   string
	}{
		{"none", nil, "no samples"},
		{"one", []time.Duration{1500 * time.Microsecond}, "1.5 ms / 1.5 ms / 1.5 ms"},
		{"hundred", hundred, "50.0 ms / 99.0 ms / 100.0 ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantiles(tc.sorted); got != tc.want {
				t.Errorf("quantiles = %q; want %q", got, tc.want)
			}
		})
	}
}
