// Package importer runs imports of customers from CSV files: batch by
// batch through a custodian.CustomerImporter, with a dry run, a report
// that holds no personal value, cancellation, and, for the API and the
// web interface, jobs run in the background and kept in the database.
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/csvio"
)

// DefaultBatch is how many rows a batch holds: each is one transaction.
const DefaultBatch = 500

// Options configure one run.
type Options struct {
	custodian.ImportOptions
	// Validator checks the rows; the importer's own when nil (the
	// CLI's --phone-region gives one).
	Validator *custodian.Validator
	// Batch is the rows per batch (DefaultBatch when 0).
	Batch int
	// Progress, when set, is called after every batch with the report
	// so far and how many bytes of the file have been read.
	Progress func(rep *custodian.ImportReport, read int64)
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// csvOptions converts the import's options to the reader's.
func csvOptions(o custodian.ImportOptions) (csvio.Options, error) {
	co := csvio.Options{Encoding: o.Encoding, Map: o.Map}
	switch o.Delimiter {
	case "":
	case ",", ";":
		co.Delimiter = rune(o.Delimiter[0])
	default:
		return co, invalid("delimiter", "Must be a comma or a semicolon.")
	}
	if !csvio.ValidEncoding(o.Encoding) {
		return co, invalid("encoding", "Must be utf-8 or windows-1252 (or empty to detect it).")
	}
	return co, nil
}

func invalid(field, msg string) error {
	return &custodian.Error{Code: custodian.EINVALID, Message: "The import options are not valid.", Fields: []custodian.FieldError{{Field: field, Message: msg}}}
}

// CheckOptions validates import options.
func CheckOptions(o custodian.ImportOptions) error {
	if !o.Policy.Valid() {
		return invalid("duplicates", "Must be one of skip, fill or overwrite.")
	}
	_, err := csvOptions(o)
	return err
}

// Run imports the CSV file in f. The file is read once to check that it
// is well-formed, so that a malformed file is refused before anything is
// written, then again row by row, in batches of o.Batch rows, each batch
// one transaction (or, with AllOrNothing, all of them one). A file that
// cannot be read is reported in the report's FileError, with a nil error.
// When ctx is cancelled, Run stops between batches and returns the
// report with ctx's error: the batches committed before are listed, or,
// with AllOrNothing, nothing is stored. The import is recorded as one
// audit event with its counts.
func Run(ctx context.Context, imp custodian.CustomerImporter, f io.ReadSeeker, o Options) (*custodian.ImportReport, error) {
	rep := &custodian.ImportReport{DryRun: o.DryRun, Policy: o.Policy, AllOrNothing: o.AllOrNothing, Columns: []custodian.ImportColumn{}, Issues: []custodian.ImportIssue{}, Batches: []custodian.ImportBatchReport{}}
	if err := CheckOptions(o.ImportOptions); err != nil {
		return rep, err
	}
	co, _ := csvOptions(o.ImportOptions) // checked
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	// The first pass: the file's shape only.
	if err := check(f, co, rep); err != nil || rep.FileError != nil {
		if err == nil {
			err = record(ctx, imp, rep, nil, 0)
		}
		return rep, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return rep, fmt.Errorf("import: rewind file: %w", err)
	}
	cnt := &counter{r: f}
	rd, err := csvio.NewReader(cnt, co)
	if err != nil {
		return rep, fileError(err, rep)
	}
	st := &custodian.ImportState{Policy: o.Policy, DryRun: o.DryRun, Validator: o.Validator}
	started := time.Now()
	loop := func(ctx context.Context) error {
		batch := make([]custodian.ImportRow, 0, o.Batch)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			res, err := imp.ImportBatch(ctx, st, batch)
			if err != nil {
				return err
			}
			rep.ImportCounts.Add(res.ImportCounts)
			rep.AddIssues(res.Issues...)
			if !o.DryRun && res.Created+res.Updated > 0 {
				rep.Batches = append(rep.Batches, custodian.ImportBatchReport{FirstLine: batch[0].Line, LastLine: batch[len(batch)-1].Line, Created: res.Created, Updated: res.Updated})
			}
			batch = batch[:0]
			if o.Progress != nil {
				o.Progress(rep, cnt.n)
			}
			return nil
		}
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return flush()
			}
			if err != nil {
				// The file changed since the first pass.
				return fileError(err, rep)
			}
			batch = append(batch, custodian.ImportRow{Line: row.Line, Fields: row.Fields, Set: row.Set})
			if len(batch) == o.Batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if o.AllOrNothing && !o.DryRun {
		err = imp.Atomically(ctx, loop)
		if err != nil {
			rep.Batches = []custodian.ImportBatchReport{}
			rep.RolledBack = true
		}
	} else {
		err = loop(ctx)
	}
	if aerr := record(ctx, imp, rep, err, time.Since(started)); aerr != nil && err == nil {
		err = aerr
	}
	return rep, err
}

// Check reads the whole file in f without validating its values or
// writing anything: the report has its encoding, delimiter, columns and
// row count, or its FileError.
func Check(f io.Reader, o custodian.ImportOptions) (*custodian.ImportReport, error) {
	rep := &custodian.ImportReport{DryRun: o.DryRun, Policy: o.Policy, AllOrNothing: o.AllOrNothing, Columns: []custodian.ImportColumn{}, Issues: []custodian.ImportIssue{}, Batches: []custodian.ImportBatchReport{}}
	co, err := csvOptions(o)
	if err != nil {
		return rep, err
	}
	return rep, check(f, co, rep)
}

// check reads the whole file without validating its values, to refuse a
// malformed one before anything is written, and fills the report's
// encoding, delimiter and columns.
func check(f io.Reader, co csvio.Options, rep *custodian.ImportReport) error {
	rd, err := csvio.NewReader(f, co)
	if err != nil {
		return fileError(err, rep)
	}
	rep.Encoding, rep.Delimiter = rd.Encoding(), string(rd.Delimiter())
	for _, c := range rd.Columns() {
		rep.Columns = append(rep.Columns, custodian.ImportColumn{Header: c.Header, Field: c.Field})
	}
	for {
		_, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fileError(err, rep)
		}
		rep.FileRows++
	}
}

// fileError puts a file's *csvio.Error in the report, returning nil, or
// returns any other error.
func fileError(err error, rep *custodian.ImportReport) error {
	var fe *csvio.Error
	if errors.As(err, &fe) {
		rep.FileError = &custodian.ImportIssue{Line: fe.Line, Reason: fe.Message}
		return nil
	}
	return err
}

// auditData is the detail of an import's audit event.
type auditData struct {
	custodian.ImportCounts
	DryRun       bool                      `json:"dry_run"`
	Policy       custodian.DuplicatePolicy `json:"duplicates"`
	AllOrNothing bool                      `json:"all_or_nothing,omitempty"`
	Batches      int                       `json:"batches"`
	RolledBack   bool                      `json:"rolled_back,omitempty"`
	Outcome      string                    `json:"outcome"`
	Seconds      float64                   `json:"seconds"`
}

// record appends the import's audit event, even when ctx is cancelled.
func record(ctx context.Context, imp custodian.CustomerImporter, rep *custodian.ImportReport, runErr error, took time.Duration) error {
	outcome := "done"
	switch {
	case errors.Is(runErr, context.Canceled):
		outcome = "cancelled"
	case runErr != nil:
		outcome = "failed"
	case rep.FileError != nil:
		outcome = "refused"
	}
	data, _ := json.Marshal(auditData{ImportCounts: rep.ImportCounts, DryRun: rep.DryRun, Policy: rep.Policy, AllOrNothing: rep.AllOrNothing,
		Batches: len(rep.Batches), RolledBack: rep.RolledBack, Outcome: outcome, Seconds: took.Round(time.Millisecond).Seconds()}) // plain values always marshal
	return imp.RecordTransfer(context.WithoutCancel(ctx), custodian.AuditEntry{Action: custodian.ActionCustomersImport, Data: data})
}
