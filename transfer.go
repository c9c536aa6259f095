package custodian

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Audit actions of bulk transfers: one event per import or export, with
// its counts, besides the events of each customer it creates or updates.
const (
	ActionCustomersImport = "customers.import"
	ActionCustomersExport = "customers.export"
)

// DuplicatePolicy says what an import does with a row that has the same
// email address or phone number as an existing customer (or an earlier row
// of the file).
type DuplicatePolicy string

// The duplicate policies.
const (
	// DuplicatesSkip leaves the existing customer alone.
	DuplicatesSkip DuplicatePolicy = "skip"
	// DuplicatesFill sets the fields the existing customer has empty and
	// adds the row's tags to its own.
	DuplicatesFill DuplicatePolicy = "fill"
	// DuplicatesOverwrite replaces every field the row has a value for
	// (tags and status included); empty cells change nothing.
	DuplicatesOverwrite DuplicatePolicy = "overwrite"
)

// Valid reports whether p is a known policy.
func (p DuplicatePolicy) Valid() bool {
	return p == DuplicatesSkip || p == DuplicatesFill || p == DuplicatesOverwrite
}

// ImportRow is one customer of an import: the line of the file it starts
// on, its fields as read (not yet validated), and the names of the fields
// it has a value for ("name", "address.city", "tags", "status").
type ImportRow struct {
	Line   int
	Fields CustomerFields
	Set    []string
}

// Has reports whether the row has a value for the field named name.
func (r ImportRow) Has(name string) bool {
	for _, s := range r.Set {
		if s == name {
			return true
		}
	}
	return false
}

// ImportIssue is a refused row: its line, the field at fault ("" for the
// whole row) and why. It never holds the value.
type ImportIssue struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// ImportCounts count the rows of an import by outcome.
type ImportCounts struct {
	// Rows is how many rows were read.
	Rows int `json:"rows"`
	// Created rows made a new customer.
	Created int `json:"created"`
	// Updated rows changed a customer they duplicate.
	Updated int `json:"updated"`
	// Skipped rows duplicate a customer and changed nothing, by policy
	// or because it already had their values.
	Skipped int `json:"skipped"`
	// Refused rows were invalid or ambiguous; Issues say why.
	Refused int `json:"refused"`
}

// Add adds o's counts to c.
func (c *ImportCounts) Add(o ImportCounts) {
	c.Rows += o.Rows
	c.Created += o.Created
	c.Updated += o.Updated
	c.Skipped += o.Skipped
	c.Refused += o.Refused
}

// ImportState is what an import carries from one batch to the next: its
// settings and the rows seen so far, by keyed digests of their email
// addresses and phone numbers (never the values), to find duplicates
// within the file. The CustomerImporter fills Key and Seen.
type ImportState struct {
	Policy DuplicatePolicy
	DryRun bool
	// Validator checks rows, as the API checks a customer; the
	// importer's own when zero.
	Validator *Validator
	// Key keys the digests in Seen; random per import.
	Key []byte
	// Seen maps a digest to the line of the first row that had it.
	Seen map[string]int
	// Created maps the line of a row that created a customer to the
	// customer's id, so that a later row of the file updates it.
	Created map[int]string
}

// ImportBatchResult is what one batch did (or, in a dry run, would do).
type ImportBatchResult struct {
	ImportCounts
	Issues []ImportIssue
}

// CustomerImporter creates and updates customers from imported rows.
type CustomerImporter interface {
	// ImportBatch validates rows as the API validates a customer, finds
	// duplicates through the blind indexes (within the file, through
	// st, and among existing customers), and, unless st.DryRun, stores
	// the batch in one transaction with the audit event of each customer
	// created or updated: all of the batch or none of it.
	ImportBatch(ctx context.Context, st *ImportState, rows []ImportRow) (ImportBatchResult, error)
	// Atomically runs fn so that every batch imported with the context
	// it is given joins one transaction: everything fn imports is
	// stored, or (when fn fails or is cancelled) nothing.
	Atomically(ctx context.Context, fn func(ctx context.Context) error) error
	// RecordTransfer appends the one audit event of an import or export.
	RecordTransfer(ctx context.Context, e AuditEntry) error
}

// CustomerExporter streams the customers a list query selects.
type CustomerExporter interface {
	// ExportCustomers calls emit with every customer q selects, in q's
	// order (q's Cursor and Limit are ignored), page by page without
	// holding the list, then records one audit event naming the filter
	// and the count. It returns how many customers were emitted.
	ExportCustomers(ctx context.Context, q CustomerQuery, format string, emit func(*Customer) error) (int, error)
}

// Import job states.
const (
	ImportQueued    = "queued"
	ImportRunning   = "running"
	ImportDone      = "done"
	ImportFailed    = "failed"
	ImportCancelled = "cancelled"
	// ImportInterrupted is the state of a job the server stopped while
	// it ran; its report lists the batches committed before.
	ImportInterrupted = "interrupted"
)

// ImportColumn is a column of an imported file and the field it maps to
// ("" when ignored).
type ImportColumn struct {
	Header string `json:"header"`
	Field  string `json:"field"`
}

// ImportBatchReport is a committed batch: the lines it spans and its
// counts.
type ImportBatchReport struct {
	FirstLine int `json:"first_line"`
	LastLine  int `json:"last_line"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
}

// MaxImportFileSize bounds a file imported through the API or the web
// interface: 32 MiB, some 200,000 typical rows.
const MaxImportFileSize = 32 << 20

// ErrFileTooLarge is the cause of the error refusing a file over
// MaxImportFileSize.
var ErrFileTooLarge = errors.New("import file too large")

// MaxImportIssues bounds the issues a report lists; the counts go on.
const MaxImportIssues = 1000

// ImportReport is what an import did, or in a dry run would do. It holds
// no personal value: counts, lines, field names and reasons.
type ImportReport struct {
	ImportCounts
	DryRun       bool            `json:"dry_run"`
	Policy       DuplicatePolicy `json:"duplicates"`
	AllOrNothing bool            `json:"all_or_nothing"`
	Encoding     string          `json:"encoding,omitempty"`
	Delimiter    string          `json:"delimiter,omitempty"`
	Columns      []ImportColumn  `json:"columns"`
	// FileRows is how many rows the file has (known once it has been
	// checked, before the first batch): Rows of FileRows is the progress.
	FileRows int `json:"file_rows"`
	// Issues lists refused rows, at most MaxImportIssues of them.
	Issues []ImportIssue `json:"issues"`
	// IssuesTruncated is set when more rows were refused than listed.
	IssuesTruncated bool `json:"issues_truncated,omitempty"`
	// FileError, when set, is why the file was refused from its line on.
	FileError *ImportIssue `json:"file_error,omitempty"`
	// Batches are the batches committed (none in a dry run, and none
	// left when an all-or-nothing import stopped early).
	Batches []ImportBatchReport `json:"batches"`
	// RolledBack is set when an all-or-nothing import stopped and
	// stored nothing.
	RolledBack bool `json:"rolled_back,omitempty"`
}

// AddIssues appends issues to the report, up to MaxImportIssues.
func (r *ImportReport) AddIssues(issues ...ImportIssue) {
	for _, is := range issues {
		if len(r.Issues) >= MaxImportIssues {
			r.IssuesTruncated = true
			return
		}
		r.Issues = append(r.Issues, is)
	}
}

// ImportOptions configure an import.
type ImportOptions struct {
	DryRun       bool            `json:"dry_run"`
	Policy       DuplicatePolicy `json:"duplicates"`
	AllOrNothing bool            `json:"all_or_nothing"`
	// Encoding is "" (detect), "utf-8" or "windows-1252".
	Encoding string `json:"encoding,omitempty"`
	// Delimiter is "" (detect), "," or ";".
	Delimiter string `json:"delimiter,omitempty"`
	// Map overrides the mapping of headers to fields ("" ignores a
	// column).
	Map map[string]string `json:"map,omitempty"`
}

// ImportJob is an import the server runs in the background. Its report
// holds no personal data; the file itself is kept only in memory while
// the job needs it.
type ImportJob struct {
	ID        string        `json:"id"`
	State     string        `json:"state"`
	CreatedBy string        `json:"created_by"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Options   ImportOptions `json:"options"`
	// Size is the file's size in bytes and Read how much of it has been
	// read: the progress.
	Size   int64        `json:"size"`
	Read   int64        `json:"read"`
	Report ImportReport `json:"report"`
	// Error says why a failed job failed.
	Error string `json:"error,omitempty"`
}

// Finished reports whether the job has stopped for good.
func (j *ImportJob) Finished() bool {
	switch j.State {
	case ImportDone, ImportFailed, ImportCancelled, ImportInterrupted:
		return true
	}
	return false
}

// ImportJobIDPrefix starts every import job id.
const ImportJobIDPrefix = "imp_"

// NewImportJobID returns a new random import job id.
func NewImportJobID() string { return ImportJobIDPrefix + randomID() }

// ValidImportJobID reports whether s has the shape of an import job id.
func ValidImportJobID(s string) bool {
	rest, ok := strings.CutPrefix(s, ImportJobIDPrefix)
	return ok && ValidCustomerID(CustomerIDPrefix+rest)
}

// ImportJobRepository keeps import jobs.
type ImportJobRepository interface {
	// SaveImportJob stores the job, replacing a stored one of its id.
	SaveImportJob(ctx context.Context, j *ImportJob) error
	// ImportJob returns the job with id, or ENOTFOUND.
	ImportJob(ctx context.Context, id string) (*ImportJob, error)
	// InterruptImportJobs marks every queued or running job
	// interrupted: what a starting server does with the jobs a stopped
	// one left.
	InterruptImportJobs(ctx context.Context, now time.Time) (int, error)
}

// ImportService runs imports in the background for the API and the web
// interface.
type ImportService interface {
	// StartImport starts importing the CSV file in file (which it reads
	// to the end before returning) and returns its job at once.
	StartImport(ctx context.Context, file io.Reader, o ImportOptions) (*ImportJob, error)
	// RunDryRun starts the import a finished dry run checked, on the
	// file it kept, with its options but DryRun off.
	RunDryRun(ctx context.Context, id string) (*ImportJob, error)
	// RecheckImport starts a new dry run of the file the finished dry
	// run id checked, with its options but the header mapping m.
	RecheckImport(ctx context.Context, id string, m map[string]string) (*ImportJob, error)
	// ImportJob returns the job with id, or ENOTFOUND.
	ImportJob(ctx context.Context, id string) (*ImportJob, error)
	// CancelImport asks a running job to stop.
	CancelImport(ctx context.Context, id string) (*ImportJob, error)
}
