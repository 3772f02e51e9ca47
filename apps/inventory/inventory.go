// Package inventory is the inventory service: stock levels and per-order
// reservations. Reserve and release are idempotent per order, and a release
// that arrives before its reservation leaves a tombstone so the late
// reservation is refused rather than leaking stock.
package inventory

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// Migrations are the inventory schema migrations.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Topics the inventory service consumes.
var Topics = []string{topics.InventoryCommands}

// Reservation states.
const (
	Reserved = "reserved"
	Released = "released"
	Refused  = "refused"
)

// Service handles stock commands.
type Service struct {
	DB  *store.DB
	Now func() time.Time
}

// SetStock sets the available quantity of each product.
func (s *Service) SetStock(ctx context.Context, stock map[string]int64) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		for p, n := range stock {
			if _, err := tx.Exec(ctx, `INSERT INTO stock (product_id, available) VALUES (?, ?) ON CONFLICT (product_id) DO UPDATE SET available = excluded.available`, p, n); err != nil {
				return fmt.Errorf("inventory: set stock %s: %w", p, err)
			}
		}
		return nil
	})
}

// SeedStock adds products that are not stocked yet; existing levels stay.
func (s *Service) SeedStock(ctx context.Context, stock map[string]int64) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		for p, n := range stock {
			if _, err := tx.Exec(ctx, `INSERT INTO stock (product_id, available) VALUES (?, ?) ON CONFLICT DO NOTHING`, p, n); err != nil {
				return fmt.Errorf("inventory: seed stock %s: %w", p, err)
			}
		}
		return nil
	})
}

// Available returns the available quantity of a product.
func (s *Service) Available(ctx context.Context, product string) (int64, error) {
	var n int64
	err := s.DB.QueryRow(ctx, `SELECT available FROM stock WHERE product_id = ?`, product).Scan(&n)
	return n, err
}

// Handle applies one inventory command.
func (s *Service) Handle(ctx context.Context, tx *store.Tx, d eventbus.Delivery) error {
	switch c := d.Payload.(type) {
	case *eventsv1.ReserveStock:
		return s.reserve(ctx, tx, d, c)
	case *eventsv1.ReleaseStock:
		return s.release(ctx, tx, d, c)
	}
	return fmt.Errorf("inventory: unexpected %s", d.Env.GetType())
}

func (s *Service) reserve(ctx context.Context, tx *store.Tx, d eventbus.Delivery, c *eventsv1.ReserveStock) error {
	var st string
	err := tx.QueryRow(ctx, `SELECT status FROM reservations WHERE order_id = ?`, c.GetOrderId()).Scan(&st)
	switch {
	case err == nil:
		// Already decided for this order (a resent command): repeat the answer.
		if st == Reserved {
			return s.reply(ctx, tx, d, &eventsv1.StockReserved{OrderId: c.GetOrderId()})
		}
		return s.reply(ctx, tx, d, &eventsv1.StockRejected{OrderId: c.GetOrderId(), Reason: "reservation already " + st})
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("inventory: reservation %s: %w", c.GetOrderId(), err)
	}
	items := append([]*eventsv1.LineItem(nil), c.GetItems()...)
	// A fixed lock order keeps concurrent reservations (PostgreSQL) deadlock free.
	sort.Slice(items, func(i, j int) bool { return items[i].GetProductId() < items[j].GetProductId() })
	reason, err := s.take(ctx, tx, items)
	if err != nil {
		return err
	}
	status := Reserved
	if reason != "" {
		status = Refused
	}
	raw, err := proto.Marshal(&eventsv1.ReserveStock{Items: items})
	if err != nil {
		return fmt.Errorf("inventory: marshal items: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO reservations (order_id, status, items, updated_at) VALUES (?, ?, ?, ?)`,
		c.GetOrderId(), status, raw, s.now().UnixNano()); err != nil {
		return fmt.Errorf("inventory: insert reservation: %w", err)
	}
	if reason != "" {
		return s.reply(ctx, tx, d, &eventsv1.StockRejected{OrderId: c.GetOrderId(), Reason: reason})
	}
	return s.reply(ctx, tx, d, &eventsv1.StockReserved{OrderId: c.GetOrderId()})
}

// take decrements stock for every item, or for none when one is short; it
// returns the refusal reason. A short item undoes the decrements before it
// with the opposite UPDATEs in the same transaction: the same effect as a
// savepoint rollback (the rows stay locked by this transaction on
// PostgreSQL) for two statements fewer per reservation.
func (s *Service) take(ctx context.Context, tx *store.Tx, items []*eventsv1.LineItem) (string, error) {
	for i, it := range items {
		res, err := tx.Exec(ctx, `UPDATE stock SET available = available - ? WHERE product_id = ? AND available >= ?`,
			it.GetQuantity(), it.GetProductId(), it.GetQuantity())
		if err != nil {
			return "", fmt.Errorf("inventory: take %s: %w", it.GetProductId(), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return "", fmt.Errorf("inventory: take %s: %w", it.GetProductId(), err)
		}
		if n == 0 {
			for _, back := range items[:i] {
				if _, err := tx.Exec(ctx, `UPDATE stock SET available = available + ? WHERE product_id = ?`, back.GetQuantity(), back.GetProductId()); err != nil {
					return "", fmt.Errorf("inventory: undo take %s: %w", back.GetProductId(), err)
				}
			}
			return "out of stock: " + it.GetProductId(), nil
		}
	}
	return "", nil
}

func (s *Service) release(ctx context.Context, tx *store.Tx, d eventbus.Delivery, c *eventsv1.ReleaseStock) error {
	var (
		st  string
		raw []byte
	)
	err := tx.QueryRow(ctx, `SELECT status, items FROM reservations WHERE order_id = ?`, c.GetOrderId()).Scan(&st, &raw)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Release before reserve (timeout raced the command): leave a tombstone.
		if _, err := tx.Exec(ctx, `INSERT INTO reservations (order_id, status, items, updated_at) VALUES (?, ?, ?, ?)`,
			c.GetOrderId(), Released, []byte{}, s.now().UnixNano()); err != nil {
			return fmt.Errorf("inventory: tombstone: %w", err)
		}
	case err != nil:
		return fmt.Errorf("inventory: reservation %s: %w", c.GetOrderId(), err)
	case st == Reserved:
		var rs eventsv1.ReserveStock
		if err := proto.Unmarshal(raw, &rs); err != nil {
			return fmt.Errorf("inventory: reservation items: %w", err)
		}
		for _, it := range rs.GetItems() {
			if _, err := tx.Exec(ctx, `UPDATE stock SET available = available + ? WHERE product_id = ?`, it.GetQuantity(), it.GetProductId()); err != nil {
				return fmt.Errorf("inventory: return %s: %w", it.GetProductId(), err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE reservations SET status = ?, updated_at = ? WHERE order_id = ?`, Released, s.now().UnixNano(), c.GetOrderId()); err != nil {
			return fmt.Errorf("inventory: mark released: %w", err)
		}
	}
	return s.reply(ctx, tx, d, &eventsv1.StockReleased{OrderId: c.GetOrderId()})
}

func (s *Service) reply(ctx context.Context, tx *store.Tx, d eventbus.Delivery, msg proto.Message) error {
	return outbox.Add(ctx, tx, msg, d.Meta(), s.now())
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
