package http

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/custodian-crm/custodian"
)

// signInAsAdmin sets up the first administrator through the one-time link
// and signs in as them.
func signInAsAdmin(e *e2e, parts *testServerParts) {
	e.t.Helper()
	tok, _, err := parts.h.acc.SetupLink(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.open("/setup?token=" + tok)
	e.fill("#email", "ada.admin@example.com", "#name", "Ada Admin", "#password", testPassword)
	e.submit("setup", "button[type=submit]")
	e.open("/login")
	e.fill("#email", "ada.admin@example.com", "#password", testPassword)
	e.submit("sign in", "button[type=submit]")
}

// TestBrowserCustomerList walks the list as a daily user does: the total,
// page size, next and previous pages, the keyboard, and the compact cards
// of a phone.
func TestBrowserCustomerList(t *testing.T) {
	e, parts := newE2E(t)
	signInAsAdmin(e, parts)
	ctx := custodian.WithActor(context.Background(), "usr_test")
	for i := range 60 {
		if _, err := parts.svc.CreateCustomer(ctx, custodian.CustomerFields{
			Name: fmt.Sprintf("Customer %02d", i), Email: fmt.Sprintf("a.rather.long.address.%02d@example-company.co.uk", i),
			Phone: "+44 20 7946 09" + fmt.Sprintf("%02d", i), Status: custodian.StatusInactive}); err != nil {
			t.Fatal(err)
		}
	}
	e.open("/customers")
	if got := e.text("#customer-count"); got != "60 customers" {
		t.Fatalf("count %q", got)
	}
	rows := func() int {
		return readPage(e, "rows", chromedp.Evaluate[int](`document.querySelectorAll('#customers tbody tr').length`))
	}
	if n := rows(); n != 25 {
		t.Fatalf("first page has %d rows, want 25", n)
	}
	// Email, phone and status are readable in full on a 1280-pixel screen.
	clipped := readPage(e, "clipped cells", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(
		'#customers tbody tr:first-child td[data-label=Email], #customers tbody tr:first-child td[data-label=Phone], #customers tbody tr:first-child td[data-label=Status]'))
		.filter(td => td.scrollWidth > td.clientWidth + 1).map(td => td.dataset.label)`))
	if len(clipped) > 0 {
		t.Errorf("cut off on a 1280-pixel screen: %v", clipped)
	}
	if got := e.text("#customers tbody tr:first-child td[data-label=Phone]"); got != "+44 20 7946 0959" {
		t.Errorf("phone shown as %q", got)
	}
	e.screenshot("customer-list")

	first := e.text("#customers tbody tr:first-child td[data-label=Name]")
	e.submit("next page", `a[rel=next]`)
	e.submit("next page", `a[rel=next]`)
	if n := rows(); n != 10 {
		t.Fatalf("third page has %d rows, want 10", n)
	}
	e.submit("previous page", `a[rel=prev]`)
	e.submit("previous page", `a[rel=prev]`)
	if got := e.text("#customers tbody tr:first-child td[data-label=Name]"); got != first {
		t.Fatalf("two pages back shows %q first, want %q", got, first)
	}

	// Page size.
	e.do("50 per page", chromedp.SetValue(chromedp.CSS("#size"), "50"))
	e.submit("search", `form.filters button[type=submit]`)
	if n := rows(); n != 50 {
		t.Fatalf("with 50 per page: %d rows", n)
	}

	// Keyboard: j, j, k selects the first row; e edits it; back, then /
	// focuses the search, ? lists the shortcuts.
	e.do("j j k", chromedp.KeyEvent("j"), chromedp.KeyEvent("j"), chromedp.KeyEvent("k"))
	cur := readPage(e, "current row", chromedp.Evaluate[string](`document.querySelector('#customers tr.current td[data-label=Name]').textContent`))
	if cur != first {
		t.Fatalf("j j k selected %q, want %q", cur, first)
	}
	e.do("e", chromedp.KeyEvent("e"))
	e.do("edit page", chromedp.WaitVisible(chromedp.CSS("#f-name")))
	if loc := e.location(); !strings.HasSuffix(loc, "/edit") {
		t.Fatalf("e went to %q", loc)
	}
	e.open("/customers")
	e.do("/", chromedp.KeyEvent("/"))
	if focused := readPage(e, "focus", chromedp.Evaluate[string](`document.activeElement.id`)); focused != "q" {
		t.Fatalf("/ focused %q", focused)
	}
	e.do("leave the field", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	e.do("?", chromedp.KeyEvent("?"))
	if open := readPage(e, "dialog", chromedp.Evaluate[bool](`document.getElementById('shortcuts').open`)); !open {
		t.Fatal("? did not list the shortcuts")
	}
	e.do("close", chromedp.KeyEvent(kb.Escape))

	// A phone shows compact cards: 25 customers in well under the 8,800
	// pixels the old layout took.
	e.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	e.open("/customers")
	height := readPage(e, "list height", chromedp.Evaluate[float64](`document.getElementById('customers').getBoundingClientRect().height`))
	if height > 25*140 {
		t.Errorf("25 customers take %.0f pixels on a phone", height)
	}
	e.do("desktop", chromedp.EmulateViewport(1280, 800))
	e.checkClean()
}
