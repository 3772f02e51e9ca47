// Package pgtest starts a throwaway PostgreSQL 15 server for tests (Debian
// package postgresql): initdb into a temporary directory as the postgres
// user, pg_ctl start on a free loopback port with fsync off, stop in cleanup.
// A missing installation fails the test; it never skips.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver
)

// BinDir is where Debian's postgresql-15 installs its server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// Server is a running test server.
type Server struct {
	Port int
	dir  string
}

// Start starts a server and registers its stop with tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	for _, bin := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(BinDir, bin)); err != nil {
			tb.Fatalf("PostgreSQL 15 is not installed (%s/%s missing): install the Debian package postgresql (listed in tools/apt-packages.txt)", BinDir, bin)
		}
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		tb.Fatalf("user postgres missing (it comes with the Debian package postgresql): %v", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	root, err := os.MkdirTemp("", "ordermesh-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	data, sock := filepath.Join(root, "data"), filepath.Join(root, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	s := &Server{Port: freePort(tb), dir: data}
	asPostgres(tb, filepath.Join(BinDir, "initdb"), "-D", data, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=on -c max_connections=200", s.Port, sock)
	asPostgres(tb, filepath.Join(BinDir, "pg_ctl"), "-D", data, "-w", "-l", filepath.Join(data, "log"), "-o", opts, "start")
	tb.Cleanup(func() {
		cmd := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(BinDir, "pg_ctl"), "-D", data, "-w", "-m", "fast", "stop")
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Errorf("pg_ctl stop: %v: %s", err, out)
		}
		os.RemoveAll(root)
	})
	return s
}

func asPostgres(tb testing.TB, args ...string) {
	tb.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", filepath.Base(args[0]), err, out)
	}
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// DSN is the URL of database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDB creates an empty database.
func (s *Server) CreateDB(tb testing.TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", s.DSN("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
}
