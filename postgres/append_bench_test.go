package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/sqlstore"
)

// BenchmarkAuditAppendInstances measures audit appends per second into one
// chain from one instance and from two (two stores, each with its own
// pool, on one database), 16 writers in all, as a change by each. Two
// instances must append at least as fast as one: each batches its own
// writers, and the head row is taken once per batch.
//
//	go test -run '^$' -bench AuditAppendInstances -benchtime 3s ./postgres/
func BenchmarkAuditAppendInstances(b *testing.B) {
	for _, n := range []int{1, 2} {
		name := map[int]string{1: "one", 2: "two"}[n]
		b.Run(name, func(b *testing.B) {
			url := testdb.PostgresSchemaURL(b)
			stores := make([]*sqlstore.Store, n)
			for i := range stores {
				stores[i] = testdb.OpenPostgres(b, url, testdb.PlainChain())
			}
			ctx := custodian.WithActor(context.Background(), "usr_bench")
			const writers = 16
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				s := stores[w%n]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := s.AppendAudit(ctx, custodian.AuditEntry{Action: "bench.append", Subject: "cus_bench"}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			// The chain is whole after the concurrent appends.
			if brk, err := testdb.PlainChain().Verify(stores[0].AuditChain(context.Background(), 0)); brk != nil || err != nil {
				b.Fatalf("chain after concurrent appends: %+v %v", brk, err)
			}
		})
	}
}
