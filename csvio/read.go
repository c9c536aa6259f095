// Package csvio reads customers from CSV files and writes customer lists as
// CSV: the file format of Custodian's import and export. Reading detects
// the encoding (UTF-8 with or without a byte-order mark, or Windows-1252)
// and the delimiter (comma or semicolon), maps headers to fields by name
// and synonym, and refuses a malformed file with the line at fault.
// Writing neutralizes cells that a spreadsheet program would run as a
// formula. It validates nothing about the values: that is the customer
// service's work, row by row.
package csvio

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// The encodings a file may be read in.
const (
	// EncodingAuto detects the encoding: UTF-8 (with or without a
	// byte-order mark) when the start of the file is valid UTF-8,
	// Windows-1252 otherwise.
	EncodingAuto = ""
	// EncodingUTF8 reads UTF-8; a byte-order mark is skipped.
	EncodingUTF8 = "utf-8"
	// EncodingWindows1252 reads Windows-1252 (what spreadsheet programs
	// on Windows save as "CSV" in Western European languages).
	EncodingWindows1252 = "windows-1252"
)

// ValidEncoding reports whether e names an encoding Options accept.
func ValidEncoding(e string) bool {
	switch strings.ToLower(e) {
	case EncodingAuto, EncodingUTF8, "utf8", EncodingWindows1252, "cp1252", "latin1", "iso-8859-1":
		return true
	}
	return false
}

// sniffLen is how much of a file is read ahead to detect its encoding and
// delimiter.
const sniffLen = 64 << 10

// MaxCellLen bounds one cell, in bytes: longer than any field accepts, so
// a longer cell is refused as the field's error rather than stored, but
// short enough that a file of one huge cell is refused early.
const MaxCellLen = 64 << 10

// The fields a column may map to besides the personal fields: the tags
// (separated by commas, semicolons or vertical bars) and the status, and
// the first and last name, joined with a space into the name.
const (
	FieldTags      = "tags"
	FieldStatus    = "status"
	FieldFirstName = "first_name"
	FieldLastName  = "last_name"
)

// Options say how to read a file. The zero Options detect everything.
type Options struct {
	// Encoding is one of the Encoding constants; EncodingAuto detects.
	Encoding string
	// Delimiter is ',' or ';'; 0 detects it from the header line.
	Delimiter rune
	// Map overrides the mapping of headers to fields: a header (matched
	// as headers are, ignoring case and accents) to a field name, or to
	// "" to ignore the column.
	Map map[string]string
}

// Column is one column of a file and the field it fills ("" when it is
// ignored).
type Column struct {
	Header string `json:"header"`
	Field  string `json:"field"`
}

// Row is one customer read from a file: the line it starts on, the fields
// its mapped cells give, and the names of the fields it has a non-empty
// cell for.
type Row struct {
	Line   int
	Fields custodian.CustomerFields
	Set    []string
}

// Error is a file that cannot be read, with the line at fault (0 for the
// file as a whole).
type Error struct {
	Line    int
	Message string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return e.Message
}

// Reader reads customers from a CSV file, one row at a time; it holds one
// row in memory, never the file.
type Reader struct {
	csv      *csv.Reader
	columns  []Column
	encoding string
	delim    rune
	fields   map[string]custodian.PersonalField
}

// NewReader reads the header line of the file in r and maps its columns.
// It refuses, with an *Error, a file that is binary, in an encoding other
// than those it reads, whose header cannot be read, whose headers map two
// columns to one field, or that has no column for the name.
func NewReader(r io.Reader, o Options) (*Reader, error) {
	br := bufio.NewReaderSize(r, sniffLen)
	head, err := br.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read file: %w", err)
	}
	if len(head) == 0 {
		return nil, &Error{Message: "The file is empty."}
	}
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		return nil, &Error{Message: "The file is in UTF-16; save it as CSV in UTF-8."}
	}
	if i := bytes.IndexByte(head, 0); i >= 0 {
		return nil, &Error{Line: 1 + bytes.Count(head[:i], []byte{'\n'}), Message: "The file is binary, not CSV text."}
	}
	enc := strings.ToLower(o.Encoding)
	switch enc {
	case "utf8":
		enc = EncodingUTF8
	case "cp1252", "latin1", "iso-8859-1":
		enc = EncodingWindows1252
	case EncodingAuto:
		enc = detectEncoding(head)
	case EncodingUTF8, EncodingWindows1252:
	default:
		return nil, &Error{Message: fmt.Sprintf("The encoding %q is not one of utf-8 or windows-1252.", o.Encoding)}
	}
	var text io.Reader = br
	if enc == EncodingUTF8 {
		if bytes.HasPrefix(head, bom) {
			br.Discard(len(bom)) // peeked: cannot fail
			head = head[len(bom):]
		}
	} else {
		text = charmap.Windows1252.NewDecoder().Reader(br)
	}
	delim := o.Delimiter
	if delim == 0 {
		delim = detectDelimiter(head)
	}
	if delim != ',' && delim != ';' {
		return nil, &Error{Message: "The delimiter must be a comma or a semicolon."}
	}
	cr := csv.NewReader(text)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	rd := &Reader{csv: cr, encoding: enc, delim: delim, fields: map[string]custodian.PersonalField{}}
	for _, pf := range custodian.PersonalFields() {
		rd.fields[pf.Name] = pf
	}
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Message: "The file is empty."}
		}
		return nil, readError(err)
	}
	if err := rd.mapHeader(header, o.Map); err != nil {
		return nil, err
	}
	return rd, nil
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// detectEncoding says which encoding head, the start of a file, is in:
// UTF-8 when valid (a rune cut at the end of head does not count),
// Windows-1252 otherwise.
func detectEncoding(head []byte) string {
	b := head
	if len(head) == sniffLen {
		// The read-ahead may end inside a rune.
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.Valid(b); i++ {
			b = b[:len(b)-1]
		}
	}
	if utf8.Valid(b) {
		return EncodingUTF8
	}
	return EncodingWindows1252
}

// detectDelimiter picks the delimiter of the header line in head: the
// more frequent of ',' and ';' outside quotes; ',' on a tie.
func detectDelimiter(head []byte) rune {
	var commas, semis int
	quoted := false
	for _, c := range head {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n':
			if semis > commas {
				return ';'
			}
			return ','
		case c == ',':
			commas++
		case c == ';':
			semis++
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

// Encoding returns the encoding the file is read in.
func (r *Reader) Encoding() string { return r.encoding }

// Delimiter returns the delimiter the file is read with.
func (r *Reader) Delimiter() rune { return r.delim }

// Columns returns the file's columns and the fields they map to.
func (r *Reader) Columns() []Column { return slices.Clone(r.columns) }

// readError turns a csv error into an *Error naming the line.
func readError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := "The file is not valid CSV."
		switch {
		case errors.Is(pe.Err, csv.ErrQuote):
			msg = "A quoted cell is not closed: a quote is missing or unbalanced."
		case errors.Is(pe.Err, csv.ErrBareQuote):
			msg = "A quote appears inside a cell that does not start with one; put the whole cell in quotes and double the quotes inside."
		}
		return &Error{Line: pe.StartLine, Message: msg}
	}
	return fmt.Errorf("read file: %w", err)
}

// Next returns the next row, or io.EOF after the last. A row with more
// cells than the header, invalid text in its encoding, a binary byte or a
// cell longer than MaxCellLen is an *Error naming its line: the file is
// refused from there. Blank lines are skipped.
func (r *Reader) Next() (Row, error) {
	for {
		rec, err := r.csv.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Row{}, io.EOF
			}
			return Row{}, readError(err)
		}
		line, _ := r.csv.FieldPos(0)
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		if len(rec) > len(r.columns) {
			return Row{}, &Error{Line: line, Message: fmt.Sprintf("The row has %d cells, but the header has %d columns.", len(rec), len(r.columns))}
		}
		row := Row{Line: line}
		var first, last string
		for i, cell := range rec {
			if len(cell) > MaxCellLen {
				return Row{}, &Error{Line: line, Message: fmt.Sprintf("Column %q has a cell longer than %d bytes.", r.columns[i].Header, MaxCellLen)}
			}
			if !utf8.ValidString(cell) {
				return Row{}, &Error{Line: line, Message: "The row is not valid UTF-8; choose the encoding windows-1252 if the file was saved in it."}
			}
			if strings.IndexByte(cell, 0) >= 0 {
				return Row{}, &Error{Line: line, Message: "The row contains a binary byte (NUL)."}
			}
			field := r.columns[i].Field
			cell = unneutralize(cell)
			if field == "" || strings.TrimSpace(cell) == "" {
				continue
			}
			row.Set = append(row.Set, setName(field))
			switch field {
			case FieldTags:
				row.Fields.Tags = splitTags(cell)
			case FieldStatus:
				row.Fields.Status = custodian.Status(strings.ToLower(strings.TrimSpace(cell)))
			case FieldFirstName:
				first = strings.TrimSpace(cell)
			case FieldLastName:
				last = strings.TrimSpace(cell)
			default:
				*r.fields[field].Value(&row.Fields) = cell
			}
		}
		if first != "" || last != "" {
			row.Fields.Name = strings.TrimSpace(first + " " + last)
		}
		row.Set = compact(row.Set)
		return row, nil
	}
}

// setName is the field a column's cell sets: the name for its parts.
func setName(field string) string {
	if field == FieldFirstName || field == FieldLastName {
		return "name"
	}
	return field
}

func compact(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// splitTags splits a cell of tags at commas, semicolons and vertical bars.
func splitTags(cell string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(cell, func(r rune) bool { return r == ',' || r == ';' || r == '|' }) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// unneutralize undoes what Neutralize did to a cell written by an export:
// a quote before a formula character is removed, so that an exported file
// imports as it was.
func unneutralize(cell string) string {
	if len(cell) >= 2 && cell[0] == '\'' && strings.IndexByte(formulaStarts, cell[1]) >= 0 {
		return cell[1:]
	}
	return cell
}

// mapHeader maps each header to a field, with the overrides in over.
func (r *Reader) mapHeader(header []string, over map[string]string) error {
	overrides := map[string]string{}
	for h, f := range over {
		if f != "" && !r.validField(f) {
			return &Error{Line: 1, Message: fmt.Sprintf("The mapping of %q names %q, which is not a field (%s).", h, f, strings.Join(Fields(), ", "))}
		}
		overrides[HeaderKey(h)] = f
	}
	used := map[string]string{}
	for _, h := range header {
		h = strings.TrimSpace(h)
		key := HeaderKey(h)
		field, ok := overrides[key]
		if !ok {
			field = synonyms[key]
		}
		delete(overrides, key)
		if field != "" {
			if prev, dup := used[field]; dup {
				return &Error{Line: 1, Message: fmt.Sprintf("The columns %q and %q both map to %s; map one of them to another field or to nothing.", prev, h, field)}
			}
			used[field] = h
		}
		r.columns = append(r.columns, Column{Header: h, Field: field})
	}
	for key := range overrides {
		return &Error{Line: 1, Message: fmt.Sprintf("The mapping names the column %q, which the file does not have.", key)}
	}
	_, hasName := used["name"]
	_, hasFirst := used[FieldFirstName]
	_, hasLast := used[FieldLastName]
	if hasName && (hasFirst || hasLast) {
		return &Error{Line: 1, Message: "The file has both a name column and first or last name columns; map one of them to nothing."}
	}
	if !hasName && !hasFirst && !hasLast {
		return &Error{Line: 1, Message: "No column maps to the name; name one Name (or First name and Last name), or map one with name."}
	}
	return nil
}

// validField reports whether f is a field a column may map to.
func (r *Reader) validField(f string) bool {
	_, ok := r.fields[f]
	return ok || f == FieldTags || f == FieldStatus || f == FieldFirstName || f == FieldLastName
}

// Fields returns the names of the fields a column may map to: the
// personal fields in table order, then tags, status, first and last name.
func Fields() []string {
	var out []string
	for _, pf := range custodian.PersonalFields() {
		out = append(out, pf.Name)
	}
	return append(out, FieldTags, FieldStatus, FieldFirstName, FieldLastName)
}

// HeaderKey is the form headers are matched in: accents removed, lower
// case, and only letters and digits kept ("E-mail" and "email" match).
func HeaderKey(h string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	s, _, err := transform.String(t, h)
	if err != nil {
		s = h
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
