package csvio_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/csvio"
	"golang.org/x/text/encoding/charmap"
)

// writeFile saves b as a file in a temporary directory and opens it, as
// an import reads a file given to it.
func writeFile(t *testing.T, b []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readAll(t *testing.T, b []byte, o csvio.Options) (*csvio.Reader, []csvio.Row, error) {
	t.Helper()
	r, err := csvio.NewReader(writeFile(t, b), o)
	if err != nil {
		return nil, nil, err
	}
	var rows []csvio.Row
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, rows, nil
		}
		if err != nil {
			return r, rows, err
		}
		rows = append(rows, row)
	}
}

func win1252(t *testing.T, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadFormats(t *testing.T) {
	spreadsheet := append([]byte("\xEF\xBB\xBF"), "Nom;E-mail;Téléphone;Société;Code postal\r\nJosé Müller;jose@example.com;+49 30 123456;Grüne AG;10115\r\n\"Ann; Smith\";ann@example.com;;\"ACME \"\"Ltd\"\"\";\r\n"...)
	tests := []struct {
		name      string
		file      []byte
		opts      csvio.Options
		encoding  string
		delimiter rune
		want      []csvio.Row
	}{
		{"spreadsheet: BOM, semicolons, CRLF, French headers", spreadsheet, csvio.Options{}, csvio.EncodingUTF8, ';', []csvio.Row{
			{Line: 2, Fields: custodian.CustomerFields{Name: "José Müller", Email: "jose@example.com", Phone: "+49 30 123456", Company: "Grüne AG", Address: custodian.Address{PostalCode: "10115"}}, Set: []string{"address.postal_code", "company", "email", "name", "phone"}},
			{Line: 3, Fields: custodian.CustomerFields{Name: "Ann; Smith", Email: "ann@example.com", Company: `ACME "Ltd"`}, Set: []string{"company", "email", "name"}},
		}},
		{"windows-1252 detected", win1252(t, "Name,Company\nJosé,Café Crème\n"), csvio.Options{}, csvio.EncodingWindows1252, ',', []csvio.Row{
			{Line: 2, Fields: custodian.CustomerFields{Name: "José", Company: "Café Crème"}, Set: []string{"company", "name"}},
		}},
		{"windows-1252 chosen", win1252(t, "Name\nJosé\n"), csvio.Options{Encoding: "windows-1252"}, csvio.EncodingWindows1252, ',', []csvio.Row{
			{Line: 2, Fields: custodian.CustomerFields{Name: "José"}, Set: []string{"name"}},
		}},
		{"UTF-8 without BOM, synonyms, tags, status, blank line", []byte("FULL NAME,Mobile,Organisation,Labels,Stage\nAda,+44 20 7946 0958,Engines,\"vip; b2b\",Active\n\n\"Bo\nLine\",,,,\n"), csvio.Options{}, csvio.EncodingUTF8, ',', []csvio.Row{
			{Line: 2, Fields: custodian.CustomerFields{Name: "Ada", Phone: "+44 20 7946 0958", Company: "Engines", Tags: []string{"vip", "b2b"}, Status: custodian.StatusActive}, Set: []string{"company", "name", "phone", "status", "tags"}},
			{Line: 4, Fields: custodian.CustomerFields{Name: "Bo\nLine"}, Set: []string{"name"}},
		}},
		{"first and last name, ignored column, short row", []byte("First name,Last name,Shoe size,Email\nAda,Lovelace,38\n"), csvio.Options{}, csvio.EncodingUTF8, ',', []csvio.Row{
			{Line: 2, Fields: custodian.CustomerFields{Name: "Ada Lovelace"}, Set: []string{"name"}},
		}},
		{"mapping overrides", []byte("Kunde,Email,Notes\nAda,a@example.com,x\n"), csvio.Options{Map: map[string]string{"kunde": "name", "NOTES": ""}}, csvio.EncodingUTF8, ',', []csvio.Row{
			{Line: 2, Fields: custodian.CustomerFields{Name: "Ada", Email: "a@example.com"}, Set: []string{"email", "name"}},
		}},
		{"an exported phone imports as it was", []byte("name,phone\nAda,'+4420\n"), csvio.Options{}, csvio.EncodingUTF8, ',', []csvio.Row{
			{Line: 2, Fields: custodian.CustomerFields{Name: "Ada", Phone: "+4420"}, Set: []string{"name", "phone"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rows, err := readAll(t, tt.file, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Encoding() != tt.encoding || r.Delimiter() != tt.delimiter {
				t.Errorf("read as %s with %q, want %s with %q", r.Encoding(), r.Delimiter(), tt.encoding, tt.delimiter)
			}
			if len(rows) != len(tt.want) {
				t.Fatalf("got %d rows %+v, want %d", len(rows), rows, len(tt.want))
			}
			for i := range rows {
				g, w := rows[i], tt.want[i]
				if g.Line != w.Line || !slices.Equal(g.Set, w.Set) || !slices.Equal(g.Fields.Tags, w.Fields.Tags) {
					t.Errorf("row %d: got %+v, want %+v", i, g, w)
				}
				g.Fields.Tags, w.Fields.Tags = nil, nil
				if g.Fields.Name != w.Fields.Name || g.Fields.Email != w.Fields.Email || g.Fields.Phone != w.Fields.Phone || g.Fields.Company != w.Fields.Company || g.Fields.Address != w.Fields.Address || g.Fields.Status != w.Fields.Status || g.Fields.Notes != w.Fields.Notes {
					t.Errorf("row %d: got %+v, want %+v", i, g.Fields, w.Fields)
				}
			}
		})
	}
}

func TestReadRefusesMalformedFiles(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		opts csvio.Options
		line int
		msg  string
	}{
		{"empty", nil, csvio.Options{}, 0, "empty"},
		{"binary", []byte("PK\x03\x04\x00\x00name"), csvio.Options{}, 1, "binary"},
		{"NUL on line 3", []byte("name\nAda\nB\x00o\n"), csvio.Options{}, 3, "binary"},
		{"UTF-16", []byte("\xFF\xFEn\x00a\x00"), csvio.Options{}, 0, "UTF-16"},
		{"unbalanced quote", []byte("name,email\nAda,a@example.com\n\"Bo,b@example.com\nCy,c@example.com\n"), csvio.Options{}, 3, "not closed"},
		{"bare quote", []byte("name\nAda \"the\" Countess\n"), csvio.Options{}, 2, "quote"},
		{"too many fields", []byte("name,email\nAda,a@example.com\nBo,b@example.com,extra\n"), csvio.Options{}, 3, "3 cells"},
		{"invalid UTF-8 after the start", append(append([]byte("name\n"), bytes.Repeat([]byte("Ada\n"), 20000)...), "Jos\xe9\n"...), csvio.Options{}, 20002, "UTF-8"},
		{"invalid UTF-8 when UTF-8 is chosen", []byte("name\nJos\xe9\n"), csvio.Options{Encoding: "utf-8"}, 2, "UTF-8"},
		{"unknown encoding", []byte("name\n"), csvio.Options{Encoding: "ebcdic"}, 0, "encoding"},
		{"no name column", []byte("email,phone\na@example.com,1\n"), csvio.Options{}, 1, "name"},
		{"two columns for one field", []byte("name,email,e-mail\n"), csvio.Options{}, 1, "both map to email"},
		{"mapping to an unknown field", []byte("name,x\n"), csvio.Options{Map: map[string]string{"x": "salary"}}, 1, "not a field"},
		{"mapping a missing column", []byte("name\n"), csvio.Options{Map: map[string]string{"Kunde": "name"}}, 1, "does not have"},
		{"very long cell", []byte("name\n" + strings.Repeat("a", csvio.MaxCellLen+1) + "\n"), csvio.Options{}, 2, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll(t, tt.file, tt.opts)
			var fe *csvio.Error
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *csvio.Error", err)
			}
			if fe.Line != tt.line || !strings.Contains(fe.Message, tt.msg) {
				t.Errorf("err = line %d %q, want line %d containing %q", fe.Line, fe.Message, tt.line, tt.msg)
			}
		})
	}
}

// TestExportShowsNoLiveFormula writes hostile customers and reads the file
// back as a spreadsheet program sees its cells: none starts with a formula
// character, and each still holds its value after the neutralizing quote.
func TestExportShowsNoLiveFormula(t *testing.T) {
	hostile := []string{"=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "<script>alert(1)</script>", "plain", "a=b"}
	var buf bytes.Buffer
	w := csvio.NewWriter(&buf)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, h := range hostile {
		c := &custodian.Customer{ID: "cus_x", CustomerFields: custodian.CustomerFields{Name: h, Company: h, Notes: h, Phone: "+442079460958", Tags: []string{h}, Status: custodian.StatusLead}, CreatedAt: at, UpdatedAt: at}
		if err := w.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("\r\n")) {
		t.Error("the export does not end lines with CRLF")
	}
	recs, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], csvio.ExportColumns()) {
		t.Errorf("header %q", recs[0])
	}
	for i, rec := range recs[1:] {
		for j, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("row %d column %s: %q would run as a formula", i+1, recs[0][j], cell)
			}
		}
		// With CRLF line ends, encoding/csv drops a lone carriage return.
		if got, want := strings.TrimPrefix(rec[1], "'"), strings.ReplaceAll(hostile[i], "\r", ""); got != want {
			t.Errorf("row %d: name %q, want %q behind the quote", i+1, rec[1], hostile[i])
		}
	}
	// Read back by the importer, the file gives the values as they were.
	_, rows, err := readAll(t, buf.Bytes(), csvio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		if row.Fields.Name != strings.ReplaceAll(hostile[i], "\r", "") || row.Fields.Phone != "+442079460958" {
			t.Errorf("row %d imports as %q %q", i, row.Fields.Name, row.Fields.Phone)
		}
	}
}

func TestHeaderKey(t *testing.T) {
	for in, want := range map[string]string{"E-mail": "email", "Téléphone": "telephone", " Postal Code ": "postalcode", "ZIP": "zip", "Société": "societe"} {
		if got := csvio.HeaderKey(in); got != want {
			t.Errorf("HeaderKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestREADMEListsTheSynonyms keeps the README's table of accepted headers
// in step with the mapping.
func TestREADMEListsTheSynonyms(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if f, rest, ok := strings.Cut(strings.TrimPrefix(l, "| `"), "` | "); ok && strings.HasPrefix(l, "| `") {
			lines[f] = rest
		}
	}
	for field, headers := range csvio.Synonyms() {
		for _, h := range headers {
			if !strings.Contains(lines[field], h) {
				t.Errorf("README: the row of %s does not list %q", field, h)
			}
		}
	}
}

// TestUTF8AcrossTheReadAhead reads a UTF-8 file whose first 64 KiB end
// inside a two-byte character: it is still UTF-8, not Windows-1252.
func TestUTF8AcrossTheReadAhead(t *testing.T) {
	head := "name\n"
	row := "José\n" // 6 bytes
	var b strings.Builder
	b.WriteString(head)
	for b.Len() < 64<<10-4 {
		b.WriteString(row)
	}
	for b.Len() < 64<<10-1 {
		b.WriteString("a")
	}
	b.WriteString("é\n") // its first byte is the read-ahead's last
	r, rows, err := readAll(t, []byte(b.String()), csvio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Encoding() != csvio.EncodingUTF8 || rows[0].Fields.Name != "José" || !strings.HasSuffix(rows[len(rows)-1].Fields.Name, "é") {
		t.Fatalf("read as %s: %q ... %q", r.Encoding(), rows[0].Fields.Name, rows[len(rows)-1].Fields.Name)
	}
}
