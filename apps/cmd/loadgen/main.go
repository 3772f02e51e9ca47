// Command loadgen drives N orders at a given rate against an order API over
// gRPC, follows each order to a terminal state (polling GetOrder) and
// reports throughput and latency percentiles. Latency resolution is the
// poll interval.
//
//	go run ./apps/cmd/loadgen -addr 127.0.0.1:50051 -orders 1000 -rate 200
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/load"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "order API address")
	n := flag.Int("orders", 1000, "orders to place")
	rate := flag.Float64("rate", 100, "orders per second (0: as fast as -concurrency allows)")
	concurrency := flag.Int("concurrency", 32, "concurrent CreateOrder callers")
	product := flag.String("product", "sku-1", "product to order")
	poll := flag.Duration("poll", 10*time.Millisecond, "GetOrder poll interval per in-flight order")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long to wait for the last order")
	flag.Parse()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(telemetry.UnaryClientInterceptor()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := orderv1.NewOrderServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+time.Minute)
	defer cancel()
	tr := load.NewTracker(*n)

	const pollers = 8
	queues := make([]chan string, pollers)
	for i := range queues {
		queues[i] = make(chan string, *n)
		go follow(ctx, client, queues[i], tr, *poll)
	}
	res, err := load.Drive(ctx, tr, *n, *rate, *concurrency, *timeout, func(ctx context.Context, i int) (string, error) {
		r, err := client.CreateOrder(ctx, &orderv1.CreateOrderRequest{
			CustomerId: fmt.Sprintf("load-%d", i%100), ShippingAddress: "1 Main St",
			Items: []*orderv1.Item{{ProductId: *product, Quantity: 1}},
		})
		if err != nil {
			return "", err
		}
		h := fnv.New32a()
		h.Write([]byte(r.GetOrderId()))
		queues[h.Sum32()%pollers] <- r.GetOrderId()
		return r.GetOrderId(), nil
	})
	fmt.Println(res)
	if err != nil {
		log.Fatal(err)
	}
}

// follow polls its orders until each is terminal.
func follow(ctx context.Context, c orderv1.OrderServiceClient, in <-chan string, tr *load.Tracker, poll time.Duration) {
	var pending []string
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-in:
			pending = append(pending, id)
		case <-t.C:
			kept := pending[:0]
			for _, id := range pending {
				o, err := c.GetOrder(ctx, &orderv1.GetOrderRequest{OrderId: id})
				if err != nil || o.GetStatus() == orderv1.OrderStatus_ORDER_STATUS_PENDING {
					kept = append(kept, id)
					continue
				}
				tr.Finish(id, o.GetStatus().String())
			}
			pending = kept
		}
	}
}
