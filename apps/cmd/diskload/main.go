// Command diskload tells whether a machine's disk stalls under a sustained
// write load like the apps benchmark's, without the benchmark: it overwrites
// a 64 MiB file in 4 KiB writes at -mbps and syncs it every 20 ms (a WAL's
// appends and its checkpoints' syncs), while the bench's disk probe
// (apps/internal/diskprobe) times a 4 KiB write and sync every 50 ms beside
// it. It prints the probe's quantiles and how many of its syncs took 100 ms
// or more.
//
//	go run ./apps/cmd/diskload -mbps 100 -d 30s
//
// Compare runs at the bench's rate (about 100 MB/s, docs/BENCHMARKS.md
// round 12) with runs at a fifth of it, in turn.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ordermesh/ordermesh/apps/internal/diskprobe"
	"github.com/ordermesh/ordermesh/apps/internal/load"
)

func main() {
	mbps := flag.Float64("mbps", 100, "MB/s the load writes")
	dur := flag.Duration("d", 30*time.Second, "how long to run")
	dir := flag.String("dir", os.TempDir(), "directory for the files (on the disk under test)")
	flag.Parse()
	if *mbps < 0 || *dur <= 0 {
		log.Fatalf("diskload: -mbps must be ≥ 0 (got %g) and -d more than 0 (got %s)", *mbps, *dur)
	}
	work, err := os.MkdirTemp(*dir, "diskload-")
	if err != nil {
		log.Fatalf("diskload: %v", err)
	}
	defer os.RemoveAll(work)

	stop, err := diskprobe.Start(work, 50*time.Millisecond)
	if err != nil {
		log.Fatalf("diskload: %v", err)
	}
	slowest, loadErr := writeLoad(filepath.Join(work, "load"), *mbps, *dur)
	syncs, err := stop()
	if loadErr != nil || err != nil {
		log.Fatalf("diskload: load: %v; probe: %v", loadErr, err)
	}
	if len(syncs) == 0 {
		log.Fatal("diskload: the probe made no sync")
	}
	stalls := 0
	for _, d := range syncs {
		if d >= 100*time.Millisecond {
			stalls++
		}
	}
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Printf("load %.0f MB/s for %s: probe syncs %d, p50 %s, p99 %s, max %s, ≥ 100 ms %d; load's slowest sync %s\n",
		*mbps, *dur, len(syncs), r(load.Quantile(syncs, 0.5)), r(load.Quantile(syncs, 0.99)), r(syncs[len(syncs)-1]), stalls, r(slowest))
}

// writeLoad overwrites a 64 MiB region of path at mbps for dur, syncing
// every 20 ms, and returns its slowest sync.
func writeLoad(path string, mbps float64, dur time.Duration) (time.Duration, error) {
	const (
		tick   = 20 * time.Millisecond
		region = 64 << 20
	)
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	block := make([]byte, 4096)
	perTick := int(mbps * 1e6 * tick.Seconds() / float64(len(block)))
	var (
		off     int64
		slowest time.Duration
	)
	for end := time.Now().Add(dur); time.Now().Before(end); {
		start := time.Now()
		for range perTick {
			if _, err := f.WriteAt(block, off); err != nil {
				return slowest, err
			}
			off = (off + int64(len(block))) % region
		}
		synced := time.Now()
		if err := f.Sync(); err != nil {
			return slowest, err
		}
		slowest = max(slowest, time.Since(synced))
		time.Sleep(tick - time.Since(start)) // no-op when behind
	}
	return slowest, f.Close()
}
