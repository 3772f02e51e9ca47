//go:build integration

package system_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ordermesh/ordermesh/apps/internal/system"
	"github.com/ordermesh/ordermesh/apps/internal/topics"
)

// severable dials through kafka-go and can cut every connection it made and
// refuse new ones: a process killed without leaving its consumer group.
type severable struct {
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func (s *severable) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut {
		return nil, fmt.Errorf("dial %s: severed", addr)
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		s.conns = append(s.conns, c)
	}
	return c, err
}

func (s *severable) sever() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = true
	for _, c := range s.conns {
		c.Close()
	}
}

// The recovery awaitSoleMember applies to kfake's stuck groups, checked on a
// group in that state: a member that is gone but that the broker keeps, with
// its partitions (here because its session timeout is two minutes). Without
// the recovery the live member never gets those partitions back in time.
func TestAwaitSoleMemberExpiresAGoneMemberThatHoldsPartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	k, err := system.StartKafka(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	const topic, group = "crowded", "crowded-group"
	if err := topics.CreateConfigs(ctx, k.Brokers[0], kafka.TopicConfig{Topic: topic, NumPartitions: 2, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	reader := func(session time.Duration, dial func(context.Context, string, string) (net.Conn, error)) *kafka.Reader {
		return kafka.NewReader(kafka.ReaderConfig{
			Brokers: k.Brokers, GroupID: group, Topic: topic, StartOffset: kafka.FirstOffset,
			HeartbeatInterval: time.Second, SessionTimeout: session, RebalanceTimeout: 5 * time.Second,
			MaxWait: 100 * time.Millisecond, Dialer: &kafka.Dialer{Timeout: 5 * time.Second, DialFunc: dial},
		})
	}

	// The live member, configured like the services' consumers.
	live := reader(10*time.Second, (&net.Dialer{}).DialContext)
	defer live.Close()
	got := make(chan int, 16)
	go func() {
		for {
			m, err := live.FetchMessage(ctx)
			if err != nil {
				return
			}
			got <- m.Partition
		}
	}()
	awaitSoleMember(t, k.Brokers, group, sessionExpiry)

	// A second member joins, takes a partition and is cut off.
	link := &severable{}
	gone := reader(2*time.Minute, link.dial)
	defer gone.Close()
	go gone.FetchMessage(ctx) //nolint:errcheck // it is cut off below
	for {
		if g, err := describeGroup(ctx, k.Brokers, group); err == nil && g.GroupState == "Stable" && len(g.Members) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the second member never joined")
		}
		time.Sleep(100 * time.Millisecond)
	}
	link.sever()

	w := &kafka.Writer{Addr: kafka.TCP(k.Brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { p, _ := strconv.Atoi(string(m.Key)); return p })}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("0"), Value: []byte("a")}, kafka.Message{Key: []byte("1"), Value: []byte("b")}); err != nil {
		t.Fatal(err)
	}

	// The gone member's session is two minutes, so any expiry short of that
	// checks the same recovery; 3 s keeps the test short.
	awaitSoleMember(t, k.Brokers, group, 3*time.Second)
	seen := map[int]bool{}
	deadline := time.After(30 * time.Second)
	for len(seen) < 2 {
		select {
		case p := <-got:
			seen[p] = true
		case <-deadline:
			t.Fatalf("the live member consumed partitions %v of 0 and 1", seen)
		}
	}
}
