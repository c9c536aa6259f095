// Package postgres stores Custodian's data in PostgreSQL, for production and
// for several server instances sharing one database. It uses pgx v5 with a
// bounded connection pool and server-side statement timeouts.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian/internal/sqlbackend"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded schema migrations.
func Migrations() fs.FS { return sqlbackend.Migrations(migrationFiles) }

// Dialect is PostgreSQL's dialect. Its flush barrier writes a transactional
// logical-decoding message, which gives its statement a transaction id and
// a log record, so that its commit waits for the log to be flushed
// (synchronous_commit); the message itself is ignored unless logical
// decoding reads it. Every role may call it.
var Dialect = sqlstore.Dialect{Name: "postgres", Goose: goose.DialectPostgres, Numbered: true, ForUpdate: " FOR UPDATE", ChainedWrites: true,
	FlushBarrier: `SELECT pg_logical_emit_message(true, 'custodian', 'audit flush')`}

// Defaults applied when the database URL does not set them.
const (
	DefaultMaxConns         = 10
	DefaultStatementTimeout = 5 * time.Second
)

// Open connects to the database at url (postgres://...). The pool is bounded
// (pool_max_conns in the URL, default 10) and every statement times out on
// the server (statement_timeout in the URL, default 5 s), as do sessions
// left idle inside a transaction. Migrations hold a session-level advisory
// lock of the schema (see MigrationLockID), so that instances of one
// deployment starting together migrate one at a time, while deployments in
// other schemas of the database migrate without waiting for it. o gives the
// store its audit chain (see sqlstore.Options).
func Open(ctx context.Context, url string, o sqlstore.Options) (*sqlstore.Store, error) {
	return OpenReplicated(ctx, url, "", o)
}

// OpenReplicated is Open with a read replica at readURL (none when empty):
// lists, searches and exports of customers go to it, except for users who
// have just written (see sqlstore.Database.Replica).
func OpenReplicated(ctx context.Context, url, readURL string, o sqlstore.Options) (*sqlstore.Store, error) {
	return openReplicated(ctx, url, readURL, o, nil)
}

// openReplicated is OpenReplicated with tracer, when not nil, told of every
// statement the primary's connections send (tests count round trips).
func openReplicated(ctx context.Context, url, readURL string, o sqlstore.Options, tracer pgx.QueryTracer) (*sqlstore.Store, error) {
	cfg, err := poolConfig(url, "database", DefaultMaxConns, "custodian")
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.Tracer = tracer
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "30000"
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	db, closePool, err := open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	closers := []func(){closePool}
	var replica *sql.DB
	if readURL != "" {
		rcfg, err := poolConfig(readURL, "read replica", DefaultMaxConns, "custodian-read")
		if err != nil {
			db.Close()
			closePool()
			return nil, err
		}
		var closeReplica func()
		if replica, closeReplica, err = open(ctx, rcfg); err != nil {
			db.Close()
			closePool()
			return nil, fmt.Errorf("postgres: read replica: %w", err)
		}
		closers = append(closers, closeReplica)
	}
	s, err := sqlbackend.Open(ctx, Dialect, sqlstore.Database{Write: db, Replica: replica, Migrations: Migrations(), MigrationLock: &schemaLock{}, Closers: closers}, o)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// Waiting for the migration lock: the lock is tried every
// migrationLockPeriod seconds, migrationLockTries times (five minutes in
// all, goose's default timeout), rather than goose's every five seconds, so
// that an instance starts within a second of the one migrating before it.
const (
	migrationLockPeriod = 1
	migrationLockTries  = 300
)

// MigrationLockID returns the key of the session-level advisory lock that
// migrations of the schema named schema hold: a 64-bit FNV-1a hash of the
// schema's name. Advisory locks belong to one database, and the key tells
// the schemas of a database apart, so that deployments (and tests) sharing
// a database in schemas of their own do not queue behind each other's
// migrations. An operator finds the session holding it in pg_locks
// (locktype advisory, classid the high and objid the low 32 bits).
func MigrationLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("custodian migrations\x00" + schema))
	// Advisory lock keys are bigint: the hash's 64 bits, read as signed.
	return int64(h.Sum64()) // #nosec G115 -- a hash's bits reinterpreted, not a quantity
}

// schemaLock is the migration lock of the schema the migrating session
// creates its tables in: current_schema(), or, when no schema of the search
// path exists yet (the migrations then fail anyway), the search_path
// setting itself. The schema is read on the session that takes the lock,
// when it takes it, so that opening a store needs no query.
type schemaLock struct {
	mu sync.Mutex
	// held is the lock SessionLock took on each session, which
	// SessionUnlock releases (a store's migrations may run concurrently).
	held map[*sql.Conn]lock.SessionLocker
}

// SessionLock takes the advisory lock of conn's schema, waiting for it as
// migrationLockPeriod and migrationLockTries say.
func (l *schemaLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var schema string
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(current_schema(), current_setting('search_path'))`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: current schema: %w", err)
	}
	held, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(MigrationLockID(schema)),
		lock.WithLockTimeout(migrationLockPeriod, migrationLockTries),
	)
	if err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	if err := held.SessionLock(ctx, conn); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[*sql.Conn]lock.SessionLocker{}
	}
	l.held[conn] = held
	return nil
}

// SessionUnlock releases the lock SessionLock took.
func (l *schemaLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	l.mu.Lock()
	held, ok := l.held[conn]
	delete(l.held, conn)
	l.mu.Unlock()
	if !ok {
		return errors.New("postgres: the migration lock is not held")
	}
	return held.SessionUnlock(ctx, conn)
}

// OpenShred connects to the shred key store at url: a PostgreSQL database
// that should be another database than the customers' (see
// docs/privacy.md), so that backups of the customer database never hold the
// secrets erasure destroys.
func OpenShred(ctx context.Context, url string) (*sqlstore.ShredStore, error) {
	return openShred(ctx, url, nil)
}

// openShred is OpenShred with tracer, when not nil, told of every
// statement sent.
func openShred(ctx context.Context, url string, tracer pgx.QueryTracer) (*sqlstore.ShredStore, error) {
	cfg, err := poolConfig(url, "shred store", 4, "custodian-shred")
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.Tracer = tracer
	db, closePool, err := open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: shred store: %w", err)
	}
	s := sqlstore.NewShredStore(Dialect, db, closePool)
	if err := s.Init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: shred store: %w", err)
	}
	return s, nil
}

// poolConfig parses url, the what URL, and applies the defaults it does not
// set: maxConns connections, DefaultStatementTimeout and the application
// name app.
func poolConfig(url, what string, maxConns int32, app string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can echo the URL, password included: say less.
		return nil, fmt.Errorf("postgres: the %s URL is not valid", what)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = maxConns
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["statement_timeout"]; !ok {
		rp["statement_timeout"] = fmt.Sprint(DefaultStatementTimeout.Milliseconds())
	}
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = app
	}
	return cfg, nil
}

// open returns a database/sql handle over a pgx pool made from cfg, and the
// function that closes the pool.
func open(ctx context.Context, cfg *pgxpool.Config) (*sql.DB, func(), error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	return db, pool.Close, nil
}
