//go:build integration

package store

import (
	"context"
	"testing"

	"github.com/ordermesh/ordermesh/apps/internal/pgtest"
)

// openPostgres starts a PostgreSQL server for the test and opens a database
// named name on it.
func openPostgres(t *testing.T, name string) *DB {
	t.Helper()
	pg := pgtest.Start(t)
	pg.CreateDB(t, name)
	db, err := Open(context.Background(), pg.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresMarkProcessedAllReportsOnlyNewIDs(t *testing.T) {
	testMarkProcessedAll(t, openPostgres(t, "marks"))
}

func TestPostgresRunsPortableAndItsOwnMigrationsOnly(t *testing.T) {
	testDialectMigrations(t, openPostgres(t, "dialects"))
}

func TestPostgresPruneProcessedDeletesOnlyOlderIDs(t *testing.T) {
	testPruneProcessed(t, openPostgres(t, "prune"))
}
