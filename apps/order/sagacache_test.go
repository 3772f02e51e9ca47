package order

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

func reply(msg proto.Message) eventbus.Delivery {
	return eventbus.Delivery{Env: &eventsv1.Envelope{Id: events.NewID(), Type: events.TypeOf(msg)}, Payload: msg}
}

func replyOf(kind, orderID string) proto.Message {
	switch kind {
	case "StockReserved":
		return &eventsv1.StockReserved{OrderId: orderID}
	case "PaymentAuthorized":
		return &eventsv1.PaymentAuthorized{OrderId: orderID}
	case "ShipmentScheduled":
		return &eventsv1.ShipmentScheduled{OrderId: orderID}
	}
	panic("unknown reply " + kind)
}

// stored reads the saga from the table, past the cache.
func stored(t *testing.T, svc *Service, id string) State {
	t.Helper()
	var st string
	if err := svc.cfg.DB.QueryRow(context.Background(), `SELECT state FROM sagas WHERE order_id = ?`, id).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return State(st)
}

// current is what the service itself reads for id in a new transaction.
func current(t *testing.T, svc *Service, id string) State {
	t.Helper()
	var st State
	err := svc.cfg.DB.InTx(context.Background(), func(tx *store.Tx) error {
		sg, err := svc.loadSaga(context.Background(), tx, id)
		if err == nil {
			st = sg.State
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSagaCacheFollowsCommittedState(t *testing.T) {
	errAbort := errors.New("batch fails after its replies")
	tests := []struct {
		name string
		// batches of replies (by type) are applied in order, each in one
		// transaction; a batch whose fail is set rolls back after its replies.
		batches []struct {
			replies []string
			fail    bool
		}
		want State
	}{{
		name: "a committed reply is what the next transaction reads",
		batches: []struct {
			replies []string
			fail    bool
		}{{replies: []string{"StockReserved"}}},
		want: Authorizing,
	}, {
		name: "a rolled-back reply leaves the committed state",
		batches: []struct {
			replies []string
			fail    bool
		}{{replies: []string{"StockReserved"}}, {replies: []string{"PaymentAuthorized"}, fail: true}},
		want: Authorizing,
	}, {
		name: "a later reply in the same transaction sees the earlier one",
		batches: []struct {
			replies []string
			fail    bool
		}{{replies: []string{"StockReserved", "PaymentAuthorized"}}},
		want: Shipping,
	}, {
		name: "a finished saga is read from the table",
		batches: []struct {
			replies []string
			fail    bool
		}{{replies: []string{"StockReserved", "PaymentAuthorized"}}, {replies: []string{"ShipmentScheduled"}}},
		want: Completed,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			svc := newTestService(t)
			if svc.sagas == nil {
				t.Fatal("the service on SQLite must cache sagas")
			}
			resp, err := svc.CreateOrder(ctx, &orderv1.CreateOrderRequest{CustomerId: "c", Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			id := resp.GetOrderId()
			for _, b := range tt.batches {
				err := svc.cfg.DB.InTx(ctx, func(tx *store.Tx) error {
					for _, r := range b.replies {
						if err := svc.Handle(ctx, tx, reply(replyOf(r, id))); err != nil {
							return err
						}
					}
					if b.fail {
						return errAbort
					}
					return nil
				})
				if err != nil && !errors.Is(err, errAbort) {
					t.Fatal(err)
				}
			}
			if got, inTable := current(t, svc, id), stored(t, svc, id); got != tt.want || inTable != tt.want {
				t.Errorf("service reads %s, table holds %s, want %s", got, inTable, tt.want)
			}
			if _, cached := svc.sagas.committed[id]; cached == tt.want.Terminal() {
				t.Errorf("cached = %v for a saga in state %s", cached, tt.want)
			}
			if n := len(svc.sagas.pending); n != 0 {
				t.Errorf("%d transactions still pending in the cache", n)
			}
		})
	}
}
