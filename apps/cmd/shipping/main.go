// Command shipping runs the shipping service.
package main

import (
	"context"
	"io/fs"

	"github.com/ordermesh/ordermesh/apps/internal/process"
	"github.com/ordermesh/ordermesh/apps/internal/runner"
	"github.com/ordermesh/ordermesh/apps/shipping"
)

func main() {
	process.Main("shipping", func(ctx context.Context, env process.Env) (process.Service, error) {
		svc := &shipping.Service{DB: env.DB}
		mig, _ := fs.Sub(shipping.Migrations, "migrations")
		return process.Service{Unit: runner.Unit{Name: env.Name, DB: env.DB, Migrations: mig, Topics: shipping.Topics, Handle: svc.Handle}}, nil
	})
}
