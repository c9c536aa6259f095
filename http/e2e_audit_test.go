package http

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
)

// TestBrowserAuditTrail reads the audit page as an administrator does:
// no reads at first; reads shown, the customer list page's read is one
// line that opens to the customers it listed, by name; filtered by one
// customer, that customer's name; older and newer pages; readable on a
// phone's 390 pixels and a 1280-pixel screen alike, with dates taken in
// the browser's time zone.
func TestBrowserAuditTrail(t *testing.T) {
	e, parts := newE2E(t)
	if _, err := chromedp.Call(e.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	signInAsAdmin(e, parts)
	ctx := custodian.WithActor(context.Background(), "usr_test")
	var ids []string
	for i := range 60 {
		c, err := parts.svc.CreateCustomer(ctx, custodian.CustomerFields{Name: fmt.Sprintf("Audit Person %02d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	// The list page reads 25 customers: one read.
	e.open("/customers")
	e.do("list", chromedp.WaitVisible(chromedp.CSS("#customers")))

	e.open("/audit")
	e.do("audit", chromedp.WaitVisible(chromedp.CSS("#audit")))
	if body := e.text("#audit tbody"); strings.Contains(body, "Listed") || strings.Contains(body, "Read a customer") {
		t.Fatalf("reads shown by default: %q", body)
	}
	if tz := e.value("#a-tz"); tz != "Europe/Berlin" {
		t.Errorf("the filter form takes dates in %q, want the browser's zone", tz)
	}
	e.submit("show reads", "#reads-toggle a")
	e.do("audit with reads", chromedp.WaitVisible(chromedp.CSS("#audit")))
	lists := readPage(e, "list reads", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#audit details.read-list summary')).map(s => s.textContent)`))
	if n := strings.Count(strings.Join(lists, "|"), "Listed 25 customers"); n != 1 {
		t.Fatalf("the list page's read as %d lines: %v", n, lists)
	}
	if singles := readPage(e, "single reads", chromedp.Evaluate[int](`Array.from(document.querySelectorAll('#audit td[data-label=Action]')).filter(td => td.textContent.trim() == 'Read a customer').length`)); singles != 0 {
		t.Fatalf("%d single-read lines", singles)
	}
	// Which customers: the line opens to their names.
	e.do("open the list read", chromedp.Click(chromedp.CSS(`#audit details.read-list summary`), chromedp.NodeVisible))
	listed := readPage(e, "listed", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#audit details.read-list')).filter(d => d.querySelector('summary').textContent == 'Listed 25 customers')[0].querySelectorAll('bdi.customer-name').length > 0 ? Array.from(Array.from(document.querySelectorAll('#audit details.read-list')).filter(d => d.querySelector('summary').textContent == 'Listed 25 customers')[0].querySelectorAll('bdi.customer-name')).map(b => b.textContent) : []`))
	if len(listed) != 25 || !strings.HasPrefix(listed[0], "Audit Person ") {
		t.Fatalf("the list read names %v", listed)
	}
	noOverflow := func(width int) {
		t.Helper()
		if w := readPage(e, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > width {
			t.Errorf("the audit page is %d pixels wide on a %d-pixel screen", w, width)
		}
	}
	noOverflow(1280)
	e.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	e.open("/audit?reads=1")
	e.do("audit on a phone", chromedp.WaitVisible(chromedp.CSS("#audit")))
	noOverflow(390)
	e.do("desktop", chromedp.EmulateViewport(1280, 800))
	e.screenshot("audit-reads")

	// By customer: its creation and the list page's read, by name.
	e.open("/audit?reads=1")
	e.fill("#a-subject", ids[59])
	e.submit("filter", "form.audit-filters button[type=submit]")
	e.do("filtered", chromedp.WaitVisible(chromedp.CSS("#audit")))
	if loc := e.location(); !strings.Contains(loc, "subject="+ids[59]) || !strings.Contains(loc, "reads=1") || !strings.Contains(loc, "tz=Europe%2FBerlin") {
		t.Errorf("the filters are not in the address: %s", loc)
	}
	rows := readPage(e, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#audit tbody tr').length`))
	if got := e.text("#audit tbody tr:last-child td[data-label=Subject]"); rows < 2 || !strings.Contains(got, "Audit Person 59") {
		t.Fatalf("filtered by customer: %d rows, subject %q", rows, got)
	}
	if got := e.text("#audit tbody"); !strings.Contains(got, "customer.create") || !strings.Contains(got, "Listed 25 customers") {
		t.Fatalf("filtered by customer: %q", got)
	}

	// Older events, then back.
	e.open("/audit")
	first := e.text("#audit tbody tr:first-child td[data-label='#']")
	e.submit("older", "a[rel=next]")
	e.do("older page", chromedp.WaitVisible(chromedp.CSS("#audit")))
	older := e.text("#audit tbody tr:first-child td[data-label='#']")
	if older == first {
		t.Fatalf("the older page starts with %s too", older)
	}
	e.submit("newer", "a[rel=prev]")
	e.do("newer page", chromedp.WaitVisible(chromedp.CSS("#audit")))
	if got := e.text("#audit tbody tr:first-child td[data-label='#']"); got != first {
		t.Fatalf("back from the older page starts with %s, want %s", got, first)
	}
	e.checkClean()
}
