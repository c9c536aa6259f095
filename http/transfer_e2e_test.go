package http

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
)

// waitForImport reloads the import job page (it also reloads itself while
// the job runs) until sel is on it.
func (e *e2e) waitForImport(sel string) {
	e.t.Helper()
	loc := e.location()
	for range 120 {
		if readPage(e, "look for "+sel, chromedp.Evaluate[bool](`document.querySelector(`+"`"+sel+"`"+`) !== null`)) {
			return
		}
		time.Sleep(250 * time.Millisecond)
		e.open(loc)
	}
	e.t.Fatalf("%s never appeared on %s: %s", sel, loc, e.text("main"))
}

// TestBrowserImportFlow imports a file saved as a spreadsheet saves CSV
// through the web interface in Chromium: upload, dry-run report with the
// refused row, a column mapped by hand, a second dry run, confirmation,
// the import's progress page and its result.
func TestBrowserImportFlow(t *testing.T) {
	e, parts := newE2E(t)
	ctx := custodian.WithActor(context.Background(), "usr_test")
	if _, err := parts.h.acc.CreateUser(context.Background(), "mia.manager@example.com", "Mia Manager", custodian.RoleManager, testPassword); err != nil {
		t.Fatal(err)
	}
	ann, err := e.svc.CreateCustomer(ctx, custodian.CustomerFields{Name: "Ann Smith", Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "customers.csv")
	content := "\xEF\xBB\xBFFull name;E-mail;Handy;Organisation;Tags\r\n" +
		"Ann Again;ANN@example.com;+44 20 7946 0001;ACME;vip\r\n" +
		"José Müller;jose@example.com;+49 30 123456;=SUM(A1);new\r\n" +
		"Bad <b>;bad@example.com;;;\r\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	e.open("/login?next=%2Fcustomers")
	e.fill("#email", "mia.manager@example.com", "#password", testPassword)
	e.submit("sign in", "button[type=submit]")
	e.do("the list", chromedp.WaitVisible(chromedp.CSS("#export-form")))
	e.submit("import link", "#import-link")
	if loc := e.location(); loc != "/customers/import" {
		t.Fatalf("import link went to %q", loc)
	}
	e.screenshot("import-upload")
	e.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}), chromedp.SetValue(chromedp.CSS("#duplicates"), "fill"))
	e.submit("check the file", "#upload button[type=submit]")
	if !strings.HasPrefix(e.location(), "/imports/imp_") {
		t.Fatalf("after the upload: %q: %s", e.location(), e.text("main"))
	}
	e.waitForImport("#confirm-import")
	counts := func() string {
		return e.text("#count-created") + " " + e.text("#count-updated") + " " + e.text("#count-skipped") + " " + e.text("#count-refused")
	}
	if got := counts(); got != "1 1 0 1" {
		t.Fatalf("dry run counts %q", got)
	}
	if got := e.text("#import-issues"); !strings.Contains(got, "4") || !strings.Contains(got, "name") || strings.Contains(got, "Bad") {
		t.Errorf("refused rows %q", got)
	}
	e.screenshot("import-dry-run")
	if n, err := e.svc.ListCustomers(ctx, custodian.CustomerQuery{}); err != nil || len(n.Items) != 1 {
		t.Fatalf("the dry run wrote customers: %v", err)
	}

	// Handy is no known header: map it to the phone and check again.
	e.do("map Handy", chromedp.SetValue(chromedp.CSS(`select[name="map:Handy"]`), "phone"))
	e.submit("check again", "#mapping button[type=submit]")
	e.waitForImport("#confirm-import")
	if got := e.value(`select[name="map:Handy"]`); got != "phone" {
		t.Fatalf("Handy maps to %q", got)
	}
	e.submit("import", "#confirm-import button[type=submit]")
	e.waitForImport("#import-finished")
	if got := counts(); got != "1 1 0 1" {
		t.Fatalf("import counts %q: %s", got, e.text("main"))
	}
	e.screenshot("import-done")
	e.checkClean()

	got, err := e.svc.Customer(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Ann Smith" || got.Phone != "+442079460001" || got.Company != "ACME" || strings.Join(got.Tags, ",") != "vip" {
		t.Errorf("Ann after fill: %+v", got.CustomerFields)
	}
	page, err := e.svc.ListCustomers(ctx, custodian.CustomerQuery{Search: "jose@example.com"})
	if err != nil || len(page.Items) != 1 || page.Items[0].Company != "=SUM(A1)" || page.Items[0].Phone != "+4930123456" {
		t.Errorf("José: %v %+v", err, page)
	}
}
