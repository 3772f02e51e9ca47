package inventory

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

func TestReserveTakesAllItemsOrNone(t *testing.T) {
	tests := []struct {
		name       string
		items      []*eventsv1.LineItem
		wantStatus string
		want       map[string]int64
	}{
		{
			name:       "all in stock: every item is taken",
			items:      []*eventsv1.LineItem{{ProductId: "a", Quantity: 2}, {ProductId: "b", Quantity: 1}},
			wantStatus: Reserved,
			want:       map[string]int64{"a": 3, "b": 0, "c": 5},
		},
		{
			name: "last item short: the items taken before it are given back",
			items: []*eventsv1.LineItem{
				{ProductId: "a", Quantity: 2}, {ProductId: "c", Quantity: 4}, {ProductId: "b", Quantity: 2},
			},
			wantStatus: Refused,
			want:       map[string]int64{"a": 5, "b": 1, "c": 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "inventory.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			mig, err := fs.Sub(Migrations, "migrations")
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, mig); err != nil {
				t.Fatal(err)
			}
			s := &Service{DB: db}
			if err := s.SetStock(ctx, map[string]int64{"a": 5, "b": 1, "c": 5}); err != nil {
				t.Fatal(err)
			}
			d := eventbus.Delivery{Env: &eventsv1.Envelope{Id: "e1", AggregateId: "o1"}, Payload: &eventsv1.ReserveStock{OrderId: "o1", Items: tt.items}}
			if err := db.InTx(ctx, func(tx *store.Tx) error { return s.Handle(ctx, tx, d) }); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			var status string
			if err := db.QueryRow(ctx, `SELECT status FROM reservations WHERE order_id = ?`, "o1").Scan(&status); err != nil {
				t.Fatal(err)
			}
			if status != tt.wantStatus {
				t.Errorf("reservation status = %q, want %q", status, tt.wantStatus)
			}
			for p, want := range tt.want {
				if got, err := s.Available(ctx, p); err != nil || got != want {
					t.Errorf("available %s = %d (err %v), want %d", p, got, err, want)
				}
			}
		})
	}
}
