package sqlstore_test

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlite"
)

// TestOneMigrationHistory keeps both backends on one schema history: the
// same migration versions with the same names, so a version number means
// the same schema on SQLite and PostgreSQL.
func TestOneMigrationHistory(t *testing.T) {
	list := func(f fs.FS) []string {
		names, err := fs.Glob(f, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	s, p := list(sqlite.Migrations()), list(postgres.Migrations())
	if len(s) == 0 || !slices.Equal(s, p) {
		t.Fatalf("migrations differ:\nsqlite   %v\npostgres %v", s, p)
	}
}
