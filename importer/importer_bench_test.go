package importer_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/importer"
	"github.com/custodian-crm/custodian/internal/testdb"
)

// benchFile is a file of n customers as a spreadsheet saves CSV.
func benchFile(n, offset int) []byte {
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBFFull name;E-mail;Mobile;Organisation;City;Country;Tags\r\n")
	for i := offset; i < offset+n; i++ {
		fmt.Fprintf(&b, "Customer %d Müller;c%d@example.com;+44 20 7%03d %04d;Company %d;London;GB;import\r\n", i, i, i/10000%1000, i%10000, i%500)
	}
	return b.Bytes()
}

func benchService(b *testing.B) *customers.Service {
	store, _ := testdb.SQLite(b)
	k, err := crypto.NewKeyring()
	if err != nil {
		b.Fatal(err)
	}
	sealer, err := crypto.NewSealer(k, 0)
	if err != nil {
		b.Fatal(err)
	}
	return customers.New(store, sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: "GB"}})
}

// BenchmarkImport imports 1,000 new customers per operation, dry run and
// for real; custodian-bench transfer measures 100,000.
func BenchmarkImport(b *testing.B) {
	for _, dry := range []bool{true, false} {
		b.Run(fmt.Sprintf("dry_run=%v", dry), func(b *testing.B) {
			svc := benchService(b)
			ctx := custodian.WithActor(context.Background(), "usr_bench")
			i := 0
			for b.Loop() {
				f := benchFile(1000, i*1000)
				i++
				rep, err := importer.Run(ctx, svc, bytes.NewReader(f), importer.Options{ImportOptions: custodian.ImportOptions{DryRun: dry, Policy: custodian.DuplicatesSkip}})
				if err != nil || rep.Created != 1000 {
					b.Fatalf("%v %+v", err, rep.ImportCounts)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(i*1000)*1e6, "µs/row")
		})
	}
}
