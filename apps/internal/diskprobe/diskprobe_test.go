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
	time.Sleep(60 * time.Millisecond)
	syncs, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(syncs) < 3 {
		t.Fatalf("%d syncs in 60ms at one per 5ms; want at least 3", len(syncs))
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
