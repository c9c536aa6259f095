// Package postgres stores Custodian's data in PostgreSQL, for production and
// for several server instances sharing one database. It uses pgx v5 with a
// bounded connection pool and server-side statement timeouts.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
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
// lock, so that instances starting together migrate one at a time. o gives
// the store its audit chain (see sqlstore.Options).
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
	migrationLock, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("postgres: migration lock: %w", err)
	}
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
	s, err := sqlbackend.Open(ctx, Dialect, sqlstore.Database{Write: db, Replica: replica, Migrations: Migrations(), MigrationLock: migrationLock, Closers: closers}, o)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
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
