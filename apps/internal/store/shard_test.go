package store

import (
	"fmt"
	"testing"
)

func TestShardOfIsStableAndSpreadsKeys(t *testing.T) {
	// Fixed values: the function decides where existing rows live, so any
	// change to it must fail here.
	for _, tc := range []struct {
		key  string
		n    int
		want int
	}{
		{"any", 1, 0},
		{"any", 0, 0},
		{"01JDXK6Q5V3T8ZQ7M2R4N9P0AB", 2, 1},
		{"01JDXK6Q5V3T8ZQ7M2R4N9P0AC", 2, 0},
		{"order-17", 4, 2},
	} {
		if got := ShardOf(tc.key, tc.n); got != tc.want {
			t.Errorf("ShardOf(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
	counts := make([]int, 4)
	for i := range 40_000 {
		counts[ShardOf(fmt.Sprintf("order-%d", i), 4)]++
	}
	for s, c := range counts {
		if c < 9_000 || c > 11_000 {
			t.Errorf("shard %d of 4 got %d of 40000 keys: %v", s, c, counts)
		}
	}
}

func TestShardNameKeepsTheBaseForShardZero(t *testing.T) {
	if got := ShardName("order", 0); got != "order" {
		t.Errorf(`ShardName("order", 0) = %q, want "order"`, got)
	}
	if got := ShardName("order", 2); got != "order-2" {
		t.Errorf(`ShardName("order", 2) = %q, want "order-2"`, got)
	}
}

func TestShardPathNamesFilesBesideTheFirst(t *testing.T) {
	for _, tc := range []struct {
		path string
		i    int
		want string
	}{
		{"/data/order.db", 0, "/data/order.db"},
		{"/data/order.db", 1, "/data/order-1.db"},
		{"sqlite:///data/order.db", 2, "sqlite:///data/order-2.db"},
		{"/data/order", 3, "/data/order-3"},
	} {
		if got := ShardPath(tc.path, tc.i); got != tc.want {
			t.Errorf("ShardPath(%q, %d) = %q, want %q", tc.path, tc.i, got, tc.want)
		}
	}
}
