// Package load drives orders at a given rate and measures end-to-end saga
// latency: from the CreateOrder call to the saga reaching a terminal state.
package load

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Tracker pairs order starts with their finishes.
type Tracker struct {
	mu        sync.Mutex
	started   map[string]time.Time
	early     map[string]time.Time // finished before Start was recorded
	latencies []time.Duration
	outcomes  map[string]int
	done      chan struct{}
	want      int
	lastDone  time.Time
	slowOver  time.Duration
	onSlow    func(start, end time.Time)
}

// NewTracker expects want finishes.
func NewTracker(want int) *Tracker {
	return &Tracker{started: map[string]time.Time{}, early: map[string]time.Time{}, outcomes: map[string]int{}, done: make(chan struct{}), want: want}
}

// Start records that id was created at t.
func (tr *Tracker) Start(id string, t time.Time) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if end, ok := tr.early[id]; ok {
		delete(tr.early, id)
		tr.finish(t, end)
		return
	}
	tr.started[id] = t
}

// Finish records that id reached outcome.
func (tr *Tracker) Finish(id, outcome string) {
	now := time.Now()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.outcomes[outcome]++
	start, ok := tr.started[id]
	if !ok {
		tr.early[id] = now
		return
	}
	delete(tr.started, id)
	tr.finish(start, now)
}

// OnSlow has f called once, on a goroutine of its own, for the first saga
// that takes longer than over (the benchmark snapshots a runtime trace then).
func (tr *Tracker) OnSlow(over time.Duration, f func(start, end time.Time)) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.slowOver, tr.onSlow = over, f
}

func (tr *Tracker) finish(start, end time.Time) {
	tr.latencies = append(tr.latencies, end.Sub(start))
	if f := tr.onSlow; f != nil && end.Sub(start) > tr.slowOver {
		tr.onSlow = nil
		go f(start, end)
	}
	tr.lastDone = end
	if len(tr.latencies) == tr.want {
		close(tr.done)
	}
}

// Done is closed when every expected order finished.
func (tr *Tracker) Done() <-chan struct{} { return tr.done }

// Result summarises a run.
type Result struct {
	Orders     int
	Finished   int
	Outcomes   map[string]int
	Elapsed    time.Duration // first create to last finish
	Throughput float64       // finished sagas per second
	P50, P99   time.Duration
	Max        time.Duration
	Offered    float64 // requested rate (0: as fast as possible)
}

func (r Result) String() string {
	return fmt.Sprintf("%d/%d sagas finished in %s: %.0f sagas/s, p50 %s, p99 %s, max %s, outcomes %v",
		r.Finished, r.Orders, r.Elapsed.Round(time.Millisecond), r.Throughput, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond), r.Outcomes)
}

// Drive creates n orders with create, at rate per second (0: as fast as
// concurrency allows), waits up to timeout for them to finish and reports.
func Drive(ctx context.Context, tr *Tracker, n int, rate float64, concurrency int, timeout time.Duration, create func(ctx context.Context, i int) (string, error)) (Result, error) {
	if concurrency <= 0 {
		concurrency = 32
	}
	start := time.Now()
	jobs := make(chan int)
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t := time.Now()
				id, err := create(ctx, i)
				if err != nil {
					select {
					case errs <- fmt.Errorf("order %d: %w", i, err):
					default:
					}
					continue
				}
				tr.Start(id, t)
			}
		}()
	}
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
feed:
	for i := range n {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return Result{}, err
	default:
	}
	select {
	case <-tr.Done():
	case <-time.After(timeout):
	case <-ctx.Done():
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	lat := slices.Clone(tr.latencies)
	slices.Sort(lat)
	res := Result{Orders: n, Finished: len(lat), Outcomes: maps(tr.outcomes), Offered: rate}
	if len(lat) == 0 {
		return res, fmt.Errorf("load: no saga finished within %s", timeout)
	}
	res.Elapsed = tr.lastDone.Sub(start)
	res.Throughput = float64(len(lat)) / res.Elapsed.Seconds()
	res.P50, res.P99, res.Max = Quantile(lat, 0.50), Quantile(lat, 0.99), lat[len(lat)-1]
	if len(lat) < n {
		return res, fmt.Errorf("load: only %d of %d sagas finished within %s", len(lat), n, timeout)
	}
	return res, nil
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted, which must not be
// empty: the sample at rank ⌊(n-1)·q⌋.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted)-1) * q)
	return sorted[i]
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
