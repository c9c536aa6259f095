package main

import (
	"context"
	"fmt"
)

// runMigrate applies pending migrations, which serve also does at start,
// and prints the schema version. It needs only the database: no keys.
func runMigrate(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("migrate", proc.stderr)
	storage := addStorageFlags(fs)
	if help, err := parseConfig(fs, args, proc.getenv); help || err != nil {
		return err
	}
	if err := storage.resolve(); err != nil {
		return err
	}
	return withApp(ctx, appConfig{storage: storage}, func(a *app) error {
		fmt.Fprintf(proc.stdout, "%s schema at version %d\n", storage.backend(), a.schema)
		return nil
	}, databaseOnly)
}
