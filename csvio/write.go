package csvio

import (
	"encoding/csv"
	"io"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

// formulaStarts are the characters that make a spreadsheet program read a
// cell as a formula (OWASP's CSV injection guidance): = + - @, tab and
// carriage return.
const formulaStarts = "=+-@\t\r"

// Neutralize returns cell as a spreadsheet program shows text: a cell
// that begins with a formula character gets a leading single quote.
func Neutralize(cell string) string {
	if cell != "" && strings.IndexByte(formulaStarts, cell[0]) >= 0 {
		return "'" + cell
	}
	return cell
}

// ExportColumns are the header of an exported file: the customer's id,
// each personal field by name, tags, status and the bookkeeping times.
// A file exported imports again with the same headers.
func ExportColumns() []string {
	cols := []string{"id"}
	for _, pf := range custodian.PersonalFields() {
		cols = append(cols, pf.Name)
	}
	return append(cols, "tags", "status", "created_at", "updated_at")
}

// Writer writes customers as CSV (comma-separated, UTF-8, CRLF line ends
// as RFC 4180 has them), every cell neutralized.
type Writer struct {
	csv    *csv.Writer
	fields []custodian.PersonalField
	rec    []string
}

// NewWriter returns a Writer writing to w. WriteHeader writes the header.
func NewWriter(w io.Writer) *Writer {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return &Writer{csv: cw, fields: custodian.PersonalFields()}
}

// WriteHeader writes the header line.
func (w *Writer) WriteHeader() error { return w.csv.Write(ExportColumns()) }

// Write writes one customer.
func (w *Writer) Write(c *custodian.Customer) error {
	rec := append(w.rec[:0], c.ID)
	for _, pf := range w.fields {
		rec = append(rec, *pf.Value(&c.CustomerFields))
	}
	rec = append(rec, strings.Join(c.Tags, ","), string(c.Status), c.CreatedAt.UTC().Format(time.RFC3339), c.UpdatedAt.UTC().Format(time.RFC3339))
	for i := range rec {
		rec[i] = Neutralize(rec[i])
	}
	w.rec = rec
	return w.csv.Write(rec)
}

// Flush writes what is buffered and returns the first error met.
func (w *Writer) Flush() error {
	w.csv.Flush()
	return w.csv.Error()
}
