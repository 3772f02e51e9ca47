package main

import (
	"fmt"
	"time"

	"github.com/ordermesh/ordermesh/apps/internal/load"
)

// quantiles formats p50 / p99 / max of sorted durations.
func quantiles(sorted []time.Duration) string {
	if len(sorted) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("%s / %s / %s", ms(load.Quantile(sorted, 0.5)), ms(load.Quantile(sorted, 0.99)), ms(sorted[len(sorted)-1]))
}
