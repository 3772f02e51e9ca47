// Command inventory runs the inventory service. ORDERMESH_STOCK
// (product=quantity,...) stocks products that have no stock row yet.
package main

import (
	"context"
	"io/fs"

	"github.com/ordermesh/ordermesh/apps/internal/process"
	"github.com/ordermesh/ordermesh/apps/internal/runner"
	"github.com/ordermesh/ordermesh/apps/inventory"
)

func main() {
	process.Main("inventory", func(ctx context.Context, env process.Env) (process.Service, error) {
		stock, err := process.Pairs("ORDERMESH_STOCK", "sku-1=1000,sku-2=1000,sku-3=1000")
		if err != nil {
			return process.Service{}, err
		}
		svc := &inventory.Service{DB: env.DB}
		mig, _ := fs.Sub(inventory.Migrations, "migrations")
		return process.Service{
			Unit:   runner.Unit{Name: env.Name, DB: env.DB, Migrations: mig, Topics: inventory.Topics, Handle: svc.Handle},
			Before: func(ctx context.Context) error { return svc.SeedStock(ctx, stock) },
		}, nil
	})
}
