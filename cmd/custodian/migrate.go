package main

import (
	"context"
	"fmt"
	"io"

	"github.com/custodian-crm/custodian/sqlstore"
)

// runMigrate applies pending migrations, which serve also does at start.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	storage := addStorageFlags(fs)
	if help, err := parseConfig(fs, args, getenv); help || err != nil {
		return err
	}
	if err := storage.resolve(); err != nil {
		return err
	}
	// Migrating appends nothing to the audit trail, and needs no keys.
	s, v, err := storage.open(ctx, sqlstore.Options{WithoutAuditChain: true})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "%s schema at version %d\n", storage.backend(), v)
	return nil
}
