// Command bench measures the whole order system in one process (every
// service, an in-process 3-broker kfake cluster, SQLite files) and prints a
// Markdown report: completed sagas per second at full speed, end-to-end
// latency at half that rate, and in the same run the raw kfake
// produce/consume rate and the raw single-transaction rate of the store.
//
//	go run ./apps/cmd/bench [-orders 20000] [-concurrency 64] [-partitions 2] [-order-shards 1] [-cpuprofile FILE]
//	    [-low-rate 2500 -cpuprofile-low FILE] [-trace-slow FILE -trace-slow-over 60ms]
//
// The report's last row judges the run against the project's target: at
// least 5,000 completed sagas/s at full speed, and p99 under 50 ms at half
// that rate, 2,500 orders/s (the default -low-rate).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/gen/orderv1"
	"github.com/ordermesh/ordermesh/apps/internal/diskprobe"
	"github.com/ordermesh/ordermesh/apps/internal/eventbus"
	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/load"
	"github.com/ordermesh/ordermesh/apps/internal/outbox"
	"github.com/ordermesh/ordermesh/apps/internal/store"
	"github.com/ordermesh/ordermesh/apps/internal/system"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
	"github.com/ordermesh/ordermesh/apps/order"
	"github.com/ordermesh/ordermesh/apps/payment"
	"testing/fstest"
)

func main() {
	orders := flag.Int("orders", 20000, "orders in the full-speed pass")
	concurrency := flag.Int("concurrency", 64, "concurrent CreateOrder callers")
	halfSeconds := flag.Int("half-seconds", 10, "duration of the half-rate latency pass")
	rawMsgs := flag.Int("raw-messages", 200000, "messages in the raw kfake pass")
	rawTx := flag.Int("raw-transactions", 5000, "transactions in the raw store pass")
	lowRate := flag.Float64("low-rate", targetRate, "rate of a fixed-rate latency pass (0: skip)")
	// Every partition is its own kafka-go fetch loop in each consumer group,
	// while each service applies its messages on one goroutine and one
	// SQLite connection anyway: in one process, fewer partitions mean fewer,
	// fuller fetches (measured: 2 partitions ≈ 15 % less CPU per saga than 6).
	partitions := flag.Int("partitions", 2, "partitions per topic")
	orderShards := flag.Int("order-shards", 1, "SQLite files the order service's orders are split over")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the full-speed pass to this file")
	lowProfile := flag.String("cpuprofile-low", "", "write a CPU profile of the -low-rate pass to this file")
	traceSlow := flag.String("trace-slow", "", "write a runtime trace of the seconds before the -low-rate pass's first saga slower than -trace-slow-over to this file")
	traceSlowOver := flag.Duration("trace-slow-over", 60*time.Millisecond, "latency that triggers -trace-slow")
	// kfake runs each observer on a goroutine of its own and waits for it,
	// so counting adds a hand-off to every request: a diagnostic, off by
	// default so that it does not colour the other figures.
	countRequests := flag.Bool("count-requests", false, "count Kafka requests per saga (slows kfake down a little)")
	flag.Parse()
	system.OneMoreProc() // as the local runner does; GOMAXPROCS=2 in the environment measures without
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ordermesh-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	k, err := system.StartKafka(ctx, *partitions)
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()
	var requests *system.Requests
	if *countRequests {
		requests = k.CountRequests()
	}

	prod, cons, err := rawKafka(ctx, k.Brokers, *partitions, *rawMsgs)
	if err != nil {
		log.Fatal(err)
	}
	single, batched, err := rawStore(ctx, filepath.Join(dir, "raw.db"), *rawTx)
	if err != nil {
		log.Fatal(err)
	}

	var tracker *load.Tracker
	catalog := order.Catalog{"sku-1": 100, "sku-2": 250}
	sys, err := system.Start(ctx, system.Config{
		Brokers: k.Brokers, Dir: dir, Catalog: catalog, OrderShards: *orderShards,
		Stock:       map[string]int64{"sku-1": 1 << 40, "sku-2": 1 << 40},
		Gateway:     payment.GatewayConfig{},
		StepTimeout: 30 * time.Second,
		OnFinished: func(id string, end order.State) {
			if tr := tracker; tr != nil {
				tr.Finish(id, string(end))
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	create := func(ctx context.Context, i int) (string, error) {
		r, err := sys.OrderService().CreateOrder(ctx, &orderv1.CreateOrderRequest{
			CustomerId: fmt.Sprintf("c%d", i%1000), ShippingAddress: "1 Main St",
			Items: []*orderv1.Item{{ProductId: "sku-1", Quantity: 1}, {ProductId: "sku-2", Quantity: 2}},
		})
		return r.GetOrderId(), err
	}
	placed := 0
	var sustained float64       // sagas/s including the read side catching up
	var arm func(*load.Tracker) // -trace-slow, on the -low-rate pass
	run := func(n int, rate float64) load.Result {
		start := time.Now()
		tracker = load.NewTracker(n)
		if arm != nil {
			arm(tracker)
		}
		res, err := load.Drive(ctx, tracker, n, rate, *concurrency, 5*time.Minute, create)
		if err != nil {
			log.Fatalf("%v (%v)", err, res)
		}
		placed += n
		// The read model and the e-mail worker are off the saga path; let
		// them catch up so the next pass starts from a quiet system.
		if err := waitQuiet(ctx, sys, placed); err != nil {
			log.Fatal(err)
		}
		sustained = float64(n) / time.Since(start).Seconds()
		return res
	}
	warm := run(1000, 0)
	log.Printf("warm-up: %v", warm)
	stop := startProfile(*cpuProfile)
	cpu0 := cpuTime()
	p0 := takeProbe(sys, requests)
	full := run(*orders, 0)
	fullProbe := takeProbe(sys, requests).since(p0)
	stop()
	// Process CPU per saga does not depend on what else the machine runs,
	// unlike sagas/s on a shared machine.
	cpuPerSaga := (cpuTime() - cpu0) / time.Duration(*orders)
	fullSustained := sustained
	log.Printf("full speed: %v; %.0f sagas/s until the read model and e-mails caught up", full, fullSustained)
	if wals, _ := filepath.Glob(filepath.Join(dir, "*-wal")); len(wals) > 0 {
		for _, w := range wals {
			if fi, err := os.Stat(w); err == nil {
				log.Printf("WAL %s: %d KiB", filepath.Base(w), fi.Size()/1024)
			}
		}
	}
	// Half of what the whole system sustains (sagas plus read side), so the
	// latency pass is not secretly running at saturation.
	half := fullSustained / 2
	halfRes := run(int(half*float64(*halfSeconds)), half)
	log.Printf("half rate: %v", halfRes)
	var lowRes load.Result
	var lowCPUPerSaga time.Duration
	var lowProbe probe
	var lowDisk []time.Duration // the disk probe's syncs during the pass
	if *lowRate > 0 {
		stop := startProfile(*lowProfile)
		cpu0 := cpuTime()
		n := int(*lowRate * float64(*halfSeconds))
		p0 := takeProbe(sys, requests)
		var stopTrace func()
		arm, stopTrace = traceFirstSlow(*traceSlow, *traceSlowOver)
		stopDisk, err := diskprobe.Start(dir, diskProbeEvery)
		if err != nil {
			log.Fatal(err)
		}
		lowRes = run(n, *lowRate)
		if lowDisk, err = stopDisk(); err != nil {
			log.Fatal(err)
		}
		stopTrace()
		arm = nil
		lowProbe = takeProbe(sys, requests).since(p0)
		lowCPUPerSaga = (cpuTime() - cpu0) / time.Duration(n)
		stop()
		log.Printf("low rate: %v", lowRes)
	}
	if err := sys.Stop(ctx); err != nil {
		log.Printf("stop: %v", err)
	}

	fmt.Printf("Measured %s on %d CPU cores (GOMAXPROCS %d), %s/%s, %d partitions per topic, the order service's SQLite data in %d shard(s).\n\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, *partitions, *orderShards)
	fmt.Println("| measure | value |")
	fmt.Println("| --- | --- |")
	fmt.Printf("| completed sagas/s, full speed (%d orders, %d callers) | %.0f |\n", full.Orders, *concurrency, full.Throughput)
	fmt.Printf("| process CPU (user+sys) per saga, full speed | %.0f µs |\n", float64(cpuPerSaga.Nanoseconds())/1000)
	fmt.Printf("| CPU-bound ceiling on %d cores (cores ÷ CPU per saga) | %.0f sagas/s |\n", runtime.NumCPU(), float64(runtime.NumCPU())/cpuPerSaga.Seconds())
	fmt.Printf("| sustained sagas/s including read model and e-mails catching up | %.0f |\n", fullSustained)
	fmt.Printf("| end-to-end latency at full speed p50 / p99 (64 callers queueing) | %s / %s |\n", ms(full.P50), ms(full.P99))
	fmt.Printf("| end-to-end latency at half the sustained rate (%.0f orders/s offered, %d orders) p50 / p99 / max | %s / %s / %s |\n", half, halfRes.Orders, ms(halfRes.P50), ms(halfRes.P99), ms(halfRes.Max))
	fmt.Printf("| sagas/s achieved at half rate | %.0f |\n", halfRes.Throughput)
	if requests != nil {
		fmt.Printf("| Kafka requests per saga, full speed | %s |\n", fullProbe.requestsPerSaga(full.Orders))
	}
	fmt.Printf("| time spent queueing for each service's database connection, per second, full speed | %s |\n", fullProbe.queueing())
	if *lowRate > 0 {
		fmt.Printf("| end-to-end latency at %.0f orders/s (%d orders) p50 / p99 / max | %s / %s / %s |\n", *lowRate, lowRes.Orders, ms(lowRes.P50), ms(lowRes.P99), ms(lowRes.Max))
		fmt.Printf("| process CPU (user+sys) per saga at %.0f orders/s | %d µs |\n", *lowRate, lowCPUPerSaga.Microseconds())
		if requests != nil {
			fmt.Printf("| Kafka requests per saga at %.0f orders/s | %s |\n", *lowRate, lowProbe.requestsPerSaga(lowRes.Orders))
		}
		fmt.Printf("| time spent queueing for each service's database connection, per second, at %.0f orders/s | %s |\n", *lowRate, lowProbe.queueing())
		fmt.Printf("| disk: sync of a 4 KiB write beside the databases every %s at %.0f orders/s, p50 / p99 / max | %s |\n", diskProbeEvery, *lowRate, quantiles(lowDisk))
	}
	fmt.Printf("| raw kfake produce, 256 B, acks=all (msgs/s) | %.0f |\n", prod)
	fmt.Printf("| raw kfake consume, consumer group (msgs/s) | %.0f |\n", cons)
	fmt.Printf("| raw store: one saga-step transaction per message (tx/s) | %.0f |\n", single)
	fmt.Printf("| raw store: 500 saga steps per transaction (steps/s) | %.0f |\n", batched)
	// A saga is 8 published messages (OrderCreated, 3 commands, 3 replies,
	// OrderCompleted) and 15 consumed ones (order-query and notification
	// read the event topics too).
	fmt.Printf("| kafka messages produced per second by the sagas (8 per saga) | %.0f |\n", full.Throughput*8)
	fmt.Printf("| ratio: saga-produced msgs/s ÷ raw kfake produce | %.3f |\n", full.Throughput*8/prod)
	fmt.Printf("| ratio: sagas/s ÷ raw single-transaction rate | %.2f |\n", full.Throughput/single)
	fmt.Printf("| outcomes (full speed) | %s |\n", strings.ReplaceAll(fmt.Sprint(full.Outcomes), "map", ""))
	fmt.Printf("| target: ≥ %d sagas/s at full speed, p99 < %s at %d orders/s | %s |\n", targetSagas, ms(targetP99), targetRate, verdict(full.Throughput, *lowRate, lowRes.P99))
}

// diskProbeEvery spaces the disk probe's syncs: 200 in a 10 s pass, enough
// to show a stall and too few to load the disk the databases share.
const diskProbeEvery = 50 * time.Millisecond

// The project's benchmark target (issue #5): at least targetSagas completed
// sagas/s on two cores, with p99 under targetP99 at half that rate.
const (
	targetSagas = 5000
	targetRate  = targetSagas / 2
	targetP99   = 50 * time.Millisecond
)

// verdict says whether one run met the target. The latency half is judged
// only when the fixed-rate pass ran at the target's rate.
func verdict(sagasPerSec, lowRate float64, lowP99 time.Duration) string {
	var met, missed []string
	if sagasPerSec >= targetSagas {
		met = append(met, fmt.Sprintf("%.0f sagas/s", sagasPerSec))
	} else {
		missed = append(missed, fmt.Sprintf("%.0f sagas/s", sagasPerSec))
	}
	switch {
	case lowRate != targetRate:
		missed = append(missed, fmt.Sprintf("p99 at %d orders/s not measured (-low-rate %g)", targetRate, lowRate))
	case lowP99 < targetP99:
		met = append(met, "p99 "+ms(lowP99))
	default:
		missed = append(missed, "p99 "+ms(lowP99))
	}
	out := "missed: " + strings.Join(missed, ", ")
	switch {
	case len(missed) == 0:
		out = "met: " + strings.Join(met, ", ")
	case len(met) > 0:
		out += "; met: " + strings.Join(met, ", ")
	}
	return out
}

// probe is what a pass cost beyond CPU: the Kafka requests the cluster
// served and the time callers waited for each service's database
// connection (on SQLite the one connection every transaction of the service
// takes in turn, so this is the queue in front of it).
type probe struct {
	at       time.Time
	span     time.Duration // of a difference (since)
	requests map[string]int64
	waited   map[string]time.Duration
}

// takeProbe reads the counters; r may be nil (requests not counted).
func takeProbe(sys *system.System, r *system.Requests) probe {
	p := probe{at: time.Now(), requests: map[string]int64{}, waited: map[string]time.Duration{}}
	if r != nil {
		p.requests = r.Snapshot()
	}
	for _, name := range system.Names {
		for _, db := range sys.DBs(name) {
			p.waited[name] += db.SQL().Stats().WaitDuration
		}
	}
	return p
}

// since returns what happened between before and p.
func (p probe) since(before probe) probe {
	d := probe{span: p.at.Sub(before.at), requests: map[string]int64{}, waited: map[string]time.Duration{}}
	for k, v := range p.requests {
		d.requests[k] = v - before.requests[k]
	}
	for k, v := range p.waited {
		d.waited[k] = v - before.waited[k]
	}
	return d
}

func (p probe) requestsPerSaga(sagas int) string {
	var parts []string
	for _, k := range []string{"Produce", "Fetch", "OffsetCommit"} {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(p.requests[k])/float64(sagas)))
	}
	return strings.Join(parts, ", ")
}

func (p probe) queueing() string {
	var parts []string
	for _, name := range system.Names {
		parts = append(parts, fmt.Sprintf("%s %.2f s", name, p.waited[name].Seconds()/p.span.Seconds()))
	}
	return strings.Join(parts, ", ")
}

func waitQuiet(ctx context.Context, sys *system.System, placed int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var views, mails int
		if err := sys.DB(system.OrderQuery).QueryRow(ctx, `SELECT COUNT(*) FROM order_view WHERE status = 'completed'`).Scan(&views); err != nil {
			return err
		}
		if err := sys.DB(system.Notification).QueryRow(ctx, `SELECT COUNT(*) FROM emails WHERE sent = 1`).Scan(&mails); err != nil {
			return err
		}
		if views >= placed && mails >= placed {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("read model and e-mails did not catch up with %d orders", placed)
}

// traceFirstSlow keeps a flight recording of the runtime trace (the last few
// seconds) and, once arm has been given the pass's tracker, writes it to path
// shortly after the first saga slower than over: where the cause of a
// latency spike can be read (go tool trace). stop ends the recording.
func traceFirstSlow(path string, over time.Duration) (arm func(*load.Tracker), stop func()) {
	if path == "" {
		return nil, func() {}
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 3 * time.Second, MaxBytes: 256 << 20})
	if err := fr.Start(); err != nil {
		log.Fatalf("flight recorder: %v", err)
	}
	var (
		mu             sync.Mutex
		fired, written bool
	)
	arm = func(tr *load.Tracker) {
		tr.OnSlow(over, func(start, end time.Time) {
			mu.Lock()
			fired = true
			mu.Unlock()
			time.Sleep(100 * time.Millisecond) // the spike's aftermath too
			mu.Lock()
			defer mu.Unlock()
			if !fr.Enabled() {
				return // the pass ended first
			}
			f, err := os.Create(path)
			if err == nil {
				_, err = fr.WriteTo(f)
				err = errors.Join(err, f.Close())
			}
			if err != nil {
				log.Fatalf("trace-slow: %v", err)
			}
			written = true
			log.Printf("trace-slow: a saga took %s (created %s); runtime trace of the seconds before in %s", end.Sub(start).Round(time.Microsecond), start.Format("15:04:05.000000"), path)
		})
	}
	return arm, func() {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !fired:
			log.Printf("trace-slow: no saga took over %s; no trace written", over)
		case !written:
			log.Printf("trace-slow: the first saga over %s finished as the pass ended; no trace written", over)
		}
		fr.Stop()
	}
}

// cpuTime is the CPU time (user + system) this process has used.
// startProfile starts a CPU profile into path (none if empty) and returns
// the function that stops it.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// rawKafka measures produce (acks=all, batched) and consume rates.
func rawKafka(ctx context.Context, brokers []string, partitions, n int) (float64, float64, error) {
	const topic = "bench.raw"
	if err := topics.CreateConfigs(ctx, brokers[0], kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 3}); err != nil {
		return 0, 0, err
	}
	w := eventbus.NewWriter(brokers)
	defer w.Close()
	val := []byte(strings.Repeat("x", 256))
	msgs := make([]kafka.Message, 0, 10000)
	start := time.Now()
	for i := 0; i < n; {
		msgs = msgs[:0]
		for ; len(msgs) < cap(msgs) && i < n; i++ {
			msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprint(i % 4096)), Value: val})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return 0, 0, err
		}
	}
	prod := float64(n) / time.Since(start).Seconds()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: "bench-raw", GroupTopics: []string{topic}, StartOffset: kafka.FirstOffset,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: time.Second, QueueCapacity: 10000, JoinGroupBackoff: 200 * time.Millisecond})
	defer r.Close()
	// Time from the first message so the group join is not counted.
	if _, err := r.FetchMessage(ctx); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	for i := 1; i < n; i++ {
		if _, err := r.FetchMessage(ctx); err != nil {
			return 0, 0, err
		}
	}
	return prod, float64(n-1) / time.Since(start).Seconds(), nil
}

// rawStore measures saga-step transactions (state upsert + processed-event
// record + outbox insert), one per transaction and 500 per transaction.
func rawStore(ctx context.Context, path string, n int) (float64, float64, error) {
	db, err := store.OpenSQLite(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	mig := fstest.MapFS{"00001_state.sql": {Data: []byte("-- +goose Up\nCREATE TABLE state (id TEXT PRIMARY KEY, step TEXT NOT NULL);\n-- +goose Down\nDROP TABLE state;\n")}}
	if err := db.Migrate(ctx, mig); err != nil {
		return 0, 0, err
	}
	step := func(tx *store.Tx, i int) error {
		id := events.NewID()
		if _, err := tx.MarkProcessed(ctx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO state (id, step) VALUES (?, 'a') ON CONFLICT (id) DO UPDATE SET step = excluded.step`, fmt.Sprint(i)); err != nil {
			return err
		}
		return outbox.Add(ctx, tx, &eventsv1.StockReserved{OrderId: id}, events.Meta{AggregateID: id}, time.Now())
	}
	start := time.Now()
	for i := range n {
		if err := db.InTx(ctx, func(tx *store.Tx) error { return step(tx, i) }); err != nil {
			return 0, 0, err
		}
	}
	single := float64(n) / time.Since(start).Seconds()
	start = time.Now()
	for i := 0; i < n; i += 500 {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for j := i; j < i+500 && j < n; j++ {
				if err := step(tx, n+j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
	}
	return single, float64(n) / time.Since(start).Seconds(), nil
}
