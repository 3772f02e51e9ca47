package system

import (
	"os"
	"runtime"
)

// OneMoreProc raises GOMAXPROCS by one, unless the GOMAXPROCS environment
// variable chose it. The benchmark and the local runner call it once, at
// start: they run six SQLite services in one process, and a goroutine in a
// WAL checkpoint's fsync (3–9 ms at the tail) keeps its P until the runtime's
// monitor takes it back, up to 20 ms later, leaving a core without Go code
// meanwhile (docs/BENCHMARKS.md, round 10). Setting GOMAXPROCS also stops
// the runtime from following a container's changing CPU limit.
func OneMoreProc() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
}
