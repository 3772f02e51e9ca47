//go:build integration

package system_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/gen/queryv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/pgtest"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/system"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
	"github.com/ordermesh/ordermesh/apps/notification"
	"github.com/ordermesh/ordermesh/apps/order"
	"github.com/ordermesh/ordermesh/apps/orderquery"
	"github.com/ordermesh/ordermesh/apps/payment"
)

// backend says where each service's database lives.
type backend struct {
	name string
	pg   *pgtest.Server // set for the postgres backend
	n    *atomic.Int64
	// orderShards is how many files the order service's SQLite database
	// is split into (the benchmark's setup); PostgreSQL is never split.
	orderShards int
}

// dsn prepares fresh databases for one system and returns their DSNs.
func (b backend) dsn(t *testing.T) func(svc string) string {
	if b.pg == nil {
		dir := t.TempDir()
		return func(svc string) string { return dir + "/" + svc + ".db" }
	}
	prefix := fmt.Sprintf("s%d_", b.n.Add(1))
	for _, svc := range system.Names {
		b.pg.CreateDB(t, prefix+strings.ReplaceAll(svc, "-", "_"))
	}
	return func(svc string) string { return b.pg.DSN(prefix + strings.ReplaceAll(svc, "-", "_")) }
}

var catalog = order.Catalog{}

func init() {
	for _, p := range []string{"happy", "decline", "short", "dup", "crash", "poison", "cancel", "ship", "timeout"} {
		catalog["sku-"+p] = 1000
	}
	catalog["sku-pricey"] = 50_000
}

const stockEach = 1000

func stock() map[string]int64 {
	m := map[string]int64{}
	for p := range catalog {
		m[p] = stockEach
	}
	m["sku-short"] = 2
	return m
}

// harness is one running system with a gRPC front door.
type harness struct {
	t      *testing.T
	ctx    context.Context
	kafka  *system.Kafka
	sys    *system.System
	client orderv1.OrderServiceClient
	sink   *countingSink
}

type countingSink struct {
	mu   sync.Mutex
	sent map[string]int
}

func (s *countingSink) Send(_ context.Context, e notification.Email) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[e.OrderID]++
	return nil
}

func (s *countingSink) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[id]
}

type option func(*system.Config)

func start(t *testing.T, b backend, opts ...option) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	k, err := system.StartKafka(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	sink := &countingSink{sent: map[string]int{}}
	cfg := system.Config{
		Brokers: k.Brokers, DSN: b.dsn(t), Catalog: catalog, Stock: stock(), OrderShards: b.orderShards,
		Gateway:     paymentLimit(20_000),
		StepTimeout: 5 * time.Second, SweepInterval: 100 * time.Millisecond,
		Sink: sink,
	}
	for _, o := range opts {
		o(&cfg)
	}
	sys, err := system.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Stop(context.Background()); err != nil {
			t.Errorf("graceful stop: %v", err)
		}
	})
	return &harness{t: t, ctx: ctx, kafka: k, sys: sys, client: serve(t, sys, cfg.Tracer), sink: sink}
}

// serve exposes the order service over real gRPC on loopback.
func serve(t *testing.T, sys *system.System, tracer trace.Tracer) orderv1.OrderServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(telemetry.UnaryServerInterceptor("order", tracer, nil)))
	orderv1.RegisterOrderServiceServer(srv, orderAPI{sys: sys})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return orderv1.NewOrderServiceClient(conn)
}

// orderAPI forwards to the current order service (it is replaced when the
// test restarts the service).
type orderAPI struct {
	orderv1.UnimplementedOrderServiceServer
	sys *system.System
}

func (a orderAPI) CreateOrder(ctx context.Context, r *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	return a.sys.OrderService().CreateOrder(ctx, r)
}
func (a orderAPI) GetOrder(ctx context.Context, r *orderv1.GetOrderRequest) (*orderv1.Order, error) {
	return a.sys.OrderService().GetOrder(ctx, r)
}
func (a orderAPI) CancelOrder(ctx context.Context, r *orderv1.CancelOrderRequest) (*orderv1.Order, error) {
	return a.sys.OrderService().CancelOrder(ctx, r)
}

func (h *harness) place(customer, product string, qty int32, address string) string {
	h.t.Helper()
	resp, err := h.client.CreateOrder(h.ctx, &orderv1.CreateOrderRequest{
		CustomerId: customer, Items: []*orderv1.Item{{ProductId: product, Quantity: qty}}, ShippingAddress: address,
	})
	if err != nil {
		h.t.Fatalf("CreateOrder(%s x%d): %v", product, qty, err)
	}
	return resp.GetOrderId()
}

// await waits until every order is terminal and returns the final orders.
func (h *harness) await(ids []string, within time.Duration) map[string]*orderv1.Order {
	h.t.Helper()
	deadline := time.Now().Add(within)
	out := map[string]*orderv1.Order{}
	for {
		for _, id := range ids {
			if _, done := out[id]; done {
				continue
			}
			o, err := h.client.GetOrder(h.ctx, &orderv1.GetOrderRequest{OrderId: id})
			if err == nil && o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PENDING {
				out[id] = o
			}
		}
		if len(out) == len(ids) {
			return out
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d of %d orders reached a terminal state within %s", len(out), len(ids), within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) available(product string) int64 {
	h.t.Helper()
	n, err := h.sys.InventoryService().Available(h.ctx, product)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// count sums a COUNT query over the service's databases (the order
// service's shards).
func (h *harness) count(svc, q string, args ...any) int {
	h.t.Helper()
	total := 0
	for _, db := range h.sys.DBs(svc) {
		var n int
		if err := db.QueryRow(h.ctx, q, args...).Scan(&n); err != nil {
			h.t.Fatalf("%s: %s: %v", svc, q, err)
		}
		total += n
	}
	return total
}

// eventually polls cond until it holds.
func (h *harness) eventually(what string, within time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s did not happen within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOrderSystem(t *testing.T) {
	// Built once for both backends: the SIGKILL test runs them as processes.
	bins := t.TempDir()
	svcBins := serviceBinaries{order: buildService(t, bins, "order"), payment: buildService(t, bins, "payment")}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			b := backend{name: name, n: new(atomic.Int64), orderShards: 2}
			if name == "postgres" {
				b.orderShards = 1
				// Started by the test itself; a missing installation fails here.
				b.pg = pgtest.Start(t)
			}
			t.Run("sagas", func(t *testing.T) { testSagas(t, b) })
			t.Run("duplicate delivery of every event has no double effect", func(t *testing.T) { testDuplicates(t, b) })
			t.Run("services killed mid-saga lose and double-charge nothing", func(t *testing.T) { testCrash(t, b) })
			t.Run("order and payment processes SIGKILLed mid-saga lose and double-charge nothing", func(t *testing.T) { testSIGKILL(t, b, svcBins) })
			if b.pg != nil {
				t.Run("order shards are refused, naming the setting", func(t *testing.T) {
					sys, err := system.Start(context.Background(), system.Config{DSN: b.dsn(t), OrderShards: 2})
					if err == nil {
						sys.Stop(context.Background())
					}
					if err == nil || !strings.Contains(err.Error(), "OrderShards = 2: sharding is for SQLite only") {
						t.Fatalf("Start with 2 order shards on PostgreSQL: %v, want the setting named", err)
					}
				})
			}
		})
	}
}

func testSagas(t *testing.T, b backend) {
	h := start(t, b)

	t.Run("happy path completes and every service records it once", func(t *testing.T) {
		var ids []string
		for i := range 10 {
			ids = append(ids, h.place(fmt.Sprintf("c%d", i), "sku-happy", 2, "1 Main St"))
		}
		for id, o := range h.await(ids, time.Minute) {
			if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_COMPLETED || o.GetStep() != "completed" {
				t.Errorf("order %s: status %s step %s reason %q, want completed", id, o.GetStatus(), o.GetStep(), o.GetReason())
			}
			if got := h.sys.Gateway.Charged(id); got != 2000 {
				t.Errorf("order %s charged %d cents, want 2000", id, got)
			}
			if o.GetVersion() != 2 {
				t.Errorf("order %s has %d events, want OrderCreated + OrderCompleted", id, o.GetVersion())
			}
		}
		if got := h.available("sku-happy"); got != stockEach-20 {
			t.Errorf("sku-happy available = %d, want %d", got, stockEach-20)
		}
		if n := h.count(system.Shipping, `SELECT COUNT(*) FROM shipments`); n < 10 {
			t.Errorf("%d shipments, want at least 10", n)
		}
		h.eventually("confirmation e-mails", 30*time.Second, func() bool {
			for _, id := range ids {
				if h.sink.count(id) != 1 {
					return false
				}
			}
			return true
		})
	})

	t.Run("payment declined releases the stock", func(t *testing.T) {
		id := h.place("c-big", "sku-decline", 25, "1 Main St") // 25,000 cents > 20,000 limit
		o := h.await([]string{id}, time.Minute)[id]
		if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_REJECTED || !strings.Contains(o.GetReason(), "payment declined") {
			t.Fatalf("status %s reason %q, want rejected for a declined payment", o.GetStatus(), o.GetReason())
		}
		if got := h.available("sku-decline"); got != stockEach {
			t.Errorf("sku-decline available = %d, want all %d back", got, stockEach)
		}
		if got := h.sys.Gateway.Charged(id); got != 0 {
			t.Errorf("declined order charged %d", got)
		}
	})

	t.Run("out of stock rejects the order without charging", func(t *testing.T) {
		id := h.place("c-short", "sku-short", 3, "1 Main St") // only 2 in stock
		o := h.await([]string{id}, time.Minute)[id]
		if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_REJECTED || !strings.Contains(o.GetReason(), "out of stock") {
			t.Fatalf("status %s reason %q, want rejected out of stock", o.GetStatus(), o.GetReason())
		}
		if n := h.count(system.Payment, `SELECT COUNT(*) FROM payments WHERE order_id = ?`, id); n != 0 {
			t.Errorf("%d payment rows for an order never reserved", n)
		}
		if got := h.available("sku-short"); got != 2 {
			t.Errorf("sku-short available = %d, want 2 untouched", got)
		}
	})

	t.Run("failed shipment refunds and releases", func(t *testing.T) {
		id := h.place("c-ship", "sku-ship", 1, "UNDELIVERABLE island")
		o := h.await([]string{id}, time.Minute)[id]
		if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_REJECTED || !strings.Contains(o.GetReason(), "shipment failed") {
			t.Fatalf("status %s reason %q, want rejected by shipment", o.GetStatus(), o.GetReason())
		}
		if got := h.sys.Gateway.Charged(id); got != 0 {
			t.Errorf("refunded order still charged %d", got)
		}
		if got := h.available("sku-ship"); got != stockEach {
			t.Errorf("sku-ship available = %d, want %d", got, stockEach)
		}
	})

	t.Run("bad input is InvalidArgument and changes nothing", func(t *testing.T) {
		sagas := h.count(system.Order, `SELECT COUNT(*) FROM sagas`)
		many := make([]*orderv1.Item, order.MaxItems+1)
		for i := range many {
			many[i] = &orderv1.Item{ProductId: fmt.Sprintf("sku-%d", i), Quantity: 1}
		}
		for _, tc := range []struct {
			name string
			req  *orderv1.CreateOrderRequest
			want string
		}{
			{"missing items", &orderv1.CreateOrderRequest{CustomerId: "c"}, "items is empty"},
			{"negative quantity", &orderv1.CreateOrderRequest{CustomerId: "c", Items: []*orderv1.Item{{ProductId: "sku-happy", Quantity: -1}}}, "quantity = -1"},
			{"unknown product", &orderv1.CreateOrderRequest{CustomerId: "c", Items: []*orderv1.Item{{ProductId: "sku-nope", Quantity: 1}}}, `"sku-nope": unknown product`},
			{"too many items", &orderv1.CreateOrderRequest{CustomerId: "c", Items: many}, "items has 101 entries"},
			{"oversized customer id", &orderv1.CreateOrderRequest{CustomerId: strings.Repeat("x", 5000), Items: []*orderv1.Item{{ProductId: "sku-happy", Quantity: 1}}}, "customer_id is 5000 bytes"},
		} {
			_, err := h.client.CreateOrder(h.ctx, tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Errorf("%s: got %v, want InvalidArgument mentioning %q", tc.name, err, tc.want)
			}
		}
		if got := h.count(system.Order, `SELECT COUNT(*) FROM sagas`); got != sagas {
			t.Errorf("sagas went from %d to %d after rejected requests", sagas, got)
		}
	})

	t.Run("cancel before payment compensates", func(t *testing.T) {
		// The payment service is down, so the saga waits at authorisation.
		h.sys.Kill(system.Payment)
		id := h.place("c-cancel", "sku-cancel", 4, "1 Main St")
		h.eventually("stock reserved", 30*time.Second, func() bool { return h.available("sku-cancel") == stockEach-4 })
		if _, err := h.client.CancelOrder(h.ctx, &orderv1.CancelOrderRequest{OrderId: id, Reason: "changed my mind"}); err != nil {
			t.Fatalf("CancelOrder: %v", err)
		}
		if err := h.sys.Restart(h.ctx, system.Payment); err != nil {
			t.Fatal(err)
		}
		o := h.await([]string{id}, time.Minute)[id]
		if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CANCELLED {
			t.Fatalf("status %s reason %q, want cancelled", o.GetStatus(), o.GetReason())
		}
		if got := h.available("sku-cancel"); got != stockEach {
			t.Errorf("sku-cancel available = %d, want %d", got, stockEach)
		}
		if got := h.sys.Gateway.Charged(id); got != 0 {
			t.Errorf("cancelled order charged %d", got)
		}
		_, err := h.client.CancelOrder(h.ctx, &orderv1.CancelOrderRequest{OrderId: id})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("second cancel: %v, want FailedPrecondition", err)
		}
	})

	t.Run("a step that times out is compensated", func(t *testing.T) {
		h.sys.Kill(system.Payment) // authorisation never answers
		id := h.place("c-timeout", "sku-timeout", 3, "1 Main St")
		h.eventually("the authorisation step to time out (5s)", time.Minute, func() bool {
			var st, reason string
			for _, db := range h.sys.DBs(system.Order) {
				db.QueryRow(h.ctx, `SELECT state, reason FROM sagas WHERE order_id = ?`, id).Scan(&st, &reason)
			}
			return st == "refunding" && reason == "timed out authorising payment"
		})
		// The payment service comes back and sees AuthorizePayment, then
		// RefundPayment (same partition, in order): whatever it charged is
		// refunded, and the saga releases the stock.
		if err := h.sys.Restart(h.ctx, system.Payment); err != nil {
			t.Fatal(err)
		}
		o := h.await([]string{id}, time.Minute)[id]
		if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_REJECTED || o.GetReason() != "timed out authorising payment" {
			t.Fatalf("status %s reason %q, want rejected after the payment step timed out", o.GetStatus(), o.GetReason())
		}
		if got := h.available("sku-timeout"); got != stockEach {
			t.Errorf("sku-timeout available = %d, want %d released", got, stockEach)
		}
		if got := h.sys.Gateway.Charged(id); got != 0 {
			t.Errorf("timed-out order charged %d", got)
		}
	})

	t.Run("poison messages go to the dead-letter topic", func(t *testing.T) {
		w := kafkaWriter(h)
		// Undecodable bytes, and a well-formed event the payment handler
		// cannot apply (retried with backoff, then dead-lettered).
		wrong, err := events.New(&eventsv1.StockReserved{OrderId: "x"}, events.Meta{AggregateID: "x"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		wrongRaw, _ := proto.Marshal(wrong)
		if err := w.WriteMessages(h.ctx,
			kafka.Message{Topic: topics.InventoryCommands, Key: []byte("poison-1"), Value: []byte("\xff\xfenot protobuf")},
			kafka.Message{Topic: topics.PaymentCommands, Key: []byte("poison-2"), Value: wrongRaw},
		); err != nil {
			t.Fatal(err)
		}
		got := readDLQ(t, h, 2)
		for _, want := range []struct{ key, topic, group string }{
			{"poison-1", topics.InventoryCommands, system.Inventory},
			{"poison-2", topics.PaymentCommands, system.Payment},
		} {
			m, ok := got[want.key]
			if !ok {
				t.Errorf("no dead letter for %s", want.key)
				continue
			}
			if m.Topic != want.topic+".dlq" || hdr(m, eventbus.HeaderDLQTopic) != want.topic || hdr(m, eventbus.HeaderDLQGroup) != want.group || hdr(m, eventbus.HeaderDLQError) == "" {
				t.Errorf("dead letter %s headers: %v", want.key, m.Headers)
			}
		}
		// The consumers moved past the poison: new orders still complete.
		id := h.place("c-after-poison", "sku-poison", 1, "1 Main St")
		if o := h.await([]string{id}, time.Minute)[id]; o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_COMPLETED {
			t.Fatalf("order after poison: %s %q", o.GetStatus(), o.GetReason())
		}
	})

	t.Run("read model rebuilt by replay equals the live one", func(t *testing.T) {
		assertRebuildMatches(t, h, b)
	})
}

func paymentLimit(cents int64) payment.GatewayConfig {
	return payment.GatewayConfig{DeclineAboveCents: cents}
}

func hdr(m kafka.Message, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

func kafkaWriter(h *harness) *kafka.Writer {
	w := eventbus.NewWriter(h.kafka.Brokers)
	h.t.Cleanup(func() { w.Close() })
	return w
}

// readDLQ reads the dead-letter topic until n messages arrived, by key.
func readDLQ(t *testing.T, h *harness, n int) map[string]kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: h.kafka.Brokers, GroupID: "test-dlq-reader",
		GroupTopics: []string{topics.DeadLetter(topics.InventoryCommands), topics.DeadLetter(topics.PaymentCommands)},
		StartOffset: kafka.FirstOffset, MaxWait: time.Second, JoinGroupBackoff: 200 * time.Millisecond})
	defer r.Close()
	out := map[string]kafka.Message{}
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading the dead-letter topic: %v (got %d of %d)", err, len(out), n)
		}
		out[string(m.Key)] = m
	}
	return out
}

// assertRebuildMatches waits until every saga has ended, replays all topics
// from offset zero into a fresh database, and requires the live read model
// to equal the rebuilt one (the live consumer may still be applying the last
// events of some topics, so it gets a little time to converge).
func assertRebuildMatches(t *testing.T, h *harness, b backend) {
	t.Helper()
	var ids []string
	for _, db := range h.sys.DBs(system.Order) {
		rows, err := db.Query(h.ctx, `SELECT order_id FROM sagas`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
	}
	h.await(ids, time.Minute)
	target, err := store.Open(h.ctx, b.dsn(t)(system.OrderQuery))
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := target.Migrate(h.ctx, system.Migrations(system.OrderQuery)); err != nil {
		t.Fatal(err)
	}
	n, err := orderquery.Rebuild(h.ctx, h.kafka.Brokers, target)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt, err := orderquery.Views(h.ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || len(rebuilt) != len(ids) {
		t.Fatalf("replayed %d events into %d rows for %d orders", n, len(rebuilt), len(ids))
	}
	var live []*queryv1.OrderView
	equal := func() bool {
		live, err = orderquery.Views(h.ctx, h.sys.DB(system.OrderQuery))
		return err == nil && slices.EqualFunc(live, rebuilt, func(a, b *queryv1.OrderView) bool { return proto.Equal(a, b) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for !equal() {
		if time.Now().After(deadline) {
			t.Fatalf("live read model never matched the rebuilt one:\nlive    %v\nrebuilt %v", live, rebuilt)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testDuplicates(t *testing.T, b backend) {
	h := start(t, b, func(c *system.Config) {
		c.Writer = func(brokers []string) outbox.Writer { return doubler{eventbus.NewWriter(brokers)} }
	})
	var ids []string
	for i := range 8 {
		ids = append(ids, h.place(fmt.Sprintf("d%d", i), "sku-dup", 1, "1 Main St"))
	}
	declined := h.place("d-big", "sku-pricey", 1, "1 Main St")
	final := h.await(append(ids, declined), time.Minute)
	for _, id := range ids {
		if o := final[id]; o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_COMPLETED || o.GetVersion() != 2 {
			t.Errorf("order %s: %s with %d events, want completed with 2", id, o.GetStatus(), o.GetVersion())
		}
		if got := h.sys.Gateway.Charged(id); got != 1000 {
			t.Errorf("order %s charged %d, want 1000 once", id, got)
		}
	}
	if o := final[declined]; o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_REJECTED || o.GetVersion() != 2 {
		t.Errorf("declined order: %s with %d events", o.GetStatus(), o.GetVersion())
	}
	if got := h.available("sku-dup"); got != stockEach-8 {
		t.Errorf("sku-dup available = %d, want %d (each reservation once)", got, stockEach-8)
	}
	if got := h.available("sku-pricey"); got != stockEach {
		t.Errorf("sku-pricey available = %d, want %d (released once)", got, stockEach)
	}
	if n := h.count(system.Shipping, `SELECT COUNT(*) FROM shipments`); n != 8 {
		t.Errorf("%d shipments, want 8", n)
	}
	if n := h.sys.Gateway.Authorizations(); n != 8 {
		t.Errorf("gateway made %d authorisations, want 8", n)
	}
	if n := h.count(system.Inventory, `SELECT COUNT(*) FROM processed_events`); n == 0 {
		t.Error("inventory recorded no processed events")
	}
	h.eventually("one e-mail per completed order", 30*time.Second, func() bool {
		for _, id := range ids {
			if h.sink.count(id) != 1 {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond) // a second e-mail would show up now
	for _, id := range ids {
		if n := h.sink.count(id); n != 1 {
			t.Errorf("order %s: %d e-mails, want 1", id, n)
		}
	}
	assertRebuildMatches(t, h, b)
}

// doubler publishes every message twice: duplicate delivery of every event.
type doubler struct{ w *kafka.Writer }

func (d doubler) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	twice := make([]kafka.Message, 0, 2*len(msgs))
	for _, m := range msgs {
		twice = append(twice, m, m)
	}
	return d.w.WriteMessages(ctx, twice...)
}

func (d doubler) Close() error { return d.w.Close() }

func testCrash(t *testing.T, b backend) {
	h := start(t, b, func(c *system.Config) {
		c.Gateway.Latency = 2 * time.Millisecond
		c.StepTimeout = 3 * time.Second
	})
	// Orders keep arriving from four clients while services are killed and
	// restarted underneath them, so kills land in the middle of batches.
	const clients, perClient = 4, 20
	placed := placeOrders(h.ctx, t, h.client, "k", clients, perClient, 5*time.Millisecond, nil)
	restart := func(name string) {
		if err := h.sys.Restart(h.ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	pause := func() { time.Sleep(80 * time.Millisecond) }
	pause()
	h.sys.Kill(system.Payment)
	pause()
	h.sys.Kill(system.Order)
	restart(system.Order)
	pause()
	restart(system.Payment)
	h.sys.Kill(system.Inventory)
	pause()
	restart(system.Inventory)
	h.sys.Kill(system.Shipping)
	h.sys.Kill(system.Order)
	restart(system.Order)
	pause()
	restart(system.Shipping)
	h.sys.Kill(system.OrderQuery)
	restart(system.OrderQuery)
	ids := placed()
	n := len(ids)
	if n != clients*perClient {
		t.Fatalf("placed %d of %d orders", n, clients*perClient)
	}
	final := h.await(ids, 2*time.Minute)
	completed := assertCharges(t, ids, func(id string) (orderv1.OrderStatus, string) { return final[id].GetStatus(), final[id].GetReason() },
		h.sys.Gateway.Charged, func(id string) int {
			return h.count(system.Payment, `SELECT COUNT(*) FROM payments WHERE order_id = ?`, id)
		})
	if got, want := h.available("sku-crash"), int64(stockEach-completed); got != want {
		t.Errorf("sku-crash available = %d, want %d (one unit per completed order)", got, want)
	}
	if got := h.count(system.Order, `SELECT COUNT(*) FROM sagas`); got != n {
		t.Errorf("order database holds %d orders, the clients placed %d (a retried create placed twice?)", got, n)
	}
	t.Logf("%d of %d orders completed, the rest compensated", completed, n)
	assertRebuildMatches(t, h, b) // order-query was killed too
}

// One order is one trace: the API call's span is the ancestor of every
// consumer span of every hop, across all services and Kafka.
func TestOneTracePerOrderFromAPICallToCompletion(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	metrics := telemetry.NewMetrics(prometheus.NewRegistry())
	h := start(t, backend{name: "sqlite", n: new(atomic.Int64), orderShards: 2}, func(c *system.Config) { c.Tracer, c.Metrics = tp.Tracer("test"), metrics })
	id := h.place("traced", "sku-happy", 1, "1 Main St")
	h.await([]string{id}, time.Minute)
	if got := testutil.ToFloat64(metrics.SagaOutcomes.WithLabelValues("completed")); got != 1 {
		t.Errorf("ordermesh_saga_outcomes_total{outcome=completed} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(metrics.OrdersCreated); got != 1 {
		t.Errorf("ordermesh_orders_created_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(metrics.Messages.WithLabelValues(system.Inventory, "ordermesh.events.v1.ReserveStock", "ok")); got != 1 {
		t.Errorf("inventory ReserveStock messages ok = %v, want 1", got)
	}
	want := []string{
		"ReserveStock", "StockReserved", "AuthorizePayment", "PaymentAuthorized",
		"ScheduleShipment", "ShipmentScheduled", "OrderCreated", "OrderCompleted",
	}
	var root trace.TraceID
	h.eventually("consumer spans of every hop", 30*time.Second, func() bool {
		seen := map[string]bool{}
		for _, s := range exp.GetSpans() {
			if s.Name == "/ordermesh.order.v1.OrderService/CreateOrder" {
				root = s.SpanContext.TraceID()
			}
			for _, a := range s.Attributes {
				if a.Key == "ordermesh.aggregate_id" && a.Value.AsString() == id {
					seen[strings.TrimPrefix(s.Name, "consume ordermesh.events.v1.")] = true
				}
			}
		}
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return root.IsValid()
	})
	for _, s := range exp.GetSpans() {
		for _, a := range s.Attributes {
			if a.Key == "ordermesh.aggregate_id" && a.Value.AsString() == id && s.SpanContext.TraceID() != root {
				t.Errorf("span %q is in trace %s, want the API call's trace %s", s.Name, s.SpanContext.TraceID(), root)
			}
		}
	}
}

// placeOrders has clients goroutines each place up to perClient one-unit
// orders of sku-crash, gap apart, until stop is closed (nil: never),
// retrying while the order service restarts. The returned function waits
// for them and returns the ids of the placed orders.
func placeOrders(ctx context.Context, t *testing.T, client orderv1.OrderServiceClient, prefix string, clients, perClient int, gap time.Duration, stop <-chan struct{}) func() []string {
	var (
		mu      sync.Mutex
		ids     []string
		wg      sync.WaitGroup
		retries atomic.Int64
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				select {
				case <-stop:
					return
				default:
				}
				// A retry repeats the request_id: a create that committed
				// before its answer was lost (the service killed between the
				// two) is answered with that order instead of a second one.
				req := &orderv1.CreateOrderRequest{
					CustomerId: fmt.Sprintf("%s%d-%d", prefix, c, i), ShippingAddress: "1 Main St",
					Items:     []*orderv1.Item{{ProductId: "sku-crash", Quantity: 1}},
					RequestId: fmt.Sprintf("%s-%d-%d", prefix, c, i),
				}
				for try := 0; ; try++ {
					cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					resp, err := client.CreateOrder(cctx, req)
					cancel()
					if err == nil {
						mu.Lock()
						ids = append(ids, resp.GetOrderId())
						mu.Unlock()
						break
					}
					retries.Add(1)
					if try == 200 {
						t.Errorf("CreateOrder kept failing: %v", err)
						return
					}
					time.Sleep(25 * time.Millisecond) // the order service is restarting
				}
				time.Sleep(gap)
			}
		}()
	}
	return func() []string {
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		t.Logf("placed %d orders; %d CreateOrder calls failed and were retried under their request_id", len(ids), retries.Load())
		return ids
	}
}

// assertCharges checks each crash-test order (one unit of sku-crash, 1000
// cents): it ended, a completed one is charged 1000 and a rejected one
// nothing, and it has at most one payment row. It returns how many completed.
func assertCharges(t *testing.T, ids []string, status func(id string) (orderv1.OrderStatus, string), charged func(id string) int64, paymentRows func(id string) int) int {
	t.Helper()
	var completed int
	for _, id := range ids {
		st, reason := status(id)
		cents := charged(id)
		switch st {
		case orderv1.OrderStatus_ORDER_STATUS_COMPLETED:
			completed++
			if cents != 1000 {
				t.Errorf("completed order %s charged %d, want 1000", id, cents)
			}
		case orderv1.OrderStatus_ORDER_STATUS_REJECTED:
			if cents != 0 {
				t.Errorf("rejected order %s (%s) charged %d, want 0", id, reason, cents)
			}
		default:
			t.Errorf("order %s ended %s", id, st)
		}
		if n := paymentRows(id); n > 1 {
			t.Errorf("order %s has %d payment rows", id, n)
		}
	}
	if completed == 0 {
		t.Error("no order completed")
	}
	return completed
}
