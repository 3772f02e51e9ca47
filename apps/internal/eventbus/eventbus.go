// Package eventbus connects services to Kafka through segmentio/kafka-go:
// a tuned writer (acks=all, batching, key hashing) and a batching consumer
// that applies a consumed batch in one database transaction together with
// the processed-event records, commits offsets only after that transaction
// is durable, retries failures with backoff and dead-letters what still fails.
//
// kafka-go has no idempotent or transactional producer; exactly-once effects
// come from the outbox (producer side) and the processed-event table
// (consumer side), not from Kafka.
package eventbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// NewWriter returns a writer that waits for all in-sync replicas, batches
// up to 256 messages per partition, and partitions by key (the order id) so
// each order's messages stay in order. Its callers (the outbox relay, the
// dead-letter path) write synchronously and hand over everything they have
// in one call, so nothing more can join a batch while they wait: kafka-go
// holds every batch that is not full for BatchTimeout, which would only add
// that much latency to every hop of a saga. Hence 50µs, not milliseconds.
// kafka-go allocates room for BatchSize messages with every batch, however
// few it holds: at 1000 that was 152 KB zeroed per batch, several per saga
// at moderate rates. A relay round of 1000 rows spreads over the topics'
// partitions, so 256 per partition rarely splits one (Produce requests per
// saga at full speed 0.16 either way; docs/BENCHMARKS.md, round 8).
func NewWriter(brokers []string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    256,
		BatchBytes:   8 << 20,
		BatchTimeout: 50 * time.Microsecond,
		MaxAttempts:  10,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
	}
}

// Delivery is one decoded message handed to a Handler.
type Delivery struct {
	Msg     kafka.Message
	Env     *eventsv1.Envelope
	Payload proto.Message
}

// Meta returns the envelope metadata for messages caused by d.
func (d Delivery) Meta() events.Meta {
	return events.Meta{AggregateID: d.Env.GetAggregateId(), CorrelationID: d.Env.GetCorrelationId(), CausationID: d.Env.GetId()}
}

// Handler applies one message inside tx. It must only change state through
// tx (outbox rows included) so that the effect commits or rolls back as one.
type Handler func(ctx context.Context, tx *store.Tx, d Delivery) error

// Config configures a Consumer.
type Config struct {
	// Group is the consumer group; one per service.
	Group   string
	Brokers []string
	Topics  []string
	DB      *store.DB
	// Shards, if set, are the service's databases when it splits its rows
	// by key (DB is then ignored), and ShardOf says which one a message
	// belongs to. Each consumed batch is split by shard and the shards'
	// transactions run concurrently, each with its messages' processed
	// records; offsets are committed once all of them are.
	Shards  []*store.DB
	ShardOf func(Delivery) int
	Handle  Handler
	// DeadLetter writes messages that still fail after MaxAttempts to the
	// consumed topic's dead-letter partner (<topic>.dlq).
	DeadLetter outbox.Writer
	// MaxBatch is the most messages applied in one transaction (default 500).
	MaxBatch int
	// MaxAttempts bounds the tries of a failing message (default 4).
	MaxAttempts int
	// MaxWait is the reader's fetch wait (at least 2s, see NewConsumer).
	MaxWait time.Duration
	// FetchMinBytes and FetchWait, if set, make each fetch wait at the
	// broker until FetchMinBytes have arrived or FetchWait has passed
	// (Kafka's fetch.min.bytes and fetch.max.wait.ms), where by default a
	// fetch returns as soon as one message is there. For consumers off the
	// saga's path, which may trail by FetchWait: at 2,500 orders/s it cut
	// the Kafka fetches per saga from 3.3 to 1.3 (docs/BENCHMARKS.md).
	FetchMinBytes int
	FetchWait     time.Duration
	// Linger, if set, makes every batch collect messages for that long (or
	// until MaxBatch) before it is applied, instead of closing at the first
	// pause in arrivals: for consumers off the saga's path (read models,
	// e-mail), where fewer, fuller batches leave the CPU to the saga steps.
	Linger  time.Duration
	Logger  *slog.Logger
	Tracer  trace.Tracer
	Metrics *telemetry.Metrics
	// AfterCommit runs after each committed batch (e.g. wake the outbox relay).
	AfterCommit func()
	// CommitEvery bounds how long applied messages wait for their offsets to
	// be committed (default 100ms). Offsets are only ever committed after the
	// batch's transaction; committing them lazily only means that a crash
	// redelivers a little more, which the processed-event records absorb.
	CommitEvery time.Duration
}

// Consumer is a batching, idempotent consumer-group member.
type Consumer struct {
	cfg    Config
	reader *kafka.Reader

	// applied holds, per topic-partition, the last message whose effects
	// are committed to the database but whose offset is not yet committed.
	applied    map[topicPartition]kafka.Message
	lastCommit time.Time
}

type topicPartition struct {
	topic     string
	partition int
}

// NewConsumer validates cfg and applies defaults.
func NewConsumer(cfg Config) (*Consumer, error) {
	var errs []error
	if cfg.Group == "" {
		errs = append(errs, errors.New("Group is empty: set the service's consumer group"))
	}
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("Brokers is empty: set at least one broker address"))
	}
	if len(cfg.Topics) == 0 {
		errs = append(errs, errors.New("Topics is empty: set the topics to consume"))
	}
	if len(cfg.Shards) == 0 && cfg.DB != nil {
		cfg.Shards = []*store.DB{cfg.DB}
	}
	if len(cfg.Shards) == 0 || slices.Contains(cfg.Shards, nil) || cfg.Handle == nil || cfg.DeadLetter == nil {
		errs = append(errs, errors.New("DB (or Shards), Handle and DeadLetter are required"))
	}
	if len(cfg.Shards) > 1 && cfg.ShardOf == nil {
		errs = append(errs, fmt.Errorf("ShardOf is required with %d Shards", len(cfg.Shards)))
	}
	if cfg.FetchMinBytes < 0 || cfg.FetchWait < 0 || (cfg.FetchMinBytes > 1) != (cfg.FetchWait > 0) {
		errs = append(errs, fmt.Errorf("FetchMinBytes %d and FetchWait %s: set both (bytes > 1, wait > 0) or neither", cfg.FetchMinBytes, cfg.FetchWait))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("eventbus: consumer %q: %w", cfg.Group, err)
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 4
	}
	// kafka-go subtracts an assumed 1s round trip from MaxWait before
	// asking the broker to wait, so 1s would make every idle fetch return at
	// once (a busy poll); 2s gives a real 1s long poll.
	if cfg.MaxWait < 2*time.Second {
		cfg.MaxWait = 2 * time.Second
	}
	if cfg.FetchWait > 0 {
		cfg.MaxWait = time.Second + cfg.FetchWait // the broker waits FetchWait
	} else {
		cfg.FetchMinBytes = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CommitEvery <= 0 {
		cfg.CommitEvery = 100 * time.Millisecond
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("eventbus")
	}
	return &Consumer{cfg: cfg}, nil
}

// Run consumes until stop ends, then finishes the batch in hand (applies and
// commits it) before returning: a graceful stop loses no work. work bounds
// the processing itself; ending it abandons the batch in hand uncommitted,
// which is what a crash does.
func (c *Consumer) Run(stop, work context.Context) error {
	c.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           c.cfg.Brokers,
		GroupID:           c.cfg.Group,
		GroupTopics:       c.cfg.Topics,
		MinBytes:          c.cfg.FetchMinBytes,
		MaxBytes:          16 << 20,
		MaxWait:           c.cfg.MaxWait,
		QueueCapacity:     2 * c.cfg.MaxBatch,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    0, // commit synchronously, after the effect is durable
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  200 * time.Millisecond,
		ReadBackoffMin:    5 * time.Millisecond,
		ReadBackoffMax:    100 * time.Millisecond,
	})
	defer c.reader.Close()
	c.applied, c.lastCommit = map[topicPartition]kafka.Message{}, time.Now()
	lagTick := time.NewTicker(time.Second)
	defer lagTick.Stop()
	for {
		fctx, cancel := stop, context.CancelFunc(func() {})
		if len(c.applied) > 0 {
			// Wake up in time to commit what is applied even when idle.
			fctx, cancel = context.WithDeadline(stop, c.lastCommit.Add(c.cfg.CommitEvery))
		}
		first, err := c.reader.FetchMessage(fctx)
		cancel()
		if err != nil {
			if stop.Err() != nil || work.Err() != nil {
				if work.Err() == nil {
					// Graceful stop: everything applied gets its offset.
					return c.commit(work)
				}
				return nil
			}
			if fctx.Err() != nil {
				if err := c.commit(work); err != nil {
					return err
				}
				continue
			}
			c.cfg.Logger.Warn("fetch failed", "error", err)
			continue
		}
		batch := c.fill(stop, first)
		if err := c.process(work, batch); err != nil {
			if work.Err() != nil {
				return nil
			}
			// Offsets stay uncommitted; the group redelivers after restart
			// or rebalance, and processed-event records absorb repeats.
			return fmt.Errorf("eventbus: %s: %w", c.cfg.Group, err)
		}
		select {
		case <-lagTick.C:
			if c.cfg.Metrics != nil {
				c.cfg.Metrics.ConsumerLag.WithLabelValues(c.cfg.Group).Set(float64(c.reader.Stats().Lag))
			}
		default:
		}
	}
}

// fill adds the messages already fetched, or arriving while they keep
// coming (each within fillGap of the last, for at most fillMax in all), to
// the batch: under load batches grow (one commit then serves many
// messages), and at low rates a lone message waits only fillGap.
func (c *Consumer) fill(stop context.Context, first kafka.Message) []kafka.Message {
	const (
		fillGap = 200 * time.Microsecond
		fillMax = 2 * time.Millisecond
	)
	batch := []kafka.Message{first}
	// One context for the whole fill, ended by whichever comes first: the
	// cap, or a gap timer re-armed by each message (a deadline context per
	// message cost more than the fetch itself).
	window, pause := fillMax, fillGap
	if c.cfg.Linger > 0 {
		window, pause = c.cfg.Linger, c.cfg.Linger
	}
	ctx, cancel := context.WithTimeout(stop, window)
	defer cancel()
	gap := time.AfterFunc(pause, cancel)
	defer gap.Stop()
	for len(batch) < c.cfg.MaxBatch {
		m, err := c.reader.FetchMessage(ctx)
		if err != nil {
			break
		}
		batch = append(batch, m)
		if c.cfg.Linger == 0 {
			gap.Reset(fillGap)
		}
	}
	return batch
}

type item struct {
	d   Delivery
	err error // why the message cannot be applied (it is dead-lettered)
}

// split groups the batch's items by shard, keeping their order (an
// aggregate's messages all go to one shard, in the order consumed).
// Undecodable messages go to shard 0, which only dead-letters them.
func (c *Consumer) split(items []item) [][]*item {
	groups := make([][]*item, len(c.cfg.Shards))
	if len(groups) == 1 {
		groups[0] = make([]*item, len(items))
		for i := range items {
			groups[0][i] = &items[i]
		}
		return groups
	}
	for i := range items {
		s := 0
		if items[i].err == nil {
			s = c.cfg.ShardOf(items[i].d)
		}
		if s < 0 || s >= len(groups) {
			items[i].err = fmt.Errorf("ShardOf gave shard %d of %d", s, len(groups))
			s = 0
		}
		groups[s] = append(groups[s], &items[i])
	}
	return groups
}

// applyBatch applies items in one transaction on db, together with their
// processed-event records.
func (c *Consumer) applyBatch(ctx context.Context, db *store.DB, items []*item) error {
	return db.InTx(ctx, func(tx *store.Tx) error {
		ids := make([]string, 0, len(items))
		for _, it := range items {
			if it.err == nil {
				ids = append(ids, it.d.Env.GetId())
			}
		}
		fresh, err := tx.MarkProcessedAll(ctx, ids)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.err != nil {
				continue
			}
			if err := c.apply(ctx, tx, it.d, fresh.Take(it.d.Env.GetId())); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Consumer) process(ctx context.Context, batch []kafka.Message) error {
	start := time.Now()
	items := make([]item, len(batch))
	for i, m := range batch {
		env, payload, err := events.Decode(m.Value)
		items[i] = item{d: Delivery{Msg: m, Env: env, Payload: payload}, err: err}
	}
	groups := c.split(items)
	failed := make([]error, len(groups))
	if len(groups) == 1 {
		failed[0] = c.applyBatch(ctx, c.cfg.Shards[0], groups[0])
	} else {
		var wg sync.WaitGroup
		for s, g := range groups {
			if len(g) > 0 {
				wg.Go(func() { failed[s] = c.applyBatch(ctx, c.cfg.Shards[s], g) })
			}
		}
		wg.Wait()
	}
	for s, err := range failed {
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// One bad message must not hold back the rest: apply each on its own,
		// in order, retrying with backoff, and dead-letter what still fails.
		c.cfg.Logger.Warn("batch failed; applying messages one by one", "size", len(groups[s]), "error", err)
		for _, it := range groups[s] {
			if it.err != nil {
				continue
			}
			if err := c.applyWithRetry(ctx, c.cfg.Shards[s], it.d); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				it.err = err
			}
		}
	}
	var dead []item
	for _, it := range items {
		if it.err != nil {
			dead = append(dead, it)
		}
	}
	if err := c.deadLetter(ctx, dead); err != nil {
		return err
	}
	for _, m := range batch {
		c.applied[topicPartition{m.Topic, m.Partition}] = m
	}
	if time.Since(c.lastCommit) >= c.cfg.CommitEvery {
		if err := c.commit(ctx); err != nil {
			return err
		}
	}
	if c.cfg.AfterCommit != nil {
		c.cfg.AfterCommit()
	}
	if c.cfg.Metrics != nil {
		typ := "malformed"
		if items[0].d.Env != nil {
			typ = items[0].d.Env.GetType()
		}
		c.cfg.Metrics.HandleDuration.WithLabelValues(c.cfg.Group, typ).Observe(time.Since(start).Seconds())
	}
	return nil
}

// commit commits the offsets of every applied message.
func (c *Consumer) commit(ctx context.Context) error {
	c.lastCommit = time.Now()
	if len(c.applied) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, 0, len(c.applied))
	for _, m := range c.applied {
		msgs = append(msgs, m)
	}
	if err := c.reader.CommitMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	clear(c.applied)
	return nil
}

// apply runs the handler for one message if fresh: not processed before
// (the caller has recorded it as processed in tx).
func (c *Consumer) apply(ctx context.Context, tx *store.Tx, d Delivery, fresh bool) error {
	mctx := propagation.TraceContext{}.Extract(ctx, outbox.HeaderCarrier{Headers: &d.Msg.Headers})
	mctx = telemetry.WithCorrelationID(mctx, d.Env.GetCorrelationId())
	mctx, span := c.cfg.Tracer.Start(mctx, "consume "+d.Env.GetType(), trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	if span.IsRecording() { // the attributes cost allocations; skip them when tracing is off
		span.SetAttributes(attribute.String("messaging.destination.name", d.Msg.Topic), attribute.String("messaging.consumer.group.name", c.cfg.Group),
			attribute.String("ordermesh.aggregate_id", d.Env.GetAggregateId()), attribute.String("ordermesh.event_id", d.Env.GetId()))
	}
	outcome := "ok"
	if fresh {
		if err := c.cfg.Handle(mctx, tx, d); err != nil {
			span.RecordError(err)
			c.count(d.Env.GetType(), "error")
			return fmt.Errorf("%s %s: %w", d.Env.GetType(), d.Env.GetId(), err)
		}
	} else {
		outcome = "duplicate"
		c.cfg.Logger.DebugContext(mctx, "duplicate event skipped", "event_id", d.Env.GetId(), "type", d.Env.GetType())
	}
	c.count(d.Env.GetType(), outcome)
	return nil
}

func (c *Consumer) count(typ, outcome string) {
	if c.cfg.Metrics != nil {
		c.cfg.Metrics.Messages.WithLabelValues(c.cfg.Group, typ, outcome).Inc()
	}
}

func (c *Consumer) applyWithRetry(ctx context.Context, db *store.DB, d Delivery) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 20 * time.Millisecond
	b.MaxInterval = 500 * time.Millisecond
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			fresh, err := tx.MarkProcessed(ctx, d.Env.GetId())
			if err != nil {
				return err
			}
			return c.apply(ctx, tx, d, fresh)
		})
		if err != nil {
			c.cfg.Logger.Warn("message failed", "event_id", d.Env.GetId(), "type", d.Env.GetType(), "error", err)
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(uint(c.cfg.MaxAttempts)))
	return err
}

// Header names on dead-lettered messages.
const (
	HeaderDLQError     = "dlq-error"
	HeaderDLQTopic     = "dlq-original-topic"
	HeaderDLQPartition = "dlq-original-partition"
	HeaderDLQOffset    = "dlq-original-offset"
	HeaderDLQGroup     = "dlq-consumer-group"
)

func (c *Consumer) deadLetter(ctx context.Context, dead []item) error {
	if len(dead) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, 0, len(dead))
	for _, it := range dead {
		m := it.d.Msg
		c.cfg.Logger.Error("dead-lettering message", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "error", it.err)
		hdr := append([]kafka.Header(nil), m.Headers...)
		hdr = append(hdr,
			kafka.Header{Key: HeaderDLQError, Value: []byte(it.err.Error())},
			kafka.Header{Key: HeaderDLQTopic, Value: []byte(m.Topic)},
			kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
			kafka.Header{Key: HeaderDLQGroup, Value: []byte(c.cfg.Group)},
		)
		msgs = append(msgs, kafka.Message{Topic: topics.DeadLetter(m.Topic), Key: m.Key, Value: m.Value, Headers: hdr})
		if c.cfg.Metrics != nil {
			c.cfg.Metrics.DeadLettered.WithLabelValues(c.cfg.Group).Inc()
		}
	}
	if err := c.cfg.DeadLetter.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("dead-letter %d messages: %w", len(msgs), err)
	}
	return nil
}
