package system

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// Partitions per topic in the local cluster unless StartKafka is told otherwise.
const Partitions = 6

// segmentBytes is the size at which kfake rolls a partition's log segment.
// kfake keeps segments in memory and grows one by doubling a byte slice, on
// its single request loop: at its default of 100 MiB, each doubling of a
// 32 or 64 MiB segment copied for 20–40 ms while every broker stood still
// (a runtime trace of the benchmark's 60–110 ms latency spikes). At 1 MiB
// a roll is a new small slice and a copy is at most 1 MiB.
const segmentBytes = 1 << 20

// Kafka is an in-process 3-broker Kafka-protocol cluster (kfake) on 127.0.0.1
// with every topic created. It is a test and local-run stand-in for a real
// cluster; it keeps data in memory.
type Kafka struct {
	cluster *kfake.Cluster
	Brokers []string
}

// StartKafka starts the cluster and creates the topics with the given
// number of partitions each (0: Partitions).
func StartKafka(ctx context.Context, partitions int) (*Kafka, error) {
	if partitions <= 0 {
		partitions = Partitions
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.GroupMinSessionTimeout(time.Second),
		kfake.BrokerConfigs(map[string]string{"log.segment.bytes": strconv.Itoa(segmentBytes)}))
	if err != nil {
		return nil, fmt.Errorf("system: start kfake: %w", err)
	}
	k := &Kafka{cluster: c, Brokers: c.ListenAddrs()}
	if err := topics.Create(ctx, k.Brokers[0], partitions, 3); err != nil {
		c.Close()
		return nil, err
	}
	return k, nil
}

// Close stops the cluster.
func (k *Kafka) Close() { k.cluster.Close() }

// Requests counts the requests the cluster serves, by API key.
type Requests struct{ byKey [256]atomic.Int64 }

// CountRequests starts counting every request the cluster serves (the
// benchmark reports them per saga).
func (k *Kafka) CountRequests() *Requests {
	r := &Requests{}
	k.cluster.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		if key := req.Key(); key >= 0 && int(key) < len(r.byKey) {
			r.byKey[key].Add(1)
		}
		return nil, nil, false // observe only: the cluster handles it
	})
	return r
}

// Snapshot returns the counts so far by API name (Produce, Fetch, ...).
func (r *Requests) Snapshot() map[string]int64 {
	out := map[string]int64{}
	for key := range r.byKey {
		if n := r.byKey[key].Load(); n > 0 {
			out[kmsg.NameForKey(int16(key))] = n
		}
	}
	return out
}
