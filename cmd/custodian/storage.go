package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
)

// storageConfig is how every command that touches data finds the database
// and the shred key store, so that a shell command and a running server
// see the same ones.
type storageConfig struct {
	dataDir         *string
	databaseURL     *string
	databaseURLFile *string
	readURL         *string
	readURLFile     *string
	shredStore      *string
	shredStoreFile  *string
}

// addStorageFlags defines the storage flags on fs.
func addStorageFlags(fs *flag.FlagSet) *storageConfig {
	return &storageConfig{
		dataDir:         stringFlag(fs, "data-dir", "./data", "directory for the SQLite database and the development keyring"),
		databaseURL:     stringFlag(fs, "database-url", "", "PostgreSQL URL (postgres://...); SQLite in --data-dir when empty"),
		databaseURLFile: stringFlag(fs, "database-url-file", "", "file holding the PostgreSQL URL, for container and systemd secrets"),
		readURL:         stringFlag(fs, "database-read-url", "", "PostgreSQL URL of a read replica for lists, searches and exports (a user's own writes are still read from the primary); none when empty"),
		readURLFile:     stringFlag(fs, "database-read-url-file", "", "file holding the read replica's URL"),
		shredStore:      stringFlag(fs, "shred-store", "", "where customers' shred keys live, apart from the database: a SQLite file or a postgres:// URL of another database (default <data-dir>/shred.db, or the customer database with PostgreSQL; see docs/privacy.md)"),
		shredStoreFile:  stringFlag(fs, "shred-store-file", "", "file holding --shred-store (a postgres:// URL with its password), for container and systemd secrets"),
	}
}

// resolve reads the database URL and the shred store from their files
// when they are given.
func (c *storageConfig) resolve() error {
	v, err := secretValue("database-url", *c.databaseURL, *c.databaseURLFile)
	if err != nil {
		return err
	}
	*c.databaseURL = v
	if v, err = secretValue("database-read-url", *c.readURL, *c.readURLFile); err != nil {
		return err
	}
	*c.readURL = v
	if *c.readURL != "" && *c.databaseURL == "" {
		return fmt.Errorf("%w: --database-read-url needs --database-url (PostgreSQL)", ErrConfig)
	}
	if v, err = secretValue("shred-store", *c.shredStore, *c.shredStoreFile); err != nil {
		return err
	}
	*c.shredStore = v
	return nil
}

// backend names the configured database without revealing credentials.
func (c *storageConfig) backend() string {
	if *c.databaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// openStore opens and migrates the configured database, sealing its audit
// trail as o says, and returns the schema version it is at.
func (c *storageConfig) openStore(ctx context.Context, o sqlstore.Options) (*sqlstore.Store, int64, error) {
	var s *sqlstore.Store
	var err error
	if *c.databaseURL != "" {
		s, err = postgres.OpenReplicated(ctx, *c.databaseURL, *c.readURL, o)
	} else {
		s, err = sqlite.Open(ctx, *c.dataDir, o)
	}
	if err != nil {
		return nil, 0, err
	}
	v, err := s.Migrate(ctx)
	if err != nil {
		s.Close()
		return nil, 0, fmt.Errorf("%s: %w", c.backend(), err)
	}
	return s, v, nil
}

// openShred opens the shred key store --shred-store names: a PostgreSQL
// URL, or a SQLite file. Empty means <data-dir>/shred.db with SQLite and
// the customer database itself with PostgreSQL, which check --deploy
// reports (C010): erasure then does not reach backups of that database.
func (c *storageConfig) openShred(ctx context.Context) (*sqlstore.ShredStore, error) {
	where := *c.shredStore
	switch {
	case where == "" && *c.databaseURL != "":
		where = *c.databaseURL
	case where == "":
		where = filepath.Join(*c.dataDir, sqlite.ShredFileName)
	}
	if strings.HasPrefix(where, "postgres://") || strings.HasPrefix(where, "postgresql://") {
		return postgres.OpenShred(ctx, where)
	}
	return sqlite.OpenShred(ctx, where)
}
