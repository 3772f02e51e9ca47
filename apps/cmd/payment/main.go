// Command payment runs the payment service against the simulated gateway:
// ORDERMESH_GATEWAY_LATENCY, ORDERMESH_GATEWAY_FAILURE_RATE (0..1),
// ORDERMESH_GATEWAY_DECLINE_ABOVE_CENTS, ORDERMESH_BREAKER_TIMEOUT.
package main

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/ordermesh/ordermesh/apps/internal/process"
	"github.com/ordermesh/ordermesh/apps/internal/runner"
	"github.com/ordermesh/ordermesh/apps/payment"
)

func main() {
	process.Main("payment", func(ctx context.Context, env process.Env) (process.Service, error) {
		latency, err := process.Duration("ORDERMESH_GATEWAY_LATENCY", 0)
		if err != nil {
			return process.Service{}, err
		}
		breaker, err := process.Duration("ORDERMESH_BREAKER_TIMEOUT", 5*time.Second)
		if err != nil {
			return process.Service{}, err
		}
		rate, err := strconv.ParseFloat(process.Getenv("ORDERMESH_GATEWAY_FAILURE_RATE", "0"), 64)
		if err != nil || rate < 0 || rate > 1 {
			return process.Service{}, fmt.Errorf("ORDERMESH_GATEWAY_FAILURE_RATE: want a number in 0..1")
		}
		limit, err := strconv.ParseInt(process.Getenv("ORDERMESH_GATEWAY_DECLINE_ABOVE_CENTS", "0"), 10, 64)
		if err != nil || limit < 0 {
			return process.Service{}, fmt.Errorf("ORDERMESH_GATEWAY_DECLINE_ABOVE_CENTS: want a non-negative integer")
		}
		gw := payment.NewGateway(payment.GatewayConfig{Latency: latency, FailureRate: rate, DeclineAboveCents: limit})
		svc := payment.New(env.DB, gw, breaker)
		mig, _ := fs.Sub(payment.Migrations, "migrations")
		return process.Service{Unit: runner.Unit{Name: env.Name, DB: env.DB, Migrations: mig, Topics: payment.Topics, Handle: svc.Handle}}, nil
	})
}
