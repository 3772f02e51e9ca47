// Package outbox implements the transactional outbox: services add messages
// in the same transaction as their state change, and a Relay publishes them
// to Kafka and deletes them once the brokers acknowledged (acks=all).
//
// Publishing is at-least-once (a crash between the broker's ack and the
// delete republishes); consumers deduplicate by envelope id.
package outbox

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// Header names on every Kafka message besides W3C trace context.
const (
	HeaderType          = "ce-type"
	HeaderID            = "ce-id"
	HeaderCorrelationID = "correlation-id"
)

// Add wraps payload in an envelope and stores it for publishing in tx.
// The trace context of ctx goes into the message headers so the consumer's
// span joins the same trace.
func Add(ctx context.Context, tx *store.Tx, payload proto.Message, m events.Meta, now time.Time) error {
	topic, err := topics.For(payload)
	if err != nil {
		return err
	}
	env, err := events.New(payload, m, now)
	if err != nil {
		return err
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		return fmt.Errorf("outbox: marshal envelope: %w", err)
	}
	hdr := make([]kafka.Header, 3, 5)
	hdr[0] = kafka.Header{Key: HeaderType, Value: []byte(env.GetType())}
	hdr[1] = kafka.Header{Key: HeaderID, Value: []byte(env.GetId())}
	hdr[2] = kafka.Header{Key: HeaderCorrelationID, Value: []byte(m.CorrelationID)}
	propagation.TraceContext{}.Inject(ctx, HeaderCarrier{&hdr})
	hraw := encodeHeaders(hdr)
	res, err := tx.Exec(ctx, `INSERT INTO outbox (topic, msg_key, payload, headers, created_at) VALUES (?, ?, ?, ?, ?)`,
		topic, m.AggregateID, raw, hraw, now.UnixNano())
	if err != nil {
		return fmt.Errorf("outbox: insert %s: %w", env.GetType(), err)
	}
	if h, ok := tx.DB().Attached(handoffKey{}).(*handoff); ok {
		if id, err := res.LastInsertId(); err == nil {
			msg := kafka.Message{Topic: topic, Key: []byte(m.AggregateID), Value: raw, Headers: hdr}
			tx.OnCommit(func() { h.push(id, msg) })
		}
	}
	return nil
}

// handoff passes committed outbox rows from the transactions that wrote them
// straight to the relay (SQLite only), so the relay need not read back what
// its own process has just written. The table stays the record: the relay
// reads it whenever the hand-off cannot prove it holds every row (at start,
// after a gap or an overflow, and on every poll tick).
type handoff struct {
	mu       sync.Mutex
	q        []pending
	overflow bool
	wake     Wake
	limit    int
}

type handoffKey struct{}

type pending struct {
	id  int64
	msg kafka.Message
}

func (h *handoff) push(id int64, msg kafka.Message) {
	h.mu.Lock()
	if len(h.q) < h.limit {
		h.q = append(h.q, pending{id, msg})
	} else {
		// Publishing is stuck (brokers down): stop holding messages in
		// memory; the relay reads them from the table when it recovers.
		h.overflow = true
	}
	h.mu.Unlock()
	h.wake.Notify()
}

// invalidate makes the next take fail, so the relay reads the table.
func (h *handoff) invalidate() {
	h.mu.Lock()
	h.overflow = true
	h.mu.Unlock()
}

// take returns up to n queued messages whose ids run on without a gap from
// after, dropping any at or below after (the relay read them from the
// table). ok is false when the queue cannot continue from after: a gap (a
// commit whose hand-off has not run yet, or a row never handed off) or an
// overflow, so the relay must read the table.
func (h *handoff) take(after int64, n int) (ids []int64, msgs []kafka.Message, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overflow {
		h.q, h.overflow = h.q[:0], false
		return nil, nil, false
	}
	// Commits are serial on SQLite's single connection, but their hand-off
	// callbacks run after the connection is released and may interleave.
	slices.SortFunc(h.q, func(a, b pending) int { return cmp.Compare(a.id, b.id) })
	i := 0
	for i < len(h.q) && h.q[i].id <= after {
		i++
	}
	j := i
	for j < len(h.q) && j-i < n && h.q[j].id == after+int64(j-i)+1 {
		ids = append(ids, h.q[j].id)
		msgs = append(msgs, h.q[j].msg)
		j++
	}
	ok = j > i || i == len(h.q)
	rest := copy(h.q, h.q[j:])
	clear(h.q[rest:])
	h.q = h.q[:rest]
	return ids, msgs, ok
}

// Writer is the part of kafka.Writer the relay uses.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Relay moves outbox rows to Kafka.
type Relay struct {
	DB     *store.DB
	Writer Writer
	// Batch is the most rows published per round (default 1000).
	Batch int
	// Poll is how often the relay reads the table without being woken
	// (default 50ms).
	Poll   time.Duration
	Logger *slog.Logger
	Wake   Wake

	// Published rows are deleted in bulk, at most every deleteEvery, so a
	// publish round costs no commit of its own; until then they are skipped.
	// A crash before the delete republishes them (at-least-once, as always).
	published   map[int64]struct{} // PostgreSQL
	unpurged    int                // SQLite: rows published, not yet deleted
	lastDelete  time.Time
	deleteEvery time.Duration
	// highWater is the largest id published (SQLite only). SQLite runs one
	// transaction at a time and a new rowid is max(rowid) + 1, which never
	// falls to or below highWater because Compact keeps the row at highWater:
	// so committed ids run on without gaps, no row below highWater can still
	// commit, and the relay reads past it (or takes the hand-off that
	// continues from it) and deletes with one range instead of an id list.
	// PostgreSQL commits concurrently (ids can commit out of order), so it
	// reads the table every round and keeps the id set.
	highWater int64
	handoff   *handoff
}

// Wake tells a relay that rows were committed, so it need not wait for its
// next poll.
type Wake chan struct{}

// NewWake returns a Wake.
func NewWake() Wake { return make(Wake, 1) }

// Notify wakes the relay; call it after committing outbox rows.
func (w Wake) Notify() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// NewRelay returns a relay with defaults applied. On SQLite it attaches
// its hand-off queue to db, so Add in this process passes committed rows
// to it directly; one relay per database.
func NewRelay(db *store.DB, w Writer, wake Wake, logger *slog.Logger) *Relay {
	r := &Relay{DB: db, Writer: w, Batch: 1000, Poll: 50 * time.Millisecond, Logger: logger, Wake: wake,
		published: map[int64]struct{}{}, deleteEvery: 100 * time.Millisecond}
	if db.Dialect() == store.SQLite {
		r.handoff = &handoff{wake: wake, limit: 16 * r.Batch}
		db.Attach(handoffKey{}, r.handoff)
	}
	return r
}

// Run publishes until stop ends. work bounds each publish, so a graceful
// stop never abandons a write in flight (which would republish it).
// A publish error is retried next round.
func (r *Relay) Run(stop, work context.Context) error {
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	scan := true
	for {
		for stop.Err() == nil {
			n, err := r.flush(work, scan)
			if n == 0 && err == nil && r.pendingDelete() && time.Since(r.lastDelete) >= r.deleteEvery {
				err = r.Compact(work)
			}
			if err != nil {
				if work.Err() != nil {
					return nil
				}
				r.Logger.Warn("outbox publish failed; will retry", "error", err)
				break
			}
			if n < r.Batch {
				break
			}
		}
		select {
		case <-stop.Done():
			return nil
		case <-r.Wake:
			scan = false
		case <-t.C:
			scan = true
		}
	}
}

func (r *Relay) pendingDelete() bool { return r.unpurged > 0 || len(r.published) > 0 }

// Flush publishes one batch of pending rows: what the hand-off holds, or
// else what the table holds. It returns how many rows it published.
// Published rows are deleted by Compact.
func (r *Relay) Flush(ctx context.Context) (int, error) { return r.flush(ctx, true) }

// flush publishes from the hand-off when it continues from highWater, and
// otherwise reads the table if scan is set or the hand-off saw a gap.
func (r *Relay) flush(ctx context.Context, scan bool) (int, error) {
	if r.unpurged+len(r.published) >= r.Batch || time.Since(r.lastDelete) >= r.deleteEvery {
		if err := r.Compact(ctx); err != nil {
			return 0, err
		}
	}
	var (
		ids  []int64
		msgs []kafka.Message
		err  error
	)
	if r.handoff != nil {
		var ok bool
		ids, msgs, ok = r.handoff.take(r.highWater, r.Batch)
		scan = scan || !ok
	}
	if len(msgs) == 0 {
		if !scan {
			return 0, nil
		}
		if ids, msgs, err = r.read(ctx); err != nil || len(msgs) == 0 {
			return 0, err
		}
	}
	if err := r.Writer.WriteMessages(ctx, msgs...); err != nil {
		if r.handoff != nil {
			r.handoff.invalidate() // re-read these from the table
		}
		return 0, fmt.Errorf("outbox: publish %d messages: %w", len(msgs), err)
	}
	if r.DB.Dialect() == store.SQLite {
		r.unpurged += len(ids)
	} else {
		for _, id := range ids {
			r.published[id] = struct{}{}
		}
	}
	r.highWater = max(r.highWater, ids[len(ids)-1])
	return len(msgs), nil
}

// read returns the next rows to publish from the table.
func (r *Relay) read(ctx context.Context) ([]int64, []kafka.Message, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if r.DB.Dialect() == store.SQLite {
		rows, err = r.DB.Query(ctx, `SELECT id, topic, msg_key, payload, headers FROM outbox WHERE id > ? ORDER BY id LIMIT ?`, r.highWater, r.Batch)
	} else {
		rows, err = r.DB.Query(ctx, `SELECT id, topic, msg_key, payload, headers FROM outbox ORDER BY id LIMIT ?`, r.Batch+len(r.published))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: select: %w", err)
	}
	defer rows.Close()
	var (
		ids  []int64
		msgs []kafka.Message
	)
	for rows.Next() {
		var (
			id          int64
			topic, key  string
			payload, hb []byte
		)
		if err := rows.Scan(&id, &topic, &key, &payload, &hb); err != nil {
			return nil, nil, fmt.Errorf("outbox: scan: %w", err)
		}
		if _, done := r.published[id]; done {
			continue
		}
		hdr, err := decodeHeaders(hb)
		if err != nil {
			return nil, nil, fmt.Errorf("outbox: row %d headers: %w", id, err)
		}
		ids = append(ids, id)
		msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(key), Value: payload, Headers: hdr})
	}
	if err := rows.Close(); err != nil {
		return nil, nil, fmt.Errorf("outbox: rows: %w", err)
	}
	return ids, msgs, nil
}

// Compact deletes the rows published so far.
func (r *Relay) Compact(ctx context.Context) error {
	r.lastDelete = time.Now()
	if !r.pendingDelete() {
		return nil
	}
	if r.DB.Dialect() == store.SQLite {
		// The row at highWater stays (the next Compact after a later publish
		// deletes it): were the table empty, SQLite would hand out ids from 1
		// again, below highWater, and the relay would never read them. After a
		// restart it is published once more (at-least-once, as always).
		if _, err := r.DB.Exec(ctx, `DELETE FROM outbox WHERE id < ?`, r.highWater); err != nil {
			return fmt.Errorf("outbox: delete published: %w", err)
		}
		r.unpurged = 0
		return nil
	}
	ids := make([]int64, 0, len(r.published))
	for id := range r.published {
		ids = append(ids, id)
	}
	if err := deleteIDs(ctx, r.DB, ids); err != nil {
		return err
	}
	clear(r.published)
	return nil
}

func deleteIDs(ctx context.Context, db *store.DB, ids []int64) error {
	// Chunks keep the statement under SQLite's parameter limit.
	for len(ids) > 0 {
		n := min(len(ids), 500)
		q := "DELETE FROM outbox WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if _, err := db.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("outbox: delete published: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// HeaderCarrier lets OpenTelemetry propagation read and write Kafka headers
// in place (no map per message).
type HeaderCarrier struct{ Headers *[]kafka.Header }

// Get returns the value of the first header named key.
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces the header named key, or appends it.
func (c HeaderCarrier) Set(key, value string) {
	for i, h := range *c.Headers {
		if h.Key == key {
			(*c.Headers)[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(*c.Headers, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, len(*c.Headers))
	for i, h := range *c.Headers {
		keys[i] = h.Key
	}
	return keys
}

// headersV1 marks the binary header encoding: after it, each header is its
// key and its value, each preceded by its length as a uvarint. Rows written
// before it hold a JSON object, which starts with '{'.
const headersV1 = 0x01

func encodeHeaders(hdr []kafka.Header) []byte {
	n := 1
	for _, h := range hdr {
		n += 2*binary.MaxVarintLen32 + len(h.Key) + len(h.Value)
	}
	b := make([]byte, 1, n)
	b[0] = headersV1
	for _, h := range hdr {
		b = binary.AppendUvarint(b, uint64(len(h.Key)))
		b = append(b, h.Key...)
		b = binary.AppendUvarint(b, uint64(len(h.Value)))
		b = append(b, h.Value...)
	}
	return b
}

func decodeHeaders(b []byte) ([]kafka.Header, error) {
	if len(b) > 0 && b[0] == '{' {
		var legacy map[string]string
		if err := json.Unmarshal(b, &legacy); err != nil {
			return nil, err
		}
		hdr := make([]kafka.Header, 0, len(legacy))
		for k, v := range legacy {
			hdr = append(hdr, kafka.Header{Key: k, Value: []byte(v)})
		}
		return hdr, nil
	}
	if len(b) == 0 || b[0] != headersV1 {
		return nil, errors.New("unknown header encoding")
	}
	b = b[1:]
	var hdr []kafka.Header
	next := func() ([]byte, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, errors.New("truncated headers")
		}
		v := b[w : w+int(n)]
		b = b[w+int(n):]
		return v, nil
	}
	for len(b) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		v, err := next()
		if err != nil {
			return nil, err
		}
		hdr = append(hdr, kafka.Header{Key: string(k), Value: v})
	}
	return hdr, nil
}
