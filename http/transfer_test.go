package http

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/ratelimit"
)

// spreadsheetCSV is a file saved as a spreadsheet program saves CSV: a
// byte-order mark, semicolons, CRLF line ends; with a duplicate, a bad
// row and hostile cells.
const spreadsheetCSV = "\xEF\xBB\xBFNom;E-mail;Mobile;Organisation;Notes\r\n" +
	"Ann Smith;ann@example.com;;ACME;\r\n" +
	"Ann Again;ANN@example.com;+44 20 7946 0000;;\r\n" +
	"José Müller;jose@example.com;+49 30 123456;=1+2;<script>alert(1)</script>\r\n" +
	"Bad <b>;bad@example.com;;;\r\n"

// upload sends body to POST /api/imports/ with the query and content type.
func (s *testServer) upload(query, contentType string, body []byte) response {
	s.t.Helper()
	req := httptest.NewRequest("POST", "/api/imports/"+query, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+s.bearer)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return response{rec.Result(), rec.Body.Bytes()}
}

// waitJob polls the job until it finishes.
func (s *testServer) waitJob(id string) custodian.ImportJob {
	s.t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		r := s.do("GET", "/api/imports/"+id+"/", "")
		if r.StatusCode != 200 {
			s.t.Fatalf("poll: %d %s", r.StatusCode, r.body)
		}
		var j custodian.ImportJob
		if err := json.Unmarshal(r.body, &j); err != nil {
			s.t.Fatal(err)
		}
		if j.Finished() {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatal("the import did not finish within a minute")
	return custodian.ImportJob{}
}

func jobOf(t *testing.T, r response) custodian.ImportJob {
	t.Helper()
	if r.StatusCode != 202 {
		t.Fatalf("status %d: %s", r.StatusCode, r.body)
	}
	var j custodian.ImportJob
	if err := json.Unmarshal(r.body, &j); err != nil {
		t.Fatal(err)
	}
	if loc := r.Header.Get("Location"); loc != "" && loc != "/api/imports/"+j.ID+"/" {
		t.Errorf("Location %q", loc)
	}
	return j
}

func TestImportAPI(t *testing.T) {
	limiter, err := ratelimit.NewLocal(ratelimit.Limit{Rate: 100, Burst: 100}, ratelimit.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, func(d *Deps) { d.TransferLimiter = limiter })
	dry := jobOf(t, s.upload("?dry_run=true&duplicates=fill", "text/csv", []byte(spreadsheetCSV)))
	got := s.waitJob(dry.ID)
	want := custodian.ImportCounts{Rows: 4, Created: 2, Updated: 1, Refused: 1}
	if got.State != custodian.ImportDone || got.Report.ImportCounts != want || got.Report.FileRows != 4 {
		t.Fatalf("dry run: %+v", got)
	}
	if len(got.Report.Issues) != 1 || got.Report.Issues[0].Line != 5 || got.Report.Issues[0].Field != "name" {
		t.Errorf("issues %+v", got.Report.Issues)
	}
	if page := s.do("GET", "/api/customers/", "").json(t); len(page["items"].([]any)) != 0 {
		t.Fatal("the dry run wrote customers")
	}
	run := jobOf(t, s.do("POST", "/api/imports/"+dry.ID+"/run/", ""))
	got = s.waitJob(run.ID)
	if got.State != custodian.ImportDone || got.Report.Created != 2 || got.Report.Updated != 1 || len(got.Report.Batches) != 2 {
		t.Fatalf("import: %+v", got)
	}
	if page := s.do("GET", "/api/customers/?search=jose@example.com", "").json(t); len(page["items"].([]any)) != 1 {
		t.Fatalf("imported customer not found: %v", page)
	}
	// A dry run's file is imported once.
	wantProblem(t, s.do("POST", "/api/imports/"+dry.ID+"/run/", ""), 409, custodian.ECONFLICT)

	// Multipart, as the web form sends it.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "customers.csv")
	fw.Write([]byte("name,email\nZoe,zoe@example.com\n"))
	mw.Close()
	got = s.waitJob(jobOf(t, s.upload("", mw.FormDataContentType(), buf.Bytes())).ID)
	if got.Report.Created != 1 || got.Options.Policy != custodian.DuplicatesSkip {
		t.Errorf("multipart: %+v", got)
	}

	// Bad files and options: refused before anything starts.
	tests := []struct {
		name, query, contentType, body string
		status                         int
		code                           string
		fields                         []string
	}{
		{"unclosed quote", "", "text/csv", "name,email\nA,a@example.com\n\"B,b@example.com\n", 400, custodian.EINVALID, []string{"file"}},
		{"too many cells", "", "text/csv", "name\nA,b\n", 400, custodian.EINVALID, []string{"file"}},
		{"binary", "", "text/csv", "name\n\x00\x01\x02", 400, custodian.EINVALID, []string{"file"}},
		{"invalid UTF-8 when UTF-8 is chosen", "?encoding=utf-8", "text/csv", "name\nJos\xe9\n", 400, custodian.EINVALID, []string{"file"}},
		{"no name column", "", "text/csv", "email\na@example.com\n", 400, custodian.EINVALID, []string{"file"}},
		{"unknown policy", "?duplicates=merge", "text/csv", "name\nA\n", 400, custodian.EINVALID, []string{"duplicates"}},
		{"unknown encoding", "?encoding=ebcdic", "text/csv", "name\nA\n", 400, custodian.EINVALID, []string{"encoding"}},
		{"bad map", "?map=Kunde", "text/csv", "name\nA\n", 400, custodian.EINVALID, []string{"map"}},
		{"unknown parameter", "?dryrun=true", "text/csv", "name\nA\n", 400, custodian.EINVALID, []string{"dryrun"}},
		{"JSON", "", "application/json", `{"name":"A"}`, 415, codeUnsupportedMedia, nil},
		{"multipart without a file", "", "multipart/form-data; boundary=x", "--x--\r\n", 400, custodian.EINVALID, []string{"file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, s.upload(tt.query, tt.contentType, []byte(tt.body)), tt.status, tt.code, tt.fields...)
		})
	}
	t.Run("oversize", func(t *testing.T) {
		big := append([]byte("name\n"), bytes.Repeat([]byte("Someone Somebody\n"), custodian.MaxImportFileSize/17+10)...)
		wantProblem(t, s.upload("", "text/csv", big), 413, codeTooLarge)
	})
	if page := s.do("GET", "/api/customers/?limit=200", "").json(t); len(page["items"].([]any)) != 3 {
		t.Errorf("refused files wrote customers: %d", len(page["items"].([]any)))
	}
	wantProblem(t, s.do("GET", "/api/imports/"+custodian.NewImportJobID()+"/", ""), 404, custodian.ENOTFOUND)
	// The log holds no personal value from the files.
	for _, pii := range []string{"jose@", "José", "123456", "alert(1)"} {
		if strings.Contains(s.logs.String(), pii) {
			t.Errorf("the log holds %q", pii)
		}
	}
}

func TestExportAPI(t *testing.T) {
	limiter, err := ratelimit.NewLocal(ratelimit.Limit{Rate: 0.001, Burst: 4}, ratelimit.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, func(d *Deps) { d.TransferLimiter = limiter })
	hostile := []string{"=HYPERLINK(\"http://evil.example\")", "+1+1", "-2", "@SUM(A1)", "\tTab", "Plain"}
	for i, h := range hostile {
		company := h
		if strings.ContainsRune(h, '\t') {
			company = "" // a line refuses control characters; notes take them
		}
		b, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("Cust %d", i), "company": company, "notes": h, "phone": "+44 20 7946 0958", "tags": []string{"export"}})
		s.create(string(b))
	}
	s.create(`{"name":"Other","tags":["other"]}`)
	r := s.do("GET", "/api/customers/export?format=csv&tag=export&sort=name", "")
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v %s", r.StatusCode, r.Header, r.body)
	}
	// Read as a spreadsheet program reads the file: no cell is a formula.
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(hostile)+1 {
		t.Fatalf("%d lines, want %d", len(recs), len(hostile)+1)
	}
	for _, rec := range recs {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q would run as a formula", cell)
			}
		}
	}
	r = s.do("GET", "/api/customers/export?format=jsonl&search=cust", "")
	lines := bytes.Split(bytes.TrimSpace(r.body), []byte("\n"))
	if r.StatusCode != 200 || len(lines) != len(hostile) {
		t.Fatalf("jsonl: %d, %d lines", r.StatusCode, len(lines))
	}
	var c custodian.Customer
	if err := json.Unmarshal(lines[0], &c); err != nil || c.ID == "" {
		t.Errorf("jsonl line %s: %v", lines[0], err)
	}
	wantProblem(t, s.do("GET", "/api/customers/export?format=xlsx", ""), 400, custodian.EINVALID, "format")
	wantProblem(t, s.do("GET", "/api/customers/export?sort=size", ""), 400, custodian.EINVALID, "sort")
	// One event per export, naming the filter and the count, and no reads.
	evs, err := s.store.AuditEvents(t.Context(), custodian.AuditQuery{Action: custodian.ActionCustomersExport})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || !strings.Contains(string(evs[1].Data), `"tag":"export"`) || !strings.Contains(string(evs[1].Data), `"count":6`) || !strings.Contains(string(evs[0].Data), `"search":true`) || strings.Contains(string(evs[0].Data), "cust") {
		t.Errorf("export events %+v", evs)
	}
	reads, _ := s.store.AuditEvents(t.Context(), custodian.AuditQuery{Action: custodian.ActionCustomerRead})
	if len(reads) != 0 {
		t.Errorf("the exports recorded %d reads", len(reads))
	}
	// The limit: four transfers, then 429 (the refused queries above did
	// not count).
	s.do("GET", "/api/customers/export", "")
	s.do("GET", "/api/customers/export", "")
	r = s.do("GET", "/api/customers/export", "")
	wantProblem(t, r, 429, custodian.ETOOMANY)
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// A viewer may not export.
	s.bearer = s.userToken(custodian.RoleViewer)
	wantProblem(t, s.do("GET", "/api/customers/export", ""), 403, custodian.EFORBIDDEN)
}
