package payment

import (
	"context"
	"errors"
	"testing"
)

func TestGatewayIdempotencyKeyChargesOnce(t *testing.T) {
	g := NewGateway(GatewayConfig{})
	ctx := context.Background()
	a, err := g.Authorize(ctx, "o1", 500)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Authorize(ctx, "o1", 500)
	if err != nil || a != b {
		t.Fatalf("repeat authorisation: %q %v, want the first id %q", b, err, a)
	}
	if got := g.Charged("o1"); got != 500 {
		t.Errorf("charged %d, want 500 once", got)
	}
	if n, _ := g.Refund(ctx, "o1"); n != 500 || g.Charged("o1") != 0 {
		t.Errorf("refund returned %d, charged now %d", n, g.Charged("o1"))
	}
}

func TestBreakerOpensOnFaultsButNotOnDeclines(t *testing.T) {
	declining := New(nil, NewGateway(GatewayConfig{DeclineAboveCents: 1}), 0)
	for range 10 {
		_, err := declining.breaker.Execute(func() (result, error) {
			_, err := declining.gateway.Authorize(context.Background(), "k", 100)
			return result{}, err
		})
		if !errors.Is(err, ErrDeclined) {
			t.Fatalf("got %v, want ErrDeclined", err)
		}
	}
	if s := declining.BreakerState(); s != "closed" {
		t.Errorf("breaker %s after declines, want closed", s)
	}
	failing := New(nil, NewGateway(GatewayConfig{FailureRate: 1}), 0)
	for range 5 {
		failing.breaker.Execute(func() (result, error) {
			_, err := failing.gateway.Authorize(context.Background(), "k", 100)
			return result{}, err
		})
	}
	if s := failing.BreakerState(); s != "open" {
		t.Errorf("breaker %s after 5 faults, want open", s)
	}
}
