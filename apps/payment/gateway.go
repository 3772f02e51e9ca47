// Package payment is the payment service: it authorises and refunds order
// payments against a simulated card gateway, called through a circuit
// breaker (sony/gobreaker) so an unhealthy gateway is not hammered.
package payment

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ordermesh/ordermesh/apps/internal/events"
)

// Gateway errors.
var (
	// ErrDeclined is a business answer, not a fault: it never trips the breaker.
	ErrDeclined = errors.New("declined by issuer")
	// ErrUnavailable is a transient fault worth retrying.
	ErrUnavailable = errors.New("gateway unavailable")
)

// GatewayConfig shapes the simulated gateway.
type GatewayConfig struct {
	// Latency is added to every call.
	Latency time.Duration
	// FailureRate is the share (0..1) of calls that fail with ErrUnavailable.
	FailureRate float64
	// DeclineAboveCents declines authorisations above this amount (0: never).
	DeclineAboveCents int64
}

// Gateway simulates a card gateway with idempotency keys, as real gateways
// offer: a repeated authorisation with the same key returns the first result
// and never charges twice.
type Gateway struct {
	cfg GatewayConfig

	mu       sync.Mutex
	auths    map[string]string // idempotency key -> authorisation id
	captured map[string]int64  // idempotency key -> net charged cents
	calls    map[string]int    // idempotency key -> authorisation calls
}

// NewGateway returns a simulated gateway.
func NewGateway(cfg GatewayConfig) *Gateway {
	return &Gateway{cfg: cfg, auths: map[string]string{}, captured: map[string]int64{}, calls: map[string]int{}}
}

// Authorize charges amount under key.
func (g *Gateway) Authorize(ctx context.Context, key string, amount int64) (string, error) {
	if err := g.wait(ctx); err != nil {
		return "", err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls[key]++
	if id, ok := g.auths[key]; ok {
		return id, nil
	}
	if g.cfg.DeclineAboveCents > 0 && amount > g.cfg.DeclineAboveCents {
		return "", fmt.Errorf("%w: amount %d above limit %d", ErrDeclined, amount, g.cfg.DeclineAboveCents)
	}
	id := events.NewID()
	g.auths[key] = id
	g.captured[key] += amount
	return id, nil
}

// Refund returns what was charged under key.
func (g *Gateway) Refund(ctx context.Context, key string) (int64, error) {
	if err := g.wait(ctx); err != nil {
		return 0, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := g.captured[key]
	g.captured[key] = 0
	return n, nil
}

// Charged returns the net cents charged under key.
func (g *Gateway) Charged(key string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.captured[key]
}

// Authorizations returns how many distinct authorisations the gateway made.
func (g *Gateway) Authorizations() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.auths)
}

func (g *Gateway) wait(ctx context.Context) error {
	if g.cfg.Latency > 0 {
		t := time.NewTimer(g.cfg.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	if g.cfg.FailureRate > 0 && rand.Float64() < g.cfg.FailureRate {
		return ErrUnavailable
	}
	return nil
}
