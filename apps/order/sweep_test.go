package order

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// The sweeper compensates or resends exactly the unfinished sagas whose step
// deadline has passed: not a finished saga (its last deadline passes too),
// not one whose current step is still within its timeout.
func TestSweepTimeoutsTakesOnlyUnfinishedSagasPastTheirDeadline(t *testing.T) {
	ctx := context.Background()
	svc := newTestService(t)
	start := time.Unix(1_700_000_000, 0)
	now := start
	svc.cfg.Now = func() time.Time { return now }
	svc.cfg.StepTimeout = 10 * time.Second

	create := func() string {
		t.Helper()
		resp, err := svc.CreateOrder(ctx, &orderv1.CreateOrderRequest{CustomerId: "c", Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetOrderId()
	}
	handle := func(id string, replies ...string) {
		t.Helper()
		for _, r := range replies {
			if err := svc.cfg.DB.InTx(ctx, func(tx *store.Tx) error { return svc.Handle(ctx, tx, reply(replyOf(r, id))) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	sweep := func(at time.Duration) int {
		t.Helper()
		now = start.Add(at)
		n, err := svc.SweepTimeouts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	var plan, detail string
	rows, err := svc.cfg.DB.Query(ctx, "EXPLAIN QUERY PLAN "+sweepQuery, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + "; "
	}
	rows.Close()
	if !strings.Contains(plan, "USING INDEX sagas_unfinished (started_at<?)") {
		t.Errorf("sweep query plan: %s; want a range on sagas_unfinished", plan)
	}

	stuck, slow, done := create(), create(), create()
	handle(done, "StockReserved", "PaymentAuthorized", "ShipmentScheduled")
	now = start.Add(8 * time.Second)
	handle(slow, "StockReserved") // its payment step times out at 18s

	if n := sweep(9 * time.Second); n != 0 {
		t.Errorf("at 9s swept %d sagas, want 0", n)
	}
	if n := sweep(11 * time.Second); n != 1 {
		t.Errorf("at 11s swept %d sagas, want 1 (the one stuck reserving)", n)
	}
	if got := stored(t, svc, stuck); got != Releasing {
		t.Errorf("stuck saga is %s, want %s", got, Releasing)
	}
	if n := sweep(19 * time.Second); n != 1 {
		t.Errorf("at 19s swept %d sagas, want 1 (the one stuck authorising)", n)
	}
	for id, want := range map[string]State{stuck: Releasing, slow: Refunding, done: Completed} {
		if got := stored(t, svc, id); got != want {
			t.Errorf("saga %s is %s, want %s", id, got, want)
		}
	}
	// The release sent at 11s times out at 21s and is sent again.
	if n := sweep(22 * time.Second); n != 1 {
		t.Errorf("at 22s swept %d sagas, want 1 (the release, resent)", n)
	}
}

// Migration 00004 marks the sagas that had already ended as finished, so the
// sweeper never takes them, and leaves the running ones to it.
func TestMigrationsBackfillExistingRows(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "order.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mig, err := fs.Sub(Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	postgresOnly, err := fs.Glob(mig, "*.postgres.sql")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.SQL(), mig, goose.WithDisableGlobalRegistry(true), goose.WithExcludeNames(postgresOnly))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	states := map[string]State{"o1": Completed, "o2": Rejected, "o3": Cancelled, "o4": Authorizing, "o5": Releasing}
	for id, st := range states {
		if _, err := db.Exec(ctx, `INSERT INTO sagas (`+sagaColumns+`) VALUES (?, ?, '', '', 0, 'c', 'EUR', '', 100, x'', '', 0, 0)`, id, string(st)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `INSERT INTO create_requests (customer_id, request_id, order_id, fingerprint) VALUES ('c', 'r', 'o1', x'00')`); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	// Migration 00006: keys claimed before it count from the upgrade.
	var claimed int64
	if err := db.QueryRow(ctx, `SELECT created_at FROM create_requests`).Scan(&claimed); err != nil || time.Unix(0, claimed).Before(before) {
		t.Errorf("existing request_id: created_at %v (%v), want the migration's time", time.Unix(0, claimed), err)
	}
	for id, st := range states {
		var finished int
		if err := db.QueryRow(ctx, `SELECT finished FROM sagas WHERE order_id = ?`, id).Scan(&finished); err != nil {
			t.Fatal(err)
		}
		if want := boolInt(st.Terminal()); int64(finished) != want {
			t.Errorf("saga in state %s: finished = %d, want %d", st, finished, want)
		}
	}
}
