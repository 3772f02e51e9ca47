// Command diskload tells whether a machine's disk stalls under a sustained
// write load like the apps benchmark's, without the benchmark: it overwrites
// a 64 MiB file in 4 KiB writes at -mbps and syncs it every 20 ms (a WAL's
// appends and its checkpoints' syncs), while a probe writes and syncs 4 KiB
// of another file every 50 ms, as the bench's disk row does. It prints the
// probe's quantiles and how many of its syncs took 100 ms or more.
//
//	go run ./tools/diskload -mbps 100 -d 30s
//
// Compare a few runs at the bench's rate (about 100 MB/s, docs/BENCHMARKS.md
// round 12) with runs at a fifth of it, interleaved.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"
)

func main() {
	mbps := flag.Float64("mbps", 100, "MB/s the load writes")
	dur := flag.Duration("d", 30*time.Second, "how long to run")
	dir := flag.String("dir", os.TempDir(), "directory for the two files (on the disk under test)")
	flag.Parse()
	if *mbps < 0 || *dur <= 0 {
		log.Fatalf("diskload: -mbps must be ≥ 0 (got %g) and -d > 0 (got %s)", *mbps, *dur)
	}
	work, err := os.MkdirTemp(*dir, "diskload-")
	if err != nil {
		log.Fatalf("diskload: %v", err)
	}
	defer os.RemoveAll(work)
	load, err := os.Create(filepath.Join(work, "load"))
	if err != nil {
		log.Fatalf("diskload: %v", err)
	}
	defer load.Close()
	probe, err := os.Create(filepath.Join(work, "probe"))
	if err != nil {
		log.Fatalf("diskload: %v", err)
	}
	defer probe.Close()

	end := time.Now().Add(*dur)
	syncs := make(chan []time.Duration)
	go func() { syncs <- runProbe(probe, end) }()
	loadMax, err := runLoad(load, *mbps, end)
	if err != nil {
		log.Fatalf("diskload: load: %v", err)
	}
	lat := <-syncs
	if len(lat) == 0 {
		log.Fatal("diskload: the probe made no sync")
	}
	slices.Sort(lat)
	stalls := 0
	for _, d := range lat {
		if d >= 100*time.Millisecond {
			stalls++
		}
	}
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(10 * time.Microsecond) }
	fmt.Printf("load %.0f MB/s for %s: probe syncs %d, p50 %s, p99 %s, max %s, ≥ 100 ms %d; load's slowest sync %s\n",
		*mbps, *dur, len(lat), q(0.5), q(0.99), q(1), stalls, loadMax.Round(10*time.Microsecond))
}

// runProbe writes and syncs one 4 KiB block every 50 ms until end.
func runProbe(f *os.File, end time.Time) []time.Duration {
	block := make([]byte, 4096)
	var lat []time.Duration
	for time.Now().Before(end) {
		start := time.Now()
		if _, err := f.WriteAt(block, 0); err != nil {
			log.Fatalf("diskload: probe: %v", err)
		}
		if err := f.Sync(); err != nil {
			log.Fatalf("diskload: probe: %v", err)
		}
		lat = append(lat, time.Since(start))
		time.Sleep(50 * time.Millisecond)
	}
	return lat
}

// runLoad overwrites a 64 MiB region at mbps, syncing every 20 ms, until
// end, and returns its slowest sync.
func runLoad(f *os.File, mbps float64, end time.Time) (time.Duration, error) {
	const (
		tick   = 20 * time.Millisecond
		region = 64 << 20
	)
	block := make([]byte, 4096)
	perTick := int(mbps * 1e6 * tick.Seconds() / float64(len(block)))
	var (
		off     int64
		slowest time.Duration
	)
	for time.Now().Before(end) {
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
	return slowest, nil
}
