// Command order-query runs the CQRS read side and its OrderQueryService.
// With -rebuild it first empties the read model and replays every event
// topic from offset zero, then consumes live as usual.
package main

import (
	"context"
	"flag"
	"io/fs"

	"google.golang.org/grpc"

	"github.com/ordermesh/ordermesh/apps/gen/queryv1"
	"github.com/ordermesh/ordermesh/apps/internal/process"
	"github.com/ordermesh/ordermesh/apps/internal/runner"
	"github.com/ordermesh/ordermesh/apps/orderquery"
)

func main() {
	rebuild := flag.Bool("rebuild", false, "rebuild the read model from offset zero before serving")
	flag.Parse()
	process.Main("order-query", func(ctx context.Context, env process.Env) (process.Service, error) {
		svc := &orderquery.Service{DB: env.DB}
		mig, _ := fs.Sub(orderquery.Migrations, "migrations")
		s := process.Service{
			Unit: runner.Unit{Name: env.Name, DB: env.DB, Migrations: mig, Topics: orderquery.Topics, Handle: svc.Handle, Linger: orderquery.Linger,
				FetchMinBytes: orderquery.FetchMinBytes, FetchWait: orderquery.FetchWait},
			Register: func(g *grpc.Server) { queryv1.RegisterOrderQueryServiceServer(g, svc) },
		}
		if *rebuild {
			s.Before = func(ctx context.Context) error {
				if err := orderquery.Reset(ctx, env.DB); err != nil {
					return err
				}
				n, err := orderquery.Rebuild(ctx, env.Brokers, env.DB)
				env.Logger.Info("read model rebuilt from offset zero", "events", n)
				return err
			}
		}
		return s, nil
	})
}
