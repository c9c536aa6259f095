package main

import (
	"context"
	"fmt"

	"github.com/custodian-crm/custodian/postgres"
)

// runMigrate applies pending migrations, which serve also does at start,
// and prints the schema version. It needs only the database: no keys.
// With --grant-to, on PostgreSQL, it then gives the application role the
// server runs as exactly the privileges it needs (postgres.GrantApplication),
// so that migrations run as the schema's owner and serve as a role that
// can neither change the schema nor rewrite the audit trail.
func runMigrate(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("migrate", proc.stderr)
	storage := addStorageFlags(fs)
	grantTo := stringFlag(fs, "grant-to", "", "PostgreSQL only: after migrating, grant this application role what serve needs and no more (see docs/scale-out.md)")
	if help, err := parseConfig(fs, args, proc.getenv); help || err != nil {
		return err
	}
	if err := storage.resolve(); err != nil {
		return err
	}
	if *grantTo != "" && storage.backend() != "postgres" {
		return fmt.Errorf("%w: --grant-to needs PostgreSQL (--database-url)", ErrConfig)
	}
	return withApp(ctx, appConfig{storage: storage}, func(a *app) error {
		fmt.Fprintf(proc.stdout, "%s schema at version %d\n", storage.backend(), a.schema)
		if *grantTo == "" {
			return nil
		}
		if err := postgres.GrantApplication(ctx, a.store.DB(), *grantTo); err != nil {
			return err
		}
		fmt.Fprintf(proc.stdout, "granted role %s what serve needs: no schema changes, no rewriting of append-only tables\n", *grantTo)
		return nil
	}, databaseOnly)
}
