//go:build integration

package system_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// awaitSoleMember waits until group is stable with exactly one member: the
// process restarted after a kill owns every partition again.
func awaitSoleMember(t *testing.T, brokers []string, group string) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		cancel()
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" && len(resp.Groups[0].Members) == 1 {
			return
		}
		if time.Now().After(deadline) {
			logGroup(t, brokers, group)
			t.Fatalf("group %s did not settle to one member within 45s", group)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logGroup logs a group's members and, per partition, its committed offset
// against the end of the log: what a stuck consumer looks like.
func logGroup(t *testing.T, brokers []string, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	dg, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(dg.Groups) != 1 {
		t.Logf("group %s: describe: %v", group, err)
		return
	}
	g := dg.Groups[0]
	t.Logf("group %s: %s, %d members", group, g.GroupState, len(g.Members))
	parts := map[string][]int{}
	ends := map[string][]kafka.OffsetRequest{}
	for _, m := range g.Members {
		t.Logf("  member %s: %+v", m.MemberID, m.MemberAssignments.Topics)
		for _, a := range m.MemberAssignments.Topics {
			parts[a.Topic] = append(parts[a.Topic], a.Partitions...)
			for _, p := range a.Partitions {
				ends[a.Topic] = append(ends[a.Topic], kafka.LastOffsetOf(p))
			}
		}
	}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: ends})
	if err != nil {
		t.Logf("group %s: list offsets: %v", group, err)
		return
	}
	of, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		t.Logf("group %s: offset fetch: %v", group, err)
		return
	}
	for topic, ps := range lo.Topics {
		for _, p := range ps {
			for _, op := range of.Topics[topic] {
				if op.Partition == p.Partition && op.CommittedOffset != p.LastOffset {
					t.Logf("  %s/%d: committed %d of %d", topic, p.Partition, op.CommittedOffset, p.LastOffset)
				}
			}
		}
	}
}
