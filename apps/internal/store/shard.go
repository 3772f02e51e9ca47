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

// ShardName names shard i of a database split into shards: base itself for
// shard 0, "<base>-<i>" for the others (order, order-1, ...). Files, DSN keys
// and metric labels of the shards all follow it.
func ShardName(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s-%d", base, i)
}

// ShardPath names shard i of a SQLite database split into files: ShardName
// of the path before its ".db" extension (order.db, order-1.db, ...), or of
// the whole path when there is none.
func ShardPath(path string, i int) string {
	if base, ok := strings.CutSuffix(path, ".db"); ok {
		return ShardName(base, i) + ".db"
	}
	return ShardName(path, i)
}
