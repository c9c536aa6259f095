package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/csvio"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/hashchain"
	"github.com/custodian-crm/custodian/importer"
)

// runTransfer measures the CSV import and the list export on a fresh
// SQLite data directory: it writes a file of n customers as a spreadsheet
// program saves CSV (byte-order mark, semicolons, CRLF; one row in a
// hundred repeats an earlier row's email, one in two hundred is invalid),
// then times a dry run, the import, a second import of the same file
// (every row a duplicate, found against the 100,000 stored customers) and
// an export of every customer as CSV, printing the process's peak
// resident memory after each step.
func runTransfer(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("custodian-bench transfer", flag.ContinueOnError)
	n := fs.Int("n", 100_000, "rows in the file")
	dir := fs.String("data-dir", "", "an empty directory for the database and the file")
	batch := fs.Int("batch", importer.DefaultBatch, "rows per batch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("transfer needs -data-dir")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	file := filepath.Join(*dir, "customers.csv")
	if err := writeImportFile(file, *n); err != nil {
		return err
	}
	k, err := crypto.NewKeyring()
	if err != nil {
		return err
	}
	sealer, err := crypto.NewSealer(k, 0)
	if err != nil {
		return err
	}
	chain, err := hashchain.NewChain(k.AuditChainKey())
	if err != nil {
		return err
	}
	store, shred, err := openSeedStore(ctx, seedConfig{dataDir: *dir}, chain)
	if err != nil {
		return err
	}
	defer store.Close()
	defer shred.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	svc := customers.New(store, sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: "GB"}, Shred: shred})
	ctx = custodian.WithActor(ctx, "system:bench")

	step := func(name string, o custodian.ImportOptions) error {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		start := time.Now()
		rep, err := importer.Run(ctx, svc, f, importer.Options{ImportOptions: o, Batch: *batch})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if rep.FileError != nil {
			return fmt.Errorf("%s: file refused: %+v", name, rep.FileError)
		}
		took := time.Since(start)
		fmt.Fprintf(stdout, "%-28s %8.1f s  %7.0f rows/s  created %d updated %d skipped %d refused %d  peak RSS %d MB\n",
			name, took.Seconds(), float64(rep.Rows)/took.Seconds(), rep.Created, rep.Updated, rep.Skipped, rep.Refused, peakRSS()>>20)
		return nil
	}
	fmt.Fprintf(stdout, "file: %d rows, %d MB\n", *n, fileSize(file)>>20)
	if err := step("dry run", custodian.ImportOptions{DryRun: true, Policy: custodian.DuplicatesFill}); err != nil {
		return err
	}
	if err := step("import (fill)", custodian.ImportOptions{Policy: custodian.DuplicatesFill}); err != nil {
		return err
	}
	if err := step("import again (skip)", custodian.ImportOptions{Policy: custodian.DuplicatesSkip}); err != nil {
		return err
	}
	for _, sort := range []custodian.Sort{custodian.SortCreatedAtDesc, custodian.SortName} {
		start := time.Now()
		cw := csvio.NewWriter(io.Discard)
		count, err := svc.ExportCustomers(ctx, custodian.CustomerQuery{Sort: sort}, "csv", cw.Write)
		if err == nil {
			err = cw.Flush()
		}
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		took := time.Since(start)
		fmt.Fprintf(stdout, "%-28s %8.1f s  %7.0f rows/s  exported %d  peak RSS %d MB\n", "export csv sort="+string(sort), took.Seconds(), float64(count)/took.Seconds(), count, peakRSS()>>20)
	}
	return nil
}

// writeImportFile writes n customers to path as a spreadsheet saves CSV.
func writeImportFile(path string, n int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString("\xEF\xBB\xBFFull name;E-mail;Mobile;Organisation;City;Postcode;Country;Tags;Status;Notes\r\n")
	for i := range n {
		email := fmt.Sprintf("customer%d@example.com", i)
		if i%100 == 99 {
			email = fmt.Sprintf("customer%d@example.com", i-50) // repeats an earlier row
		}
		name := fmt.Sprintf("Customer %d Müller", i)
		if i%200 == 150 {
			name = "<invalid>"
		}
		fmt.Fprintf(w, "%s;%s;+44 20 7%03d %04d;Company %d Ltd;London;SW1A %dAA;GB;import,batch%d;active;Imported note %d\r\n",
			name, email, i/10000%1000, i%10000, i%5000, i%10, i%7, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// peakRSS returns the process's peak resident memory (VmHWM), in bytes,
// or 0 where /proc does not tell.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}
