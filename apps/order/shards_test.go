package order

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// Every order lives in exactly the shard its id hashes to, from the create
// through its replies, a cancel and the timeout sweep; a reply applied in
// another shard's transaction is refused rather than half-applied.
func TestShardedServiceKeepsEachOrderInItsShard(t *testing.T) {
	const shards, orders = 3, 60
	svc := newShardedTestService(t, shards)
	ctx := context.Background()
	var ids []string
	for i := range orders {
		req := &orderv1.CreateOrderRequest{CustomerId: fmt.Sprintf("c%d", i%7), Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}}
		if i%2 == 0 {
			req.RequestId = fmt.Sprintf("r%d", i) // the id is drawn to match the key's shard
		}
		resp, err := svc.CreateOrder(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetOrderId())
	}
	perShard := make([]int, shards)
	for _, id := range ids {
		want := store.ShardOf(id, shards)
		perShard[want]++
		for s, sh := range svc.shards {
			var n int
			if err := sh.db.QueryRow(ctx, `SELECT COUNT(*) FROM sagas WHERE order_id = ?`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if (s == want) != (n == 1) {
				t.Errorf("order %s: %d sagas in shard %d, want it in shard %d only", id, n, s, want)
			}
		}
	}
	for s, n := range perShard {
		if n == 0 {
			t.Fatalf("no order in shard %d of %d: %v", s, shards, perShard)
		}
	}

	// Replies complete the first half; each is applied in its order's shard.
	for _, id := range ids[:orders/2] {
		for _, kind := range []string{"StockReserved", "PaymentAuthorized", "ShipmentScheduled"} {
			d := reply(replyOf(kind, id))
			if got, want := svc.ShardOf(d), store.ShardOf(id, shards); got != want {
				t.Fatalf("ShardOf(%s for %s) = %d, want %d", kind, id, got, want)
			}
			if err := svc.shards[svc.ShardOf(d)].db.InTx(ctx, func(tx *store.Tx) error { return svc.Handle(ctx, tx, d) }); err != nil {
				t.Fatal(err)
			}
		}
		o, err := svc.GetOrder(ctx, &orderv1.GetOrderRequest{OrderId: id})
		if err != nil {
			t.Fatal(err)
		}
		if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_COMPLETED {
			t.Errorf("order %s is %s after its replies, want completed", id, o.GetStatus())
		}
	}

	t.Run("a reply in another shard's transaction is refused", func(t *testing.T) {
		id := ids[orders/2]
		wrong := svc.shards[(store.ShardOf(id, shards)+1)%shards]
		err := wrong.db.InTx(ctx, func(tx *store.Tx) error { return svc.Handle(ctx, tx, reply(replyOf("StockReserved", id))) })
		if err == nil || !strings.Contains(err.Error(), "outside its shard") {
			t.Fatalf("Handle in the wrong shard: %v, want an error naming the shard routing", err)
		}
	})

	t.Run("cancel finds the order in its shard", func(t *testing.T) {
		o, err := svc.CancelOrder(ctx, &orderv1.CancelOrderRequest{OrderId: ids[orders/2], Reason: "changed my mind"})
		if err != nil {
			t.Fatal(err)
		}
		if o.GetStep() != string(Releasing) {
			t.Errorf("cancelled order is at step %s, want %s", o.GetStep(), Releasing)
		}
	})

	t.Run("the sweep covers every shard", func(t *testing.T) {
		later := time.Now().Add(time.Hour)
		svc.cfg.Now = func() time.Time { return later }
		defer func() { svc.cfg.Now = time.Now }()
		// Unfinished: the second half (one of them releasing its stock).
		n, err := svc.SweepTimeouts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := orders / 2; n != want {
			t.Errorf("swept %d timed-out sagas, want %d (the unfinished ones of all %d shards)", n, want, shards)
		}
	})
}

func TestCheckShardsRefusesAChangedLayoutOnceOrdersAreStored(t *testing.T) {
	ctx := context.Background()
	// fill places orders until every shard holds one.
	fill := func(t *testing.T, dbs []*store.DB) {
		t.Helper()
		svc := New(Config{Shards: dbs, Catalog: Catalog{"sku-1": 100}})
		for held := 0; held < len(dbs); {
			if _, err := svc.CreateOrder(ctx, &orderv1.CreateOrderRequest{
				CustomerId: "alice", Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}}); err != nil {
				t.Fatal(err)
			}
			held = 0
			for _, db := range dbs {
				if used, err := holdsOrders(ctx, db); err != nil {
					t.Fatal(err)
				} else if used {
					held++
				}
			}
		}
	}
	tests := []struct {
		name    string
		before  int  // shards the databases were first used with
		orders  bool // whether orders were stored then
		after   int  // shards asked for now
		wantErr string
	}{
		{"same layout again", 2, true, 2, ""},
		{"unsharded database from before sharding, same count", 0, true, 1, ""},
		{"empty databases may change their count", 2, false, 3, ""},
		{"orders stored with 1 shard, 2 asked for", 1, true, 2, "shard 0 of 1"},
		{"orders from before sharding, 2 asked for", 0, true, 2, "shard 0 of 1"},
		{"orders stored with 2 shards, 1 asked for", 2, true, 1, "set it back to 2"},
		{"orders stored with 2 shards, 3 asked for", 2, true, 3, "shard 0 of 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbs := openShards(t, t.TempDir(), max(tc.before, tc.after))
			if tc.before > 0 {
				if err := CheckShards(ctx, dbs[:tc.before]); err != nil {
					t.Fatal(err)
				}
			}
			if tc.orders {
				fill(t, dbs[:max(tc.before, 1)])
			}
			err := CheckShards(ctx, dbs[:tc.after])
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("CheckShards: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("CheckShards: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
