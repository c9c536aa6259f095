package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/custodian-crm/custodian/storetest"
	"github.com/jackc/pgx/v5/pgconn"
)

// applicationStore migrates a fresh schema as the owner, grants the
// application role, and opens the store as that role, the way serve runs.
func applicationStore(t *testing.T) (app *sqlstore.Store, owner *sqlstore.Store, role string) {
	t.Helper()
	ownerURL := testdb.PostgresSchemaURL(t)
	owner = testdb.OpenPostgres(t, ownerURL, testdb.PlainChain())
	role, roleURL := testdb.ApplicationRole(t, ownerURL)
	if err := postgres.GrantApplication(context.Background(), owner.DB(), role); err != nil {
		t.Fatal(err)
	}
	// Opening migrates: with nothing pending, the application role may.
	app = testdb.OpenPostgres(t, roleURL, testdb.PlainChain())
	return app, owner, role
}

// TestApplicationRoleRunsTheContract: everything the server does to its
// store works as the application role.
func TestApplicationRoleRunsTheContract(t *testing.T) {
	t.Parallel()
	t.Run("customers", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Backend {
			s, owner, _ := applicationStore(t)
			return storetest.Backend{Repo: s, Raw: rawDump(owner.DB())}
		})
	})
	t.Run("accounts", func(t *testing.T) {
		storetest.RunAccounts(t, func(t *testing.T) custodian.AccountRepository {
			s, _, _ := applicationStore(t)
			return s
		})
	})
	t.Run("privacy", func(t *testing.T) {
		storetest.RunPrivacy(t, func(t *testing.T) storetest.PrivacyBackend {
			s, owner, _ := applicationStore(t)
			shred, err := postgres.OpenShred(context.Background(), testdb.PostgresSchemaURL(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { shred.Close() })
			return storetest.PrivacyBackend{Repo: s, Shred: shred, DB: owner.DB(), Q: owner.Rebind, Snapshot: func(t *testing.T) custodian.CustomerRepository {
				return snapshot(t, owner.DB())
			}}
		})
	})
}

// TestApplicationRoleCannotChangeSchemaOrTrail: the application role is
// refused by the grants themselves (SQLSTATE 42501, insufficient
// privilege), not only by the audit trail's triggers.
func TestApplicationRoleCannotChangeSchemaOrTrail(t *testing.T) {
	t.Parallel()
	app, _, _ := applicationStore(t)
	ctx := context.Background()
	// One audit event to try to rewrite.
	if err := app.AppendAudit(ctx, custodian.AuditEntry{Action: "test.event", Subject: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`ALTER TABLE customers ADD COLUMN planted TEXT`,
		`DROP TABLE customers`,
		`CREATE TABLE planted (id INT)`,
		`UPDATE audit_events SET actor = 'someone else'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
		`DELETE FROM consent_events`,
		`DROP TRIGGER audit_events_no_change ON audit_events`,
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (999, true)`,
	} {
		_, err := app.DB().ExecContext(ctx, stmt)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "42501" && !strings.Contains(pe.Message, "must be owner")) {
			t.Errorf("%s as the application role: %v; want permission denied", stmt, err)
		}
	}
}

// TestGrantApplicationRefusesOddRoleNames: the role is written into SQL,
// so only plain identifiers are accepted.
func TestGrantApplicationRefusesOddRoleNames(t *testing.T) {
	owner := testdb.Postgres(t)
	for _, role := range []string{"", "app; DROP TABLE customers", `"app"`, "App", strings.Repeat("a", 64)} {
		if err := postgres.GrantApplication(context.Background(), owner.DB(), role); !errors.Is(err, postgres.ErrInvalidRole) {
			t.Errorf("role %q: %v; want ErrInvalidRole", role, err)
		}
	}
}
