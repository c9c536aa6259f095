package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/postgres"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/jackc/pgx/v5"
)

// statements counts what a pool's connections send: every query and
// every explicit prepare (each a round trip to the server), with its text.
type statements struct {
	mu   sync.Mutex
	sent []string
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.add(d.SQL)
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statements) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	s.add("prepare: " + d.SQL)
	return ctx
}

func (s *statements) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func (s *statements) add(q string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, strings.Join(strings.Fields(q), " "))
}

// during returns the statements sent while fn ran.
func (s *statements) during(fn func()) []string {
	s.mu.Lock()
	from := len(s.sent)
	s.mu.Unlock()
	fn()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent[from:]...)
}

// TestRoundTripsPerRequest pins how many statements (round trips) each
// of the common requests costs on PostgreSQL, counted by a tracer on the
// store's and the shred store's pools: opening a customer, searching by
// email, the first list page (each with the customer's key secret not yet
// cached, as for most reads of a large base) and creating a customer.
// A change that adds a statement to one of these paths fails here; one
// that saves a statement should lower the figure.
func TestRoundTripsPerRequest(t *testing.T) {
	ctx := custodian.WithActor(context.Background(), "usr_roundtrips")
	// One connection each, so that the driver's statement cache is warm
	// after the first call of each request and every count is exact.
	url := testdb.PostgresSchemaURL(t) + "&pool_max_conns=1"
	var main, shred statements
	s, err := postgres.OpenReplicatedTraced(ctx, url, "", sqlstore.Options{AuditChain: testdb.PlainChain(),
		ReadLog: sqlstore.ReadLogOptions{FlushInterval: time.Hour, SealInterval: time.Hour}}, &main)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := postgres.OpenShredTraced(ctx, url, &shred)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	k, err := crypto.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	// A service whose key cache is new for every read: each read fetches
	// the customer's shred secret, as a read of a customer not opened
	// since the server started does.
	service := func() *customers.Service {
		sealer, err := crypto.NewSealer(k, 16)
		if err != nil {
			t.Fatal(err)
		}
		return customers.New(s, sealer, customers.Options{Shred: keys})
	}
	var n int
	create := func() *custodian.Customer {
		n++
		c, err := service().CreateCustomer(ctx, custodian.CustomerFields{Name: fmt.Sprintf("Ada Lovelace %d", n), Email: fmt.Sprintf("ada%d@example.com", n), Tags: []string{"vip"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := create()
	for _, tc := range []struct {
		name        string
		main, shred int
		do          func() error
	}{
		// BEGIN, the record with its tags and tokens, the commit made
		// not to wait for the disk (no webhook is active), the chain
		// head, the events with the head's hash and the webhook outbox,
		// COMMIT, then the flush barrier after the head is released;
		// the secret alone in the shred store.
		{"create", 7, 1, func() error { create(); return nil }},
		{"get by id", 1, 1, func() error { _, err := service().Customer(ctx, first.ID); return err }},
		{"search by email", 1, 1, func() error {
			p, err := service().ListCustomers(ctx, custodian.CustomerQuery{Search: first.Email})
			if err == nil && len(p.Items) != 1 {
				err = fmt.Errorf("found %d customers", len(p.Items))
			}
			return err
		}},
		{"first list page", 1, 1, func() error { _, err := service().ListCustomers(ctx, custodian.CustomerQuery{Limit: 50}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil { // warms the statement caches
				t.Fatal(err)
			}
			var sent []string
			got := shred.during(func() {
				sent = main.during(func() {
					if err := tc.do(); err != nil {
						t.Fatal(err)
					}
				})
			})
			if len(sent) != tc.main || len(got) != tc.shred {
				t.Errorf("%s: %d statements to the database, %d to the shred store; want %d and %d\ndatabase:\n  %s\nshred store:\n  %s",
					tc.name, len(sent), len(got), tc.main, tc.shred, strings.Join(sent, "\n  "), strings.Join(got, "\n  "))
			}
		})
	}
	// The chain the appends built is whole.
	if brk, err := testdb.PlainChain().Verify(s.AuditChain(ctx, 0)); brk != nil || err != nil {
		t.Fatalf("chain: %+v %v", brk, err)
	}
}
