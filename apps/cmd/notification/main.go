// Command notification runs the confirmation e-mail worker; e-mails go to
// the JSON log (the log sink).
package main

import (
	"context"
	"io/fs"
	"time"

	"github.com/ordermesh/ordermesh/apps/internal/process"
	"github.com/ordermesh/ordermesh/apps/internal/runner"
	"github.com/ordermesh/ordermesh/apps/notification"
)

func main() {
	process.Main("notification", func(ctx context.Context, env process.Env) (process.Service, error) {
		svc := notification.New(env.DB, notification.LogSink{Logger: env.Logger}, env.Logger)
		mig, _ := fs.Sub(notification.Migrations, "migrations")
		return process.Service{Unit: runner.Unit{Name: env.Name, DB: env.DB, Migrations: mig, Topics: notification.Topics, Handle: svc.Handle, Linger: notification.Linger,
			FetchMinBytes: notification.FetchMinBytes, FetchWait: notification.FetchWait,
			Workers: []func(context.Context) error{func(ctx context.Context) error { return svc.RunSender(ctx, time.Second) }}}}, nil
	})
}
