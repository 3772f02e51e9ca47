package diskprobe

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStartTimesEverySyncUntilStopped(t *testing.T) {
	stop, err := Start(t.TempDir(), 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Not a count per interval: this machine's disk stalls a sync for
	// hundreds of ms now and then (docs/BENCHMARKS.md, round 12), and stop
	// waits for the sync in flight.
	time.Sleep(100 * time.Millisecond)
	syncs, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(syncs) == 0 {
		t.Fatal("no sync timed in 100ms at one per 5ms")
	}
	if !slices.IsSorted(syncs) || syncs[0] <= 0 {
		t.Errorf("syncs %v: want positive durations, sorted", syncs)
	}
}

func TestStartFailsOnADirectoryThatIsNotThere(t *testing.T) {
	_, err := Start(filepath.Join(t.TempDir(), "missing"), time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "disk probe") {
		t.Fatalf("err = %v; want a disk probe error", err)
	}
}
