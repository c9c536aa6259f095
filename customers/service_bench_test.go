package customers_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/internal/testdb"
)

// benchService returns a service over SQLite seeded with n customers.
func benchService(b *testing.B, n int) (*customers.Service, custodian.CustomerRepository, []*custodian.Customer) {
	b.Helper()
	store, _ := testdb.SQLite(b)
	k, _ := crypto.NewKeyring()
	sealer, _ := crypto.NewSealer(k, 0)
	svc := customers.New(store, sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: "GB"}})
	var fs []custodian.CustomerFields
	for i := range n {
		fs = append(fs, custodian.CustomerFields{
			Name: fmt.Sprintf("Ada%d Lovelace", i%97), Email: fmt.Sprintf("ada%d@example.com", i), Phone: fmt.Sprintf("+44 20 7%03d %04d", i/10000, i%10000),
			Company: "Analytical Engines", Address: custodian.Address{Street: "1 High St", City: "London", PostalCode: "SW1A 1AA", Country: "GB"},
			Notes: "Some notes about the customer.", Tags: []string{"vip"},
		})
	}
	cs, err := svc.ImportCustomers(context.Background(), fs)
	if err != nil {
		b.Fatal(err)
	}
	return svc, store, cs
}

// BenchmarkGetRecord reads one sealed record without opening it: the
// storage cost that encryption adds to.
func BenchmarkGetRecord(b *testing.B) {
	_, repo, cs := benchService(b, 2000)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := repo.CustomerRecord(ctx, cs[i%len(cs)].ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetCustomer reads and opens one customer.
func BenchmarkGetCustomer(b *testing.B) {
	svc, _, cs := benchService(b, 2000)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := svc.Customer(ctx, cs[i%len(cs)].ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListPage lists the first page of 50 customers.
func BenchmarkListPage(b *testing.B) {
	svc, _, _ := benchService(b, 2000)
	ctx := context.Background()
	for b.Loop() {
		if _, err := svc.ListCustomers(ctx, custodian.CustomerQuery{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchPrefix searches a name prefix that matches about 1 in 10
// customers.
func BenchmarkSearchPrefix(b *testing.B) {
	svc, _, _ := benchService(b, 2000)
	ctx := context.Background()
	for b.Loop() {
		if _, err := svc.ListCustomers(ctx, custodian.CustomerQuery{Search: "ada1"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate creates customers from concurrent callers, as the API does.
func BenchmarkCreate(b *testing.B) {
	svc, _, _ := benchService(b, 20000)
	ctx := context.Background()
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := svc.CreateCustomer(ctx, custodian.CustomerFields{
				Name: fmt.Sprintf("Grace%d Hopper", i%89), Email: fmt.Sprintf("grace%d@example.com", i), Phone: fmt.Sprintf("+44 20 8%03d %04d", i/10000%1000, i%10000),
				Company: "Cobol Systems", Tags: []string{"bench"},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetCustomerParallel reads customers from many goroutines, as a
// busy server does: each read is also recorded on the audit trail, and
// concurrent records share their transaction.
func BenchmarkGetCustomerParallel(b *testing.B) {
	svc, _, cs := benchService(b, 2000)
	ctx := custodian.WithActor(context.Background(), "usr_bench")
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Customer(ctx, cs[int(next.Add(1))%len(cs)].ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
