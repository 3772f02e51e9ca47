// Package periodic runs background work (timeout sweeps, pruning) at a fixed
// interval.
package periodic

import (
	"context"
	"time"
)

// Run calls fn every interval until ctx ends, then returns nil. An error
// from fn goes to onErr, unless ctx has ended, and the next tick tries again.
func Run(ctx context.Context, interval time.Duration, fn func(context.Context) error, onErr func(error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}
