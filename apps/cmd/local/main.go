// Command local runs the whole order system on one machine for newcomers:
// an in-process 3-broker Kafka (kfake, in memory), every service with its
// own SQLite file, the order API on 127.0.0.1:50051, the read-model API on
// 127.0.0.1:50052 and Prometheus metrics on 127.0.0.1:9464/metrics.
//
//	go run ./apps/cmd/local            # then, in another terminal:
//	go run ./apps/cmd/orderctl create -customer alice -item sku-1:2
//	go run ./apps/cmd/orderctl watch <order-id>
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/gen/queryv1"
	"github.com/ordermesh/ordermesh/apps/internal/process"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/system"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
	"github.com/ordermesh/ordermesh/apps/order"
	"github.com/ordermesh/ordermesh/apps/payment"
)

func main() {
	dir := flag.String("dir", "", "directory for the SQLite files, kept on exit (default: a new temporary directory, removed on exit; Kafka is in memory, so reuse a directory only for inspection)")
	orderAddr := flag.String("order-addr", "127.0.0.1:50051", "order API address")
	queryAddr := flag.String("query-addr", "127.0.0.1:50052", "read-model API address")
	metricsAddr := flag.String("metrics-addr", "127.0.0.1:9464", "Prometheus metrics address")
	declineAbove := flag.Int64("decline-above-cents", 100_000, "the simulated gateway declines payments above this amount")
	latency := flag.Duration("gateway-latency", 5*time.Millisecond, "simulated gateway latency")
	quiet := flag.Bool("quiet", false, "log warnings and errors only")
	flag.Parse()
	system.OneMoreProc()
	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	logger := telemetry.NewLogger(os.Stderr, "local", level)
	if err := run(*dir, *orderAddr, *queryAddr, *metricsAddr, *declineAbove, *latency, logger); err != nil {
		log.Fatal(err)
	}
}

func run(dir, orderAddr, queryAddr, metricsAddr string, declineAbove int64, latency time.Duration, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if dir == "" {
		d, err := os.MkdirTemp("", "ordermesh-local-")
		if err != nil {
			return err
		}
		// Kafka lives in memory, so these files mean nothing after exit.
		// Deferred first, removed last: after every service has stopped.
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tp, err := process.TracerProvider(ctx, "ordermesh-local")
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("ordermesh/local")
	reg := prometheus.NewRegistry()
	metrics := telemetry.NewMetrics(reg)

	k, err := system.StartKafka(ctx, 0)
	if err != nil {
		return err
	}
	defer k.Close()
	sys, err := system.Start(ctx, system.Config{
		Brokers: k.Brokers, Dir: dir,
		Catalog: order.Catalog{"sku-1": 1000, "sku-2": 2500, "sku-3": 499},
		Stock:   map[string]int64{"sku-1": 1_000_000, "sku-2": 1_000_000, "sku-3": 5},
		Gateway: payment.GatewayConfig{Latency: latency, DeclineAboveCents: declineAbove},
		Logger:  logger, Tracer: tracer, Metrics: metrics,
	})
	if err != nil {
		return err
	}
	for _, name := range system.Names {
		for i, db := range sys.DBs(name) {
			reg.MustRegister(collectors.NewDBStatsCollector(db.SQL(), store.ShardName(name, i)))
		}
	}
	defer func() {
		logger.Info("stopping: finishing in-flight messages")
		if err := sys.Stop(context.Background()); err != nil {
			logger.Error("stop", "error", err)
		}
	}()

	hs := health.NewServer()
	gs := grpc.NewServer(grpc.UnaryInterceptor(telemetry.UnaryServerInterceptor("order", tracer, metrics)))
	healthpb.RegisterHealthServer(gs, hs)
	orderv1.RegisterOrderServiceServer(gs, sys.OrderService())
	qs := grpc.NewServer(grpc.UnaryInterceptor(telemetry.UnaryServerInterceptor("order-query", tracer, metrics)))
	healthpb.RegisterHealthServer(qs, hs)
	queryv1.RegisterOrderQueryServiceServer(qs, sys.QueryService())
	for addr, srv := range map[string]*grpc.Server{orderAddr: gs, queryAddr: qs} {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", addr, err)
		}
		go srv.Serve(lis)
		defer srv.GracefulStop()
	}
	msrv := &http.Server{Addr: metricsAddr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go msrv.ListenAndServe()
	defer msrv.Close()

	fmt.Fprintf(os.Stderr, `
ordermesh is running (Kafka: kfake %v, SQLite files in %s)
  order API       %s   (catalog: sku-1 10.00, sku-2 25.00, sku-3 4.99 EUR, only 5 sku-3 in stock; payments above %d cents are declined)
  read-model API  %s
  metrics         http://%s/metrics
Try:
  go run ./apps/cmd/orderctl create -customer alice -item sku-1:2
  go run ./apps/cmd/orderctl watch <order-id>
  go run ./apps/cmd/loadgen -orders 500 -rate 100
Ctrl-C stops everything gracefully.
`, k.Brokers, dir, orderAddr, declineAbove, queryAddr, metricsAddr)
	<-ctx.Done()
	return nil
}
