// Package notification is the notification worker: when an order completes
// it queues a confirmation e-mail in its own database (in the consumer's
// transaction) and a background sender delivers queued e-mails to a sink.
// Delivery to the sink is at-least-once: a crash after sending and before
// marking sent resends that one e-mail.
package notification

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// Migrations are the notification schema migrations.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Linger is the consumer's batch window: confirmation e-mails can trail the saga by
// a few milliseconds, and fuller batches leave more CPU to the saga steps.
const Linger = 20 * time.Millisecond

// FetchMinBytes and FetchWait hold each fetch at the broker until 16 KiB of
// events or 50ms: one fetch then brings many events instead of one, and
// confirmation e-mails trail the saga by at most FetchWait plus Linger.
const (
	FetchMinBytes = 16 << 10
	FetchWait     = 50 * time.Millisecond
)

// Topics the worker consumes.
var Topics = []string{topics.OrderEvents}

// Email is one message to a customer.
type Email struct {
	OrderID string
	To      string
	Subject string
	Body    string
}

// Sink delivers e-mails.
type Sink interface {
	Send(ctx context.Context, e Email) error
}

// LogSink "sends" e-mails as structured log lines.
type LogSink struct{ Logger *slog.Logger }

// Send logs the e-mail.
func (s LogSink) Send(ctx context.Context, e Email) error {
	s.Logger.InfoContext(ctx, "email sent", "order_id", e.OrderID, "to", e.To, "subject", e.Subject)
	return nil
}

// Service is the notification worker.
type Service struct {
	DB     *store.DB
	Sink   Sink
	Logger *slog.Logger
	// Wake, if set, receives a signal after e-mails are queued.
	wake chan struct{}
}

// New returns a worker.
func New(db *store.DB, sink Sink, logger *slog.Logger) *Service {
	return &Service{DB: db, Sink: sink, Logger: logger, wake: make(chan struct{}, 1)}
}

// Handle records recipients and queues confirmation e-mails.
func (s *Service) Handle(ctx context.Context, tx *store.Tx, d eventbus.Delivery) error {
	switch e := d.Payload.(type) {
	case *eventsv1.OrderCreated:
		_, err := tx.Exec(ctx, `INSERT INTO recipients (order_id, customer_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, e.GetOrderId(), e.GetCustomerId())
		if err != nil {
			return fmt.Errorf("notification: recipient: %w", err)
		}
	case *eventsv1.OrderCompleted:
		var to string
		if err := tx.QueryRow(ctx, `SELECT customer_id FROM recipients WHERE order_id = ?`, e.GetOrderId()).Scan(&to); err != nil {
			return fmt.Errorf("notification: recipient of %s: %w", e.GetOrderId(), err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO emails (order_id, recipient, subject, sent) VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING`,
			e.GetOrderId(), to, "Your order "+e.GetOrderId()+" is confirmed")
		if err != nil {
			return fmt.Errorf("notification: queue email: %w", err)
		}
		tx.OnCommit(s.notify)
	}
	return nil
}

func (s *Service) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RunSender delivers queued e-mails until ctx ends.
func (s *Service) RunSender(ctx context.Context, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := s.SendPending(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("sending e-mails failed; will retry", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-t.C:
		}
	}
}

// markSent records delivered e-mails in one transaction.
func (s *Service) markSent(ctx context.Context, sent []Email) error {
	if len(sent) == 0 {
		return nil
	}
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		for _, e := range sent {
			if _, err := tx.Exec(ctx, `UPDATE emails SET sent = 1 WHERE order_id = ?`, e.OrderID); err != nil {
				return fmt.Errorf("notification: mark sent: %w", err)
			}
		}
		return nil
	})
}

// SendPending delivers up to 500 queued e-mails and returns how many.
func (s *Service) SendPending(ctx context.Context) (int, error) {
	rows, err := s.DB.Query(ctx, `SELECT order_id, recipient, subject FROM emails WHERE sent = 0 ORDER BY order_id LIMIT 500`)
	if err != nil {
		return 0, fmt.Errorf("notification: pending: %w", err)
	}
	var pending []Email
	for rows.Next() {
		var e Email
		if err := rows.Scan(&e.OrderID, &e.To, &e.Subject); err != nil {
			rows.Close()
			return 0, fmt.Errorf("notification: pending: %w", err)
		}
		pending = append(pending, e)
	}
	rows.Close()
	for i, e := range pending {
		if err := s.Sink.Send(ctx, e); err != nil {
			return i, errors.Join(fmt.Errorf("notification: send %s: %w", e.OrderID, err), s.markSent(ctx, pending[:i]))
		}
	}
	if err := s.markSent(ctx, pending); err != nil {
		return 0, err
	}
	return len(pending), nil
}
