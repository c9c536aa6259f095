package main

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/internal/testdb"
)

// TestMigrateGrantsTheApplicationRole: migrate --grant-to, run as the
// owner, leaves a role serve can start as (its migration step finds
// nothing to do) and that cannot change the schema.
func TestMigrateGrantsTheApplicationRole(t *testing.T) {
	ownerURL := testdb.PostgresSchemaURL(t)
	role, appURL := testdb.ApplicationRole(t, ownerURL)

	// Before the grants, the application role cannot even read.
	if _, _, err := runCmd(t, nil, "migrate", "--database-url", appURL); err == nil {
		t.Fatal("migrate as the application role worked on a schema it has no grants on")
	}
	out, _, err := runCmd(t, nil, "migrate", "--database-url", ownerURL, "--grant-to", role)
	if err != nil || !strings.Contains(out, "granted role "+role) {
		t.Fatalf("migrate --grant-to: %v\n%s", err, out)
	}
	if out, _, err := runCmd(t, nil, "migrate", "--database-url", appURL); err != nil || !strings.Contains(out, "postgres schema at version") {
		t.Fatalf("migrate as the application role after the grants: %v\n%s", err, out)
	}
	app, err := sql.Open("pgx", appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := app.Exec(`ALTER TABLE customers ADD COLUMN planted TEXT`); err == nil {
		t.Fatal("the application role altered a table")
	}
	if _, err := app.Exec(`UPDATE audit_events SET actor = 'x'`); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("the application role's update of the audit trail: %v; want permission denied", err)
	}
}

func TestMigrateGrantNeedsPostgres(t *testing.T) {
	_, _, err := runCmd(t, map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}, "migrate", "--grant-to", "custodian_app")
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("--grant-to on SQLite: %v; want a configuration error", err)
	}
}
