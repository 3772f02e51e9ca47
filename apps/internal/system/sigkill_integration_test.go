//go:build integration

package system_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/system"
	"github.com/ordermesh/ordermesh/apps/payment"
)

// serviceProcess is one service binary run as its own process, so that a
// crash is a real SIGKILL: no deferred code, no graceful anything, the
// database and Kafka connections dropped by the kernel.
type serviceProcess struct {
	t        *testing.T
	name     string
	bin      string
	env      []string
	grpcAddr string
	httpAddr string
	logPath  string
	cmd      *exec.Cmd
	starts   int
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func buildService(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ordermesh/ordermesh/apps/cmd/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}

func newServiceProcess(t *testing.T, bin, name string, env ...string) *serviceProcess {
	p := &serviceProcess{t: t, name: name, bin: bin, grpcAddr: freeAddr(t), httpAddr: freeAddr(t),
		logPath: filepath.Join(t.TempDir(), name+".log")}
	p.env = append(os.Environ(), "ORDERMESH_GRPC_ADDR="+p.grpcAddr, "ORDERMESH_HTTP_ADDR="+p.httpAddr, "ORDERMESH_SHUTDOWN_TIMEOUT=10s")
	p.env = append(p.env, env...)
	t.Cleanup(func() {
		if p.cmd != nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			if b, err := os.ReadFile(p.logPath); err == nil {
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("%s log (last lines):\n%s", name, strings.Join(lines[max(0, len(lines)-60):], "\n"))
			}
		}
	})
	return p
}

// start runs the process and waits until it reports ready.
func (p *serviceProcess) start() {
	p.t.Helper()
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer log.Close()
	p.cmd = exec.Command(p.bin)
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = p.env, log, log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	p.starts++
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s (start %d) not ready within 30s: %v", p.name, p.starts, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape returns the process's /metrics page.
func (p *serviceProcess) scrape() string {
	p.t.Helper()
	resp, err := http.Get("http://" + p.httpAddr + "/metrics")
	if err != nil {
		p.t.Fatalf("%s /metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		p.t.Fatalf("%s /metrics: status %d, %v", p.name, resp.StatusCode, err)
	}
	return string(body)
}

// kill sends SIGKILL and reaps the process.
func (p *serviceProcess) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("%s: SIGKILL: %v", p.name, err)
	}
	err := p.cmd.Wait()
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("%s did not die of SIGKILL: %v", p.name, err)
	}
	p.cmd = nil
}

// stop ends the process gracefully (SIGTERM) and expects a clean exit.
func (p *serviceProcess) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		p.t.Errorf("%s: graceful stop: %v", p.name, err)
	}
	p.cmd = nil
}

// testSIGKILL runs the order orchestrator and the payment service as their
// own processes (the rest of the system in-process) and kills them with
// SIGKILL, repeatedly, while orders keep arriving.
// serviceBinaries are the service executables the SIGKILL test runs.
type serviceBinaries struct{ order, payment string }

func testSIGKILL(t *testing.T, b backend, bins serviceBinaries) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	k, err := system.StartKafka(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	dsn := b.dsn(t)
	sys, err := system.Start(ctx, system.Config{
		Brokers: k.Brokers, DSN: dsn, Stock: stock(), StepTimeout: 20 * time.Second, SweepInterval: 100 * time.Millisecond,
		External: []string{system.Order, system.Payment},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.Stop(context.Background()) })
	brokers := "ORDERMESH_KAFKA_BROKERS=" + strings.Join(k.Brokers, ",")
	shards := max(b.orderShards, 1)
	orderProc := newServiceProcess(t, bins.order, system.Order, brokers, "ORDERMESH_DATABASE_URL="+dsn(system.Order),
		"ORDERMESH_CATALOG=sku-crash=1000", "ORDERMESH_STEP_TIMEOUT=20s", fmt.Sprintf("ORDERMESH_ORDER_SHARDS=%d", shards))
	paymentProc := newServiceProcess(t, bins.payment, system.Payment, brokers, "ORDERMESH_DATABASE_URL="+dsn(system.Payment),
		"ORDERMESH_GATEWAY_LATENCY=2ms")
	orderProc.start()
	paymentProc.start()

	conn, err := grpc.NewClient(orderProc.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := orderv1.NewOrderServiceClient(conn)

	const clients, perClient = 4, 300
	stopOrdering := make(chan struct{})
	placed := placeOrders(ctx, t, client, "p", clients, perClient, 50*time.Millisecond, stopOrdering)
	// Each kill waits until the previous crash is recovered from: the group
	// back to one member owning every partition. (kfake keeps a member that
	// dies while its group is still rebalancing, with the partitions it was
	// assigned, where a real broker expires it after the session timeout;
	// see apps/README.md.) Orders keep flowing throughout, so every kill
	// still lands mid-saga.
	settle := func() {
		awaitSoleMember(t, k.Brokers, system.Order, sessionExpiry)
		awaitSoleMember(t, k.Brokers, system.Payment, sessionExpiry)
		time.Sleep(300 * time.Millisecond)
	}
	settle()
	paymentProc.kill()
	paymentProc.start()
	settle()
	orderProc.kill()
	orderProc.start()
	settle()
	orderProc.kill()
	paymentProc.kill()
	paymentProc.start()
	orderProc.start()
	close(stopOrdering)
	ids := placed()
	settle() // a group stuck with a dead member fails here, with its state logged
	if len(ids) < clients*10 {
		t.Fatalf("placed only %d orders while the processes were killed", len(ids))
	}

	final := map[string]orderv1.OrderStatus{}
	reasons := map[string]int{}
	deadline := time.Now().Add(2 * time.Minute)
	for len(final) < len(ids) {
		for _, id := range ids {
			if _, done := final[id]; done {
				continue
			}
			o, err := client.GetOrder(ctx, &orderv1.GetOrderRequest{OrderId: id})
			if err == nil && o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PENDING {
				final[id] = o.GetStatus()
				if o.GetReason() != "" {
					reasons[o.GetReason()]++
				}
			}
		}
		if time.Now().After(deadline) {
			for _, g := range []string{system.Order, system.Payment, system.Inventory, system.Shipping} {
				logGroup(t, k.Brokers, g)
			}
			t.Fatalf("%d of %d orders reached a terminal state within 2m (reasons %v)", len(final), len(ids), reasons)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The process exports its own metrics and its connection pool's.
	body := orderProc.scrape()
	wants := []string{`go_sql_max_open_connections{db_name="order"}`, `go_sql_wait_duration_seconds_total{db_name="order"}`, "ordermesh_orders_created_total"}
	for i := 1; i < shards; i++ {
		wants = append(wants, fmt.Sprintf(`go_sql_wait_duration_seconds_total{db_name="order-%d"}`, i))
	}
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("order process /metrics has no %s", want)
		}
	}
	orderProc.stop()
	paymentProc.stop()

	var orders []*store.DB
	for i := range shards {
		db, err := store.Open(ctx, store.ShardPath(dsn(system.Order), i))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		orders = append(orders, db)
	}
	payments, err := store.Open(ctx, dsn(system.Payment))
	if err != nil {
		t.Fatal(err)
	}
	defer payments.Close()
	count := func(db *store.DB, q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	countOrders := func(q string, args ...any) int {
		t.Helper()
		total := 0
		for _, db := range orders {
			total += count(db, q, args...)
		}
		return total
	}
	completed := assertCharges(t, ids, func(id string) (orderv1.OrderStatus, string) { return final[id], "" },
		func(id string) int64 {
			return int64(count(payments, `SELECT COALESCE(SUM(amount_cents), 0) FROM payments WHERE order_id = ? AND status = ?`, id, payment.Authorized))
		},
		func(id string) int { return count(payments, `SELECT COUNT(*) FROM payments WHERE order_id = ?`, id) })
	// Every stored order is one a client was told about: a create whose
	// answer the kill cut off was retried under its request_id, not placed
	// twice (its stock would be taken by an order nobody knows of).
	if n := countOrders(`SELECT COUNT(*) FROM sagas`); n != len(ids) {
		t.Errorf("order database holds %d orders, the clients placed %d", n, len(ids))
	}
	for _, id := range ids {
		// The event stream holds OrderCreated and exactly one ending.
		if n := countOrders(`SELECT COUNT(*) FROM order_events WHERE order_id = ?`, id); n != 2 {
			t.Errorf("order %s has %d events, want 2 (created, one ending)", id, n)
		}
	}
	n, err := sys.InventoryService().Available(ctx, "sku-crash")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(stockEach - completed); n != want {
		t.Errorf("sku-crash available = %d, want %d (one unit per completed order)", n, want)
	}
	t.Logf("%d of %d orders completed, the rest compensated (reasons %v); order process started %d times, payment %d", completed, len(ids), reasons, orderProc.starts, paymentProc.starts)
}
