// Package diskprobe times the disk a service's databases live on: every
// interval it rewrites 4 KiB of a file and syncs it, as a WAL checkpoint
// does. SQLite checkpoints inside a commit, so a sync that stalls here stalls
// that service's transactions too, and a benchmark report can tell a slow
// disk from slow code.
package diskprobe

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Start probes a file in dir every interval until stop, which returns the
// sync times, sorted.
func Start(dir string, every time.Duration) (stop func() ([]time.Duration, error), err error) {
	f, err := os.Create(filepath.Join(dir, "disk-probe"))
	if err != nil {
		return nil, fmt.Errorf("disk probe: %w", err)
	}
	quit := make(chan struct{})
	type result struct {
		syncs []time.Duration
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		block := make([]byte, 4096)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-quit:
				done <- r
				return
			case <-t.C:
			}
			start := time.Now()
			if _, r.err = f.WriteAt(block, 0); r.err == nil {
				r.err = f.Sync()
			}
			if r.err != nil {
				<-quit
				done <- r
				return
			}
			r.syncs = append(r.syncs, time.Since(start))
		}
	}()
	return func() ([]time.Duration, error) {
		close(quit)
		r := <-done
		slices.Sort(r.syncs)
		if err := f.Close(); r.err == nil {
			r.err = err
		}
		if r.err != nil {
			return nil, fmt.Errorf("disk probe: %w", r.err)
		}
		return r.syncs, nil
	}, nil
}
