//go:build integration

package order

import (
	"context"
	"io/fs"
	"testing"

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
	retryConcurrently(t, replicas...)
}
