package store

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// ShardOf returns which of n shards key belongs to (FNV-1a of the key, mod
// n; 0 when n ≤ 1). A service that splits its rows over several databases
// routes every read and write of a key with it, so the function is fixed:
// changing it would strand existing rows in shards that are no longer
// asked for them.
func ShardOf(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// ShardPath names shard i of a SQLite database split into files: path
// itself for shard 0, and for shard i "-<i>" before the ".db" extension
// (order.db, order-1.db, ...), or at the end when there is none.
func ShardPath(path string, i int) string {
	if i == 0 {
		return path
	}
	if base, ok := strings.CutSuffix(path, ".db"); ok {
		return fmt.Sprintf("%s-%d.db", base, i)
	}
	return fmt.Sprintf("%s-%d", path, i)
}
