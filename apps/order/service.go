package order

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/periodic"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/telemetry"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// Migrations are the order service's schema migrations.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// DefaultRequestRetention is how long request_id keys are kept by default.
const DefaultRequestRetention = 24 * time.Hour

// Topics the order service consumes: the participants' replies.
var Topics = []string{topics.InventoryEvents, topics.PaymentEvents, topics.ShippingEvents}

// Config configures the order service.
type Config struct {
	// DB is the service's database, unless Shards is set.
	DB *store.DB
	// Shards, if set, split the orders over several SQLite databases (DB is
	// then Shards[0]): an order's saga, events, outbox rows and request_id
	// claim live in the shard its id hashes to (store.ShardOf), and each
	// shard has its own connection, so creates and replies of different
	// shards commit concurrently. The count is fixed once a shard holds
	// data (CheckShards).
	Shards  []*store.DB
	Catalog Catalog
	// StepTimeout bounds each saga step before it is compensated or resent
	// (default 10s).
	StepTimeout time.Duration
	// RequestRetention is how long a CreateOrder idempotency key
	// (request_id) is honoured (default 24h); RunRequestPruner deletes older
	// keys, after which the same key places a new order.
	RequestRetention time.Duration
	Logger           *slog.Logger
	Tracer           trace.Tracer
	Metrics          *telemetry.Metrics
	Now              func() time.Time
	// AfterCommit runs after the API's own transactions commit (wakes the
	// outbox relay so a new order's first command goes out at once).
	AfterCommit func()
	// OnFinished, if set, is told after commit when a saga reaches a
	// terminal state (used by the in-process benchmark and load generator).
	OnFinished func(orderID string, end State)
}

// Service implements the OrderService API and the saga orchestrator.
type Service struct {
	orderv1.UnimplementedOrderServiceServer
	cfg    Config
	shards []*shard

	sagas *sagaCache // nil unless the store is SQLite
}

// shard is one of the service's databases with its create queue.
type shard struct {
	db *store.DB

	// Group commit of concurrent CreateOrder calls: one caller at a time
	// leads and commits everything queued so far in one transaction.
	mu      sync.Mutex
	queue   []*createJob
	leading bool
}

type createJob struct {
	ctx  context.Context
	saga *Saga
	out  []proto.Message
	meta events.Meta
	done chan error

	// requestID and fingerprint identify a retried create (empty: no key).
	requestID   string
	fingerprint []byte
	// existing is set, before done is sent, when requestID was already used
	// for the same order: the id of the order the first call created.
	existing string
}

// errRequestReused is a request_id already used for a different order.
var errRequestReused = errors.New("request_id reused for a different order")

// New returns the service with defaults applied.
func New(cfg Config) *Service {
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 10 * time.Second
	}
	if cfg.RequestRetention <= 0 {
		cfg.RequestRetention = DefaultRequestRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("order")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Shards) == 0 {
		cfg.Shards = []*store.DB{cfg.DB}
	}
	cfg.DB = cfg.Shards[0]
	s := &Service{cfg: cfg}
	for _, db := range cfg.Shards {
		s.shards = append(s.shards, &shard{db: db})
	}
	if cfg.DB != nil && cfg.DB.Dialect() == store.SQLite {
		s.sagas = newSagaCache() // keyed by order id, so one serves every shard
	}
	return s
}

// shardOf returns the shard holding order id.
func (s *Service) shardOf(id string) *shard {
	return s.shards[store.ShardOf(id, len(s.shards))]
}

// ShardOf names the shard a participant's reply applies in (the consumer's
// routing, runner.Unit.ShardOf): its order's.
func (s *Service) ShardOf(d eventbus.Delivery) int {
	return store.ShardOf(replyOrderID(d.Payload), len(s.shards))
}

// newOrderID returns a fresh order id. With a request_id the id must fall
// in the shard the key's claim lives in (chosen by customer and key, so a
// retry finds it): ids are drawn until one does, n draws on average.
func (s *Service) newOrderID(customer, requestID string) string {
	id := events.NewID()
	if requestID == "" || len(s.shards) == 1 {
		return id
	}
	want := store.ShardOf(customer+"\x00"+requestID, len(s.shards))
	for store.ShardOf(id, len(s.shards)) != want {
		id = events.NewID()
	}
	return id
}

// CreateOrder validates the request, stores OrderCreated and the saga, and
// queues the first command, all in one transaction.
// A verified customer (CustomerHeader) may only order for themselves.
func (s *Service) CreateOrder(ctx context.Context, req *orderv1.CreateOrderRequest) (*orderv1.CreateOrderResponse, error) {
	caller, err := callerFromMetadata(ctx)
	if err != nil {
		return nil, err
	}
	customer, err := caller.CustomerFor(req.GetCustomerId())
	if err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "customer_id = %q: %s may only order for %q", truncate(req.GetCustomerId()), CustomerHeader, truncate(caller.Customer))
	}
	cr := CreateRequest{CustomerID: customer, Currency: req.GetCurrency(), Address: req.GetShippingAddress(), RequestID: req.GetRequestId()}
	for _, it := range req.GetItems() {
		cr.Items = append(cr.Items, Item{ProductID: it.GetProductId(), Quantity: it.GetQuantity()})
	}
	lines, total, err := s.cfg.Catalog.Price(cr)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	id := s.newOrderID(customer, cr.RequestID)
	correlation := telemetry.CorrelationID(ctx)
	if correlation == "" {
		correlation = id
		ctx = telemetry.WithCorrelationID(ctx, id)
	}
	currency := cr.Currency
	if currency == "" {
		currency = DefaultCurrency
	}
	now := s.cfg.Now()
	created := &eventsv1.OrderCreated{OrderId: id, CustomerId: cr.CustomerID, Items: lines, TotalCents: total, Currency: currency, ShippingAddress: cr.Address}
	saga, out := Start(created, correlation, now, s.cfg.StepTimeout)
	job := &createJob{ctx: ctx, saga: saga, out: out, meta: events.Meta{AggregateID: id, CorrelationID: correlation}, done: make(chan error, 1)}
	if cr.RequestID != "" {
		job.requestID, job.fingerprint = cr.RequestID, requestFingerprint(customer, currency, cr.Address, req.GetItems())
	}
	err = s.enqueue(job)
	switch {
	case errors.Is(err, errRequestReused):
		return nil, status.Errorf(codes.InvalidArgument, "request_id = %q was already used by customer %q for a different order: use a new request_id for a new order, the same request to retry", truncate(cr.RequestID), truncate(customer))
	case err != nil:
		s.cfg.Logger.ErrorContext(ctx, "create order failed", "error", err)
		return nil, status.Error(codes.Internal, "could not store the order")
	case job.existing != "":
		s.cfg.Logger.InfoContext(ctx, "order create retried", "order_id", job.existing, "request_id", truncate(cr.RequestID))
		return &orderv1.CreateOrderResponse{OrderId: job.existing}, nil
	}
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.OrdersCreated.Inc()
	}
	s.cfg.Logger.InfoContext(ctx, "order created", "order_id", id, "total_cents", total)
	return &orderv1.CreateOrderResponse{OrderId: id}, nil
}

// enqueue commits job in its order's shard, in a group with whatever else
// is waiting there.
func (s *Service) enqueue(job *createJob) error {
	sh := s.shardOf(job.saga.OrderID)
	sh.mu.Lock()
	sh.queue = append(sh.queue, job)
	lead := !sh.leading
	sh.leading = true
	sh.mu.Unlock()
	if lead {
		s.lead(sh)
	}
	return <-job.done
}

// lead commits sh's queued jobs, then hands the next group to a new leader.
func (s *Service) lead(sh *shard) {
	s.commitCreates(sh)
	sh.mu.Lock()
	if len(sh.queue) > 0 {
		go s.lead(sh)
	} else {
		sh.leading = false
	}
	sh.mu.Unlock()
}

// takeQueue returns the queued jobs and empties the queue.
func (sh *shard) takeQueue() []*createJob {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	batch := sh.queue
	sh.queue = nil
	return batch
}

// commitCreates commits sh's queued jobs in one transaction. It takes them
// from the queue only once the transaction holds the database (on SQLite,
// the one connection the reply consumer uses too), so every create that
// arrived while the leader waited for it joins this commit instead of
// waiting for the next.
func (s *Service) commitCreates(sh *shard) {
	apply := func(tx *store.Tx, j *createJob) error {
		j.existing = "" // from a failed group attempt, rolled back
		if j.requestID != "" {
			existing, err := s.claimRequest(j.ctx, tx, j)
			if err != nil || existing != "" {
				j.existing = existing
				return err
			}
		}
		if err := s.insertSaga(j.ctx, tx, j.saga); err != nil {
			return err
		}
		return s.emit(j.ctx, tx, j.saga, 0, j.meta, j.out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var batch []*createJob
	taken := false
	err := sh.db.InTx(ctx, func(tx *store.Tx) error {
		batch, taken = sh.takeQueue(), true
		s.afterCommit(tx)
		for _, j := range batch {
			if err := apply(tx, j); err != nil {
				return err
			}
		}
		return nil
	})
	if !taken {
		// The transaction did not begin: what is queued fails with it.
		batch = sh.takeQueue()
	}
	if err == nil || len(batch) == 1 {
		for _, j := range batch {
			j.done <- err
		}
		return
	}
	// One bad job (e.g. a cancelled caller) must not fail the others.
	for _, j := range batch {
		j.done <- sh.db.InTx(ctx, func(tx *store.Tx) error {
			s.afterCommit(tx)
			return apply(tx, j)
		})
	}
}

// claimRequest records j's request_id for its order, or returns the order
// an earlier call with the same key created. A concurrent claim of the same
// key (another replica, PostgreSQL) waits on the primary key until the
// first commits, then reads its row.
func (s *Service) claimRequest(ctx context.Context, tx *store.Tx, j *createJob) (string, error) {
	res, err := tx.Exec(ctx, `INSERT INTO create_requests (customer_id, request_id, order_id, fingerprint, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		j.saga.CustomerID, j.requestID, j.saga.OrderID, j.fingerprint, j.saga.StartedAt.UnixNano())
	if err != nil {
		return "", fmt.Errorf("order: claim request_id: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("order: claim request_id: %w", err)
	} else if n == 1 {
		return "", nil
	}
	var (
		id string
		fp []byte
	)
	if err := tx.QueryRow(ctx, `SELECT order_id, fingerprint FROM create_requests WHERE customer_id = ? AND request_id = ?`,
		j.saga.CustomerID, j.requestID).Scan(&id, &fp); err != nil {
		return "", fmt.Errorf("order: read request_id: %w", err)
	}
	if !bytes.Equal(fp, j.fingerprint) {
		return "", errRequestReused
	}
	return id, nil
}

// requestFingerprint hashes what a CreateOrder asks for (customer resolved,
// currency defaulted), so a retry matches the first call and a different
// order under the same request_id does not. Every field is length-prefixed,
// so no two different requests hash the same bytes.
func requestFingerprint(customer, currency, address string, items []*orderv1.Item) []byte {
	h := sha256.New()
	field := func(s string) {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	field(customer)
	field(currency)
	field(address)
	for _, it := range items {
		field(it.GetProductId())
		h.Write(binary.AppendVarint(nil, int64(it.GetQuantity())))
	}
	return h.Sum(nil)
}

// GetOrder folds the order's events and adds the saga step. A verified
// customer gets PermissionDenied for another customer's order, the same
// answer CancelOrder gives (order ids carry 80 random bits, so the
// difference from NotFound reveals nothing guessable).
func (s *Service) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.Order, error) {
	caller, err := callerFromMetadata(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetOrderId() == "" {
		return nil, status.Error(codes.InvalidArgument, "order_id is empty")
	}
	o, err := s.Load(ctx, req.GetOrderId())
	if err != nil {
		return nil, err
	}
	if !caller.MayAccess(o.CustomerID) {
		return nil, status.Errorf(codes.PermissionDenied, "order %q: %v", truncate(o.ID), ErrForeignCustomer)
	}
	var step string
	if err := s.shardOf(o.ID).db.QueryRow(ctx, `SELECT state FROM sagas WHERE order_id = ?`, o.ID).Scan(&step); err != nil {
		return nil, status.Error(codes.Internal, "could not read the saga")
	}
	return toProto(o, step), nil
}

// Load rebuilds the order aggregate from its event stream.
func (s *Service) Load(ctx context.Context, id string) (*Order, error) {
	rows, err := s.shardOf(id).db.Query(ctx, `SELECT event_type, payload FROM order_events WHERE order_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, status.Error(codes.Internal, "could not read the order")
	}
	defer rows.Close()
	o := &Order{}
	for rows.Next() {
		var (
			typ string
			raw []byte
		)
		if err := rows.Scan(&typ, &raw); err != nil {
			return nil, status.Error(codes.Internal, "could not read the order")
		}
		ev, err := decodeEvent(typ, raw)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		o.Apply(ev)
	}
	if err := rows.Err(); err != nil {
		return nil, status.Error(codes.Internal, "could not read the order")
	}
	if o.Version == 0 {
		return nil, status.Errorf(codes.NotFound, "order %q not found", truncate(id))
	}
	return o, nil
}

// CancelOrder compensates an order that has not reached shipment.
func (s *Service) CancelOrder(ctx context.Context, req *orderv1.CancelOrderRequest) (*orderv1.Order, error) {
	caller, err := callerFromMetadata(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetOrderId() == "" {
		return nil, status.Error(codes.InvalidArgument, "order_id is empty")
	}
	if len(req.GetReason()) > MaxTextLen {
		return nil, status.Errorf(codes.InvalidArgument, "reason is %d bytes: at most %d allowed", len(req.GetReason()), MaxTextLen)
	}
	var notCancellable State
	err = s.shardOf(req.GetOrderId()).db.InTx(ctx, func(tx *store.Tx) error {
		s.afterCommit(tx)
		saga, err := s.loadSaga(ctx, tx, req.GetOrderId())
		if err != nil {
			return err
		}
		if !caller.MayAccess(saga.CustomerID) {
			return ErrForeignCustomer
		}
		ctx = telemetry.WithCorrelationID(ctx, saga.CorrelationID)
		now := s.cfg.Now()
		out, err := saga.Cancel(req.GetReason(), now, s.cfg.StepTimeout)
		if errors.Is(err, ErrNotCancellable) {
			notCancellable = saga.State
			return nil
		}
		if err := s.updateSaga(ctx, tx, saga); err != nil {
			return err
		}
		return s.emit(ctx, tx, saga, -1, events.Meta{AggregateID: saga.OrderID, CorrelationID: saga.CorrelationID}, out)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, status.Errorf(codes.NotFound, "order %q not found", truncate(req.GetOrderId()))
	case errors.Is(err, ErrForeignCustomer):
		return nil, status.Errorf(codes.PermissionDenied, "order %q: %v", truncate(req.GetOrderId()), err)
	case err != nil:
		s.cfg.Logger.ErrorContext(ctx, "cancel failed", "error", err)
		return nil, status.Error(codes.Internal, "could not cancel the order")
	case notCancellable != "":
		return nil, status.Errorf(codes.FailedPrecondition, "order %s is %s: it can only be cancelled before payment completes shipment scheduling", req.GetOrderId(), notCancellable)
	}
	return s.GetOrder(ctx, &orderv1.GetOrderRequest{OrderId: req.GetOrderId()})
}

// Handle applies a participant reply to its saga (the consumer's handler).
func (s *Service) Handle(ctx context.Context, tx *store.Tx, d eventbus.Delivery) error {
	orderID := replyOrderID(d.Payload)
	if orderID == "" {
		return fmt.Errorf("order: %s has no order id", d.Env.GetType())
	}
	if sh := s.shardOf(orderID); tx.DB() != sh.db {
		return fmt.Errorf("order: reply %s for order %s applied outside its shard: route replies with ShardOf", d.Env.GetType(), orderID)
	}
	saga, err := s.loadSaga(ctx, tx, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("order: reply %s for unknown order %s", d.Env.GetType(), orderID)
	}
	if err != nil {
		return err
	}
	out := saga.OnReply(d.Payload, s.cfg.Now(), s.cfg.StepTimeout)
	if len(out) == 0 {
		s.cfg.Logger.DebugContext(ctx, "reply ignored in this state", "order_id", orderID, "state", saga.State, "type", d.Env.GetType())
		return nil
	}
	if err := s.updateSaga(ctx, tx, saga); err != nil {
		return err
	}
	return s.emit(ctx, tx, saga, -1, d.Meta(), out)
}

// sweepQuery finds unfinished sagas past their deadline: (started before,
// deadline before). A passed deadline implies a start more than one step
// timeout ago; that bound keeps the scan on the index to old unfinished
// sagas (migration 00004).
const sweepQuery = `SELECT order_id FROM sagas WHERE finished = 0 AND started_at < ? AND deadline < ? LIMIT 500`

// SweepTimeouts compensates or resends the steps of sagas past their
// deadline, in every shard.
func (s *Service) SweepTimeouts(ctx context.Context) (int, error) {
	total := 0
	for _, sh := range s.shards {
		n, err := s.sweep(ctx, sh.db)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (s *Service) sweep(ctx context.Context, db *store.DB) (int, error) {
	now := s.cfg.Now()
	rows, err := db.Query(ctx, sweepQuery, now.Add(-s.cfg.StepTimeout).UnixNano(), now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("order: sweep: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("order: sweep: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			s.afterCommit(tx)
			saga, err := s.loadSaga(ctx, tx, id)
			if err != nil {
				return err
			}
			if saga.State.Terminal() || !saga.Deadline.Before(now) {
				return nil // moved on since the scan
			}
			sctx := telemetry.WithCorrelationID(ctx, saga.CorrelationID)
			s.cfg.Logger.WarnContext(sctx, "saga step timed out", "order_id", id, "state", saga.State)
			out := saga.OnTimeout(now, s.cfg.StepTimeout)
			if err := s.updateSaga(sctx, tx, saga); err != nil {
				return err
			}
			return s.emit(sctx, tx, saga, -1, events.Meta{AggregateID: id, CorrelationID: saga.CorrelationID}, out)
		})
		if err != nil {
			return 0, fmt.Errorf("order: sweep %s: %w", id, err)
		}
	}
	return len(ids), nil
}

// PruneRequests deletes the idempotency keys claimed more than
// RequestRetention ago, 1,000 per statement, and returns how many.
func (s *Service) PruneRequests(ctx context.Context) (int64, error) {
	before := s.cfg.Now().Add(-s.cfg.RequestRetention).UnixNano()
	var total int64
	for _, sh := range s.shards {
		n, err := sh.db.DeleteChunked(ctx, 1000, `DELETE FROM create_requests WHERE (customer_id, request_id) IN (SELECT customer_id, request_id FROM create_requests WHERE created_at < ? LIMIT ?)`, before)
		total += n
		if err != nil {
			return total, fmt.Errorf("order: prune request ids: %w", err)
		}
	}
	return total, nil
}

// RunRequestPruner prunes expired idempotency keys every interval until ctx
// ends.
func (s *Service) RunRequestPruner(ctx context.Context, interval time.Duration) error {
	return periodic.Run(ctx, interval, func(ctx context.Context) error {
		_, err := s.PruneRequests(ctx)
		return err
	}, func(err error) { s.cfg.Logger.Warn("pruning request ids failed; will retry", "error", err) })
}

// RunSweeper sweeps every interval until ctx ends.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration) error {
	return periodic.Run(ctx, interval, func(ctx context.Context) error {
		_, err := s.SweepTimeouts(ctx)
		return err
	}, func(err error) { s.cfg.Logger.Error("timeout sweep failed", "error", err) })
}

// emit queues out for publishing and appends the order's own events to its
// stream. seq is the stream length before, or -1 to look it up.
func (s *Service) emit(ctx context.Context, tx *store.Tx, saga *Saga, seq int64, m events.Meta, out []proto.Message) error {
	now := s.cfg.Now()
	for _, msg := range out {
		topic, err := topics.For(msg)
		if err != nil {
			return err
		}
		if topic == topics.OrderEvents {
			raw, err := proto.Marshal(msg)
			if err != nil {
				return fmt.Errorf("order: marshal %T: %w", msg, err)
			}
			if seq < 0 {
				// The next sequence number is read in the insert itself: one
				// statement instead of a COUNT(*) and an insert.
				_, err = tx.Exec(ctx, `INSERT INTO order_events (order_id, seq, event_type, payload, created_at) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM order_events WHERE order_id = ?), ?, ?, ?)`,
					saga.OrderID, saga.OrderID, events.TypeOf(msg), raw, now.UnixNano())
			} else {
				seq++
				_, err = tx.Exec(ctx, `INSERT INTO order_events (order_id, seq, event_type, payload, created_at) VALUES (?, ?, ?, ?, ?)`,
					saga.OrderID, seq, events.TypeOf(msg), raw, now.UnixNano())
			}
			if err != nil {
				return fmt.Errorf("order: append %T: %w", msg, err)
			}
			s.observeEnd(ctx, saga, msg, now)
			if _, created := msg.(*eventsv1.OrderCreated); !created && s.cfg.OnFinished != nil {
				id, end := saga.OrderID, saga.State
				tx.OnCommit(func() { s.cfg.OnFinished(id, end) })
			}
		}
		if err := outbox.Add(ctx, tx, msg, m, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) observeEnd(ctx context.Context, saga *Saga, msg proto.Message, now time.Time) {
	if _, created := msg.(*eventsv1.OrderCreated); created {
		return
	}
	s.cfg.Logger.InfoContext(ctx, "order finished", "order_id", saga.OrderID, "state", saga.State, "reason", saga.Reason)
	if s.cfg.Metrics == nil {
		return
	}
	s.cfg.Metrics.SagaDuration.Observe(now.Sub(saga.StartedAt).Seconds())
	s.cfg.Metrics.SagaOutcomes.WithLabelValues(string(saga.State)).Inc()
	switch saga.State {
	case Completed:
		s.cfg.Metrics.OrdersCompleted.Inc()
	default:
		s.cfg.Metrics.OrdersRejected.Inc()
	}
	if saga.Compensated {
		s.cfg.Metrics.OrdersCompensated.Inc()
	}
}

func (s *Service) afterCommit(tx *store.Tx) {
	if s.cfg.AfterCommit != nil {
		tx.OnCommit(s.cfg.AfterCommit)
	}
}

func replyOrderID(m proto.Message) string {
	if r, ok := m.(interface{ GetOrderId() string }); ok {
		return r.GetOrderId()
	}
	return ""
}

func decodeEvent(typ string, raw []byte) (proto.Message, error) {
	var m proto.Message
	switch typ {
	case events.TypeOf(&eventsv1.OrderCreated{}):
		m = &eventsv1.OrderCreated{}
	case events.TypeOf(&eventsv1.OrderCompleted{}):
		m = &eventsv1.OrderCompleted{}
	case events.TypeOf(&eventsv1.OrderRejected{}):
		m = &eventsv1.OrderRejected{}
	case events.TypeOf(&eventsv1.OrderCancelled{}):
		m = &eventsv1.OrderCancelled{}
	default:
		return nil, fmt.Errorf("order: unknown stored event type %q", typ)
	}
	if err := proto.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("order: stored %s: %w", typ, err)
	}
	return m, nil
}

func toProto(o *Order, step string) *orderv1.Order {
	st := map[Status]orderv1.OrderStatus{
		StatusPending: orderv1.OrderStatus_ORDER_STATUS_PENDING, StatusCompleted: orderv1.OrderStatus_ORDER_STATUS_COMPLETED,
		StatusRejected: orderv1.OrderStatus_ORDER_STATUS_REJECTED, StatusCancelled: orderv1.OrderStatus_ORDER_STATUS_CANCELLED,
	}[o.Status]
	out := &orderv1.Order{OrderId: o.ID, CustomerId: o.CustomerID, TotalCents: o.TotalCents, Currency: o.Currency, Status: st, Reason: o.Reason, Step: step, Version: o.Version}
	for _, it := range o.Items {
		out.Items = append(out.Items, &orderv1.Item{ProductId: it.GetProductId(), Quantity: it.GetQuantity()})
	}
	return out
}

const sagaColumns = `order_id, state, outcome, reason, compensated, customer_id, currency, address, total_cents, items, correlation_id, started_at, deadline`

func (s *Service) insertSaga(ctx context.Context, tx *store.Tx, sg *Saga) error {
	items, err := proto.Marshal(&eventsv1.ReserveStock{Items: sg.Items})
	if err != nil {
		return fmt.Errorf("order: marshal items: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO sagas (`+sagaColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sg.OrderID, string(sg.State), string(sg.Outcome), sg.Reason, boolInt(sg.Compensated), sg.CustomerID, sg.Currency, sg.Address,
		sg.TotalCents, items, sg.CorrelationID, sg.StartedAt.UnixNano(), sg.Deadline.UnixNano())
	if err != nil {
		return fmt.Errorf("order: insert saga: %w", err)
	}
	if s.sagas != nil {
		s.sagas.put(tx, sg)
	}
	return nil
}

// updateSaga writes sg's progress. Only the step that ends a saga sets
// finished, so the other steps leave the sweeper's index alone.
func (s *Service) updateSaga(ctx context.Context, tx *store.Tx, sg *Saga) error {
	q := `UPDATE sagas SET state = ?, outcome = ?, reason = ?, compensated = ?, deadline = ? WHERE order_id = ?`
	if sg.State.Terminal() {
		q = `UPDATE sagas SET state = ?, outcome = ?, reason = ?, compensated = ?, deadline = ?, finished = 1 WHERE order_id = ?`
	}
	_, err := tx.Exec(ctx, q, string(sg.State), string(sg.Outcome), sg.Reason, boolInt(sg.Compensated), sg.Deadline.UnixNano(), sg.OrderID)
	if err != nil {
		return fmt.Errorf("order: update saga: %w", err)
	}
	if s.sagas != nil {
		s.sagas.put(tx, sg)
	}
	return nil
}

func (s *Service) loadSaga(ctx context.Context, tx *store.Tx, id string) (*Saga, error) {
	if s.sagas != nil {
		if sg, ok := s.sagas.get(tx, id); ok {
			return sg, nil
		}
	}
	var (
		sg                  Saga
		state, outcome      string
		comp                int64
		items               []byte
		startedAt, deadline int64
	)
	q := `SELECT ` + sagaColumns + ` FROM sagas WHERE order_id = ?`
	if tx.Dialect() == store.Postgres {
		// The API, the consumer and the timeout sweeper may change the same
		// saga from different connections; lock the row for this transaction.
		// (SQLite has one connection, so transactions are already serial.)
		q += ` FOR UPDATE`
	}
	err := tx.QueryRow(ctx, q, id).Scan(
		&sg.OrderID, &state, &outcome, &sg.Reason, &comp, &sg.CustomerID, &sg.Currency, &sg.Address, &sg.TotalCents, &items, &sg.CorrelationID, &startedAt, &deadline)
	if err != nil {
		return nil, fmt.Errorf("order: load saga %s: %w", id, err)
	}
	var rs eventsv1.ReserveStock
	if err := proto.Unmarshal(items, &rs); err != nil {
		return nil, fmt.Errorf("order: saga %s items: %w", id, err)
	}
	sg.Items, sg.State, sg.Outcome, sg.Compensated = rs.GetItems(), State(state), State(outcome), comp != 0
	sg.StartedAt, sg.Deadline = time.Unix(0, startedAt), time.Unix(0, deadline)
	return &sg, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
