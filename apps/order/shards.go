package order

import (
	"context"
	"fmt"

	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// CheckShards records in each SQLite shard its place in the layout (index and
// count, in the file's user_version) and refuses a layout that differs from
// the one a shard holding orders was written with: an order's rows live in
// the shard its id hashes to among that many, so a changed count or order
// would lose track of existing orders. A database from before sharding
// counts as shard 0 of 1. PostgreSQL is never sharded.
func CheckShards(ctx context.Context, shards []*store.DB) error {
	n := len(shards)
	if n == 0 {
		return fmt.Errorf("order: no database")
	}
	for i, db := range shards {
		if db.Dialect() != store.SQLite {
			if n > 1 {
				return fmt.Errorf("order: %d shards requested, but sharding is for SQLite only (PostgreSQL takes concurrent writers): use 1", n)
			}
			continue
		}
		var v int64
		if err := db.QueryRow(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			return fmt.Errorf("order: shard %d: read layout: %w", i, err)
		}
		used, err := holdsOrders(ctx, db)
		if err != nil {
			return fmt.Errorf("order: shard %d: %w", i, err)
		}
		if v == 0 {
			v = layout(0, 1) // written before sharding, or fresh
		}
		if used && v != layout(i, n) {
			return fmt.Errorf("order: %d shards requested, but shard %d's database holds orders as shard %d of %d: the shard count and order cannot change once orders are stored (set it back to %d, or start on empty databases)",
				n, i, v&0xffff, v>>16, v>>16)
		}
		if _, err := db.Exec(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, layout(i, n))); err != nil {
			return fmt.Errorf("order: shard %d: record layout: %w", i, err)
		}
	}
	return nil
}

func layout(index, count int) int64 { return int64(count)<<16 | int64(index) }

// holdsOrders reports whether db already has the order tables with rows.
func holdsOrders(ctx context.Context, db *store.DB) (bool, error) {
	var tables int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sagas'`).Scan(&tables); err != nil {
		return false, fmt.Errorf("read schema: %w", err)
	}
	if tables == 0 {
		return false, nil
	}
	var any int
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sagas)`).Scan(&any); err != nil {
		return false, fmt.Errorf("read sagas: %w", err)
	}
	return any == 1, nil
}
