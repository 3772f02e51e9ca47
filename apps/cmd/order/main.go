// Command order runs the order service: the OrderService gRPC API and the
// saga orchestrator. Configuration: see apps/internal/process, plus
// ORDERMESH_CATALOG (product=price-in-cents,...), ORDERMESH_STEP_TIMEOUT,
// ORDERMESH_REQUEST_ID_RETENTION (how long request_id keys are honoured,
// default 24h), ORDERMESH_ORDER_SHARDS (SQLite only: split the orders over
// that many files, order.db, order-1.db, ...; default 1, fixed once orders
// are stored).
package main

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"google.golang.org/grpc"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/process"
	"github.com/ordermesh/ordermesh/apps/internal/runner"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/order"
)

// maxShards bounds ORDERMESH_ORDER_SHARDS: each shard is a SQLite
// connection, relay and fetch of its own, and the gain ends with the cores.
const maxShards = 16

func main() {
	process.Main("order", func(ctx context.Context, env process.Env) (process.Service, error) {
		catalog, err := process.Pairs("ORDERMESH_CATALOG", "sku-1=1000,sku-2=2500,sku-3=499")
		if err != nil {
			return process.Service{}, err
		}
		timeout, err := process.Duration("ORDERMESH_STEP_TIMEOUT", 10*time.Second)
		if err != nil {
			return process.Service{}, err
		}
		keep, err := process.DurationAtLeast("ORDERMESH_REQUEST_ID_RETENTION", order.DefaultRequestRetention, time.Hour,
			"and longer than any client retries under one request_id")
		if err != nil {
			return process.Service{}, err
		}
		n, err := process.Int("ORDERMESH_ORDER_SHARDS", 1, 1, maxShards)
		if err != nil {
			return process.Service{}, err
		}
		shards := []*store.DB{env.DB}
		for i := 1; i < n; i++ {
			db, err := env.OpenShard(ctx, i)
			if err != nil {
				return process.Service{}, fmt.Errorf("ORDERMESH_ORDER_SHARDS = %d: shard %d: %w", n, i, err)
			}
			shards = append(shards, db)
		}
		if err := order.CheckShards(ctx, shards); err != nil {
			return process.Service{}, fmt.Errorf("ORDERMESH_ORDER_SHARDS = %d: %w", n, err)
		}
		wake := outbox.NewWake()
		svc := order.New(order.Config{Shards: shards, Catalog: catalog, StepTimeout: timeout, RequestRetention: keep,
			Logger: env.Logger, Tracer: env.Tracer, Metrics: env.Metrics, AfterCommit: wake.Notify})
		mig, _ := fs.Sub(order.Migrations, "migrations")
		return process.Service{
			Unit: runner.Unit{Name: env.Name, DB: env.DB, Shards: shards, ShardOf: svc.ShardOf, Migrations: mig, Topics: order.Topics, Handle: svc.Handle, Wake: wake,
				Workers: []func(context.Context) error{
					func(ctx context.Context) error { return svc.RunSweeper(ctx, time.Second) },
					func(ctx context.Context) error { return svc.RunRequestPruner(ctx, time.Hour) },
				}},
			Register: func(s *grpc.Server) { orderv1.RegisterOrderServiceServer(s, svc) },
		}, nil
	})
}
