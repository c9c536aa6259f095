package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlstore"
)

// TestReadReplicaRouting opens a store whose "replica" is a second,
// separately migrated schema that never receives the primary's writes, so
// every answer shows which database gave it: lists go to the replica,
// except for the user who has just written, and reads by id never do.
func TestReadReplicaRouting(t *testing.T) {
	primaryURL, replicaURL := testdb.PostgresSchemaURL(t), testdb.PostgresSchemaURL(t)
	testdb.OpenPostgres(t, replicaURL, testdb.PlainChain()) // migrated, and empty
	s, err := postgres.OpenReplicated(context.Background(), primaryURL, replicaURL,
		sqlstore.Options{AuditChain: testdb.PlainChain(), ReplicaFreshFor: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := crypto.NewSealer(k, 16)
	if err != nil {
		t.Fatal(err)
	}
	svc := customers.New(s, sealer, customers.Options{})
	writer := custodian.WithActor(context.Background(), "usr_writer")
	other := custodian.WithActor(context.Background(), "usr_other")

	c, err := svc.CreateCustomer(writer, custodian.CustomerFields{Name: "Ada Lovelace", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	count := func(ctx context.Context) int {
		t.Helper()
		p, err := svc.ListCustomers(ctx, custodian.CustomerQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Items)
	}
	if n := count(writer); n != 1 {
		t.Fatalf("the writer's own list shows %d customers just after the write; want 1, from the primary", n)
	}
	if n := count(other); n != 0 {
		t.Fatalf("another user's list shows %d customers; want 0, from the replica", n)
	}
	if got, err := svc.Customer(other, c.ID); err != nil || got.Name != "Ada Lovelace" {
		t.Fatalf("a read by id: %v %v; want it from the primary", got, err)
	}
	time.Sleep(400 * time.Millisecond)
	if n := count(writer); n != 0 {
		t.Fatalf("the writer's list after the fresh window shows %d; want 0, from the replica", n)
	}
}
