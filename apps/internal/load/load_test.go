package load

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestDrivePairsStartsWithFinishesInAnyOrder(t *testing.T) {
	tr := NewTracker(20)
	res, err := Drive(context.Background(), tr, 20, 0, 4, 5*time.Second, func(_ context.Context, i int) (string, error) {
		id := fmt.Sprint(i)
		if i%2 == 0 {
			tr.Finish(id, "completed") // finishes before Start is recorded
		} else {
			go func() { time.Sleep(time.Millisecond); tr.Finish(id, "rejected") }()
		}
		return id, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Finished != 20 || res.Outcomes["completed"] != 10 || res.Outcomes["rejected"] != 10 || res.P99 < res.P50 {
		t.Errorf("result %v", res)
	}
}

func TestOnSlowFiresOnceForTheFirstSagaOverTheBound(t *testing.T) {
	tr := NewTracker(4)
	got := make(chan time.Duration, 4)
	tr.OnSlow(50*time.Millisecond, func(start, end time.Time) { got <- end.Sub(start) })
	t0 := time.Now()
	for i, took := range []time.Duration{10, 40, 80, 90} { // ms
		id := fmt.Sprint(i)
		tr.Start(id, t0.Add(-took*time.Millisecond))
		tr.Finish(id, "completed")
	}
	select {
	case d := <-got:
		if d < 80*time.Millisecond || d >= 90*time.Millisecond {
			t.Errorf("called for a saga of %s, want the first one over 50ms (80ms)", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not called for sagas of 80 and 90 ms")
	}
	select {
	case d := <-got:
		t.Errorf("called again, for %s", d)
	case <-time.After(50 * time.Millisecond):
	}
}
