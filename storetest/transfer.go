package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/importer"
)

// transferTests are the contract of imports and exports: batches written
// through the backend's transactions, duplicates found through its token
// index, and import jobs kept in it.
var transferTests = []contractTest[*env]{
	{"CSVImportDryRunWritesNothing", testImportDryRun},
	{"CSVImportDuplicatePolicies", testImportPolicies},
	{"CSVImportCancelKeepsBatchesOrNothing", testImportCancel},
	{"ExportStreamsWithOneAuditEvent", testExportList},
	{"ImportJobsPersist", testImportJobs},
}

// importFile is a file saved as a spreadsheet program saves CSV: a
// byte-order mark, semicolons and CRLF line ends.
func importFile(lines ...string) *bytes.Reader {
	return bytes.NewReader([]byte("\xEF\xBB\xBF" + strings.Join(lines, "\r\n") + "\r\n"))
}

// count returns how many customers the service lists.
func (e *env) count(t *testing.T) int {
	t.Helper()
	return len(walk(t, e, custodian.CustomerQuery{Limit: custodian.MaxListLimit}))
}

// events returns the audit events of action.
func (e *env) events(t *testing.T, action string) []custodian.AuditEvent {
	t.Helper()
	evs, err := e.Repo.AuditEvents(e.ctx, custodian.AuditQuery{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func runImport(t *testing.T, e *env, o importer.Options, lines ...string) *custodian.ImportReport {
	t.Helper()
	rep, err := importer.Run(e.ctx, e.svc, importFile(lines...), o)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return rep
}

// sample has a new customer, a duplicate of an existing one by email, an
// invalid row, a duplicate of the new one by phone and a hostile name.
var sample = []string{
	"Nom;E-mail;Mobile;Organisation;Tags;Status",
	"Bo Diddley;bo@example.com;+44 20 7946 0001;Checker;music;active",
	"Ada L.;ADA.lovelace@example.com;020 7946 0958;;vip,new;inactive",
	"Cy;not-an-email;;;;",
	"Bo Again;;020 7946 0001;Chess;;",
	"\"=HYPERLINK(\"\"http://x.example\"\")\";eve@example.com;;;;",
}

func testImportDryRun(t *testing.T, e *env) {
	e.create(t, custodian.CustomerFields{Name: "Ada Lovelace", Email: "ada.lovelace@example.com"})
	changes := func() int {
		return len(e.events(t, custodian.ActionCustomerCreate)) + len(e.events(t, custodian.ActionCustomerUpdate))
	}
	before := changes()
	rep := runImport(t, e, importer.Options{ImportOptions: custodian.ImportOptions{DryRun: true, Policy: custodian.DuplicatesFill}}, sample...)
	want := custodian.ImportCounts{Rows: 5, Created: 2, Updated: 1, Skipped: 1, Refused: 1}
	if rep.ImportCounts != want || rep.FileError != nil {
		t.Errorf("dry run counts %+v, want %+v (file error %+v)", rep.ImportCounts, want, rep.FileError)
	}
	if len(rep.Issues) != 1 || rep.Issues[0].Line != 4 || rep.Issues[0].Field != "email" {
		t.Errorf("issues %+v, want line 4's email", rep.Issues)
	}
	if rep.Encoding != "utf-8" || rep.Delimiter != ";" || len(rep.Batches) != 0 {
		t.Errorf("report %+v", rep)
	}
	if n := e.count(t); n != 1 {
		t.Errorf("a dry run left %d customers, want the 1 there was", n)
	}
	if after := changes(); after != before {
		t.Errorf("a dry run recorded %d customer changes", after-before)
	}
	evs := e.events(t, custodian.ActionCustomersImport)
	if len(evs) != 1 || !strings.Contains(string(evs[0].Data), `"dry_run":true`) || !strings.Contains(string(evs[0].Data), `"created":2`) {
		t.Fatalf("import events %+v", evs)
	}
	b, _ := json.Marshal(rep)
	for _, pii := range []string{"bo@", "lovelace", "Bo", "7946", "HYPERLINK"} {
		if bytes.Contains(b, []byte(pii)) || bytes.Contains(evs[0].Data, []byte(pii)) {
			t.Errorf("the report or its audit event holds %q", pii)
		}
	}
}

func testImportPolicies(t *testing.T, e *env) {
	tests := []struct {
		policy        custodian.DuplicatePolicy
		counts        custodian.ImportCounts
		name, company string
		tags          []string
		status        custodian.Status
	}{
		{custodian.DuplicatesSkip, custodian.ImportCounts{Rows: 5, Created: 2, Skipped: 2, Refused: 1}, "Ada Lovelace", "", []string{"old"}, custodian.StatusLead},
		{custodian.DuplicatesFill, custodian.ImportCounts{Rows: 5, Created: 2, Updated: 1, Skipped: 1, Refused: 1}, "Ada Lovelace", "", []string{"old", "vip", "new"}, custodian.StatusLead},
		{custodian.DuplicatesOverwrite, custodian.ImportCounts{Rows: 5, Created: 2, Updated: 2, Refused: 1}, "Ada L.", "", []string{"vip", "new"}, custodian.StatusInactive},
	}
	for i, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			// Each policy imports into its own customers: the file's
			// addresses, made unique to this run.
			mail := func(s string) string { return strings.Replace(s, "@", fmt.Sprintf("+%d@", i), 1) }
			phone := func(s string) string { return s[:len(s)-1] + fmt.Sprint(i) }
			ada := e.create(t, custodian.CustomerFields{Name: "Ada Lovelace", Email: mail("ada.lovelace@example.com"), Tags: []string{"old"}})
			lines := []string{
				sample[0],
				fmt.Sprintf("Bo Diddley;%s;%s;Checker;music;active", mail("bo@example.com"), phone("+44 20 7946 0001")),
				fmt.Sprintf("Ada L.;%s;%s;;vip,new;inactive", strings.ToUpper(mail("ada.lovelace@example.com")), phone("020 7946 0958")),
				"Cy;not-an-email;;;;",
				fmt.Sprintf("Bo Again;;%s;Chess;;", phone("020 7946 0001")),
				fmt.Sprintf("=cmd;%s;;;;", mail("eve@example.com")),
			}
			rep := runImport(t, e, importer.Options{ImportOptions: custodian.ImportOptions{Policy: tt.policy}}, lines...)
			if rep.ImportCounts != tt.counts {
				t.Errorf("counts %+v, want %+v (issues %+v)", rep.ImportCounts, tt.counts, rep.Issues)
			}
			got, err := e.svc.Customer(e.ctx, ada.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.name || !slices.Equal(got.Tags, tt.tags) || got.Status != tt.status {
				t.Errorf("the duplicate is now %q %v %s, want %q %v %s", got.Name, got.Tags, got.Status, tt.name, tt.tags, tt.status)
			}
			if tt.policy != custodian.DuplicatesSkip && got.Phone == "" {
				t.Errorf("%s left the empty phone empty", tt.policy)
			}
			// Bo is one customer, whatever the policy; with overwrite
			// the second row's company replaced the first's.
			page, err := e.svc.ListCustomers(e.ctx, custodian.CustomerQuery{Search: mail("bo@example.com")})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != 1 {
				t.Fatalf("%d customers with Bo's email", len(page.Items))
			}
			wantCompany := map[custodian.DuplicatePolicy]string{custodian.DuplicatesSkip: "Checker", custodian.DuplicatesFill: "Checker", custodian.DuplicatesOverwrite: "Chess"}[tt.policy]
			if page.Items[0].Company != wantCompany {
				t.Errorf("Bo's company %q, want %q", page.Items[0].Company, wantCompany)
			}
			if len(rep.Batches) != 1 || rep.Batches[0].FirstLine != 2 || rep.Batches[0].LastLine != 6 {
				t.Errorf("batches %+v", rep.Batches)
			}
		})
	}
	evs := e.events(t, custodian.ActionCustomersImport)
	if len(evs) != len(tests) {
		t.Errorf("%d import events for %d imports", len(evs), len(tests))
	}
}

func testImportCancel(t *testing.T, e *env) {
	lines := []string{"name,email"}
	for i := range 25 {
		lines = append(lines, fmt.Sprintf("Customer %d,c%d@example.com", i, i))
	}
	for _, atomic := range []bool{false, true} {
		t.Run(fmt.Sprintf("all_or_nothing=%v", atomic), func(t *testing.T) {
			before := e.count(t)
			ctx, cancel := context.WithCancel(e.ctx)
			defer cancel()
			batches := 0
			o := importer.Options{ImportOptions: custodian.ImportOptions{Policy: custodian.DuplicatesSkip, AllOrNothing: atomic}, Batch: 10,
				Progress: func(*custodian.ImportReport, int64) {
					if batches++; batches == 2 {
						cancel()
					}
				}}
			rep, err := importer.Run(ctx, e.svc, bytes.NewReader([]byte(strings.Join(lines, "\n"))), o)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want cancelled", err)
			}
			added := e.count(t) - before
			if atomic {
				if added != 0 || !rep.RolledBack || len(rep.Batches) != 0 {
					t.Errorf("all or nothing: %d added, report %+v", added, rep)
				}
				return
			}
			if added != 20 || len(rep.Batches) != 2 || rep.Batches[1].LastLine != 21 {
				t.Errorf("batches: %d added, report batches %+v", added, rep.Batches)
			}
		})
	}
}

func testExportList(t *testing.T, e *env) {
	for i := range 7 {
		tags := []string{"all"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		e.create(t, custodian.CustomerFields{Name: fmt.Sprintf("Export %d", i), Tags: tags})
		e.clock.set(e.clock.now().Add(time.Second))
	}
	reads := len(e.events(t, custodian.ActionCustomerRead))
	for _, sort := range []custodian.Sort{custodian.SortName, custodian.SortCreatedAtDesc} {
		var names []string
		n, err := e.svc.ExportCustomers(e.ctx, custodian.CustomerQuery{Tag: "even", Sort: sort}, "csv", func(c *custodian.Customer) error {
			names = append(names, c.Name)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"Export 0", "Export 2", "Export 4", "Export 6"}
		if sort.Descending() {
			slices.Reverse(want)
		}
		if n != 4 || !slices.Equal(names, want) {
			t.Errorf("sort %s: exported %d %q, want %q", sort, n, names, want)
		}
	}
	evs := e.events(t, custodian.ActionCustomersExport)
	if len(evs) != 2 || !strings.Contains(string(evs[0].Data), `"tag":"even"`) || !strings.Contains(string(evs[0].Data), `"count":4`) {
		t.Fatalf("export events %+v", evs)
	}
	if got := len(e.events(t, custodian.ActionCustomerRead)); got != reads {
		t.Errorf("the export recorded %d reads, want its one event", got-reads)
	}
	// A failing writer stops the export, which is still recorded.
	boom := errors.New("client went away")
	_, err := e.svc.ExportCustomers(e.ctx, custodian.CustomerQuery{}, "jsonl", func(*custodian.Customer) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if evs := e.events(t, custodian.ActionCustomersExport); len(evs) != 3 || !strings.Contains(string(evs[0].Data), `"count":0`) {
		t.Errorf("the failed export's event: %+v", evs[0])
	}
}

func testImportJobs(t *testing.T, e *env) {
	repo, ok := e.Repo.(custodian.ImportJobRepository)
	if !ok {
		t.Fatal("the repository keeps no import jobs")
	}
	jobs := importer.NewJobs(e.svc, repo, importer.JobsOptions{MaxFileSize: 1 << 10})
	defer jobs.Close()
	wait := func(id string) *custodian.ImportJob {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			j, err := jobs.ImportJob(e.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if j.Finished() {
				return j
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("the job did not finish within a minute")
		return nil
	}
	dry, err := jobs.StartImport(e.ctx, importFile(sample...), custodian.ImportOptions{DryRun: true, Policy: custodian.DuplicatesSkip})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(dry.ID); j.State != custodian.ImportDone || j.Report.Created != 3 || j.Read != j.Size {
		t.Fatalf("dry run job %+v", j)
	}
	if n := e.count(t); n != 0 {
		t.Fatalf("the dry run created %d customers", n)
	}
	// Someone else cannot run another's dry run.
	if _, err := jobs.RunDryRun(custodian.WithActor(e.ctx, "usr_other"), dry.ID); custodian.ErrorCode(err) != custodian.ECONFLICT {
		t.Errorf("another user ran the dry run: %v", err)
	}
	real, err := jobs.RunDryRun(e.ctx, dry.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(real.ID); j.State != custodian.ImportDone || j.Report.Created != 3 || j.Options.DryRun || len(j.Report.Batches) != 1 {
		t.Fatalf("import job %+v", j)
	}
	stored, err := repo.ImportJob(e.ctx, real.ID)
	if err != nil || stored.State != custodian.ImportDone || stored.Report.Created != 3 || stored.CreatedBy != "usr_test" {
		t.Fatalf("stored job %+v, %v", stored, err)
	}
	if _, err := jobs.RunDryRun(e.ctx, dry.ID); custodian.ErrorCode(err) != custodian.ECONFLICT {
		t.Errorf("a dry run ran twice: %v", err)
	}
	// Over the size limit: refused, nothing started.
	if _, err := jobs.StartImport(e.ctx, bytes.NewReader(bytes.Repeat([]byte("a"), 2<<10)), custodian.ImportOptions{Policy: custodian.DuplicatesSkip}); !errors.Is(err, importer.ErrTooLarge) {
		t.Errorf("oversize: %v", err)
	}
	if _, err := jobs.StartImport(e.ctx, importFile(sample...), custodian.ImportOptions{Policy: "merge"}); custodian.ErrorCode(err) != custodian.EINVALID {
		t.Errorf("bad policy: %v", err)
	}
	// A job a stopped server left running is interrupted at the next start.
	left := &custodian.ImportJob{ID: custodian.NewImportJobID(), State: custodian.ImportRunning, CreatedBy: "usr_test", CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := repo.SaveImportJob(e.ctx, left); err != nil {
		t.Fatal(err)
	}
	if err := importer.NewJobs(e.svc, repo, importer.JobsOptions{}).Recover(e.ctx); err != nil {
		t.Fatal(err)
	}
	if j, err := jobs.ImportJob(e.ctx, left.ID); err != nil || j.State != custodian.ImportInterrupted {
		t.Errorf("left job %+v, %v", j, err)
	}
	if _, err := jobs.ImportJob(e.ctx, custodian.NewImportJobID()); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Errorf("unknown job: %v", err)
	}

	// A running job cancelled stops between batches, keeping the batches
	// it committed, which its report lists.
	slow := importer.NewJobs(e.svc, repo, importer.JobsOptions{Batch: 5})
	defer slow.Close()
	var big bytes.Buffer
	big.WriteString("name,email\n")
	for i := range 3000 {
		fmt.Fprintf(&big, "Many %d,many%d@example.com\n", i, i)
	}
	before := e.count(t)
	job, err := slow.StartImport(e.ctx, &big, custodian.ImportOptions{Policy: custodian.DuplicatesSkip})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.CancelImport(e.ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	var got *custodian.ImportJob
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if got, err = slow.ImportJob(e.ctx, job.ID); err != nil || got.Finished() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || got.State != custodian.ImportCancelled {
		t.Fatalf("cancelled job %+v, %v", got, err)
	}
	committed := 0
	for _, b := range got.Report.Batches {
		committed += b.Created
	}
	if added := e.count(t) - before; added != committed || added >= 3000 {
		t.Errorf("cancelled: %d customers added, the report lists %d in %d batches", added, committed, len(got.Report.Batches))
	}
}
