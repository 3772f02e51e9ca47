//go:build integration

package order

import (
	"context"
	"io/fs"
	"sync"
	"testing"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/pgtest"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// Two replicas of the order service on one PostgreSQL database, retrying
// the same create at once: the second claim of the key waits for the first
// transaction and then answers with its order.
func TestPostgresReplicasRetryingOneCreatePlaceOneOrder(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	pg.CreateDB(t, "orders")
	mig, err := fs.Sub(Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var replicas []*Service
	for range 2 {
		db, err := store.Open(ctx, pg.DSN("orders"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx, mig); err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, New(Config{DB: db, Catalog: Catalog{"sku-1": 100}}))
	}
	const callers = 16
	ids := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := replicas[i%2].CreateOrder(ctx, &orderv1.CreateOrderRequest{
				CustomerId: "alice", RequestId: "same", Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}},
			})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = resp.GetOrderId()
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Errorf("caller %d got order %s, caller 0 got %s", i, id, ids[0])
		}
	}
	if n := countRows(t, replicas[0], "sagas"); n != 1 {
		t.Errorf("%d sagas stored, want 1", n)
	}
}
