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
