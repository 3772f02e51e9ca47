package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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

// serviceMigrations stands in for a service's own schema.
var serviceMigrations = fstest.MapFS{"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE t;\n")}}

func openSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A service's SQLite file is its own: held exclusively, in WAL mode, with
// the WAL index in the process's memory (no -shm file) and the data
// surviving a reopen.
func TestSQLiteHoldsItsFileExclusivelyInWALMode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, serviceMigrations); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO t (id) VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	for pragma, want := range map[string]string{"locking_mode": "exclusive", "journal_mode": "wal", "synchronous": "1", "cache_size": "-16384"} {
		var got string
		if err := db.QueryRow(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q (%v), want %q", pragma, got, err, want)
		}
	}
	if _, err := os.Stat(path + "-shm"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s-shm: %v; want no shared-memory WAL index", path, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var id string
	if err := again.QueryRow(ctx, `SELECT id FROM t`).Scan(&id); err != nil || id != "kept" {
		t.Errorf("after reopen: %q, %v", id, err)
	}
	if _, err := os.Stat(path + "-shm"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after reopen, %s-shm: %v; want no shared-memory WAL index", path, err)
	}
}

func TestSQLiteRunsPortableAndItsOwnMigrationsOnly(t *testing.T) {
	testDialectMigrations(t, openSQLite(t))
}

// testDialectMigrations checks that db runs the portable migrations and
// those named for its own dialect, in one sequence, and skips the others.
func testDialectMigrations(t *testing.T, db *DB) {
	ctx := context.Background()
	up := func(stmt string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("-- +goose Up\n" + stmt + ";\n")}
	}
	migrations := fstest.MapFS{
		"00001_t.sql": up("CREATE TABLE t (id TEXT PRIMARY KEY)"),
		// Each file below fails on the other database.
		"00002_lite.sqlite.sql":   up("CREATE TABLE lite (id TEXT PRIMARY KEY) WITHOUT ROWID"),
		"00003_pg.postgres.sql":   up("CREATE TABLE pg (id BIGINT GENERATED ALWAYS AS IDENTITY)"),
		"00004_after.sql":         up("ALTER TABLE t ADD COLUMN n INTEGER NOT NULL DEFAULT 4"),
		"00005_last.sqlite.sql":   up("INSERT INTO t (id) VALUES ('sqlite')"),
		"00005_last.postgres.sql": up("INSERT INTO t (id) VALUES ('postgres')"),
	}
	for range 2 { // the second run has nothing to do
		if err := db.Migrate(ctx, migrations); err != nil {
			t.Fatal(err)
		}
	}
	var id string
	var n int
	if err := db.QueryRow(ctx, `SELECT id, n FROM t`).Scan(&id, &n); err != nil || id != string(db.Dialect()) || n != 4 {
		t.Errorf("t holds (%q, %d), %v; want (%q, 4)", id, n, err, db.Dialect())
	}
	own, other := "lite", "pg"
	if db.Dialect() == Postgres {
		own, other = other, own
	}
	if _, err := db.Exec(ctx, `SELECT count(*) FROM `+own); err != nil {
		t.Errorf("table %s of the %s migration: %v", own, db.Dialect(), err)
	}
	if _, err := db.Exec(ctx, `SELECT count(*) FROM `+other); err == nil {
		t.Errorf("table %s exists: the other database's migration ran on %s", other, db.Dialect())
	}
}

func TestSQLitePruneProcessedDeletesOnlyOlderIDs(t *testing.T) {
	testPruneProcessed(t, openSQLite(t))
}

// testPruneProcessed prunes below a bound in chunks smaller than what is to
// go, and checks that exactly the ids below the bound went.
func testPruneProcessed(t *testing.T, db *DB) {
	ctx := context.Background()
	if err := db.Migrate(ctx, serviceMigrations); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("e%02d", i))
	}
	if err := db.InTx(ctx, func(tx *Tx) error { _, err := tx.MarkProcessedAll(ctx, ids); return err }); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		before string
		chunk  int
		want   int64
		left   []string
	}{
		{"e00", 2, 0, ids},
		{"e05", 2, 5, ids[5:]},
		{"e05", 2, 0, ids[5:]},
		{"f", 3, 5, nil},
	} {
		n, err := db.PruneProcessed(ctx, step.before, step.chunk)
		if err != nil || n != step.want {
			t.Fatalf("PruneProcessed(%q, %d) = %d, %v; want %d", step.before, step.chunk, n, err, step.want)
		}
		var left []string
		rows, err := db.Query(ctx, `SELECT event_id FROM processed_events ORDER BY event_id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			left = append(left, id)
		}
		rows.Close()
		if !slices.Equal(left, step.left) {
			t.Errorf("after pruning below %q: %q left, want %q", step.before, left, step.left)
		}
	}
}

func TestSQLiteMigrateAndMarkProcessedOnce(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	if err := db.Migrate(ctx, serviceMigrations); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx, serviceMigrations); err != nil {
		t.Fatalf("second migrate must be a no-op: %v", err)
	}
	var (
		first, second bool
		err           error
	)
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

func TestSQLiteMarkProcessedAllReportsOnlyNewIDs(t *testing.T) {
	testMarkProcessedAll(t, openSQLite(t))
}

// testMarkProcessedAll runs a consumer's view of batches against db.
func testMarkProcessedAll(t *testing.T, db *DB) {
	ctx := context.Background()
	if err := db.Migrate(ctx, serviceMigrations); err != nil {
		t.Fatal(err)
	}
	// mark returns the ids a consumer would apply, in batch order.
	mark := func(ids ...string) []string {
		t.Helper()
		var fresh Fresh
		err := db.InTx(ctx, func(tx *Tx) (err error) {
			fresh, err = tx.MarkProcessedAll(ctx, ids)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, id := range ids {
			if fresh.Take(id) {
				out = append(out, id)
			}
		}
		return out
	}
	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"empty batch", nil, nil},
		{"all new", []string{"a", "c", "b"}, []string{"a", "c", "b"}},
		{"all seen", []string{"c", "a"}, nil},
		{"mixed", []string{"b", "d", "a", "e"}, []string{"d", "e"}},
		{"repeat within the batch is fresh once", []string{"f", "f", "e"}, []string{"f"}},
		{"quotes and unicode survive the encoding", []string{`g"h`, "ü\\n"}, []string{`g"h`, "ü\\n"}},
	}
	for _, tc := range tests {
		if got := mark(tc.ids...); !slices.Equal(got, tc.want) {
			t.Errorf("%s: fresh %q, want %q", tc.name, got, tc.want)
		}
	}
	// A rolled-back batch records nothing.
	errBoom := errors.New("boom")
	err := db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.MarkProcessedAll(ctx, []string{"x"}); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	if got := mark("x"); !slices.Equal(got, []string{"x"}) {
		t.Errorf("after rollback: fresh %q, want [x]", got)
	}
}
