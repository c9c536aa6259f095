// Package postgres stores Custodian's data in PostgreSQL, for production and
// for several server instances sharing one database. It uses pgx v5 with a
// bounded connection pool and server-side statement timeouts.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded schema migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	return sub
}

// Dialect is PostgreSQL's dialect.
var Dialect = sqlstore.Dialect{Name: "postgres", Goose: goose.DialectPostgres, Numbered: true, SessionLock: true, ForUpdate: " FOR UPDATE"}

// Defaults applied when the database URL does not set them.
const (
	DefaultMaxConns         = 10
	DefaultStatementTimeout = 5 * time.Second
)

// Open connects to the database at url (postgres://...). The pool is bounded
// (pool_max_conns in the URL, default 10) and every statement times out on
// the server (statement_timeout in the URL, default 5 s), as do sessions
// left idle inside a transaction.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can echo the URL, password included: say less.
		return nil, fmt.Errorf("postgres: the database URL is not valid")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["statement_timeout"]; !ok {
		rp["statement_timeout"] = fmt.Sprint(DefaultStatementTimeout.Milliseconds())
	}
	if _, ok := rp["idle_in_transaction_session_timeout"]; !ok {
		rp["idle_in_transaction_session_timeout"] = "30000"
	}
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = "custodian"
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	s := sqlstore.New(Dialect, db, db, Migrations(), pool.Close)
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// OpenShred connects to the shred key store at url: a PostgreSQL database
// that should be another database than the customers' (see
// docs/privacy.md), so that backups of the customer database never hold the
// secrets erasure destroys.
func OpenShred(ctx context.Context, url string) (*sqlstore.ShredStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: the shred store URL is not valid")
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 4
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["statement_timeout"]; !ok {
		rp["statement_timeout"] = fmt.Sprint(DefaultStatementTimeout.Milliseconds())
	}
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = "custodian-shred"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: shred store: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	s := sqlstore.NewShredStore(Dialect, db, pool.Close)
	if err := s.Init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: shred store: %w", err)
	}
	return s, nil
}
