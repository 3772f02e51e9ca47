package system

import (
	"runtime"
	"testing"
)

func TestOneMoreProc(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		add       int
	}{
		{"adds one to the default", "", 1},
		{"keeps what the environment chose", "3", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tc.env)
			before := runtime.GOMAXPROCS(0)
			defer runtime.GOMAXPROCS(before)
			OneMoreProc()
			if got, want := runtime.GOMAXPROCS(0), before+tc.add; got != want {
				t.Errorf("GOMAXPROCS %d; want %d", got, want)
			}
		})
	}
}
