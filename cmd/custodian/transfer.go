package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/csvio"
	"github.com/custodian-crm/custodian/importer"
	"github.com/nyaruka/phonenumbers"
)

// mapFlag is the repeatable --map HEADER=FIELD flag (not split at commas:
// a header may hold one).
type mapFlag map[string]string

func (m mapFlag) String() string { return "" }

func (m mapFlag) Set(v string) error {
	h, f, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(h) == "" {
		return fmt.Errorf("%q is not HEADER=FIELD (FIELD empty ignores the column)", v)
	}
	m[strings.TrimSpace(h)] = strings.TrimSpace(f)
	return nil
}

// firstArg splits off a leading positional argument, so that it may come
// before the flags ("import FILE --dry-run").
func firstArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// runImport imports customers from a CSV file.
func runImport(ctx context.Context, proc *process, args []string) error {
	stdout, stderr := proc.stdout, proc.stderr
	path, args := firstArg(args)
	fs := newFlagSet("import FILE", stderr)
	flags := addPrivacyCommandFlags(fs)
	dry := fs.Bool("dry-run", false, "check the file and report what would be created, updated, skipped and refused; write nothing")
	dups := fs.String("duplicates", "skip", "what to do with a row whose email or phone an existing customer (or an earlier row) has: skip, fill (set empty fields, add tags) or overwrite")
	region := fs.String("phone-region", "", "ISO 3166-1 region assumed for phone numbers without a country code; empty requires one")
	encoding := fs.String("encoding", "", "the file's encoding: utf-8 or windows-1252 (default: detected)")
	delimiter := fs.String("delimiter", "", "the file's delimiter: , or ; (default: detected)")
	atomic := fs.Bool("all-or-nothing", false, "import everything in one transaction: stopped or failed, it stores nothing (other writers wait meanwhile); otherwise each batch commits on its own")
	batch := fs.Int("batch", importer.DefaultBatch, "rows per batch (one transaction each)")
	mapping := mapFlag{}
	fs.Var(mapping, "map", "map a header to a field, HEADER=FIELD (FIELD empty ignores the column); repeatable. Fields: "+strings.Join(csvio.Fields(), ", "))
	return flags.run(ctx, proc, fs, args, func(ctx context.Context, a *app) error {
		if path == "" {
			return errors.New("import: name the CSV file: custodian import FILE [flags]")
		}
		if *region != "" && !phonenumbers.GetSupportedRegions()[*region] {
			return fmt.Errorf("--phone-region %q is not a region", *region)
		}
		f, err := os.Open(path) // #nosec G703 -- the operator names the file to import on the command line
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("import: %s is not a regular file", path)
		}
		bar := newProgress(stderr)
		start := time.Now()
		o := importer.Options{
			ImportOptions: custodian.ImportOptions{DryRun: *dry, Policy: custodian.DuplicatePolicy(*dups), AllOrNothing: *atomic,
				Encoding: *encoding, Delimiter: *delimiter, Map: mapping},
			Validator: &custodian.Validator{PhoneRegion: *region},
			Batch:     *batch,
			Progress: func(rep *custodian.ImportReport, _ int64) {
				bar.updateCount("import", "rows", int64(rep.Rows), int64(rep.FileRows), time.Since(start))
			},
		}
		if err := importer.CheckOptions(o.ImportOptions); err != nil {
			for _, fe := range custodian.ErrorFields(err) {
				return fmt.Errorf("import: --%s: %s", fe.Field, fe.Message)
			}
			return err
		}
		rep, err := importer.Run(ctx, a.customers, f, o)
		bar.finish()
		printImportReport(stdout, rep)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if rep.FileError != nil {
			return errors.New("import: the file was refused; nothing was imported")
		}
		return nil
	})
}

// printImportReport writes what an import did: counts, refused rows and
// committed batches. It holds no personal value.
func printImportReport(w io.Writer, rep *custodian.ImportReport) {
	if rep == nil {
		return
	}
	verb := "imported"
	if rep.DryRun {
		verb = "dry run (nothing written)"
	}
	if rep.FileError != nil {
		if rep.FileError.Line > 0 {
			fmt.Fprintf(w, "file refused at line %d: %s\n", rep.FileError.Line, rep.FileError.Reason)
		} else {
			fmt.Fprintf(w, "file refused: %s\n", rep.FileError.Reason)
		}
		return
	}
	fmt.Fprintf(w, "%s: %d rows read as %s with %q; duplicates: %s\n", verb, rep.Rows, rep.Encoding, rep.Delimiter, rep.Policy)
	for _, c := range rep.Columns {
		field := c.Field
		if field == "" {
			field = "(ignored)"
		}
		fmt.Fprintf(w, "  column %q -> %s\n", c.Header, field)
	}
	fmt.Fprintf(w, "created %d, updated %d, skipped %d, refused %d\n", rep.Created, rep.Updated, rep.Skipped, rep.Refused)
	for _, is := range rep.Issues {
		field := is.Field
		if field == "" {
			field = "-"
		}
		fmt.Fprintf(w, "  line %d: %s: %s\n", is.Line, field, is.Reason)
	}
	if rep.IssuesTruncated {
		fmt.Fprintf(w, "  (only the first %d refused rows are listed)\n", custodian.MaxImportIssues)
	}
	if rep.RolledBack {
		fmt.Fprintln(w, "stopped before the end: all or nothing, so nothing was stored")
	} else if !rep.DryRun {
		fmt.Fprintf(w, "%d batches committed\n", len(rep.Batches))
		for _, b := range rep.Batches {
			fmt.Fprintf(w, "  lines %d-%d: created %d, updated %d\n", b.FirstLine, b.LastLine, b.Created, b.Updated)
		}
	}
}

// listQueryFlags are the list's search, filters and sort, as the API's
// query parameters name them.
type listQueryFlags struct {
	search, status, tag, consent, sort *string
}

func addListQueryFlags(fs *flag.FlagSet) *listQueryFlags {
	return &listQueryFlags{
		search:  fs.String("search", "", "as the list's search: an email, a phone number or words beginning names and companies"),
		status:  fs.String("status", "", "only customers with this status (lead, active, inactive)"),
		tag:     fs.String("tag", "", "only customers with this tag"),
		consent: fs.String("consent", "", "only customers whose current consent for this purpose is given"),
		sort:    fs.String("sort", string(custodian.DefaultSort), "name, created_at or updated_at, with - for descending"),
	}
}

func (l *listQueryFlags) query() custodian.CustomerQuery {
	return custodian.CustomerQuery{Search: *l.search, Status: custodian.Status(*l.status), Tag: *l.tag, Consent: *l.consent, Sort: custodian.Sort(*l.sort)}
}

// exportFormats are the formats of a list export.
var exportFormats = []string{"csv", "jsonl"}

// writeExport streams the customers q selects to w in format, and returns
// how many it wrote.
func writeExport(ctx context.Context, exp custodian.CustomerExporter, q custodian.CustomerQuery, format string, w io.Writer) (int, error) {
	switch format {
	case "csv":
		cw := csvio.NewWriter(w)
		if err := cw.WriteHeader(); err != nil {
			return 0, err
		}
		n, err := exp.ExportCustomers(ctx, q, format, cw.Write)
		if ferr := cw.Flush(); err == nil {
			err = ferr
		}
		return n, err
	case "jsonl":
		enc := json.NewEncoder(w)
		return exp.ExportCustomers(ctx, q, format, func(c *custodian.Customer) error { return enc.Encode(c) })
	}
	return 0, fmt.Errorf("--format must be one of %s", strings.Join(exportFormats, ", "))
}

// runExportList writes the customers a list selects as CSV or JSON Lines.
func runExportList(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("export-list", proc.stderr)
	flags := addPrivacyCommandFlags(fs)
	format := fs.String("format", "csv", "csv (formula cells neutralized) or jsonl")
	out := fs.String("out", "", "write to this file (mode 0600) instead of standard output")
	list := addListQueryFlags(fs)
	return flags.run(ctx, proc, fs, args, func(ctx context.Context, a *app) error {
		if !slices.Contains(exportFormats, *format) {
			return fmt.Errorf("export-list: --format must be one of %s", strings.Join(exportFormats, ", "))
		}
		var w io.Writer = proc.stdout
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return fmt.Errorf("export-list: %w", err)
			}
			defer f.Close()
			w = f
		}
		n, err := writeExport(ctx, a.customers, list.query(), *format, w)
		if err != nil {
			return fmt.Errorf("export-list: %w", err)
		}
		if *out != "" {
			fmt.Fprintf(proc.stderr, "wrote %d customers to %s\n", n, *out)
		}
		return nil
	})
}
