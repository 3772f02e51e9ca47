package runner

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ordermesh/ordermesh/apps/internal/events"
	"github.com/ordermesh/ordermesh/apps/internal/store"
)

// The pruner deletes the records of events made more than the retention
// ago, and keeps the rest.
func TestPruneProcessedForgetsOnlyEventsOlderThanRetention(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "unit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx, fstest.MapFS{"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id TEXT);\n")}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const retention = 14 * 24 * time.Hour
	old := []string{events.IDBefore(now.Add(-retention - time.Hour)), events.IDBefore(now.Add(-retention - time.Millisecond))}
	kept := []string{events.IDBefore(now.Add(-retention)), events.IDBefore(now.Add(-time.Hour)), events.NewID()}
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.MarkProcessedAll(ctx, append(slices.Clone(old), kept...))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	remaining := func() []string {
		rows, err := db.Query(ctx, `SELECT event_id FROM processed_events ORDER BY event_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		return ids
	}

	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- pruneProcessed(pctx, db, retention, 10*time.Millisecond, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(remaining()) > len(kept) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(kept)
	slices.Sort(want)
	if got := remaining(); !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
}
