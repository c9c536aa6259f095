package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
)

// storageConfig is how every command that touches data finds the database,
// so that a shell command and a running server see the same one.
type storageConfig struct {
	dataDir         *string
	databaseURL     *string
	databaseURLFile *string
	shredStore      *string
}

func addStorageFlags(fs *flag.FlagSet) *storageConfig {
	return &storageConfig{
		dataDir:         stringFlag(fs, "data-dir", "./data", "directory for the SQLite database and the development keyring"),
		databaseURL:     stringFlag(fs, "database-url", "", "PostgreSQL URL (postgres://...); SQLite in --data-dir when empty"),
		databaseURLFile: stringFlag(fs, "database-url-file", "", "file holding the PostgreSQL URL, for container and systemd secrets"),
		shredStore:      stringFlag(fs, "shred-store", "", "where customers' shred keys live, apart from the database: a SQLite file or a postgres:// URL of another database (default <data-dir>/shred.db, or the customer database with PostgreSQL; see docs/privacy.md)"),
	}
}

// resolve reads the database URL from its file when one is given.
func (c *storageConfig) resolve() error {
	v, err := secretValue("database-url", *c.databaseURL, *c.databaseURLFile)
	if err != nil {
		return err
	}
	*c.databaseURL = v
	return nil
}

// backend names the configured database without revealing credentials.
func (c *storageConfig) backend() string {
	if *c.databaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// open opens and migrates the configured database, sealing its audit
// trail as o says.
func (c *storageConfig) open(ctx context.Context, o sqlstore.Options) (*sqlstore.Store, int64, error) {
	var s *sqlstore.Store
	var err error
	if *c.databaseURL != "" {
		s, err = postgres.Open(ctx, *c.databaseURL, o)
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

// openSealed opens and migrates the configured database with its audit
// trail sealed by k's chain key, as serve does: every command that may
// append to the trail opens it so, or its events would break the chain.
func (c *storageConfig) openSealed(ctx context.Context, k *crypto.Keyring) (*sqlstore.Store, *hashchain.Chain, error) {
	chain, err := hashchain.NewChain(k.AuditChainKey())
	if err != nil {
		return nil, nil, err
	}
	s, _, err := c.open(ctx, sqlstore.Options{AuditChain: chain})
	if err != nil {
		return nil, nil, err
	}
	return s, chain, nil
}
