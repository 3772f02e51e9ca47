// Command orderctl is a small client for the order APIs.
//
//	orderctl create -customer alice -item sku-1:2 [-item sku-3:1] [-address "1 Main St"] [-request-id key]
//	                                # retries while the service is unavailable, under one request_id
//	orderctl get <order-id>
//	orderctl watch <order-id>       # polls until the saga ends
//	orderctl cancel <order-id> [-reason text]
//	orderctl view <order-id>        # the CQRS read model
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/gen/queryv1"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
)

type items []*orderv1.Item

func (i *items) String() string { return fmt.Sprint(*i) }
func (i *items) Set(v string) error {
	p, q, ok := strings.Cut(v, ":")
	n, err := strconv.Atoi(q)
	if !ok || err != nil {
		return fmt.Errorf("want product:quantity, got %q", v)
	}
	*i = append(*i, &orderv1.Item{ProductId: p, Quantity: int32(n)})
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: orderctl create|get|watch|cancel|view ...")
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50051", "order API address")
	queryAddr := fs.String("query-addr", "127.0.0.1:50052", "read-model API address")
	customer := fs.String("customer", "", "customer id (create)")
	address := fs.String("address", "1 Main St", "shipping address (create)")
	reason := fs.String("reason", "", "reason (cancel)")
	requestID := fs.String("request-id", "", "idempotency key (create; default: a new random one); retries reuse it, so one order is placed")
	var its items
	fs.Var(&its, "item", "product:quantity, repeatable (create)")
	fs.Parse(os.Args[2:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target := *addr
	if cmd == "view" {
		target = *queryAddr
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUnaryInterceptor(telemetry.UnaryClientInterceptor()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	oc := orderv1.NewOrderServiceClient(conn)
	id := fs.Arg(0)
	switch cmd {
	case "create":
		req := &orderv1.CreateOrderRequest{CustomerId: *customer, Items: its, ShippingAddress: *address, RequestId: *requestID}
		if req.RequestId == "" {
			req.RequestId = rand.Text()
		}
		r, err := backoff.Retry(ctx, func() (*orderv1.CreateOrderResponse, error) {
			r, err := oc.CreateOrder(ctx, req)
			if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
				return r, backoff.Permanent(err)
			}
			return r, err
		}, backoff.WithMaxElapsedTime(30*time.Second))
		check(err)
		fmt.Println(r.GetOrderId())
	case "get":
		o, err := oc.GetOrder(ctx, &orderv1.GetOrderRequest{OrderId: id})
		check(err)
		show(o)
	case "cancel":
		o, err := oc.CancelOrder(ctx, &orderv1.CancelOrderRequest{OrderId: id, Reason: *reason})
		check(err)
		show(o)
	case "watch":
		last := ""
		for {
			o, err := oc.GetOrder(ctx, &orderv1.GetOrderRequest{OrderId: id})
			check(err)
			if o.GetStep() != last {
				fmt.Printf("%s  step=%s status=%s %s\n", time.Now().Format("15:04:05.000"), o.GetStep(), o.GetStatus(), o.GetReason())
				last = o.GetStep()
			}
			if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_PENDING {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	case "view":
		v, err := queryv1.NewOrderQueryServiceClient(conn).GetOrderView(ctx, &queryv1.GetOrderViewRequest{OrderId: id})
		check(err)
		show(v)
	default:
		fail(fmt.Errorf("unknown command %q", cmd))
	}
}

func show(m proto.Message) { fmt.Println(protojson.MarshalOptions{Multiline: true}.Format(m)) }

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "orderctl:", err)
	os.Exit(1)
}
