package system

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The local cluster must roll log segments small: kfake grows an in-memory
// segment by doubling it on its request loop, which stalled every broker for
// tens of milliseconds once segments reached tens of MiB.
func TestKafkaRollsSegmentsSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := StartKafka(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	c := &kafka.Client{Addr: kafka.TCP(k.Brokers[0])}
	resp, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeBroker, ResourceName: "0", ConfigNames: []string{"log.segment.bytes"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("describe broker config: %v", r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "log.segment.bytes" {
				got = e.ConfigValue
			}
		}
	}
	if got != "1048576" {
		t.Fatalf("log.segment.bytes = %q, want 1048576", got)
	}
}
