// Package system assembles the whole order system in one process: every
// service with its own database and consumer group, against one Kafka
// cluster. The integration tests, the benchmark and the local runner use it;
// in a cluster each service runs alone from its cmd/ main instead.
package system

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/runner"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
	"github.com/ordermesh/ordermesh/apps/inventory"
	"github.com/ordermesh/ordermesh/apps/notification"
	"github.com/ordermesh/ordermesh/apps/order"
	"github.com/ordermesh/ordermesh/apps/orderquery"
	"github.com/ordermesh/ordermesh/apps/payment"
	"github.com/ordermesh/ordermesh/apps/shipping"
)

// Service names; each is also the consumer group and the database name.
const (
	Order        = "order"
	Inventory    = "inventory"
	Payment      = "payment"
	Shipping     = "shipping"
	OrderQuery   = "order-query"
	Notification = "notification"
)

// Names lists every service.
var Names = []string{Order, Inventory, Payment, Shipping, OrderQuery, Notification}

// Config configures a System.
type Config struct {
	Brokers []string
	// DSN returns the database of a service; by default a SQLite file per
	// service in Dir.
	DSN func(service string) string
	Dir string
	// Catalog is the order service's product prices; Stock the initial
	// inventory (applied once, at first start).
	Catalog order.Catalog
	// OrderShards splits the order service's SQLite database into that
	// many files (default 1; see order.Config.Shards): shard 0 is
	// DSN("order"), shard i DSN("order-<i>").
	OrderShards int
	Stock       map[string]int64
	Gateway     payment.GatewayConfig
	// StepTimeout and SweepInterval drive saga timeouts (defaults 10s, 200ms).
	StepTimeout   time.Duration
	SweepInterval time.Duration
	MaxBatch      int
	Logger        *slog.Logger
	Tracer        trace.Tracer
	Metrics       *telemetry.Metrics
	Writer        func(brokers []string) outbox.Writer
	Sink          notification.Sink
	// OnFinished is passed to the order service (see order.Config).
	OnFinished func(orderID string, end order.State)
	// External names services that run elsewhere (as their own processes,
	// in a test that kills them with SIGKILL); Start leaves them out.
	External []string
}

// System is a running order system.
type System struct {
	cfg     Config
	env     runner.Env
	Gateway *payment.Gateway

	mu           sync.Mutex
	dbs          map[string][]*store.DB
	running      map[string]*runner.Running
	order        *order.Service
	inventory    *inventory.Service
	payment      *payment.Service
	query        *orderquery.Service
	notification *notification.Service
}

// OrderService returns the current order service (replaced on restart).
func (s *System) OrderService() *order.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order
}

// InventoryService returns the current inventory service.
func (s *System) InventoryService() *inventory.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inventory
}

// QueryService returns the current read-model service.
func (s *System) QueryService() *orderquery.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.query
}

// PaymentService returns the current payment service.
func (s *System) PaymentService() *payment.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.payment
}

// Migrations returns a service's migrations.
func Migrations(name string) fs.FS {
	switch name {
	case Order:
		return sub(order.Migrations)
	case Inventory:
		return sub(inventory.Migrations)
	case Payment:
		return sub(payment.Migrations)
	case Shipping:
		return sub(shipping.Migrations)
	case OrderQuery:
		return sub(orderquery.Migrations)
	case Notification:
		return sub(notification.Migrations)
	}
	return nil
}

// Start opens the databases, seeds stock and starts every service.
func Start(ctx context.Context, cfg Config) (*System, error) {
	if cfg.DSN == nil {
		dir := cfg.Dir
		cfg.DSN = func(svc string) string { return filepath.Join(dir, svc+".db") }
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sink == nil {
		cfg.Sink = notification.LogSink{Logger: cfg.Logger}
	}
	s := &System{
		cfg:     cfg,
		env:     runner.Env{Brokers: cfg.Brokers, Logger: cfg.Logger, Tracer: cfg.Tracer, Metrics: cfg.Metrics, Writer: cfg.Writer},
		Gateway: payment.NewGateway(cfg.Gateway),
		dbs:     map[string][]*store.DB{},
		running: map[string]*runner.Running{},
	}
	for _, name := range Names {
		if slices.Contains(cfg.External, name) {
			continue
		}
		if err := s.start(ctx, name, name == Inventory); err != nil {
			s.Stop(ctx)
			return nil, err
		}
	}
	return s, nil
}

func (s *System) start(ctx context.Context, name string, seed bool) error {
	dbs, err := s.open(ctx, name)
	if err != nil {
		return err
	}
	u, err := s.unit(name, dbs)
	if err != nil {
		closeAll(dbs)
		return err
	}
	if seed && len(s.cfg.Stock) > 0 {
		if err := runner.Migrate(ctx, u); err != nil {
			closeAll(dbs)
			return err
		}
		if err := s.InventoryService().SetStock(ctx, s.cfg.Stock); err != nil {
			closeAll(dbs)
			return err
		}
	}
	r, err := runner.Start(ctx, u, s.env)
	if err != nil {
		closeAll(dbs)
		return err
	}
	s.mu.Lock()
	s.dbs[name], s.running[name] = dbs, r
	s.mu.Unlock()
	return nil
}

// open opens a service's databases: one, or the order service's shards
// (checked against the layout they were written with).
func (s *System) open(ctx context.Context, name string) ([]*store.DB, error) {
	n := 1
	if name == Order && s.cfg.OrderShards > 1 {
		n = s.cfg.OrderShards
	}
	var dbs []*store.DB
	fail := func(err error) ([]*store.DB, error) {
		closeAll(dbs)
		return nil, fmt.Errorf("system: %s: %w", name, err)
	}
	for i := range n {
		db, err := store.Open(ctx, s.cfg.DSN(store.ShardName(name, i)))
		if err != nil {
			return fail(err)
		}
		dbs = append(dbs, db)
		if db.Dialect() != store.SQLite && n > 1 {
			return fail(fmt.Errorf("OrderShards = %d: sharding is for SQLite only; with PostgreSQL use 1", n))
		}
	}
	if name == Order {
		if err := order.CheckShards(ctx, dbs); err != nil {
			return fail(err)
		}
	}
	return dbs, nil
}

func closeAll(dbs []*store.DB) {
	for _, db := range dbs {
		db.Close()
	}
}

func sub(f fs.FS) fs.FS {
	s, err := fs.Sub(f, "migrations")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	return s
}

// unit builds a service on its databases (fresh service values each start,
// as a new process would have).
func (s *System) unit(name string, dbs []*store.DB) (runner.Unit, error) {
	db := dbs[0]
	u := runner.Unit{Name: name, DB: db, MaxBatch: s.cfg.MaxBatch}
	switch name {
	case Order:
		wake := outbox.NewWake()
		svc := order.New(order.Config{Shards: dbs, Catalog: s.cfg.Catalog, StepTimeout: s.cfg.StepTimeout, Logger: s.cfg.Logger.With("service", name),
			Tracer: s.cfg.Tracer, Metrics: s.cfg.Metrics, AfterCommit: wake.Notify, OnFinished: s.cfg.OnFinished})
		s.mu.Lock()
		s.order = svc
		s.mu.Unlock()
		u.Migrations, u.Topics, u.Handle, u.Wake = Migrations(name), order.Topics, svc.Handle, wake
		u.Shards, u.ShardOf = dbs, svc.ShardOf
		u.Workers = []func(context.Context) error{
			func(ctx context.Context) error { return svc.RunSweeper(ctx, s.cfg.SweepInterval) },
			func(ctx context.Context) error { return svc.RunRequestPruner(ctx, time.Hour) },
		}
	case Inventory:
		svc := &inventory.Service{DB: db}
		s.mu.Lock()
		s.inventory = svc
		s.mu.Unlock()
		u.Migrations, u.Topics, u.Handle = Migrations(name), inventory.Topics, svc.Handle
	case Payment:
		svc := payment.New(db, s.Gateway, 0)
		s.mu.Lock()
		s.payment = svc
		s.mu.Unlock()
		u.Migrations, u.Topics, u.Handle = Migrations(name), payment.Topics, svc.Handle
	case Shipping:
		svc := &shipping.Service{DB: db}
		u.Migrations, u.Topics, u.Handle = Migrations(name), shipping.Topics, svc.Handle
	case OrderQuery:
		svc := &orderquery.Service{DB: db}
		s.mu.Lock()
		s.query = svc
		s.mu.Unlock()
		u.Migrations, u.Topics, u.Handle, u.Linger = Migrations(name), orderquery.Topics, svc.Handle, orderquery.Linger
		u.FetchMinBytes, u.FetchWait = orderquery.FetchMinBytes, orderquery.FetchWait
	case Notification:
		svc := notification.New(db, s.cfg.Sink, s.cfg.Logger.With("service", name))
		s.mu.Lock()
		s.notification = svc
		s.mu.Unlock()
		u.Migrations, u.Topics, u.Handle, u.Linger = Migrations(name), notification.Topics, svc.Handle, notification.Linger
		u.FetchMinBytes, u.FetchWait = notification.FetchMinBytes, notification.FetchWait
		u.Workers = []func(context.Context) error{func(ctx context.Context) error { return svc.RunSender(ctx, 100*time.Millisecond) }}
	default:
		return u, fmt.Errorf("system: unknown service %q", name)
	}
	return u, nil
}

// DB returns a service's database (the order service's shard 0).
func (s *System) DB(name string) *store.DB {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dbs := s.dbs[name]; len(dbs) > 0 {
		return dbs[0]
	}
	return nil
}

// DBs returns a service's databases: the order service's shards, or the one.
func (s *System) DBs(name string) []*store.DB {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dbs[name]
}

// Kill crashes a service: in-flight work is abandoned and its database
// connections closed.
func (s *System) Kill(name string) {
	s.mu.Lock()
	r, dbs := s.running[name], s.dbs[name]
	delete(s.running, name)
	s.mu.Unlock()
	if r != nil {
		r.Kill()
	}
	closeAll(dbs)
}

// Restart starts a killed service again on its database.
func (s *System) Restart(ctx context.Context, name string) error {
	return s.start(ctx, name, false)
}

// Stop stops every service gracefully and closes the databases.
func (s *System) Stop(ctx context.Context) error {
	var errs []error
	// Upstream first, so downstream services still consume what it flushes.
	for _, name := range Names {
		s.mu.Lock()
		r := s.running[name]
		delete(s.running, name)
		s.mu.Unlock()
		if r != nil {
			if err := r.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	s.mu.Lock()
	for _, dbs := range s.dbs {
		closeAll(dbs)
	}
	s.mu.Unlock()
	return errors.Join(errs...)
}
