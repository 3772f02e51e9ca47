// Package orderquery is the CQRS read side: it projects every event topic
// into an order_view table and can rebuild that table by replaying the
// topics from offset zero.
//
// Each column is written by events of one topic only, and Kafka keeps each
// order's events in order within its topic, so the projection's end state
// does not depend on how the topics interleave: a replay converges to the
// same rows as the live consumer.
package orderquery

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/gen/queryv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// Migrations are the read-model schema migrations.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Linger is the consumer's batch window: the read model can trail the saga by
// a few milliseconds, and fuller batches leave more CPU to the saga steps.
const Linger = 20 * time.Millisecond

// FetchMinBytes and FetchWait hold each fetch at the broker until 16 KiB of
// events or 50ms: one fetch then brings many events instead of one, and
// the read model trail the saga by at most FetchWait plus Linger.
const (
	FetchMinBytes = 16 << 10
	FetchWait     = 50 * time.Millisecond
)

// Topics the read side consumes.
var Topics = topics.EventTopics

// Service serves and maintains the read model.
type Service struct {
	queryv1.UnimplementedOrderQueryServiceServer
	DB *store.DB
}

// Handle projects one event (the consumer's handler).
func (s *Service) Handle(ctx context.Context, tx *store.Tx, d eventbus.Delivery) error {
	return Project(ctx, tx, d.Payload)
}

// Project applies one event to the read model in tx.
func Project(ctx context.Context, tx *store.Tx, msg proto.Message) error {
	var (
		id, col, val string
		created      *eventsv1.OrderCreated
	)
	switch e := msg.(type) {
	case *eventsv1.OrderCreated:
		created, id, col, val = e, e.GetOrderId(), "status", "pending"
	case *eventsv1.OrderCompleted:
		id, col, val = e.GetOrderId(), "status", "completed"
	case *eventsv1.OrderRejected:
		id, col, val = e.GetOrderId(), "status", "rejected"
	case *eventsv1.OrderCancelled:
		id, col, val = e.GetOrderId(), "status", "cancelled"
	case *eventsv1.StockReserved:
		id, col, val = e.GetOrderId(), "stock", "reserved"
	case *eventsv1.StockRejected:
		id, col, val = e.GetOrderId(), "stock", "rejected"
	case *eventsv1.StockReleased:
		id, col, val = e.GetOrderId(), "stock", "released"
	case *eventsv1.PaymentAuthorized:
		id, col, val = e.GetOrderId(), "payment", "authorized"
	case *eventsv1.PaymentDeclined:
		id, col, val = e.GetOrderId(), "payment", "declined"
	case *eventsv1.PaymentRefunded:
		id, col, val = e.GetOrderId(), "payment", "refunded"
	case *eventsv1.ShipmentScheduled:
		id, col, val = e.GetOrderId(), "shipment", "scheduled"
	case *eventsv1.ShipmentFailed:
		id, col, val = e.GetOrderId(), "shipment", "failed"
	default:
		return nil // commands and future types are not part of this view
	}
	if created != nil {
		// Another topic's event may have created the row first; status is
		// set to pending only while no order event has set it.
		_, err := tx.Exec(ctx, `INSERT INTO order_view (order_id, customer_id, total_cents, status, stock, payment, shipment)
			VALUES (?, ?, ?, 'pending', '', '', '')
			ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id, total_cents = excluded.total_cents,
				status = CASE WHEN order_view.status = '' THEN 'pending' ELSE order_view.status END`,
			id, created.GetCustomerId(), created.GetTotalCents())
		if err != nil {
			return fmt.Errorf("orderquery: project created: %w", err)
		}
		return nil
	}
	_, err := tx.Exec(ctx, projectColumn[col], id, val)
	if err != nil {
		return fmt.Errorf("orderquery: project %s: %w", col, err)
	}
	return nil
}

// projectColumn holds, per view column, the upsert that sets it. The value
// goes into the INSERT too: this topic's event may arrive before
// OrderCreated. Built once: the statement text is also the key of the
// prepared-statement cache.
var projectColumn = func() map[string]string {
	out := map[string]string{}
	for _, col := range []string{"status", "stock", "payment", "shipment"} {
		vals := map[string]string{"status": "''", "stock": "''", "payment": "''", "shipment": "''"}
		vals[col] = "?"
		out[col] = `INSERT INTO order_view (order_id, customer_id, total_cents, status, stock, payment, shipment)
		VALUES (?, '', 0, ` + vals["status"] + `, ` + vals["stock"] + `, ` + vals["payment"] + `, ` + vals["shipment"] + `)
		ON CONFLICT (order_id) DO UPDATE SET ` + col + ` = excluded.` + col
	}
	return out
}()

// GetOrderView serves one order's view.
func (s *Service) GetOrderView(ctx context.Context, req *queryv1.GetOrderViewRequest) (*queryv1.OrderView, error) {
	if req.GetOrderId() == "" {
		return nil, status.Error(codes.InvalidArgument, "order_id is empty")
	}
	v := &queryv1.OrderView{}
	err := s.DB.QueryRow(ctx, `SELECT order_id, customer_id, total_cents, status, stock, payment, shipment FROM order_view WHERE order_id = ?`,
		req.GetOrderId()).Scan(&v.OrderId, &v.CustomerId, &v.TotalCents, &v.Status, &v.Stock, &v.Payment, &v.Shipment)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, status.Errorf(codes.NotFound, "order %q not in the read model (yet)", req.GetOrderId())
	}
	if err != nil {
		return nil, status.Error(codes.Internal, "could not read the view")
	}
	return v, nil
}

// Views returns every row of the read model, ordered by order id.
func Views(ctx context.Context, db *store.DB) ([]*queryv1.OrderView, error) {
	rows, err := db.Query(ctx, `SELECT order_id, customer_id, total_cents, status, stock, payment, shipment FROM order_view ORDER BY order_id`)
	if err != nil {
		return nil, fmt.Errorf("orderquery: views: %w", err)
	}
	defer rows.Close()
	var out []*queryv1.OrderView
	for rows.Next() {
		v := &queryv1.OrderView{}
		if err := rows.Scan(&v.OrderId, &v.CustomerId, &v.TotalCents, &v.Status, &v.Stock, &v.Payment, &v.Shipment); err != nil {
			return nil, fmt.Errorf("orderquery: views: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Reset empties the read model and its processed-event records before a
// rebuild into the same database.
func Reset(ctx context.Context, db *store.DB) error {
	return db.InTx(ctx, func(tx *store.Tx) error {
		for _, q := range []string{`DELETE FROM order_view`, `DELETE FROM processed_events`} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("orderquery: reset: %w", err)
			}
		}
		return nil
	})
}

// Rebuild replays every event topic from offset zero up to the high
// watermarks seen at the start into target, and returns how many events it
// applied. Events already recorded in target are skipped, so rebuilding into
// a database the live consumer also writes is safe.
func Rebuild(ctx context.Context, brokers []string, target *store.DB) (int64, error) {
	var applied int64
	for _, topic := range Topics {
		parts, err := partitions(ctx, brokers[0], topic)
		if err != nil {
			return applied, err
		}
		for _, p := range parts {
			n, err := replayPartition(ctx, p, target)
			applied += n
			if err != nil {
				return applied, err
			}
		}
	}
	return applied, nil
}

func partitions(ctx context.Context, broker, topic string) ([]kafka.Partition, error) {
	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, fmt.Errorf("orderquery: dial: %w", err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, fmt.Errorf("orderquery: partitions of %s: %w", topic, err)
	}
	return parts, nil
}

func replayPartition(ctx context.Context, p kafka.Partition, target *store.DB) (int64, error) {
	leader := net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port))
	conn, err := kafka.DialLeader(ctx, "tcp", leader, p.Topic, p.ID)
	if err != nil {
		return 0, fmt.Errorf("orderquery: dial leader %s/%d: %w", p.Topic, p.ID, err)
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return 0, fmt.Errorf("orderquery: offsets %s/%d: %w", p.Topic, p.ID, err)
	}
	if _, err := conn.Seek(first, kafka.SeekAbsolute); err != nil {
		return 0, fmt.Errorf("orderquery: seek %s/%d: %w", p.Topic, p.ID, err)
	}
	var applied int64
	for next := first; next < last; {
		if dl, ok := ctx.Deadline(); ok {
			conn.SetReadDeadline(dl)
		} else {
			conn.SetReadDeadline(time.Now().Add(time.Minute))
		}
		b := conn.ReadBatch(1, 16<<20)
		var msgs []kafka.Message
		for {
			m, err := b.ReadMessage()
			if err != nil {
				break
			}
			if m.Offset >= last {
				break
			}
			msgs = append(msgs, m)
			next = m.Offset + 1
		}
		if err := b.Close(); err != nil {
			return applied, fmt.Errorf("orderquery: replay %s/%d: %w", p.Topic, p.ID, err)
		}
		if len(msgs) == 0 {
			return applied, fmt.Errorf("orderquery: replay %s/%d: no progress at offset %d of %d", p.Topic, p.ID, next, last)
		}
		n, err := applyReplayed(ctx, target, msgs)
		applied += n
		if err != nil {
			return applied, err
		}
	}
	return applied, nil
}

func applyReplayed(ctx context.Context, target *store.DB, msgs []kafka.Message) (int64, error) {
	var applied int64
	type decoded struct {
		id      string
		payload proto.Message
	}
	var evs []decoded
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		env, payload, err := events.Decode(m.Value)
		if err != nil {
			continue // the live consumer dead-lettered it; the view skips it too
		}
		evs = append(evs, decoded{env.GetId(), payload})
		ids = append(ids, env.GetId())
	}
	err := target.InTx(ctx, func(tx *store.Tx) error {
		applied = 0
		fresh, err := tx.MarkProcessedAll(ctx, ids)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if !fresh.Take(ev.id) {
				continue
			}
			if err := Project(ctx, tx, ev.payload); err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	return applied, err
}
