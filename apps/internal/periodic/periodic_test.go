package periodic

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRunRepeatsReportsErrorsAndStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	var reported []error
	errOdd := errors.New("odd call")
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, time.Millisecond, func(context.Context) error {
			calls++
			if calls == 5 {
				cancel()
				return errors.New("after cancel: not reported")
			}
			if calls%2 == 1 {
				return errOdd
			}
			return nil
		}, func(err error) { reported = append(reported, err) })
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v, want nil once its context ends", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after its context ended")
	}
	if calls != 5 {
		t.Errorf("fn ran %d times, want 5", calls)
	}
	if len(reported) != 2 || !errors.Is(reported[0], errOdd) || !errors.Is(reported[1], errOdd) {
		t.Errorf("reported %v, want the errors of calls 1 and 3 only", reported)
	}
}
