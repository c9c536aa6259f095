package postgres_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/custodian-crm/custodian/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		s := testdb.Postgres(t)
		return storetest.Backend{Repo: s, Raw: rawDump(s.DB())}
	})
}

// rawDump returns every row of every table in db's schema, as text, as a
// SQL console or pg_dump would show it, with bytea decoded so that a
// plaintext would show.
func rawDump(db *sql.DB) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		var all strings.Builder
		for _, table := range tables(t, db) {
			r, err := db.QueryContext(context.Background(), `SELECT t::text FROM `+table+` t`)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
				var line sql.NullString
				r.Scan(&line)
				all.WriteString(line.String + "\n")
			}
			r.Close()
		}
		// bytea renders as hex; decode so a plaintext would show.
		return []byte(all.String() + decodeHex(all.String()))
	}
}

// decodeHex decodes every \x... run, so that plaintext stored in a bytea
// column would be visible to the scan.
func decodeHex(s string) string {
	var out strings.Builder
	for {
		i := strings.Index(s, `\\x`)
		if i < 0 {
			return out.String()
		}
		s = s[i+3:]
		j := 0
		for j < len(s) && strings.ContainsRune("0123456789abcdef", rune(s[j])) {
			j++
		}
		h := s[:j-j%2]
		for k := 0; k+1 < len(h); k += 2 {
			var b byte
			for _, c := range h[k : k+2] {
				b = b*16 + byte(strings.IndexRune("0123456789abcdef", c))
			}
			out.WriteByte(b)
		}
		out.WriteByte('\n')
		s = s[j:]
	}
}

func TestAccountsContract(t *testing.T) {
	storetest.RunAccounts(t, func(t *testing.T) custodian.AccountRepository { return testdb.Postgres(t) })
}

// TestMigrateIsIdempotentAndConcurrent starts three migrations of one
// schema at once, as replicas starting together do, then a fourth: each
// migration is applied once and the last run applies nothing.
func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	url := testdb.PostgresSchemaURL(t)
	testdb.MigrateConcurrently(t, 3, postgres.Migrations(), func(ctx context.Context) (*sqlstore.Store, error) {
		return postgres.Open(ctx, url, sqlstore.Options{WithoutAuditChain: true})
	})
}

// TestSchemasMigrateWithoutWaitingForEachOther holds the migration lock
// of schema A in a session of its own, as an instance of A's deployment
// migrating would: a migration of A started then waits for it, while
// schema B of the same database migrates to the newest version meanwhile,
// and A's migration goes on once the lock is released.
func TestSchemasMigrateWithoutWaitingForEachOther(t *testing.T) {
	urlA, urlB := testdb.PostgresSchemaURL(t), testdb.PostgresSchemaURL(t)
	schemaA := searchPath(t, urlA)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	holder, err := sql.Open("pgx", testdb.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	session, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	if _, err := session.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, postgres.MigrationLockID(schemaA)); err != nil {
		t.Fatal(err)
	}

	open := func(u string) *sqlstore.Store {
		s, err := postgres.Open(ctx, u, sqlstore.Options{WithoutAuditChain: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(urlA), open(urlB)
	migratedA := make(chan error, 1)
	go func() { _, err := a.Migrate(ctx); migratedA <- err }()
	// goose creates its version table before it takes the lock: once the
	// table is there, A's migration is at the lock.
	for {
		var versionTable sql.NullString
		if err := holder.QueryRowContext(ctx, `SELECT to_regclass($1)::text`, schemaA+".goose_db_version").Scan(&versionTable); err != nil {
			t.Fatal(err)
		}
		if versionTable.Valid {
			break
		}
		select {
		case err := <-migratedA:
			t.Fatalf("schema A's migration ended before creating its version table: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}

	// B's migration must not need A's lock: with one lock for every schema
	// it would wait until the deadline.
	bctx, bcancel := context.WithTimeout(ctx, time.Minute)
	defer bcancel()
	if _, err := b.Migrate(bctx); err != nil {
		t.Fatalf("schema B did not migrate while A's lock was held: %v", err)
	}
	if current, latest, err := b.SchemaVersion(ctx); err != nil || current != latest || latest == 0 {
		t.Fatalf("schema B is at version %d of %d (%v)", current, latest, err)
	}

	select {
	case err := <-migratedA:
		t.Fatalf("schema A's migration ended while its lock was held elsewhere (%v)", err)
	default:
	}
	// (Not a.SchemaVersion: goose reads the version under the lock too.)
	var applied int64
	if err := holder.QueryRowContext(ctx, `SELECT coalesce(max(version_id), 0) FROM `+schemaA+`.goose_db_version`).Scan(&applied); err != nil || applied != 0 {
		t.Fatalf("schema A is at version %d (%v) while its lock is held elsewhere", applied, err)
	}

	if _, err := session.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, postgres.MigrationLockID(schemaA)); err != nil {
		t.Fatal(err)
	}
	if err := <-migratedA; err != nil {
		t.Fatalf("schema A, once its lock was released: %v", err)
	}
	if current, latest, err := a.SchemaVersion(ctx); err != nil || current != latest || latest == 0 {
		t.Fatalf("schema A is at version %d of %d (%v)", current, latest, err)
	}
}

// TestMigrationLockIDIsTheSchemas: each schema has a lock of its own, and a
// schema always the same one.
func TestMigrationLockIDIsTheSchemas(t *testing.T) {
	ids := map[int64]string{}
	for _, schema := range []string{"public", "custodian", "custodian_eu", "custodian_us", ""} {
		id := postgres.MigrationLockID(schema)
		if other, dup := ids[id]; dup {
			t.Errorf("schemas %q and %q share the migration lock %d", schema, other, id)
		}
		ids[id] = schema
		if again := postgres.MigrationLockID(schema); again != id {
			t.Errorf("schema %q: lock %d, then %d", schema, id, again)
		}
	}
}

// searchPath is the search_path a URL from testdb.PostgresSchemaURL sets.
func searchPath(t *testing.T, u string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	schema := parsed.Query().Get("search_path")
	if schema == "" {
		t.Fatalf("no search_path in the schema's URL")
	}
	return schema
}

func TestBadURLDoesNotEchoPassword(t *testing.T) {
	// pgx already masks the password in its own message; the URL, which
	// can hold other secrets, is left out altogether.
	const url = "postgres://u:hunter2-secret@192.0.2.55:5432/db?sslmode=bogus"
	for name, open := range map[string]func() error{
		"Open": func() error {
			_, err := postgres.Open(context.Background(), url, sqlstore.Options{AuditChain: testdb.PlainChain()})
			return err
		},
		"OpenShred": func() error { _, err := postgres.OpenShred(context.Background(), url); return err },
	} {
		if err := open(); err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "192.0.2.55") {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}

func TestAuditContract(t *testing.T) {
	storetest.RunAudit(t, func(t *testing.T, chain *hashchain.Chain) storetest.AuditBackend {
		return testdb.PostgresAudit(testdb.PostgresWithChain(t, chain))
	})
}

func TestReadLogContract(t *testing.T) {
	storetest.RunReadLog(t, testdb.PostgresReadLog)
}

func TestPrivacyContract(t *testing.T) {
	storetest.RunPrivacy(t, func(t *testing.T) storetest.PrivacyBackend {
		s := testdb.Postgres(t)
		// The shred key store in a schema of its own, standing in for the
		// separate database production uses: a copy of the customer
		// schema does not hold it.
		shred, err := postgres.OpenShred(context.Background(), testdb.PostgresSchemaURL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shred.Close() })
		return storetest.PrivacyBackend{Repo: s, Shred: shred, DB: s.DB(), Q: s.Rebind, Snapshot: func(t *testing.T) custodian.CustomerRepository {
			return snapshot(t, s.DB())
		}}
	})
}

// snapshot copies every table of the customer schema, row for row, into a
// fresh schema, as a dump and restore would, and opens a store on the copy.
func snapshot(t *testing.T, db *sql.DB) custodian.CustomerRepository {
	t.Helper()
	ctx := context.Background()
	url := testdb.PostgresSchemaURL(t)
	var from string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&from); err != nil {
		t.Fatal(err)
	}
	to := url[strings.Index(url, "search_path=")+len("search_path="):]
	if i := strings.IndexByte(to, '&'); i >= 0 {
		to = to[:i]
	}
	for _, table := range tables(t, db) {
		for _, q := range []string{
			`CREATE TABLE ` + to + `.` + table + ` (LIKE ` + from + `.` + table + ` INCLUDING ALL)`,
			`INSERT INTO ` + to + `.` + table + ` OVERRIDING SYSTEM VALUE SELECT * FROM ` + from + `.` + table,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	c, err := postgres.Open(ctx, url, sqlstore.Options{AuditChain: testdb.PlainChain()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tables returns the names of the tables of db's current schema.
func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAlertsContract(t *testing.T) {
	storetest.RunAlerts(t, func(t *testing.T) storetest.AlertStore { return testdb.Postgres(t) })
}

// BenchmarkAuditVerify: go test -run '^$' -bench AuditVerify -benchtime 3x ./postgres
func BenchmarkAuditVerify(b *testing.B) {
	storetest.BenchVerify(b, func(b *testing.B, chain *hashchain.Chain) storetest.AuditStore {
		return testdb.PostgresWithChain(b, chain)
	}, 100_000)
}

func TestViewsContract(t *testing.T) {
	storetest.RunViews(t, func(t *testing.T) storetest.ViewsBackend {
		s := testdb.Postgres(t)
		return storetest.ViewsBackend{Repo: s, DB: s.DB(), Q: s.Rebind}
	})
}

func TestPasskeysContract(t *testing.T) {
	storetest.RunPasskeys(t, func(t *testing.T) custodian.AccountRepository { return testdb.Postgres(t) })
}
