package sqlite_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/sqlite"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/custodian-crm/custodian/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		s, dir := testdb.SQLite(t)
		return storetest.Backend{Repo: s, Raw: func(t *testing.T) []byte {
			// The database file and its write-ahead log, as a copy or a
			// backup of the data directory would hold them.
			var all bytes.Buffer
			for _, name := range []string{"custodian.db", "custodian.db-wal"} {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				all.Write(b)
			}
			return all.Bytes()
		}}
	})
}

func TestViewsContract(t *testing.T) {
	storetest.RunViews(t, func(t *testing.T) storetest.ViewsBackend {
		s, _ := testdb.SQLite(t)
		return storetest.ViewsBackend{Repo: s, DB: s.DB(), Q: s.Rebind}
	})
}

func TestAccountsContract(t *testing.T) {
	storetest.RunAccounts(t, func(t *testing.T) custodian.AccountRepository {
		s, _ := testdb.SQLite(t)
		return s
	})
}

// TestMigrateIsIdempotentAndConcurrent starts three migrations of one
// database at once, as two commands run together do, then a fourth: each
// migration is applied once and the last run applies nothing.
func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	testdb.MigrateConcurrently(t, 3, sqlite.Migrations(), func(ctx context.Context) (*sqlstore.Store, error) {
		return sqlite.Open(ctx, dir, sqlstore.Options{WithoutAuditChain: true})
	})
}

func TestFilePermissions(t *testing.T) {
	_, dir := testdb.SQLite(t)
	for name, want := range map[string]os.FileMode{".": 0o700, "custodian.db": 0o600, "custodian.db-wal": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %04o, want %04o", name, got, want)
		}
	}
}

func TestAuditContract(t *testing.T) {
	storetest.RunAudit(t, func(t *testing.T, chain *hashchain.Chain) storetest.AuditBackend {
		s, _ := testdb.SQLiteWithChain(t, chain)
		return testdb.SQLiteAudit(s)
	})
}

func TestReadLogContract(t *testing.T) {
	storetest.RunReadLog(t, testdb.SQLiteReadLog)
}

func TestPrivacyContract(t *testing.T) {
	storetest.RunPrivacy(t, func(t *testing.T) storetest.PrivacyBackend {
		s, dir := testdb.SQLite(t)
		// The shred key store lives outside the data directory, as it
		// must: a backup of the directory must not hold it.
		shred, err := sqlite.OpenShred(context.Background(), filepath.Join(t.TempDir(), "keys", sqlite.ShredFileName))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shred.Close() })
		return storetest.PrivacyBackend{Repo: s, Shred: shred, DB: s.DB(), Q: s.Rebind, Snapshot: func(t *testing.T) custodian.CustomerRepository {
			// A backup: the database file and its write-ahead log,
			// copied as they are on disk.
			copyDir := filepath.Join(t.TempDir(), "backup")
			if err := os.MkdirAll(copyDir, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{sqlite.FileName, sqlite.FileName + "-wal"} {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(copyDir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := sqlite.Open(context.Background(), copyDir, sqlstore.Options{AuditChain: testdb.PlainChain()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}}
	})
}

func TestShredStoreForgetsDestroyedSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.ShredFileName)
	s, err := sqlite.OpenShred(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	secret := bytes.Repeat([]byte{0xA5, 0x5A, 0xC3, 0x3C}, 8)
	if err := s.PutShredKeys(ctx, map[string][]byte{"cus_a": secret}); err != nil {
		t.Fatal(err)
	}
	if err := s.DestroyShredKey(ctx, "cus_a"); err != nil {
		t.Fatal(err)
	}
	// secure_delete and the truncated write-ahead log leave no copy of the
	// secret in the store's files.
	for _, name := range []string{"", "-wal", "-journal"} {
		b, err := os.ReadFile(path + name)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, secret) {
			t.Fatalf("%s still holds the destroyed secret", path+name)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("shred store mode: %v %v", fi, err)
	}
}

func TestAlertsContract(t *testing.T) {
	storetest.RunAlerts(t, func(t *testing.T) storetest.AlertStore { s, _ := testdb.SQLite(t); return s })
}

// BenchmarkAuditVerify: go test -run '^$' -bench AuditVerify -benchtime 3x ./sqlite
func BenchmarkAuditVerify(b *testing.B) {
	storetest.BenchVerify(b, func(b *testing.B, chain *hashchain.Chain) storetest.AuditStore {
		s, _ := testdb.SQLiteWithChain(b, chain)
		return s
	}, 100_000)
}

func TestPasskeysContract(t *testing.T) {
	storetest.RunPasskeys(t, func(t *testing.T) custodian.AccountRepository {
		s, _ := testdb.SQLite(t)
		return s
	})
}
