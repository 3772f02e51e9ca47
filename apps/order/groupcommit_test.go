package order

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// While the database is busy (the reply consumer holds the one SQLite
// connection), creates queue up; they must all go into the next commit
// rather than one commit for the first and another for the rest.
func TestCreatesQueuedWhileDatabaseBusyShareOneCommit(t *testing.T) {
	const callers = 8
	svc := newTestService(t)
	var commits atomic.Int32
	svc.cfg.AfterCommit = func() { commits.Add(1) }
	ctx := context.Background()

	held, release := make(chan struct{}), make(chan struct{})
	busy := make(chan error, 1)
	go func() {
		busy <- svc.cfg.DB.InTx(ctx, func(*store.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.CreateOrder(ctx, &orderv1.CreateOrderRequest{CustomerId: "alice", Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}})
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for queued := 0; queued < callers; {
		sh := svc.shards[0]
		sh.mu.Lock()
		queued = len(sh.queue)
		sh.mu.Unlock()
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("%d of %d creates queued while the database was busy: the leader took its group before it held the database", queued, callers)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
	if got := commits.Load(); got != 1 {
		t.Errorf("%d commits for %d creates queued together, want 1", got, callers)
	}
	if got := countRows(t, svc, "sagas"); got != callers {
		t.Errorf("%d sagas stored, want %d", got, callers)
	}
}
