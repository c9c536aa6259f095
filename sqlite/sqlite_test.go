package sqlite_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testdb"
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

func TestAccountsContract(t *testing.T) {
	storetest.RunAccounts(t, func(t *testing.T) custodian.AccountRepository {
		s, _ := testdb.SQLite(t)
		return s
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
	storetest.RunAudit(t, func(t *testing.T) storetest.AuditBackend {
		s, _ := testdb.SQLite(t)
		return storetest.AuditBackend{Store: s, Q: func(q string) string { return q }, DisableGuard: func(t *testing.T) {
			for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`} {
				if _, err := s.DB().Exec(q); err != nil {
					t.Fatal(err)
				}
			}
		}}
	})
}

func TestAlertsContract(t *testing.T) {
	storetest.RunAlerts(t, func(t *testing.T) storetest.AlertStore { s, _ := testdb.SQLite(t); return s })
}
