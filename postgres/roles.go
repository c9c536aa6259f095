package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// roleName is what GrantApplication accepts as a role: a plain SQL
// identifier, so that it can be written into GRANT statements unquoted.
var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ErrInvalidRole is returned (wrapped) for a role name GrantApplication
// does not accept.
var ErrInvalidRole = errors.New("postgres: a role name is lower-case letters, digits and underscores")

// GrantApplication gives role exactly what `custodian serve` needs in the
// schema db works in, and nothing more, so that the server can run as a
// role that cannot change the schema or rewrite the audit trail:
//
//   - USAGE on the schema, never CREATE: the application role cannot add,
//     alter or drop tables; migrations run as the owner (custodian migrate);
//   - SELECT and INSERT on the append-only tables (those guarded by an
//     *_append_only trigger, such as the audit trail and consent history):
//     no UPDATE, DELETE or TRUNCATE, so the grants refuse a rewrite even if
//     a trigger were dropped;
//   - SELECT on the migrations' version table;
//   - SELECT, INSERT, UPDATE and DELETE on every other table, and the
//     use of its sequences.
//
// Run it as the owner after every migration: custodian migrate --grant-to
// does. Tables a later migration adds get their grants from the same rule.
func GrantApplication(ctx context.Context, db *sql.DB, role string) error {
	if !roleName.MatchString(role) {
		return fmt.Errorf("%w: %q", ErrInvalidRole, role)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("postgres: grant: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `
SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
               WHERE g.tgrelid = c.oid AND p.proname LIKE '%append_only')
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
ORDER BY c.relname`)
	if err != nil {
		return fmt.Errorf("postgres: grant: list tables: %w", err)
	}
	type table struct {
		name       string
		appendOnly bool
	}
	var tables []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.name, &t.appendOnly); err != nil {
			rows.Close()
			return fmt.Errorf("postgres: grant: %w", err)
		}
		tables = append(tables, t)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("postgres: grant: %w", err)
	}
	if len(tables) == 0 {
		return errors.New("postgres: grant: the schema has no tables; migrate first")
	}
	var schema string
	if err := tx.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: grant: %w", err)
	}
	stmts := []string{
		"REVOKE ALL ON SCHEMA " + quoteIdent(schema) + " FROM " + role,
		"GRANT USAGE ON SCHEMA " + quoteIdent(schema) + " TO " + role,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + quoteIdent(schema) + " TO " + role,
	}
	for _, t := range tables {
		name := quoteIdent(schema) + "." + quoteIdent(t.name)
		privs := "SELECT, INSERT, UPDATE, DELETE"
		switch {
		case t.name == "goose_db_version":
			privs = "SELECT"
		case t.appendOnly:
			privs = "SELECT, INSERT"
		}
		stmts = append(stmts, "REVOKE ALL ON "+name+" FROM "+role, "GRANT "+privs+" ON "+name+" TO "+role)
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("postgres: grant: %s: %w", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("postgres: grant: %w", err)
	}
	return nil
}

// quoteIdent quotes a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
