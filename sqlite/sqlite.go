// Package sqlite stores Custodian's data in an embedded SQLite database
// (the pure-Go modernc.org/sqlite driver, so the binary needs no C
// toolchain). It is the default backend: one file under the data directory,
// created with owner-only permissions.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/custodian-crm/custodian/internal/sqlbackend"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/pressly/goose/v3"
	msqlite "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded schema migrations.
func Migrations() fs.FS { return sqlbackend.Migrations(migrationFiles) }

// Dialect is SQLite's dialect.
var Dialect = sqlstore.Dialect{Name: "sqlite", Goose: goose.DialectSQLite3, CacheStatements: true, SingleWriter: true}

// FileName is the database file's name in the data directory.
const FileName = "custodian.db"

// Memory of each connection (one writer, max(4, 2×GOMAXPROCS) readers),
// chosen by measurement (docs/benchmarks.md#sqlite-tuning): no memory map,
// so that the pages a server touches count in the kernel's page cache, not
// in its resident memory, and no map is torn down and rebuilt after other
// connections' commits; and a page cache of 8 MiB per connection, which
// holds the interior pages of the tables and indexes a request walks,
// leaving the leaves to the kernel's page cache.
const (
	CacheKiB  = 4096
	MmapBytes = 0
)

// Open opens (creating when needed) the database in dir, which it creates
// with mode 0700; the database file is created with mode 0600 and its WAL
// files inherit that mode. Writes go through a single connection, as SQLite
// allows one writer at a time, and reads through a pool. o gives the store
// its audit chain (see sqlstore.Options).
func Open(ctx context.Context, dir string, o sqlstore.Options) (*sqlstore.Store, error) {
	if dir == "" {
		return nil, errors.New("sqlite: no data directory")
	}
	path := filepath.Join(dir, FileName)
	if err := create(path); err != nil {
		return nil, fmt.Errorf("sqlite: create database file: %w", err)
	}
	pragmas := []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)",
		fmt.Sprintf("cache_size(-%d)", CacheKiB), fmt.Sprintf("mmap_size(%d)", MmapBytes), "temp_store(MEMORY)"}
	write, err := sql.Open("sqlite", dsn(path, pragmas...))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	read, err := sql.Open("sqlite", dsn(path, append(pragmas, "query_only(1)")...))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxLifetime(0)

	reads, err := openReadLog(filepath.Join(dir, ReadLogFileName))
	if err != nil {
		write.Close()
		read.Close()
		return nil, err
	}

	// One writer at a time does not keep concurrent migrations apart (both
	// can read the version before either migrates): they lock a file.
	lock := newMigrationLock(filepath.Join(dir, MigrationLockFileName))
	s, err := sqlbackend.Open(ctx, Dialect, sqlstore.Database{Write: write, Read: read, Migrations: Migrations(), MigrationLock: lock, ReadLog: reads, ReadLogSchema: readLogSchema}, o)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// Snapshot writes consistent copies of the database files in dir into
// the directory dest, under the same names, while others go on reading
// and writing, and returns their names: the customer database (FileName)
// and, when there is one, the read log (ReadLogFileName), copied after
// it, so that the copied log holds every read the copied trail seals.
// Each is copied with SQLite's online backup, every page in one step
// under one read transaction of the write-ahead log: the database as of
// one instant. It uses connections of its own, so that it holds no
// connection of a running store. The shred key store, a file of its own,
// is never copied. The copies are created with mode 0600.
func Snapshot(ctx context.Context, dir, dest string) ([]string, error) {
	var names []string
	for _, name := range []string{FileName, ReadLogFileName} {
		src := filepath.Join(dir, name)
		if _, err := os.Stat(src); err != nil {
			if name != FileName && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("sqlite: snapshot: %w", err)
		}
		if err := copyOnline(ctx, src, filepath.Join(dest, name)); err != nil {
			return nil, fmt.Errorf("sqlite: snapshot of %s: %w", name, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// copyOnline copies the database at src to the new file dest with the
// online backup.
func copyOnline(ctx context.Context, src, dest string) error {
	// Created empty first, so that the copy has mode 0600 from the start.
	f, err := os.OpenFile(dest, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a file the backup command creates
	if err != nil {
		return err
	}
	f.Close()
	db, err := sql.Open("sqlite", dsn(src, "busy_timeout(10000)"))
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(interface {
			NewBackup(string) (*msqlite.Backup, error)
		})
		if !ok {
			return errors.New("the driver has no online backup")
		}
		b, err := c.NewBackup(dest)
		if err != nil {
			return err
		}
		_, err = b.Step(-1) // every page, in one read transaction
		return errors.Join(err, b.Finish())
	})
}

// ReadLogFileName is the read log's file in the data directory: every
// recorded read of personal data, kept apart from the customer database so
// that recording a read never writes that database's pages (see
// sqlstore/readlog.go).
const ReadLogFileName = "reads.db"

// readLogSchema creates the read log's tables in its file; see
// postgres/migrations/00006_read_log.sql for what each holds.
var readLogSchema = []string{
	`CREATE TABLE IF NOT EXISTS read_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL) STRICT`,
	`INSERT INTO read_head (id, seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`,
	`CREATE TABLE IF NOT EXISTS read_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT`,
	`CREATE TABLE IF NOT EXISTS read_batches (first_seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, t_us INTEGER NOT NULL, recs BLOB NOT NULL) STRICT`,
	`CREATE TABLE IF NOT EXISTS read_index (cust INTEGER NOT NULL, batch INTEGER NOT NULL, PRIMARY KEY (cust, batch)) STRICT, WITHOUT ROWID`,
}

// openReadLog opens (creating when needed, mode 0600) the read log's file
// at path. Every write of the log is synced (synchronous=FULL): the log
// writes a few times a second, whatever the number of reads.
func openReadLog(path string) (*sql.DB, error) {
	if err := create(path); err != nil {
		return nil, fmt.Errorf("sqlite: create read log: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path, "journal_mode(WAL)", "busy_timeout(10000)", "synchronous(FULL)", "cache_size(-2048)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	db.SetConnMaxLifetime(0)
	return db, nil
}

// ShredFileName is the default name of the shred key store's file.
const ShredFileName = "shred.db"

// OpenShred opens (creating when needed, mode 0600, in a directory created
// with mode 0700) the shred key store in the SQLite file at path. The store
// runs with secure_delete, so a destroyed secret is overwritten in the file.
func OpenShred(ctx context.Context, path string) (*sqlstore.ShredStore, error) {
	if path == "" {
		return nil, errors.New("sqlite: no shred store path")
	}
	if err := create(path); err != nil {
		return nil, fmt.Errorf("sqlite: create shred store: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path, "journal_mode(WAL)", "busy_timeout(10000)", "synchronous(FULL)", "secure_delete(ON)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxLifetime(0)
	s := sqlstore.NewShredStore(Dialect, db)
	if err := s.Init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open shred store %s: %w", path, err)
	}
	return s, nil
}

// create creates the database file at path, with mode 0600 in a directory
// created with mode 0700, unless it exists.
func create(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the operator names the data directory and the shred store
	if err != nil {
		return err
	}
	return f.Close()
}

// dsn is the connection string of the database file at path with the
// given pragmas, whose transactions take the write lock when they begin.
func dsn(path string, pragmas ...string) string {
	v := url.Values{}
	for _, p := range pragmas {
		v.Add("_pragma", p)
	}
	v.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
}
