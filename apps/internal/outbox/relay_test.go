package outbox

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// recorder is a Writer that keeps what it was given, or fails while fail is set.
type recorder struct {
	mu   sync.Mutex
	got  []string // order ids, in publish order
	fail bool
}

func (r *recorder) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("brokers unreachable")
	}
	for _, m := range msgs {
		r.got = append(r.got, string(m.Key))
	}
	return nil
}

func openDB(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, fstest.MapFS{"00001_none.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n")}}); err != nil {
		t.Fatal(err)
	}
	return db
}

func addOrders(t *testing.T, db *store.DB, ids ...string) {
	t.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			if err := Add(ctx, tx, &eventsv1.StockReserved{OrderId: id}, events.Meta{AggregateID: id}, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func drain(t *testing.T, r *Relay, scan bool) {
	t.Helper()
	for {
		n, err := r.flush(context.Background(), scan)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func remaining(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRelayPublishesEveryCommittedRowOnceInCommitOrder(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, db *store.DB, r *Relay, w *recorder)
		want []string
	}{{
		name: "hand-off only, no table read",
		run: func(t *testing.T, db *store.DB, r *Relay, w *recorder) {
			drain(t, r, true) // start-up read of an empty table
			addOrders(t, db, "a", "b")
			addOrders(t, db, "c")
			drain(t, r, false)
		},
		want: []string{"a", "b", "c"},
	}, {
		name: "rows written before the relay started are read from the table",
		run: func(t *testing.T, db *store.DB, r *Relay, w *recorder) {
			db.Attach(handoffKey{}, nil) // as if no relay existed yet
			addOrders(t, db, "old1", "old2")
			db.Attach(handoffKey{}, r.handoff)
			addOrders(t, db, "new")
			drain(t, r, false) // the hand-off starts after a gap: read the table
		},
		want: []string{"old1", "old2", "new"},
	}, {
		name: "hand-offs arriving out of commit order are published in id order",
		run: func(t *testing.T, db *store.DB, r *Relay, w *recorder) {
			drain(t, r, true)
			db.Attach(handoffKey{}, nil)
			addOrders(t, db, "first")
			db.Attach(handoffKey{}, r.handoff)
			addOrders(t, db, "second")
			r.handoff.push(1, kafka.Message{Key: []byte("first")}) // late
			drain(t, r, false)
		},
		want: []string{"first", "second"},
	}, {
		name: "a failed publish is retried from the table",
		run: func(t *testing.T, db *store.DB, r *Relay, w *recorder) {
			drain(t, r, true)
			addOrders(t, db, "x", "y")
			w.fail = true
			if _, err := r.flush(context.Background(), false); err == nil {
				t.Fatal("flush with failing brokers: want an error")
			}
			w.fail = false
			addOrders(t, db, "z")
			drain(t, r, false)
		},
		want: []string{"x", "y", "z"},
	}, {
		name: "overflowing hand-off falls back to the table",
		run: func(t *testing.T, db *store.DB, r *Relay, w *recorder) {
			drain(t, r, true)
			r.handoff.limit = 2
			addOrders(t, db, "1", "2", "3", "4")
			drain(t, r, false)
		},
		want: []string{"1", "2", "3", "4"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t)
			w := &recorder{}
			r := NewRelay(db, w, NewWake(), nil)
			tt.run(t, db, r, w)
			if !slices.Equal(w.got, tt.want) {
				t.Errorf("published %q, want %q", w.got, tt.want)
			}
			if err := r.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Compact keeps the row at the high-water mark (see Relay).
			if n := remaining(t, db); n != 1 {
				t.Errorf("%d rows left after compaction, want 1", n)
			}
		})
	}
}
