// Package store is the one storage interface every service uses: a pooled
// database/sql handle over either PostgreSQL (pgx driver) or SQLite
// (modernc.org/sqlite), with goose migrations and a small dialect layer.
//
// Queries are written once with '?' placeholders and portable SQL
// (INSERT ... ON CONFLICT DO NOTHING works in both); Rebind turns them into
// PostgreSQL's $n form.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations
var runtimeMigrations embed.FS

// Store is what services depend on: transactions and plain reads.
type Store interface {
	InTx(ctx context.Context, fn func(tx *Tx) error) error
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	Dialect() Dialect
	Close() error
}

// DB implements Store for both dialects.
type DB struct {
	db      *sql.DB
	dialect Dialect
	rebind  sync.Map // query text -> rebound text

	// SQLite only: statements seen in transactions are prepared once on the
	// single connection (before the next transaction takes it) and reused;
	// parsing SQL was a fifth of the CPU time of a saga step.
	stmts   sync.Map // query -> *sql.Stmt
	pending sync.Map // query -> struct{}

	// attached holds per-database state of other packages (the outbox
	// relay's hand-off queue), keyed by their own unexported key types.
	attached sync.Map

	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*DB)(nil)

// OpenSQLite opens (creating if needed) a SQLite file in WAL mode.
// synchronous=NORMAL keeps commits durable against process crashes (the WAL
// is written before commit returns); only an OS crash can lose the last
// commits, which is the documented WAL trade-off.
//
// The file is locked exclusively for as long as the handle is open: the
// service owns its database and uses one connection, so the shared-memory
// WAL index and the file locks taken around every transaction buy nothing
// (they were 6 fcntl calls per transaction and 10 % of the order service's
// work per saga at batch 1; BenchmarkSagaSQLite). The price: no other process
// can read the file while the service runs. locking_mode must run before
// anything reads a reopened WAL file, or the index is already mapped: the
// driver runs the _pragma list sorted by name (cache_size reads the schema,
// hence "main.cache_size", which sorts after it) and _journal_mode last.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	dsn := "file:" + path + "?_pragma=locking_mode(EXCLUSIVE)&_journal_mode=WAL&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=main.cache_size(-16384)&_txlock=immediate"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %q: %w", path, err)
	}
	// One writer at a time is all SQLite allows; a single connection avoids
	// SQLITE_BUSY storms and keeps transactions strictly serialised.
	sdb.SetMaxOpenConns(1)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: ping sqlite %q: %w", path, err)
	}
	// WAL checkpoints stay automatic, on this same connection.
	return &DB{db: sdb, dialect: SQLite}, nil
}

// OpenPostgres opens a pooled PostgreSQL handle through the pgx driver.
func OpenPostgres(ctx context.Context, dsn string, maxConns int) (*DB, error) {
	sdb, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if maxConns <= 0 {
		maxConns = 8
	}
	sdb.SetMaxOpenConns(maxConns)
	sdb.SetMaxIdleConns(maxConns)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: ping postgres: %w", err)
	}
	return &DB{db: sdb, dialect: Postgres}, nil
}

// Open picks the dialect from the DSN: "postgres://..." or a SQLite path.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return OpenPostgres(ctx, dsn, 8)
	}
	return OpenSQLite(ctx, strings.TrimPrefix(dsn, "sqlite://"))
}

// Dialect reports the engine.
func (d *DB) Dialect() Dialect { return d.dialect }

// Attach keeps v on the handle under key, for packages whose state belongs
// to one database (key should be of an unexported type of that package).
func (d *DB) Attach(key, v any) { d.attached.Store(key, v) }

// Attached returns what Attach stored under key, or nil.
func (d *DB) Attached(key any) any {
	v, _ := d.attached.Load(key)
	return v
}

// SQL exposes the handle for migrations and tests.
func (d *DB) SQL() *sql.DB { return d.db }

// Close closes the pool; later calls return the first result.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.stmts.Range(func(_, st any) bool {
			st.(*sql.Stmt).Close()
			return true
		})
		d.closeErr = d.db.Close()
	})
	return d.closeErr
}

// Migrate applies the runtime tables (outbox, processed events) and then the
// service's own migrations from svc, a directory of goose .sql files. They
// are portable, except those named NNNNN_name.sqlite.sql or
// NNNNN_name.postgres.sql, which only that database runs: one numbered
// sequence, so a storage-specific step keeps its place among the others.
func (d *DB) Migrate(ctx context.Context, svc fs.FS) error {
	dialect := goose.DialectSQLite3
	if d.dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	rt, err := fs.Sub(runtimeMigrations, "migrations/"+string(d.dialect))
	if err != nil {
		return fmt.Errorf("store: runtime migrations: %w", err)
	}
	others, err := otherDialectFiles(svc, d.dialect)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	for _, m := range []struct {
		table string
		fsys  fs.FS
		opts  []goose.ProviderOption
	}{{"goose_runtime_version", rt, nil}, {"goose_db_version", svc, []goose.ProviderOption{goose.WithExcludeNames(others)}}} {
		opts := append([]goose.ProviderOption{goose.WithTableName(m.table), goose.WithDisableGlobalRegistry(true)}, m.opts...)
		p, err := goose.NewProvider(dialect, d.db, m.fsys, opts...)
		if err != nil {
			return fmt.Errorf("store: migrations %s: %w", m.table, err)
		}
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("store: migrate %s: %w", m.table, err)
		}
	}
	return nil
}

// otherDialectFiles lists the migrations in fsys meant for another database.
func otherDialectFiles(fsys fs.FS, own Dialect) ([]string, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var others []string
	for _, f := range files {
		for _, dl := range []Dialect{SQLite, Postgres} {
			if dl != own && strings.HasSuffix(f, "."+string(dl)+".sql") {
				others = append(others, f)
			}
		}
	}
	return others, nil
}

// Rebind rewrites '?' placeholders for PostgreSQL; SQLite takes them as is.
func (d *DB) Rebind(q string) string {
	if d.dialect != Postgres {
		return q
	}
	if v, ok := d.rebind.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	d.rebind.Store(q, out)
	return out
}

// QueryRow runs a single-row read outside a transaction.
func (d *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.db.QueryRowContext(ctx, d.Rebind(q), args...)
}

// Query runs a read outside a transaction.
func (d *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.db.QueryContext(ctx, d.Rebind(q), args...)
}

// Exec runs a statement outside a transaction.
func (d *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.db.ExecContext(ctx, d.Rebind(q), args...)
}

// Tx is a transaction with the same dialect handling as DB.
type Tx struct {
	tx *sql.Tx
	db *DB
	// onCommit callbacks run after a successful commit (e.g. wake the relay).
	onCommit []func()
	// beforeCommit callbacks run just before the commit; onRollback ones
	// when the transaction rolls back or its commit fails.
	beforeCommit, onRollback []func()
	// stmts are this transaction's handles on the prepared statements: a
	// consumed batch runs the same few statements hundreds of times, and
	// binding a statement to the transaction allocates each time.
	stmts map[string]*sql.Stmt
	// quiet is the transaction's context without cancellation (SQLite
	// only): modernc.org/sqlite starts a watcher goroutine and a progress
	// handler for every statement run with a cancellable context, which cost
	// more than the statements of a saga step. Cancellation still ends the
	// transaction: database/sql rolls it back when the BeginTx context ends,
	// and a statement whose own context is already done is not run.
	quiet context.Context
}

// InTx runs fn in one transaction; fn's error rolls it back.
func (d *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if d.dialect == SQLite {
		d.preparePending(ctx)
	}
	stx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &Tx{tx: stx, db: d}
	if d.dialect == SQLite {
		tx.quiet = context.WithoutCancel(ctx)
	}
	if err := fn(tx); err != nil {
		defer tx.rolledBack()
		if rerr := stx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rerr))
		}
		return err
	}
	for _, f := range tx.beforeCommit {
		f()
	}
	if err := stx.Commit(); err != nil {
		tx.rolledBack()
		return fmt.Errorf("store: commit: %w", err)
	}
	for _, f := range tx.onCommit {
		f()
	}
	return nil
}

func (d *DB) preparePending(ctx context.Context) {
	d.pending.Range(func(k, _ any) bool {
		q := k.(string)
		if st, err := d.db.PrepareContext(ctx, q); err == nil {
			d.stmts.Store(q, st)
		}
		d.pending.Delete(q)
		return true
	})
}

// stmt returns the prepared form of q for this transaction, or nil (and
// schedules q for preparing) when there is none yet.
func (t *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if t.db.dialect != SQLite {
		return nil // pgx caches prepared statements per connection itself
	}
	if st, ok := t.stmts[q]; ok {
		return st
	}
	if st, ok := t.db.stmts.Load(q); ok {
		if t.stmts == nil {
			t.stmts = map[string]*sql.Stmt{}
		}
		tst := t.tx.StmtContext(ctx, st.(*sql.Stmt))
		t.stmts[q] = tst
		return tst
	}
	t.db.pending.Store(q, struct{}{})
	return nil
}

// stmtCtx is the context to run a statement with: quiet unless ctx is done.
func (t *Tx) stmtCtx(ctx context.Context) context.Context {
	if t.quiet == nil || ctx.Err() != nil {
		return ctx
	}
	return t.quiet
}

// Exec runs a statement in the transaction.
func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = t.stmtCtx(ctx)
	q = t.db.Rebind(q)
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

// QueryRow runs a single-row read in the transaction.
func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = t.stmtCtx(ctx)
	q = t.db.Rebind(q)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// Query runs a read in the transaction.
func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = t.stmtCtx(ctx)
	q = t.db.Rebind(q)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

// OnCommit registers f to run after the transaction commits.
func (t *Tx) OnCommit(f func()) { t.onCommit = append(t.onCommit, f) }

// BeforeCommit registers f to run just before the commit, while the
// transaction still holds its connection: on SQLite (one connection) no
// other transaction of this DB runs between f and the commit.
func (t *Tx) BeforeCommit(f func()) { t.beforeCommit = append(t.beforeCommit, f) }

// OnRollback registers f to run when the transaction rolls back or its
// commit fails.
func (t *Tx) OnRollback(f func()) { t.onRollback = append(t.onRollback, f) }

func (t *Tx) rolledBack() {
	for _, f := range t.onRollback {
		f()
	}
}

// Dialect reports the engine.
func (t *Tx) Dialect() Dialect { return t.db.dialect }

// DB is the handle the transaction runs on.
func (t *Tx) DB() *DB { return t.db }

// Fresh holds the event ids of a batch that were not processed before.
type Fresh map[string]bool

// Take reports whether id is fresh and uses it up, so a repeat of id later
// in the same batch is a duplicate too.
func (f Fresh) Take(id string) bool {
	ok := f[id]
	delete(f, id)
	return ok
}

// MarkProcessedAll records every id in eventIDs as handled and returns the
// ones that were not processed before. This is what makes consumers
// idempotent under at-least-once delivery: the caller applies an event only
// if it can Take its id. PostgreSQL marks the batch in one statement (one
// round trip). SQLite runs one plain INSERT per id: the statement is
// prepared once, and BenchmarkSagaSQLite measured the one-statement form
// (a JSON array through json_each, with RETURNING) slower at every batch
// size from 1 to 32, by 14 % of the order service's work per saga at 1.
func (t *Tx) MarkProcessedAll(ctx context.Context, eventIDs []string) (Fresh, error) {
	fresh := make(Fresh, len(eventIDs))
	if len(eventIDs) == 0 {
		return fresh, nil
	}
	if t.db.dialect != Postgres {
		for _, id := range eventIDs {
			ok, err := t.MarkProcessed(ctx, id)
			if err != nil {
				return nil, err
			}
			if ok {
				fresh[id] = true
			}
		}
		return fresh, nil
	}
	rows, err := t.Query(ctx, `INSERT INTO processed_events (event_id) SELECT unnest(?::text[]) ON CONFLICT DO NOTHING RETURNING event_id`, eventIDs)
	if err != nil {
		return nil, fmt.Errorf("store: mark %d processed: %w", len(eventIDs), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: mark %d processed: %w", len(eventIDs), err)
		}
		fresh[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mark %d processed: %w", len(eventIDs), err)
	}
	return fresh, nil
}

// PruneProcessed deletes the processed-event records of ids below before, at
// most chunk per statement. Event ids sort by the time they were made
// (events.IDBefore gives the bound for a time). It returns how many it
// deleted.
func (d *DB) PruneProcessed(ctx context.Context, before string, chunk int) (int64, error) {
	n, err := d.DeleteChunked(ctx, chunk, `DELETE FROM processed_events WHERE event_id IN (SELECT event_id FROM processed_events WHERE event_id < ? ORDER BY event_id LIMIT ?)`, before)
	if err != nil {
		return n, fmt.Errorf("store: prune processed events: %w", err)
	}
	return n, nil
}

// DeleteChunked runs q, a DELETE whose last parameter is the LIMIT of the
// rows it picks (DeleteChunked appends chunk to args), until a run deletes
// fewer than chunk rows: a large backlog is deleted in short statements that
// never hold the database (on SQLite, the service's one connection) for
// long. It returns how many rows it deleted.
func (d *DB) DeleteChunked(ctx context.Context, chunk int, q string, args ...any) (int64, error) {
	args = append(args, chunk)
	var total int64
	for {
		res, err := d.Exec(ctx, q, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(chunk) || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// MarkProcessed records one event as handled and reports false when it was
// processed before.
func (t *Tx) MarkProcessed(ctx context.Context, eventID string) (bool, error) {
	res, err := t.Exec(ctx, `INSERT INTO processed_events (event_id) VALUES (?) ON CONFLICT DO NOTHING`, eventID)
	if err != nil {
		return false, fmt.Errorf("store: mark processed %s: %w", eventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: mark processed %s: %w", eventID, err)
	}
	return n == 1, nil
}
