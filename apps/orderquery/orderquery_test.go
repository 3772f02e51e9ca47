package orderquery

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/gen/queryv1"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// Topics interleave arbitrarily, so every order of arrival must give the
// same row.
func TestProjectionDoesNotDependOnTopicInterleaving(t *testing.T) {
	evs := []proto.Message{
		&eventsv1.OrderCreated{OrderId: "o", CustomerId: "c", TotalCents: 7},
		&eventsv1.StockReserved{OrderId: "o"},
		&eventsv1.PaymentAuthorized{OrderId: "o"},
		&eventsv1.ShipmentScheduled{OrderId: "o"},
		&eventsv1.OrderCompleted{OrderId: "o"},
	}
	want := &queryv1.OrderView{OrderId: "o", CustomerId: "c", TotalCents: 7, Status: "completed", Stock: "reserved", Payment: "authorized", Shipment: "scheduled"}
	orders := [][]int{{0, 1, 2, 3, 4}, {1, 2, 3, 0, 4}, {4, 3, 2, 1, 0}, {2, 4, 0, 3, 1}}
	for _, order := range orders {
		ctx := context.Background()
		db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "q.db"))
		if err != nil {
			t.Fatal(err)
		}
		mig, _ := fs.Sub(Migrations, "migrations")
		if err := db.Migrate(ctx, mig); err != nil {
			t.Fatal(err)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			for _, i := range order {
				if err := Project(ctx, tx, evs[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Views(ctx, db)
		if err != nil || len(got) != 1 || !proto.Equal(got[0], want) {
			t.Errorf("arrival order %v: got %v (%v), want %v", order, got, err, want)
		}
		db.Close()
	}
}
