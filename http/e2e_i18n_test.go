package http

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
)

// shownTime reads the first <time> under sel: the instant it stands for
// and the text the script put in its place.
func shownTime(e *e2e, sel string) (time.Time, string) {
	e.t.Helper()
	at := readPage(e, "datetime of "+sel, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).getAttribute('datetime')`))
	ts, err := time.Parse(time.RFC3339, at)
	if err != nil {
		e.t.Fatalf("datetime %q: %v", at, err)
	}
	return ts, e.text(sel)
}

// TestBrowserSpeaksGerman signs in with a German browser in New York: the
// list and customer pages are German and dates are in the browser's zone;
// the account page offers that zone, switches the language to English,
// and a zone set there moves the dates to it.
func TestBrowserSpeaksGerman(t *testing.T) {
	e, parts := newE2E(t)
	if _, err := chromedp.Call(e.ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(e.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "de-DE,de;q=0.9"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(e.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	signInAsAdmin(e, parts)
	ctx := custodian.WithActor(context.Background(), "usr_test")
	c, err := parts.svc.CreateCustomer(ctx, custodian.CustomerFields{Name: "Erika Mustermann", Email: "erika@example.de"})
	if err != nil {
		t.Fatal(err)
	}

	e.open("/customers")
	if lang := readPage(e, "lang", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "de" {
		t.Fatalf("html lang %q, want de", lang)
	}
	for sel, want := range map[string]string{"h1": "Kunden", "#customer-count": "1 Kunde", "#customers th.c-updated": "Geändert", "a.button[href='/customers/new']": "Neuer Kunde", "nav[aria-label=Hauptmenü] a[aria-current=page]": "Kunden"} {
		if got := strings.TrimSpace(e.text(sel)); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	ny, _ := time.LoadLocation("America/New_York")
	at, shown := shownTime(e, "#customers tbody time")
	if !strings.Contains(shown, at.In(ny).Format("15:04")) || !strings.Contains(shown, at.In(ny).Format("02.01.2006")) {
		t.Errorf("updated time shown as %q; want %s, New York time in German", shown, at.In(ny).Format("02.01.2006 15:04"))
	}
	e.screenshot("customer-list-de")

	e.open("/customers/" + c.ID)
	body := e.text("main")
	for _, want := range []string{"Interessent", "Datenschutz", "Bearbeiten", "Verlauf"} {
		if !strings.Contains(body, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
	if strings.Contains(body, "Data protection") {
		t.Error("customer page still shows English")
	}

	// The account page offers the browser's zone; the language is
	// switched to English there.
	e.open("/account")
	if z := e.value("#pref_time_zone"); z != "America/New_York" {
		t.Errorf("time zone field offers %q, want the browser's America/New_York", z)
	}
	e.do("choose English and Tokyo", chromedp.SetValue(chromedp.CSS("#pref_language"), "en"), chromedp.SetValue(chromedp.CSS("#pref_time_zone"), "Asia/Tokyo"))
	e.screenshot("account-preferences-de")
	e.submit("save preferences", "#preferences-save")
	if got := e.text("h1"); got != "Your account" {
		t.Fatalf("after choosing English: h1 %q", got)
	}
	if got := e.text("p.flash"); got != "Your language and time zone have been saved." {
		t.Errorf("flash %q", got)
	}

	e.open("/customers")
	if got := e.text("#customer-count"); got != "1 customer" {
		t.Errorf("count %q after choosing English", got)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	at, shown = shownTime(e, "#customers tbody time")
	if !strings.Contains(shown, at.In(tokyo).Format("3:04")) || strings.Contains(shown, at.In(ny).Format("3:04 PM")) {
		t.Errorf("updated time shown as %q; want Tokyo's %s", shown, at.In(tokyo).Format("2 Jan 2006 15:04"))
	}
	e.checkClean()
}
