package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
)

// storageConfig is how every command that touches data finds the database,
// so that a shell command and a running server see the same one.
type storageConfig struct {
	dataDir     *string
	databaseURL *string
}

func addStorageFlags(fs *flag.FlagSet, getenv func(string) string) *storageConfig {
	return &storageConfig{
		dataDir:     stringFlag(fs, getenv, "data-dir", "./data", "directory for the SQLite database and the development keyring"),
		databaseURL: stringFlag(fs, getenv, "database-url", secretFile(getenv, "CUSTODIAN_DATABASE_URL_FILE"), "PostgreSQL URL (postgres://...); SQLite in --data-dir when empty"),
	}
}

// secretFile reads a secret from the file an environment variable names,
// for container secrets; empty when the variable is not set.
func secretFile(getenv func(string) string, name string) string {
	path := getenv(name)
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// backend names the configured database without revealing credentials.
func (c *storageConfig) backend() string {
	if *c.databaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// open opens and migrates the configured database.
func (c *storageConfig) open(ctx context.Context) (*sqlstore.Store, int64, error) {
	var s *sqlstore.Store
	var err error
	if *c.databaseURL != "" {
		s, err = postgres.Open(ctx, *c.databaseURL)
	} else {
		s, err = sqlite.Open(ctx, *c.dataDir)
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
