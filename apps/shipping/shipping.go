// Package shipping is the shipping service: it schedules one shipment per
// paid order. Addresses it cannot serve fail the step, which makes the
// order saga refund and release.
package shipping

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// Migrations are the shipping schema migrations.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Topics the shipping service consumes.
var Topics = []string{topics.ShippingCommands}

// Undeliverable marks addresses the simulated carrier refuses.
const Undeliverable = "UNDELIVERABLE"

// Service handles shipment commands.
type Service struct {
	DB  *store.DB
	Now func() time.Time
}

// Handle applies one shipping command; a repeat for the same order answers
// with the shipment already scheduled.
func (s *Service) Handle(ctx context.Context, tx *store.Tx, d eventbus.Delivery) error {
	c, ok := d.Payload.(*eventsv1.ScheduleShipment)
	if !ok {
		return fmt.Errorf("shipping: unexpected %s", d.Env.GetType())
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if strings.Contains(c.GetAddress(), Undeliverable) {
		return outbox.Add(ctx, tx, &eventsv1.ShipmentFailed{OrderId: c.GetOrderId(), Reason: "carrier cannot deliver to this address"}, d.Meta(), now)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO shipments (order_id, shipment_id, address, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		c.GetOrderId(), events.NewID(), c.GetAddress(), now.UnixNano()); err != nil {
		return fmt.Errorf("shipping: insert: %w", err)
	}
	var id string
	if err := tx.QueryRow(ctx, `SELECT shipment_id FROM shipments WHERE order_id = ?`, c.GetOrderId()).Scan(&id); err != nil {
		return fmt.Errorf("shipping: read back: %w", err)
	}
	return outbox.Add(ctx, tx, &eventsv1.ShipmentScheduled{OrderId: c.GetOrderId(), ShipmentId: id}, d.Meta(), now)
}
