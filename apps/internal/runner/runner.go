// Package runner runs one service unit: migrations, the outbox relay, the
// consumer-group member and background workers, with a graceful stop that
// finishes in-flight messages and a hard kill that abandons them (for tests
// of crash recovery).
package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/periodic"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
)

// Unit is one service as the runner sees it.
type Unit struct {
	// Name is the service name and its consumer group.
	Name string
	DB   *store.DB
	// Shards, if set, are the unit's databases when it splits its rows by
	// key (the order service on SQLite; DB is then ignored): each gets the
	// migrations, an outbox relay and the processed-event pruner, and the
	// consumer applies each batch's messages in the shard ShardOf names.
	Shards  []*store.DB
	ShardOf func(eventbus.Delivery) int
	// Migrations holds the service's goose .sql files at its root.
	Migrations fs.FS
	Topics     []string
	Handle     eventbus.Handler
	// Wake is the outbox wake the service itself notifies after its own
	// commits (API writes); the runner also wakes it after consumed batches.
	Wake outbox.Wake
	// Workers run until their context ends (timeout sweepers, senders).
	Workers []func(ctx context.Context) error
	// MaxBatch overrides the consumer's batch size.
	MaxBatch int
	// Linger, if set, is the consumer's batch window (eventbus.Config.Linger).
	Linger time.Duration
	// FetchMinBytes and FetchWait, if set, hold each fetch at the broker
	// (eventbus.Config.FetchMinBytes).
	FetchMinBytes int
	FetchWait     time.Duration
}

// Env is what all units in a process share.
type Env struct {
	Brokers []string
	Logger  *slog.Logger
	Tracer  trace.Tracer
	Metrics *telemetry.Metrics
	// Writer builds the Kafka writer for a unit (default eventbus.NewWriter);
	// tests wrap it to inject faults such as duplicate publishing.
	Writer func(brokers []string) outbox.Writer
	// ProcessedRetention is how long a unit keeps its processed-event
	// records (default DefaultProcessedRetention). A duplicate can only
	// arrive while its original is still in a topic or in a producer's
	// outbox, so it must exceed the topics' retention plus the longest
	// outage a producer may come back from. They are pruned hourly.
	ProcessedRetention time.Duration
}

// DefaultProcessedRetention is twice the platform's default topic
// retention (168h).
const DefaultProcessedRetention = 14 * 24 * time.Hour

// Running is a started unit.
type Running struct {
	Name    string
	stop    context.CancelFunc
	kill    context.CancelFunc
	wg      sync.WaitGroup
	relays  []*outbox.Relay
	writer  outbox.Writer
	errMu   sync.Mutex
	errs    []error
	stopped bool
}

// DBs returns the unit's databases: its shards, or DB.
func (u Unit) DBs() []*store.DB {
	if len(u.Shards) > 0 {
		return u.Shards
	}
	return []*store.DB{u.DB}
}

// Migrate applies the unit's migrations to each of its databases.
func Migrate(ctx context.Context, u Unit) error {
	dbs := u.DBs()
	for i, db := range dbs {
		if err := db.Migrate(ctx, u.Migrations); err != nil {
			if len(dbs) > 1 {
				return fmt.Errorf("runner: %s: shard %d: %w", u.Name, i, err)
			}
			return fmt.Errorf("runner: %s: %w", u.Name, err)
		}
	}
	return nil
}

// Start migrates and starts u.
func Start(ctx context.Context, u Unit, env Env) (*Running, error) {
	if err := Migrate(ctx, u); err != nil {
		return nil, err
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("unit", u.Name)
	var w outbox.Writer
	if env.Writer != nil {
		w = env.Writer(env.Brokers)
	} else {
		w = eventbus.NewWriter(env.Brokers)
	}
	if u.Wake == nil {
		u.Wake = outbox.NewWake()
	}
	dbs := u.DBs()
	// One relay per database; shard 0's is the one u.Wake wakes. On SQLite
	// (the only sharded case) each relay is also woken by its own commits.
	relays, wakes := make([]*outbox.Relay, len(dbs)), make([]outbox.Wake, len(dbs))
	for i, db := range dbs {
		wakes[i] = u.Wake
		if i > 0 {
			wakes[i] = outbox.NewWake()
		}
		relays[i] = outbox.NewRelay(db, w, wakes[i], logger)
	}
	cons, err := eventbus.NewConsumer(eventbus.Config{
		Group: u.Name, Brokers: env.Brokers, Topics: u.Topics, DB: u.DB, Shards: u.Shards, ShardOf: u.ShardOf, Handle: u.Handle,
		DeadLetter: w, MaxBatch: u.MaxBatch, Linger: u.Linger, FetchMinBytes: u.FetchMinBytes, FetchWait: u.FetchWait, Logger: logger, Tracer: env.Tracer, Metrics: env.Metrics,
		AfterCommit: func() {
			for _, wk := range wakes {
				wk.Notify()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	work, kill := context.WithCancel(context.WithoutCancel(ctx))
	stop, cancelStop := context.WithCancel(work)
	r := &Running{Name: u.Name, stop: cancelStop, kill: kill, relays: relays, writer: w}
	r.goRun("consumer", func() error { return cons.Run(stop, work) })
	for _, relay := range relays {
		r.goRun("relay", func() error { return relay.Run(stop, work) })
	}
	for _, fn := range u.Workers {
		r.goRun("worker", func() error { return fn(stop) })
	}
	retention := env.ProcessedRetention
	if retention <= 0 {
		retention = DefaultProcessedRetention
	}
	for _, db := range dbs {
		r.goRun("prune", func() error { return pruneProcessed(stop, db, retention, time.Hour, time.Now, logger) })
	}
	return r, nil
}

// pruneProcessed deletes, every interval, the processed-event records of
// events made more than retention ago (event ids sort by time).
func pruneProcessed(ctx context.Context, db *store.DB, retention, every time.Duration, now func() time.Time, logger *slog.Logger) error {
	return periodic.Run(ctx, every, func(ctx context.Context) error {
		n, err := db.PruneProcessed(ctx, events.IDBefore(now().Add(-retention)), 1000)
		if n > 0 {
			logger.Info("pruned processed events", "deleted", n, "retention", retention.String())
		}
		return err
	}, func(err error) { logger.Warn("pruning processed events failed; will retry", "error", err) })
}

// goRun runs fn with pprof labels naming the unit and the loop, so a CPU
// profile of a process running every service splits by service.
func (r *Running) goRun(loop string, fn func() error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		var err error
		pprof.Do(context.Background(), pprof.Labels("unit", r.Name, "loop", loop), func(context.Context) { err = fn() })
		if err != nil {
			r.errMu.Lock()
			r.errs = append(r.errs, err)
			r.errMu.Unlock()
		}
	}()
}

// Stop ends the unit gracefully: the consumer applies and commits the batch
// it holds, then the relay publishes what is left in the outbox.
func (r *Running) Stop(ctx context.Context) error {
	if r.stopped {
		return nil
	}
	r.stopped = true
	r.stop()
	r.wg.Wait()
	errs := r.Errors()
	for _, relay := range r.relays {
		errs = append(errs, drain(ctx, relay))
	}
	r.kill()
	r.closeWriter()
	return errors.Join(errs...)
}

// drain publishes everything left in relay's outbox and deletes it.
func drain(ctx context.Context, relay *outbox.Relay) error {
	for {
		n, err := relay.Flush(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return relay.Compact(ctx)
		}
	}
}

// Kill ends the unit at once, as a crash would: the batch in hand is rolled
// back and its offsets stay uncommitted.
func (r *Running) Kill() {
	if r.stopped {
		return
	}
	r.stopped = true
	r.kill()
	r.wg.Wait()
	r.closeWriter()
}

func (r *Running) closeWriter() {
	if c, ok := r.writer.(interface{ Close() error }); ok {
		c.Close()
	}
}

// Errors returns the errors the unit's loops ended with.
func (r *Running) Errors() []error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return append([]error(nil), r.errs...)
}

// Writer is the default writer constructor, exposed for wrapping.
func Writer(brokers []string) outbox.Writer { return eventbus.NewWriter(brokers) }

var _ outbox.Writer = (*kafka.Writer)(nil)
