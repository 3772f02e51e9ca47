package order

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// BenchmarkSagaSQLite measures the order service's own database work for one
// saga on SQLite: its create and its three replies, committed in groups of
// batch, the way group commit and the batching consumer commit them. The
// service's one SQLite connection is the stage every saga of the whole
// system passes four times, so its time per saga bounds the system's
// throughput and sets how long callers queue for it (docs/BENCHMARKS.md).
// The outbox relay runs as in the service, with Kafka left out: it takes
// each round's messages and deletes published rows every 100ms.
// ns/op is per saga.
func BenchmarkSagaSQLite(b *testing.B) {
	for _, batch := range []int{1, 4, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			svc := newTestService(b)
			sh := svc.shards[0]
			ctx := context.Background()
			relay := outbox.NewRelay(svc.cfg.DB, discard{}, outbox.NewWake(), slog.New(slog.DiscardHandler))
			now := time.Now()
			kinds := []string{"StockReserved", "PaymentAuthorized", "ShipmentScheduled"}
			ids := make([]string, batch)
			written := writtenBytes()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				for i := range ids {
					ids[i] = events.NewID()
					created := &eventsv1.OrderCreated{OrderId: ids[i], CustomerId: "alice", Currency: DefaultCurrency, TotalCents: 100,
						Items: []*eventsv1.LineItem{{ProductId: "sku-1", Quantity: 1, UnitPriceCents: 100}}}
					saga, out := Start(created, ids[i], now, time.Minute)
					sh.queue = append(sh.queue, &createJob{ctx: ctx, saga: saga, out: out, meta: events.Meta{AggregateID: ids[i], CorrelationID: ids[i]}, done: make(chan error, 1)})
				}
				jobs := sh.queue
				svc.commitCreates(sh)
				for _, j := range jobs {
					if err := <-j.done; err != nil {
						b.Fatal(err)
					}
				}
				for _, kind := range kinds {
					replies := make([]eventbus.Delivery, batch)
					eventIDs := make([]string, batch)
					for i, id := range ids {
						replies[i] = reply(replyOf(kind, id))
						replies[i].Env.AggregateId, replies[i].Env.CorrelationId = id, id
						eventIDs[i] = replies[i].Env.GetId()
					}
					err := svc.cfg.DB.InTx(ctx, func(tx *store.Tx) error {
						if _, err := tx.MarkProcessedAll(ctx, eventIDs); err != nil {
							return err
						}
						for _, d := range replies {
							if err := svc.Handle(ctx, tx, d); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				// A saga sends five messages; the hand-off holds them all, so
				// the relay publishes without reading the table.
				if n, err := relay.Flush(ctx); err != nil || n != 5*batch {
					b.Fatalf("relay published %d messages (%v), want %d", n, err, 5*batch)
				}
			}
			b.StopTimer()
			if w := writtenBytes(); w >= 0 && written >= 0 {
				b.ReportMetric(float64(w-written)/float64(b.N), "written-B/saga")
			}
			var completed int
			if err := svc.cfg.DB.QueryRow(ctx, `SELECT count(*) FROM sagas WHERE state = ?`, string(Completed)).Scan(&completed); err != nil {
				b.Fatal(err)
			}
			if want := (b.N + batch - 1) / batch * batch; completed != want {
				b.Fatalf("%d sagas completed, want %d", completed, want)
			}
		})
	}
}

// writtenBytes is what the process has handed to write calls so far (Linux's
// /proc/self/io wchar; -1 elsewhere). Here that is the database's WAL and
// checkpoint writes: every byte of them reaches the disk at the next
// checkpoint, so it is the saga's I/O cost, which CPU time does not show.
func writtenBytes() int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// discard is a Kafka writer that accepts everything.
type discard struct{}

func (discard) WriteMessages(context.Context, ...kafka.Message) error { return nil }

// BenchmarkOrderShards measures the order service's database stage under
// contention with its orders in 1 or 2 SQLite shards: 32 callers each place
// an order through CreateOrder (group commit per shard) and apply its three
// replies, one transaction each, in the order's shard, while a relay per
// shard publishes to nowhere. With one shard every write waits for the one
// connection; with two, the shards' writes run side by side. ns/op is per
// saga.
func BenchmarkOrderShards(b *testing.B) {
	kinds := []string{"StockReserved", "PaymentAuthorized", "ShipmentScheduled"}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			svc := newShardedTestService(b, n)
			ctx, stop := context.WithCancel(context.Background())
			var relays sync.WaitGroup
			for _, sh := range svc.shards {
				relay := outbox.NewRelay(sh.db, discard{}, outbox.NewWake(), slog.New(slog.DiscardHandler))
				relays.Go(func() { relay.Run(ctx, context.Background()) })
			}
			defer func() { stop(); relays.Wait() }()
			req := &orderv1.CreateOrderRequest{CustomerId: "alice", Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}}}
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := svc.CreateOrder(ctx, req)
					if err != nil {
						b.Error(err)
						return
					}
					id := resp.GetOrderId()
					for _, kind := range kinds {
						d := reply(replyOf(kind, id))
						d.Env.AggregateId, d.Env.CorrelationId = id, id
						err := svc.shards[svc.ShardOf(d)].db.InTx(ctx, func(tx *store.Tx) error {
							if _, err := tx.MarkProcessedAll(ctx, []string{d.Env.GetId()}); err != nil {
								return err
							}
							return svc.Handle(ctx, tx, d)
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
			b.StopTimer()
			if got := countRows(b, svc, "sagas"); got < b.N {
				b.Fatalf("%d sagas stored, want %d", got, b.N)
			}
		})
	}
}
