package rotation_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/rotation"
)

// benchCustomers is how many customers each rotation re-wraps.
const benchCustomers = 20_000

// benchRotation seeds benchCustomers customers in repo, then rotates to a
// new master key on every iteration and reports data keys re-wrapped per
// second.
func benchRotation(b *testing.B, repo custodian.CustomerRepository) {
	ctx := context.Background()
	k, _ := crypto.NewKeyring()
	sealer, _ := crypto.NewSealer(k, 0)
	svc := customers.New(repo, sealer, customers.Options{})
	for done := 0; done < benchCustomers; done += 2000 {
		fs := make([]custodian.CustomerFields, 2000)
		for i := range fs {
			fs[i] = custodian.CustomerFields{Name: fmt.Sprintf("Bench Person%d", done+i), Email: fmt.Sprintf("p%d@example.com", done+i), Notes: "notes"}
		}
		if _, err := svc.ImportCustomers(ctx, fs); err != nil {
			b.Fatal(err)
		}
	}
	var total int64
	var secs float64
	for b.Loop() {
		k.AddMasterKey()
		rot, err := crypto.NewSealer(k, 1)
		if err != nil {
			b.Fatal(err)
		}
		res, err := rotation.Rewrap(ctx, repo, rot, rotation.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Rewrapped != benchCustomers {
			b.Fatalf("re-wrapped %d, want %d", res.Rewrapped, benchCustomers)
		}
		total += res.Rewrapped
		secs += res.Elapsed.Seconds()
	}
	b.ReportMetric(float64(total)/secs, "keys/s")
}

// BenchmarkRotateSQLite re-wraps 20,000 data keys on SQLite.
func BenchmarkRotateSQLite(b *testing.B) {
	s, _ := testdb.SQLite(b)
	benchRotation(b, s)
}

// BenchmarkRotatePostgres re-wraps 20,000 data keys on PostgreSQL.
func BenchmarkRotatePostgres(b *testing.B) {
	benchRotation(b, testdb.Postgres(b))
}
