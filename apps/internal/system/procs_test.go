package system

import (
	"runtime"
	"testing"
)

func TestOneMoreProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
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
			got := OneMoreProc()
			if want := before + tc.add; got != want || runtime.GOMAXPROCS(0) != want {
				t.Errorf("GOMAXPROCS %d, returned %d; want %d", runtime.GOMAXPROCS(0), got, want)
			}
			runtime.GOMAXPROCS(before)
		})
	}
}
