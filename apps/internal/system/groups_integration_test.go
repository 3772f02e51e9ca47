//go:build integration

package system_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// sessionExpiry is when a member of a crowded group is past the services'
// 10 s session timeout, with room.
const sessionExpiry = 15 * time.Second

// awaitSoleMember waits until group is stable with exactly one member: the
// process restarted after a kill owns every partition again.
//
// A real broker expires a killed member once its session times out (10 s
// here). kfake sometimes keeps one for good, with its partitions, after a
// rebalance it was caught in (apps/README.md), and the sagas behind those
// partitions would wait for ever. So a group that has had more than one
// member for longer than expiry (sessionExpiry for the services' groups) is
// emptied here, as the broker's expiry would: the live member finds its
// membership gone and rejoins alone.
func awaitSoleMember(t *testing.T, brokers []string, group string, expiry time.Duration) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	deadline := time.Now().Add(75 * time.Second)
	var crowdedSince time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		g, err := describeGroup(ctx, brokers, group)
		cancel()
		if err == nil {
			if g.GroupState == "Stable" && len(g.Members) == 1 {
				return
			}
			switch {
			case g.GroupState != "Stable" || len(g.Members) < 2:
				crowdedSince = time.Time{}
			case crowdedSince.IsZero():
				crowdedSince = time.Now()
			case time.Since(crowdedSince) > expiry:
				logGroup(t, brokers, group)
				t.Logf("group %s: %d members for over %s: expiring them as a broker would", group, len(g.Members), expiry)
				leave := &kafka.LeaveGroupRequest{GroupID: group}
				for _, m := range g.Members {
					leave.Members = append(leave.Members, kafka.LeaveGroupRequestMember{ID: m.MemberID})
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if _, err := c.LeaveGroup(ctx, leave); err != nil {
					t.Logf("group %s: leave: %v", group, err)
				}
				cancel()
				crowdedSince = time.Time{}
			}
		}
		if time.Now().After(deadline) {
			logGroup(t, brokers, group)
			t.Fatalf("group %s did not settle to one member within 75s", group)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describeGroup returns what the cluster says of one group.
func describeGroup(ctx context.Context, brokers []string, group string) (kafka.DescribeGroupsResponseGroup, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return kafka.DescribeGroupsResponseGroup{}, err
	}
	if len(resp.Groups) != 1 {
		return kafka.DescribeGroupsResponseGroup{}, fmt.Errorf("describe group %s: %d groups in the answer", group, len(resp.Groups))
	}
	return resp.Groups[0], resp.Groups[0].Error
}

// logGroup logs a group's members and, per partition, its committed offset
// against the end of the log: what a stuck consumer looks like.
func logGroup(t *testing.T, brokers []string, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	g, err := describeGroup(ctx, brokers, group)
	if err != nil {
		t.Logf("group %s: describe: %v", group, err)
		return
	}
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
