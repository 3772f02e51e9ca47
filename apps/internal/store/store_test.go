package store

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestRebindNumbersPlaceholdersForPostgres(t *testing.T) {
	pg := &DB{dialect: Postgres}
	if got := pg.Rebind(`SELECT a FROM t WHERE x = ? AND y IN (?, ?)`); got != `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)` {
		t.Errorf("postgres: %s", got)
	}
	lite := &DB{dialect: SQLite}
	if got := lite.Rebind(`x = ?`); got != `x = ?` {
		t.Errorf("sqlite: %s", got)
	}
}

func TestSQLiteMigrateAndMarkProcessedOnce(t *testing.T) {
	ctx := context.Background()
	db, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := fstest.MapFS{"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE t;\n")}}
	if err := db.Migrate(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, svc); err != nil {
		t.Fatalf("second migrate must be a no-op: %v", err)
	}
	var first, second bool
	err = db.InTx(ctx, func(tx *Tx) error {
		if first, err = tx.MarkProcessed(ctx, "e1"); err != nil {
			return err
		}
		second, err = tx.MarkProcessed(ctx, "e1")
		return err
	})
	if err != nil || !first || second {
		t.Errorf("MarkProcessed: first %v second %v err %v, want true false nil", first, second, err)
	}
}
