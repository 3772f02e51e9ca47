package order

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
)

// countRows counts table's rows in every shard.
func countRows(t testing.TB, svc *Service, table string) int {
	t.Helper()
	total := 0
	for _, sh := range svc.shards {
		var n int
		if err := sh.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

func TestCreateOrderRequestIDMakesRetriesSafe(t *testing.T) {
	one := []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}
	two := []*orderv1.Item{{ProductId: "sku-1", Quantity: 2}}
	req := func(customer, requestID string, items []*orderv1.Item) *orderv1.CreateOrderRequest {
		return &orderv1.CreateOrderRequest{CustomerId: customer, RequestId: requestID, Items: items, ShippingAddress: "1 Main St"}
	}
	tests := []struct {
		name       string
		first      *orderv1.CreateOrderRequest
		second     *orderv1.CreateOrderRequest
		code       codes.Code // of the second call
		sameOrder  bool
		wantOrders int
	}{
		{"retry returns the first order", req("alice", "r1", one), req("alice", "r1", one), codes.OK, true, 1},
		{"explicit default currency is the same request", req("alice", "r1", one),
			&orderv1.CreateOrderRequest{CustomerId: "alice", RequestId: "r1", Items: one, ShippingAddress: "1 Main St", Currency: DefaultCurrency}, codes.OK, true, 1},
		{"no request_id creates two orders", req("alice", "", one), req("alice", "", one), codes.OK, false, 2},
		{"new request_id creates a new order", req("alice", "r1", one), req("alice", "r2", one), codes.OK, false, 2},
		{"keys are per customer", req("alice", "r1", one), req("bob", "r1", one), codes.OK, false, 2},
		{"reused for different items is refused", req("alice", "r1", one), req("alice", "r1", two), codes.InvalidArgument, false, 1},
		{"reused for another address is refused", req("alice", "r1", one),
			&orderv1.CreateOrderRequest{CustomerId: "alice", RequestId: "r1", Items: one, ShippingAddress: "2 Side St"}, codes.InvalidArgument, false, 1},
		{"over-long request_id is refused", req("alice", "r1", one), req("alice", strings.Repeat("x", MaxTextLen+1), one), codes.InvalidArgument, false, 1},
	}
	for _, shards := range []int{1, 3} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%d shards", tc.name, shards), func(t *testing.T) {
				svc := newShardedTestService(t, shards)
				ctx := context.Background()
				first, err := svc.CreateOrder(ctx, tc.first)
				if err != nil {
					t.Fatal(err)
				}
				second, err := svc.CreateOrder(ctx, tc.second)
				if got := status.Code(err); got != tc.code {
					t.Fatalf("second call: code %s (%v), want %s", got, err, tc.code)
				}
				if err != nil && !strings.Contains(err.Error(), "request_id") {
					t.Errorf("error %q does not name request_id", err)
				}
				if err == nil && (second.GetOrderId() == first.GetOrderId()) != tc.sameOrder {
					t.Errorf("orders %s and %s: same = %v, want %v", first.GetOrderId(), second.GetOrderId(), !tc.sameOrder, tc.sameOrder)
				}
				if n := countRows(t, svc, "sagas"); n != tc.wantOrders {
					t.Errorf("%d sagas stored, want %d", n, tc.wantOrders)
				}
				if n := countRows(t, svc, "order_events"); n != tc.wantOrders {
					t.Errorf("%d OrderCreated events stored, want %d", n, tc.wantOrders)
				}
			})
		}
	}
}

// Concurrent retries land in one group commit or in several; either way one
// order results and every caller is told its id.
func TestCreateOrderConcurrentRetriesCreateOneOrder(t *testing.T) {
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d shards", shards), func(t *testing.T) { retryConcurrently(t, newShardedTestService(t, shards)) })
	}
}

// retryConcurrently has 16 callers create the same order under one
// request_id at once, spread over the replicas, and checks that one order
// was stored and every caller was told its id.
func retryConcurrently(t *testing.T, replicas ...*Service) {
	t.Helper()
	const callers = 16
	ids := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := replicas[i%len(replicas)].CreateOrder(context.Background(), &orderv1.CreateOrderRequest{
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

// A key is honoured for RequestRetention and then forgotten: the pruner
// deletes it, and the same key places a new order. Younger keys stay.
func TestRequestIDsExpireAfterRetention(t *testing.T) {
	svc := newTestService(t)
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0)
	now := start
	svc.cfg.Now = func() time.Time { return now }
	svc.cfg.RequestRetention = 24 * time.Hour
	create := func(key string) string {
		t.Helper()
		resp, err := svc.CreateOrder(ctx, &orderv1.CreateOrderRequest{CustomerId: "alice", RequestId: key, Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetOrderId()
	}
	prune := func(at time.Duration) int64 {
		t.Helper()
		now = start.Add(at)
		n, err := svc.PruneRequests(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	old := create("old")
	now = start.Add(12 * time.Hour)
	young := create("young")
	if n := prune(24 * time.Hour); n != 0 {
		t.Errorf("at 24h pruned %d keys, want 0 (the oldest is exactly 24h old)", n)
	}
	if id := create("old"); id != old {
		t.Errorf("within retention the key placed order %s, want the first order %s", id, old)
	}
	if n := prune(25 * time.Hour); n != 1 {
		t.Errorf("at 25h pruned %d keys, want 1", n)
	}
	if id := create("young"); id != young {
		t.Errorf("the younger key placed order %s, want %s", id, young)
	}
	if id := create("old"); id == old {
		t.Errorf("after expiry the key still returned order %s, want a new order", old)
	}
}
