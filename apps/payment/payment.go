package payment

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// Migrations are the payment schema migrations.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Topics the payment service consumes.
var Topics = []string{topics.PaymentCommands}

// Payment states.
const (
	Authorized = "authorized"
	Declined   = "declined"
	Refunded   = "refunded"
)

// result is what one gateway call returns through the breaker.
type result struct {
	id    string
	cents int64
}

// Service handles payment commands.
type Service struct {
	db      *store.DB
	gateway *Gateway
	breaker *gobreaker.CircuitBreaker[result]
	now     func() time.Time
}

// New returns a payment service whose gateway calls go through a breaker that
// opens after 5 consecutive faults and probes again after breakerTimeout.
func New(db *store.DB, gw *Gateway, breakerTimeout time.Duration) *Service {
	if breakerTimeout <= 0 {
		breakerTimeout = 5 * time.Second
	}
	cb := gobreaker.NewCircuitBreaker[result](gobreaker.Settings{
		Name:        "payment-gateway",
		MaxRequests: 1,
		Timeout:     breakerTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, ErrDeclined) || errors.Is(err, context.Canceled)
		},
	})
	return &Service{db: db, gateway: gw, breaker: cb, now: time.Now}
}

// BreakerState reports the circuit breaker state (closed, half-open, open).
func (s *Service) BreakerState() string { return s.breaker.State().String() }

// Handle applies one payment command. The order id is the gateway's
// idempotency key, so a redelivered or resent command never charges twice.
func (s *Service) Handle(ctx context.Context, tx *store.Tx, d eventbus.Delivery) error {
	switch c := d.Payload.(type) {
	case *eventsv1.AuthorizePayment:
		return s.authorize(ctx, tx, d, c)
	case *eventsv1.RefundPayment:
		return s.refund(ctx, tx, d, c)
	}
	return fmt.Errorf("payment: unexpected %s", d.Env.GetType())
}

func (s *Service) authorize(ctx context.Context, tx *store.Tx, d eventbus.Delivery, c *eventsv1.AuthorizePayment) error {
	var (
		st, pid string
		amount  int64
	)
	err := tx.QueryRow(ctx, `SELECT status, payment_id, amount_cents FROM payments WHERE order_id = ?`, c.GetOrderId()).Scan(&st, &pid, &amount)
	switch {
	case err == nil:
		if st == Authorized {
			return s.reply(ctx, tx, d, &eventsv1.PaymentAuthorized{OrderId: c.GetOrderId(), PaymentId: pid, AmountCents: amount})
		}
		return s.reply(ctx, tx, d, &eventsv1.PaymentDeclined{OrderId: c.GetOrderId(), Reason: "payment already " + st})
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("payment: read %s: %w", c.GetOrderId(), err)
	}
	res, err := s.breaker.Execute(func() (result, error) {
		id, err := s.gateway.Authorize(ctx, c.GetOrderId(), c.GetAmountCents())
		return result{id: id}, err
	})
	pid = res.id
	status, reason := Authorized, ""
	switch {
	case errors.Is(err, ErrDeclined):
		status, reason = Declined, err.Error()
	case err != nil:
		// Unavailable or breaker open: fail the message so the consumer retries
		// with backoff; the saga's timeout compensates if it never succeeds.
		return fmt.Errorf("payment: authorise %s: %w", c.GetOrderId(), err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO payments (order_id, status, payment_id, amount_cents, updated_at) VALUES (?, ?, ?, ?, ?)`,
		c.GetOrderId(), status, pid, c.GetAmountCents(), s.now().UnixNano()); err != nil {
		return fmt.Errorf("payment: insert: %w", err)
	}
	if status == Declined {
		return s.reply(ctx, tx, d, &eventsv1.PaymentDeclined{OrderId: c.GetOrderId(), Reason: reason})
	}
	return s.reply(ctx, tx, d, &eventsv1.PaymentAuthorized{OrderId: c.GetOrderId(), PaymentId: pid, AmountCents: c.GetAmountCents()})
}

func (s *Service) refund(ctx context.Context, tx *store.Tx, d eventbus.Delivery, c *eventsv1.RefundPayment) error {
	var st string
	err := tx.QueryRow(ctx, `SELECT status FROM payments WHERE order_id = ?`, c.GetOrderId()).Scan(&st)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Refund before authorisation (timeout raced it): the tombstone makes
		// the late authorisation decline instead of charging.
		if _, err := tx.Exec(ctx, `INSERT INTO payments (order_id, status, payment_id, amount_cents, updated_at) VALUES (?, ?, '', 0, ?)`,
			c.GetOrderId(), Refunded, s.now().UnixNano()); err != nil {
			return fmt.Errorf("payment: tombstone: %w", err)
		}
		return s.reply(ctx, tx, d, &eventsv1.PaymentRefunded{OrderId: c.GetOrderId()})
	case err != nil:
		return fmt.Errorf("payment: read %s: %w", c.GetOrderId(), err)
	case st != Authorized:
		return s.reply(ctx, tx, d, &eventsv1.PaymentRefunded{OrderId: c.GetOrderId()})
	}
	res, err := s.breaker.Execute(func() (result, error) {
		n, err := s.gateway.Refund(ctx, c.GetOrderId())
		return result{cents: n}, err
	})
	if err != nil {
		return fmt.Errorf("payment: refund %s: %w", c.GetOrderId(), err)
	}
	if _, err := tx.Exec(ctx, `UPDATE payments SET status = ?, updated_at = ? WHERE order_id = ?`, Refunded, s.now().UnixNano(), c.GetOrderId()); err != nil {
		return fmt.Errorf("payment: mark refunded: %w", err)
	}
	return s.reply(ctx, tx, d, &eventsv1.PaymentRefunded{OrderId: c.GetOrderId(), AmountCents: res.cents})
}

func (s *Service) reply(ctx context.Context, tx *store.Tx, d eventbus.Delivery, msg proto.Message) error {
	return outbox.Add(ctx, tx, msg, d.Meta(), s.now())
}
