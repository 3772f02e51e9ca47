//go:build integration

package store

import (
	"context"
	"testing"

	"github.com/ordermesh/ordermesh/apps/internal/pgtest"
)

func TestPostgresMarkProcessedAllReportsOnlyNewIDs(t *testing.T) {
	pg := pgtest.Start(t)
	pg.CreateDB(t, "marks")
	db, err := Open(context.Background(), pg.DSN("marks"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testMarkProcessedAll(t, db)
}

func TestPostgresRunsPortableAndItsOwnMigrationsOnly(t *testing.T) {
	pg := pgtest.Start(t)
	pg.CreateDB(t, "dialects")
	db, err := Open(context.Background(), pg.DSN("dialects"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testDialectMigrations(t, db)
}

func TestPostgresPruneProcessedDeletesOnlyOlderIDs(t *testing.T) {
	pg := pgtest.Start(t)
	pg.CreateDB(t, "prune")
	db, err := Open(context.Background(), pg.DSN("prune"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testPruneProcessed(t, db)
}
