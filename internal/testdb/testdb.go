// Package testdb opens real, migrated databases for tests: a fresh SQLite
// database in a temporary directory, or a fresh schema in the PostgreSQL
// server named by CUSTODIAN_TEST_DATABASE_URL (default: the local server);
// and hands either to the audit contract (storetest) as a backend whose
// append-only guard an attacker could lift.
//
// When PostgreSQL is unreachable the test is skipped with a clear message,
// except under CI=true, where it fails: CI must never pass by skipping.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/custodian-crm/custodian/storetest"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for set-up statements
)

// DefaultPostgresURL is the local test server.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the test server's URL.
func PostgresURL() string {
	if u := os.Getenv("CUSTODIAN_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// PlainChain is the plain SHA-256 audit chain, which tests verify with
// hashchain.Chain{} (servers use a keyed one).
func PlainChain() *hashchain.Chain {
	chain, _ := hashchain.NewChain(nil) // a nil key never fails
	return chain
}

// SQLite returns a migrated store in a new temporary directory, and the
// directory. Its audit trail is sealed with the plain chain (PlainChain).
func SQLite(t testing.TB) (*sqlstore.Store, string) {
	t.Helper()
	return SQLiteWithChain(t, PlainChain())
}

// SQLiteWithChain is SQLite with the audit trail sealed by chain.
func SQLiteWithChain(t testing.TB, chain *hashchain.Chain) (*sqlstore.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := sqlite.Open(context.Background(), dir, sqlstore.Options{AuditChain: chain})
	return migrated(t, s, err), dir
}

// SQLiteAt returns the migrated store in dir, opened with o; it is
// closed when the test ends. Several may be open over one directory, as
// a restarted server's would be.
func SQLiteAt(t testing.TB, dir string, o sqlstore.Options) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), dir, o)
	return migrated(t, s, err)
}

// SQLiteReadLog returns a fresh SQLite database, opened with o, as the
// read log contract's backend.
func SQLiteReadLog(t *testing.T, o sqlstore.Options) storetest.ReadLogBackend {
	dir := filepath.Join(t.TempDir(), "data")
	return storetest.ReadLogBackend{Store: SQLiteAt(t, dir, o), Open: func(t *testing.T, o sqlstore.Options) *sqlstore.Store { return SQLiteAt(t, dir, o) }}
}

// PostgresReadLog returns a fresh schema of the test server, opened with
// o, as the read log contract's backend.
func PostgresReadLog(t *testing.T, o sqlstore.Options) storetest.ReadLogBackend {
	url := PostgresSchemaURL(t)
	open := func(t *testing.T, o sqlstore.Options) *sqlstore.Store {
		s, err := postgres.Open(context.Background(), url, o)
		return migrated(t, s, err)
	}
	return storetest.ReadLogBackend{Store: open(t, o), Open: open}
}

// migrated returns s, opened with err, migrated; s is closed when the test
// ends.
func migrated(t testing.TB, s *sqlstore.Store, err error) *sqlstore.Store {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// Unavailable skips the test, or fails it under CI=true.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is unreachable and CI=true, so this test must not skip: %v", what, err)
	}
	t.Skipf("skipping: %s is unreachable (%v); start it or set CI=true to make this a failure", what, err)
}

// PostgresSchemaURL creates a fresh schema in the test server and returns a
// URL whose connections use it; the schema is dropped when the test ends.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", PostgresURL())
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "custodian_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres returns a migrated store in a fresh schema of the test server,
// its audit trail sealed with the plain chain (PlainChain).
func Postgres(t testing.TB) *sqlstore.Store {
	t.Helper()
	return PostgresWithChain(t, PlainChain())
}

// PostgresWithChain is Postgres with the audit trail sealed by chain.
func PostgresWithChain(t testing.TB, chain *hashchain.Chain) *sqlstore.Store {
	t.Helper()
	return OpenPostgres(t, PostgresSchemaURL(t), chain)
}

// OpenPostgres returns the migrated store at url (from PostgresSchemaURL),
// its audit trail sealed by chain; it is closed when the test ends.
func OpenPostgres(t testing.TB, url string, chain *hashchain.Chain) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, sqlstore.Options{AuditChain: chain})
	return migrated(t, s, err)
}

// SQLiteAudit returns s, a SQLite store, as the audit contract's backend,
// whose append-only guard is lifted by dropping its triggers.
func SQLiteAudit(s *sqlstore.Store) storetest.AuditBackend {
	return auditBackend(s, `DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`)
}

// PostgresAudit returns s, a PostgreSQL store, as the audit contract's
// backend, whose append-only guard is lifted by disabling its triggers.
func PostgresAudit(s *sqlstore.Store) storetest.AuditBackend {
	return auditBackend(s, `ALTER TABLE audit_events DISABLE TRIGGER USER`)
}

// auditBackend returns s as the audit contract's backend, whose guard the
// statements unguard lift, as the database owner could.
func auditBackend(s *sqlstore.Store, unguard ...string) storetest.AuditBackend {
	return storetest.AuditBackend{Store: s, Q: s.Rebind, DisableGuard: func(t *testing.T) {
		t.Helper()
		for _, q := range unguard {
			if _, err := s.DB().ExecContext(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}}
}

// MigrateConcurrently opens n stores with open over one fresh database and
// migrates them all at once, as replicas starting together do; then it
// checks that each of the backend's migrations was recorded exactly once,
// that the schema is at the newest version, and that a further run applies
// nothing: the schema version and the applied migrations are the same
// before and after it.
func MigrateConcurrently(t *testing.T, n int, migrations fs.FS, open func(context.Context) (*sqlstore.Store, error)) {
	t.Helper()
	ctx := context.Background()
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := open(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			_, err = s.Migrate(ctx)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}

	s, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if current != latest || latest == 0 {
		t.Fatalf("after concurrent migrations the schema is at version %d, want the newest, %d", current, latest)
	}
	before := appliedMigrations(t, s)
	for v, times := range before {
		if times != 1 {
			t.Errorf("migration %d recorded %d times, want once", v, times)
		}
	}
	files, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(files) {
		t.Errorf("%d migrations recorded, want the backend's %d: %v", len(before), len(files), before)
	}

	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	after := appliedMigrations(t, s)
	if again != current || len(after) != len(before) {
		t.Errorf("a second run changed the schema: version %d -> %d, applied migrations %v -> %v", current, again, before, after)
	}
	for v, times := range after {
		if before[v] != times {
			t.Errorf("a second run applied migration %d again (%d -> %d records)", v, before[v], times)
		}
	}
}

// appliedMigrations returns how many times each migration version is
// recorded as applied in the migration table (version 0, the table's own
// creation, left out).
func appliedMigrations(t *testing.T, s *sqlstore.Store) map[int64]int {
	t.Helper()
	rows, err := s.DB().QueryContext(context.Background(), s.Rebind(`SELECT version_id, COUNT(*) FROM goose_db_version WHERE is_applied AND version_id > 0 GROUP BY version_id`))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	applied := map[int64]int{}
	for rows.Next() {
		var v int64
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		applied[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return applied
}

// ApplicationRole creates a login role for the test, with no privileges,
// dropped (with what was granted to it) when the test ends, and returns
// its name and ownerURL with that role as the user.
func ApplicationRole(t testing.TB, ownerURL string) (role, roleURL string) {
	t.Helper()
	admin, err := sql.Open("pgx", ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	role = "custodian_app_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(`CREATE ROLE ` + role + ` LOGIN`); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP OWNED BY ` + role)
		_, _ = admin.Exec(`DROP ROLE ` + role)
		admin.Close()
	})
	u, err := url.Parse(ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return role, u.String()
}
