// Package process is the shared main of every service binary: configuration
// from the environment, JSON logs, OpenTelemetry tracing (OTLP when
// OTEL_EXPORTER_OTLP_ENDPOINT is set), Prometheus metrics and health on an
// HTTP port, gRPC with health/readiness, and graceful shutdown on SIGTERM.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ordermesh/ordermesh/apps/internal/runner"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
)

// Env is what a service's build function gets.
type Env struct {
	Name    string
	Brokers []string
	DB      *store.DB
	Logger  *slog.Logger
	Tracer  trace.Tracer
	Metrics *telemetry.Metrics
	// OpenShard opens shard i (≥ 1) of a SQLite database split into
	// several files, next to DB (store.ShardPath), with its pool metrics;
	// it is closed when the process ends.
	OpenShard func(ctx context.Context, i int) (*store.DB, error)
}

// Service is what a build function returns.
type Service struct {
	Unit runner.Unit
	// Register adds the service's gRPC API, if it has one.
	Register func(*grpc.Server)
	// Before runs after migrations and before the unit starts (e.g. seeding
	// or an on-demand rebuild).
	Before func(ctx context.Context) error
}

// Getenv returns the variable or def.
func Getenv(k, def string) string {
	if v, ok := os.LookupEnv(k); ok && v != "" {
		return v
	}
	return def
}

// Duration reads a duration variable.
func Duration(k string, def time.Duration) (time.Duration, error) {
	v := Getenv(k, "")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s = %q: want a Go duration such as 10s", k, v)
	}
	return d, nil
}

// DurationAtLeast reads a duration variable that must not be below min;
// why says what else the value must satisfy, for the error.
func DurationAtLeast(k string, def, min time.Duration, why string) (time.Duration, error) {
	d, err := Duration(k, def)
	if err != nil {
		return 0, err
	}
	if d < min {
		return 0, fmt.Errorf("%s = %s: must be at least %s, %s (default %s)", k, d, min, why, def)
	}
	return d, nil
}

// Int reads a whole-number variable that must lie in [min, max].
func Int(k string, def, min, max int) (int, error) {
	v := Getenv(k, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%s = %q: want a whole number from %d to %d (default %d)", k, v, min, max, def)
	}
	return n, nil
}

// ProcessedRetention reads ORDERMESH_PROCESSED_RETENTION: how long the
// service keeps its processed-event records (runner.Env.ProcessedRetention).
func ProcessedRetention() (time.Duration, error) {
	return DurationAtLeast("ORDERMESH_PROCESSED_RETENTION", runner.DefaultProcessedRetention, time.Hour,
		"and longer than the consumed topics' retention")
}

// Pairs parses "a=1,b=2" into a map of integers (catalog prices, stock).
func Pairs(k, def string) (map[string]int64, error) {
	out := map[string]int64{}
	v := Getenv(k, def)
	if v == "" {
		return out, nil
	}
	for _, kv := range strings.Split(v, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.ParseInt(num, 10, 64)
		if !ok || name == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("%s: entry %q: want name=non-negative-integer", k, kv)
		}
		out[name] = n
	}
	return out, nil
}

// Main runs service name until SIGINT/SIGTERM; build assembles it.
//
// Environment: ORDERMESH_KAFKA_BROKERS (required, comma separated),
// ORDERMESH_DATABASE_URL (postgres://... or a SQLite path; default
// <name>.db), ORDERMESH_GRPC_ADDR (default :8080), ORDERMESH_HTTP_ADDR
// (metrics and health, default :9090; the ports components/service expects), ORDERMESH_LOG_LEVEL (debug, info),
// ORDERMESH_SHUTDOWN_TIMEOUT (default 20s), ORDERMESH_PROCESSED_RETENTION (how
// long processed-event records are kept, default 336h), OTEL_EXPORTER_OTLP_ENDPOINT.
func Main(name string, build func(ctx context.Context, env Env) (Service, error)) {
	level := slog.LevelInfo
	if Getenv("ORDERMESH_LOG_LEVEL", "info") == "debug" {
		level = slog.LevelDebug
	}
	logger := telemetry.NewLogger(os.Stdout, name, level)
	if err := run(name, logger, build); err != nil {
		logger.Error("exiting", "error", err)
		os.Exit(1)
	}
}

func run(name string, logger *slog.Logger, build func(ctx context.Context, env Env) (Service, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	brokers := strings.Split(Getenv("ORDERMESH_KAFKA_BROKERS", ""), ",")
	if brokers[0] == "" {
		return errors.New("ORDERMESH_KAFKA_BROKERS is empty: set the Kafka bootstrap addresses, comma separated")
	}
	shutdownTimeout, err := Duration("ORDERMESH_SHUTDOWN_TIMEOUT", 20*time.Second)
	if err != nil {
		return err
	}
	retention, err := ProcessedRetention()
	if err != nil {
		return err
	}
	tp, err := TracerProvider(ctx, name)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tp.Shutdown(sctx)
	}()
	tracer := tp.Tracer("ordermesh/" + name)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.NewMetrics(reg)

	dsn := Getenv("ORDERMESH_DATABASE_URL", name+".db")
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	// Connection-pool stats (go_sql_*): on SQLite, wait time is time spent
	// queueing for the service's one connection.
	reg.MustRegister(collectors.NewDBStatsCollector(db.SQL(), name))
	var shards []*store.DB
	openShard := func(ctx context.Context, i int) (*store.DB, error) {
		if db.Dialect() != store.SQLite {
			return nil, errors.New("sharding is for SQLite only; with PostgreSQL use one database")
		}
		sdb, err := store.Open(ctx, store.ShardPath(dsn, i))
		if err != nil {
			return nil, err
		}
		reg.MustRegister(collectors.NewDBStatsCollector(sdb.SQL(), store.ShardName(name, i)))
		shards = append(shards, sdb)
		return sdb, nil
	}
	defer func() {
		for _, sdb := range shards {
			sdb.Close()
		}
	}()
	svc, err := build(ctx, Env{Name: name, Brokers: brokers, DB: db, Logger: logger, Tracer: tracer, Metrics: metrics, OpenShard: openShard})
	if err != nil {
		return err
	}
	if err := runner.Migrate(ctx, svc.Unit); err != nil {
		return err
	}
	if svc.Before != nil {
		if err := svc.Before(ctx); err != nil {
			return err
		}
	}

	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	gs := grpc.NewServer(grpc.UnaryInterceptor(telemetry.UnaryServerInterceptor(name, tracer, metrics)), grpc.MaxRecvMsgSize(1<<20))
	healthpb.RegisterHealthServer(gs, hs)
	if svc.Register != nil {
		svc.Register(gs)
	}
	lis, err := net.Listen("tcp", Getenv("ORDERMESH_GRPC_ADDR", ":8080"))
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	go gs.Serve(lis)

	ready := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-ready:
			w.WriteHeader(http.StatusOK)
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	})
	hsrv := &http.Server{Addr: Getenv("ORDERMESH_HTTP_ADDR", ":9090"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hsrv.ListenAndServe()

	r, err := runner.Start(ctx, svc.Unit, runner.Env{Brokers: brokers, Logger: logger, Tracer: tracer, Metrics: metrics, ProcessedRetention: retention})
	if err != nil {
		return err
	}
	close(ready)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	logger.Info("started", "grpc", lis.Addr().String(), "http", hsrv.Addr, "brokers", brokers)

	<-ctx.Done()
	logger.Info("shutting down: finishing in-flight messages")
	hs.Shutdown() // readiness goes NOT_SERVING first so traffic drains
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		gs.Stop()
	}
	err = r.Stop(sctx)
	hsrv.Shutdown(sctx)
	return err
}

// TracerProvider exports spans over OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT
// is set, and is a no-op otherwise (trace context still propagates).
func TracerProvider(ctx context.Context, name string) (interface {
	trace.TracerProvider
	Shutdown(context.Context) error
}, error) {
	if Getenv("OTEL_EXPORTER_OTLP_ENDPOINT", "") == "" {
		return noopProvider{noop.NewTracerProvider()}, nil
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, nil
}

type noopProvider struct{ noop.TracerProvider }

func (noopProvider) Shutdown(context.Context) error { return nil }
