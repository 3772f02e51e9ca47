package eventbus_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/system"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

func TestNewConsumerWantsFetchMinBytesAndFetchWaitTogether(t *testing.T) {
	for _, tc := range []struct {
		name     string
		minBytes int
		wait     time.Duration
		wantErr  bool
	}{
		{"neither", 0, 0, false},
		{"both", 16 << 10, 50 * time.Millisecond, false},
		{"bytes without wait", 16 << 10, 0, true},
		{"wait without bytes", 0, 50 * time.Millisecond, true},
		{"one byte is the default, not a hold", 1, 50 * time.Millisecond, true},
		{"negative wait", 16 << 10, -time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventbus.NewConsumer(eventbus.Config{
				Group: "g", Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}, DB: &store.DB{},
				Handle:     func(context.Context, *store.Tx, eventbus.Delivery) error { return nil },
				DeadLetter: kafkaDiscard{}, FetchMinBytes: tc.minBytes, FetchWait: tc.wait,
			})
			if tc.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "FetchMinBytes") {
				t.Errorf("error %q does not name the setting", err)
			}
		})
	}
}

// A consumer with a fetch hold asks the broker to keep each fetch until
// FetchMinBytes have arrived or FetchWait has passed: idle, it fetches about
// once per FetchWait (not once per second, kafka-go's long poll), and a
// burst of small messages arrives in a few fetches instead of one each.
func TestConsumerFetchHoldWaitsAtTheBroker(t *testing.T) {
	ctx := context.Background()
	k, err := system.StartKafka(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	requests := k.CountRequests()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	own := fstest.MapFS{"00001_none.sql": {Data: []byte("-- +goose Up\nCREATE TABLE none (id INTEGER);\n-- +goose Down\nDROP TABLE none;\n")}}
	if err := db.Migrate(ctx, own); err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	cons, err := eventbus.NewConsumer(eventbus.Config{
		Group: "held", Brokers: k.Brokers, Topics: []string{topics.OrderEvents}, DB: db,
		Handle: func(context.Context, *store.Tx, eventbus.Delivery) error {
			handled.Add(1)
			return nil
		},
		DeadLetter: kafkaDiscard{}, Logger: slog.New(slog.DiscardHandler),
		FetchMinBytes: 1 << 20, FetchWait: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(stop, ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	w := eventbus.NewWriter(k.Brokers)
	defer w.Close()
	publish := func() {
		t.Helper()
		env, err := events.New(&eventsv1.OrderCreated{OrderId: "o1"}, events.Meta{AggregateID: "o1"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := proto.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(ctx, kafka.Message{Topic: topics.OrderEvents, Key: []byte("o1"), Value: raw}); err != nil {
			t.Fatal(err)
		}
	}
	awaitHandled := func(n int64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for handled.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d messages handled after %s", handled.Load(), n, within)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	fetches := func() int64 { return requests.Snapshot()["Fetch"] }

	publish() // joins the group and settles the first fetch
	awaitHandled(1, 30*time.Second)

	before := fetches()
	time.Sleep(time.Second)
	if idle := fetches() - before; idle < 4 || idle > 25 {
		t.Errorf("%d fetches in an idle second, want about 10 (one per 100ms FetchWait)", idle)
	}

	const burst = 100
	before = fetches()
	for range burst {
		publish()
		time.Sleep(2 * time.Millisecond)
	}
	awaitHandled(1+burst, 10*time.Second)
	if n := fetches() - before; n > 15 {
		t.Errorf("%d fetches for a burst of %d small messages over at least 200ms, want a few (held up to 100ms each)", n, burst)
	}
}

type kafkaDiscard struct{}

func (kafkaDiscard) WriteMessages(context.Context, ...kafka.Message) error { return nil }
