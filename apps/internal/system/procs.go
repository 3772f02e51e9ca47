package system

import (
	"os"
	"runtime"
)

// OneMoreProc raises GOMAXPROCS by one, unless the GOMAXPROCS environment
// variable chose it. The benchmark and the local runner call it once, at
// start: they run six SQLite services in one process.
//
// Each service's WAL checkpoint ends in an fsync that waits on the disk
// (0.7 ms typical, 3–9 ms at the tail here, about 30 a second at 2,500
// orders/s). A goroutine in a system call keeps its P until the runtime's
// monitor takes it back, and the monitor, finding nothing to take for a
// while, polls only every 10 ms, so it rarely does. With one P per core, a
// core then runs no Go code for the whole fsync while other goroutines wait
// (round 10 in docs/BENCHMARKS.md, from an execution trace). The extra P
// costs some CPU in scheduling when no one is blocked. Setting GOMAXPROCS
// explicitly also stops the runtime from following the container's CPU
// limit as it changes.
func OneMoreProc() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
}
