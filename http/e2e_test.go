package http

// End-to-end tests of the web interface in headless Chromium, driven with
// chromedp. The real server runs in-process behind httptest's TLS server:
// the session cookie is __Host- prefixed, so it needs HTTPS, and Chromium
// runs with --ignore-certificate-errors for the test certificate.
//
// Chromium is /usr/bin/chromium (the Debian package "chromium"), or
// CUSTODIAN_CHROMIUM. Without it the tests skip, except under CI=true,
// where they fail. Screenshots of the main screens, at 1280x800 and at a
// phone's 390 pixels, go to $CUSTODIAN_ARTIFACTS/screenshots (else a
// temporary directory), and also to $CUSTODIAN_SCREENSHOTS when set.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/ratelimit"
	otptotp "github.com/pquerna/otp/totp"
)

// chromiumPath finds the browser, or skips (fails under CI=true).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CUSTODIAN_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed and CI=true, so the browser tests must not skip: apt-get install chromium")
	}
	t.Skip("skipping the browser tests: chromium is not installed (apt-get install chromium, or set CUSTODIAN_CHROMIUM)")
	return ""
}

// e2e is one browser tab on a fresh server, and what the page did wrong.
type e2e struct {
	t        *testing.T
	ctx      context.Context
	base     string
	shots    []string
	mu       sync.Mutex
	problems []string
	svc      custodian.CustomerService
}

func (e *e2e) problem(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.problems = append(e.problems, fmt.Sprintf(format, args...))
}

// checkClean fails the test for any dialog, exception, console call or
// Content-Security-Policy report seen so far.
func (e *e2e) checkClean() {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.problems {
		e.t.Error(p)
	}
	e.problems = nil
}

func newE2E(t *testing.T) (*e2e, *testServerParts) {
	t.Helper()
	chromium := chromiumPath(t)
	parts := newServerParts(t)
	srv := httptest.NewTLSServer(parts.h.h)
	t.Cleanup(srv.Close)
	return openBrowser(t, chromium, srv.URL, parts.svc), parts
}

// openBrowser starts Chromium on a tab that reports every dialog,
// exception, console call and Content-Security-Policy report as a
// problem, for the server at base.
func openBrowser(t *testing.T, chromium, base string, svc custodian.CustomerService) *e2e {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)

	e := &e2e{t: t, ctx: tab, base: base, svc: svc}
	if dir := os.Getenv("CUSTODIAN_ARTIFACTS"); dir != "" {
		e.shots = append(e.shots, filepath.Join(dir, "screenshots"))
	} else {
		e.shots = append(e.shots, t.TempDir())
	}
	if dir := os.Getenv("CUSTODIAN_SCREENSHOTS"); dir != "" {
		e.shots = append(e.shots, dir)
	}
	err := chromedp.Listen(tab, func(ev any) {
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			e.problem("a JavaScript %s dialog opened: %q", ev.Type, ev.Message)
			go func() { // a dialog blocks the page until it is closed
				_, _ = chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		case *runtime.EventExceptionThrown:
			e.problem("uncaught exception: %s", ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			e.problem("console.%s called", ev.Type)
		case *log.EventEntryAdded:
			// CSP violations read "Refused to load/execute/apply ...
			// because it violates the following Content Security Policy
			// directive". (The Permissions-Policy header names features
			// this Chromium does not know; those warnings are not failures.)
			text := strings.ToLower(ev.Entry.Text)
			if strings.Contains(text, "content security policy") || strings.Contains(text, "content-security-policy") || strings.HasPrefix(text, "refused to") {
				e.problem("browser log (%s, %s): %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text)
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return e
}

// testServerParts is a server with no users yet, for first-run setup.
type testServerParts struct {
	h   *testServer
	svc custodian.CustomerService
}

func newServerParts(t *testing.T) *testServerParts {
	t.Helper()
	s, d := newUserlessServer(t, ratelimit.Limit{Rate: 5, Burst: 20})
	return &testServerParts{h: s, svc: d.Customers}
}

// do runs actions and fails the test on error.
func (e *e2e) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	if err := chromedp.Do(e.ctx, steps...); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// submit clicks sel and waits for the page it leads to.
func (e *e2e) submit(what, sel string) {
	e.t.Helper()
	if _, err := chromedp.RunResponse(e.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

func (e *e2e) open(path string) {
	e.t.Helper()
	e.do("open "+path, chromedp.Navigate(e.base+path))
}

// readPage runs a, which reads something off the page (what, for a failure),
// and returns what it read; it fails the test on error.
func readPage[T any](e *e2e, what string, a chromedp.Action[T]) T {
	e.t.Helper()
	v, err := chromedp.Run(e.ctx, a)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (e *e2e) location() string {
	e.t.Helper()
	return strings.TrimPrefix(readPage(e, "location", chromedp.Location()), e.base)
}

func (e *e2e) text(sel string) string {
	e.t.Helper()
	return readPage(e, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel)))
}

func (e *e2e) value(sel string) string {
	e.t.Helper()
	return readPage(e, "value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// fill sets form fields: selector, value pairs.
func (e *e2e) fill(pairs ...string) {
	e.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(pairs); i += 2 {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(pairs[i]), pairs[i+1]))
	}
	e.do("fill the form", steps...)
}

// screenshot saves the current page, whole, at desktop and phone widths.
func (e *e2e) screenshot(name string) {
	e.t.Helper()
	for _, vp := range []struct {
		suffix string
		w, h   int64
		opts   []chromedp.EmulateViewportOption
	}{{"desktop", 1280, 800, nil}, {"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait}}} {
		e.do("resize", chromedp.EmulateViewport(vp.w, vp.h, vp.opts...))
		png := readPage(e, "screenshot "+name, chromedp.FullScreenshot(100))
		for _, dir := range e.shots {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				e.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.suffix+".png"), png, 0o644); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	e.do("resize", chromedp.EmulateViewport(1280, 800))
}

// hostileNotes must show as text: markup, script, a javascript: URL, a
// right-to-left override and a very long unbroken word.
var hostileNotes = "Met at the Difference Engine demo.\n" +
	`<script>alert("script")</script><img src=x onerror=alert("img")> <a href="javascript:alert('link')">click</a>` + "\n" +
	"Invoice ref \u202Egnp.exe\u202C checked.\n" + strings.Repeat("W", 600)

func TestBrowserEndToEnd(t *testing.T) {
	start := time.Now()
	e, parts := newE2E(t)
	acc := parts.h.acc

	// First-run setup through the one-time link.
	tok, _, err := acc.SetupLink(context.Background())
	if err != nil || tok == "" {
		t.Fatalf("setup link: %v", err)
	}
	e.open("/setup?token=" + tok)
	e.fill("#email", "ada.admin@example.com", "#name", "Ada Admin", "#password", testPassword)
	e.submit("setup", "button[type=submit]")
	if got := e.text("main"); !strings.Contains(got, "administrator account is ready") {
		t.Fatalf("after setup: %q", got)
	}

	// Signed out, / leads to the sign-in page.
	e.open("/")
	if loc := e.location(); loc != "/login" {
		t.Fatalf("signed-out / went to %q", loc)
	}
	e.do("sign-in form", chromedp.WaitVisible(chromedp.CSS("#email")))
	e.screenshot("login")
	// An unknown address: the message does not say which part was wrong
	// (a wrong password would also make the account wait a moment).
	e.fill("#email", "nobody@example.com", "#password", "not the password at all")
	e.submit("unknown account", "button[type=submit]")
	if got := e.text("[role=alert]"); got != "The email address or password is incorrect." {
		t.Fatalf("failed sign-in message %q", got)
	}
	e.open("/login?next=%2Fcustomers%2Fnew")
	e.fill("#email", "ada.admin@example.com", "#password", testPassword)
	e.submit("sign in", "button[type=submit]")
	if loc := e.location(); loc != "/customers/new" {
		t.Fatalf("after sign-in: %q", loc)
	}

	// Create a customer with an invalid email: the error is shown next to
	// the field and every value is kept.
	e.fill("#f-name", "Ada Lovelace", "#f-company", "Analytical Engines", "#f-email", "ada@@example",
		"#f-phone", "+44 20 7946 0958", "#f-address\\.city", "London", "#f-address\\.country", "GB",
		"#f-tags", "vip, engines", "#f-notes", hostileNotes)
	e.submit("create (invalid)", "form.panel button[type=submit]")
	e.do("field error", chromedp.WaitVisible(chromedp.CSS("#f-email-error")))
	if !strings.Contains(e.text("#f-email-error"), "email address") {
		t.Fatalf("email error %q", e.text("#f-email-error"))
	}
	if e.value("#f-name") != "Ada Lovelace" || e.value("#f-tags") != "vip, engines" || e.value("#f-notes") != hostileNotes || e.value("#f-email") != "ada@@example" {
		t.Fatal("the form lost entered values")
	}
	e.screenshot("customer-form-error")
	e.fill("#f-email", "ada@example.com")
	e.submit("create", "form.panel button[type=submit]")
	e.do("detail", chromedp.WaitVisible(chromedp.CSS("#customer-notes")))
	if got := e.text("#customer-notes"); got != hostileNotes {
		t.Fatalf("notes shown as %q", got)
	}
	if !strings.Contains(e.text(".flash"), "Customer created.") {
		t.Fatal("no confirmation")
	}
	detail := e.location()

	// More customers, for the list.
	var more []*custodian.Customer
	for _, f := range []custodian.CustomerFields{
		{Name: "Grace Hopper", Company: "US Navy", Email: "grace@example.com", Status: custodian.StatusActive, Tags: []string{"vip"}},
		{Name: "Alan Turing", Company: "Bletchley Park", Email: "alan@example.org", Status: custodian.StatusInactive},
		{Name: "Katherine Johnson", Company: "NASA Langley Research Center", Status: custodian.StatusActive, Tags: []string{"space", "math"}},
		{Name: `javascript:alert(document.cookie)`, Company: `"onmouseover="alert(1)`, Notes: "<svg onload=alert(1)>"},
		{Name: "Radia Perlman " + strings.Repeat("Spanning-Tree-", 12), Company: "Digital Equipment Corporation", Email: "radia@example.net", Status: custodian.StatusLead, Tags: []string{"networks"}},
	} {
		c, err := e.svc.CreateCustomer(custodian.WithActor(context.Background(), "usr_test"), f)
		if err != nil {
			t.Fatal(err)
		}
		more = append(more, c)
	}

	// Edit: a change is saved and confirmed.
	e.open(detail + "/edit")
	e.fill("#f-company", "Analytical Engines Ltd")
	e.submit("save", "form.panel button[type=submit]")
	if loc := e.location(); loc != detail || !strings.Contains(e.text(".flash"), "Customer saved.") {
		t.Fatalf("after save: %q", loc)
	}
	e.screenshot("customer")

	// The list, then a search whose term stays out of the address.
	e.open("/customers")
	e.do("list", chromedp.WaitVisible(chromedp.CSS("#customers")))
	e.screenshot("customers")
	e.fill("#q", "ada lov")
	e.submit("search", "form.filters button[type=submit]")
	if loc := e.location(); strings.Contains(strings.ToLower(loc), "ada") || strings.Contains(loc, "lov") {
		t.Fatalf("the search term is in the address: %q", loc)
	}
	if got := e.text("#customers tbody"); !strings.Contains(got, "Ada Lovelace") || strings.Contains(got, "Grace Hopper") {
		t.Fatalf("search results: %q", got)
	}
	if e.value("#q") != "ada lov" {
		t.Fatal("the search box lost its term")
	}

	// The account page; turn on two-factor authentication.
	e.open("/account")
	e.do("account", chromedp.WaitVisible(chromedp.CSS("#totp_password")))
	e.screenshot("account")
	e.fill("#totp_password", testPassword)
	e.submit("begin 2FA", "form[action='/account/2fa/setup'] button")
	e.do("QR code", chromedp.WaitVisible(chromedp.CSS("img.qr")))
	secret := strings.ReplaceAll(e.text("#totp-secret"), " ", "")
	code, err := otptotp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.fill("#code", code)
	e.submit("enable 2FA", "form[action='/account/2fa/enable'] button")
	e.do("recovery codes", chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))

	// Sign out, then in again with the second factor.
	e.submit("sign out", ".who button")
	if loc := e.location(); loc != "/login" || !strings.Contains(e.text(".flash"), "signed out") {
		t.Fatalf("after sign-out: %q", loc)
	}
	e.fill("#email", "ada.admin@example.com", "#password", testPassword)
	e.submit("sign in, step 1", "button[type=submit]")
	e.do("code step", chromedp.WaitVisible(chromedp.CSS("#otp")))
	// The enrolment used this time step; the next one is accepted too.
	code, _ = otptotp.GenerateCode(secret, time.Now().Add(30*time.Second))
	e.fill("#otp", code)
	e.submit("sign in, step 2", "button[type=submit]")
	if loc := e.location(); loc != "/customers" {
		t.Fatalf("after two-factor sign-in: %q", loc)
	}

	// Hostile data stayed text everywhere it was shown.
	e.open(detail)
	e.do("detail again", chromedp.WaitVisible(chromedp.CSS("#customer-notes")))
	if n := readPage(e, "count hostile elements", chromedp.Evaluate[int](`document.querySelectorAll("main script, main img:not(.qr), main svg, main [onerror], main [onload], main [onmouseover]").length`)); n != 0 {
		t.Fatalf("hostile markup became %d elements", n)
	}
	privacyFlows(e, parts, detail, more[0], more[1])
	e.checkClean()
	t.Logf("browser flows took %s", time.Since(start).Round(time.Millisecond))
}

// hostileConsent is a consent source and evidence that must stay text.
const hostileConsent = `<img src=x onerror=alert("consent")><script>alert("evidence")</script>`

// privacyFlows records consents (one hostile), takes the screenshots of the
// consent section, the audit trail and the security dashboard, and erases
// a customer through the confirmation page. The browser is signed in as
// an administrator; detail is a customer's page.
func privacyFlows(e *e2e, parts *testServerParts, detail string, grace, alan *custodian.Customer) {
	t := e.t
	t.Helper()
	// A hostile consent stays text.
	e.open(detail)
	e.do("consent form", chromedp.WaitVisible(chromedp.CSS("#consent-source")))
	e.fill("#consent-purpose", "profiling", "#consent-source", hostileConsent, "#consent-evidence", hostileConsent)
	e.submit("record consent", "form.consent-form button[type=submit]")
	e.do("consent history", chromedp.WaitVisible(chromedp.CSS("#consent-history")))
	if got := e.text("#consent-history .consent-source"); got != hostileConsent {
		t.Fatalf("consent source shown as %q", got)
	}
	if n := readPage(e, "count hostile elements", chromedp.Evaluate[int](`document.querySelectorAll("main script, main img:not(.qr), main [onerror]").length`)); n != 0 {
		t.Fatalf("hostile consent became %d elements", n)
	}

	// Consents for the screenshot: two recorded earlier, one now.
	ctx := custodian.WithActor(context.Background(), "usr_test")
	for _, in := range []custodian.ConsentInput{
		{Purpose: "marketing_email", State: custodian.ConsentGiven, Source: "Newsletter sign-up form", Evidence: "Ticked “Send me product news by email” (form v3)."},
		{Purpose: "profiling", State: custodian.ConsentWithdrawn, Source: "Email to support", Evidence: "Asked us to stop personalising offers, ticket 4711."},
	} {
		if _, err := parts.svc.(custodian.PrivacyService).RecordConsent(ctx, grace.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	e.open("/customers/" + grace.ID)
	e.fill("#consent-purpose", "phone_calls", "#consent-source", "Phone call", "#consent-evidence", "Agreed to a yearly check-in call.")
	e.submit("record consent", "form.consent-form button[type=submit]")
	e.do("consent recorded", chromedp.WaitVisible(chromedp.CSS("#consent-history")))
	if !strings.Contains(e.text(".flash"), "Consent change recorded.") || !strings.Contains(e.text("#consent-current"), "Phone calls") {
		t.Fatal("the consent change is not shown")
	}
	e.screenshot("customer-consent")

	// The dashboard's data: failed sign-ins over the day and some alerts.
	now := time.Now().UTC()
	var entries []custodian.AuditEntry
	for h, n := range []int{0, 1, 0, 2, 0, 0, 1, 0, 3, 0, 0, 0, 1, 0, 0, 9, 14, 4, 0, 1, 0, 2, 0, 1} {
		for i := range n {
			entries = append(entries, custodian.AuditEntry{Action: custodian.ActionSignInFailed, Subject: "usr_test",
				Data: []byte(`{"reason":"password"}`), Time: now.Add(-time.Duration(23-h)*time.Hour - time.Duration(i)*time.Minute)})
		}
	}
	if err := parts.h.store.AppendAudit(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	for i, a := range []custodian.Alert{
		{Rule: "brute_force", Key: "addr:203.0.113.7", Count: 23, Status: custodian.AlertOpen},
		{Rule: "scanning", Key: "addr:198.51.100.23", Count: 12, Status: custodian.AlertClosed},
		{Rule: "abuse", Key: "addr:192.0.2.200", Count: 3, Status: custodian.AlertClosed},
	} {
		a.ID = fmt.Sprintf("alr_e2e%d", i)
		a.FirstSeen = now.Add(-time.Duration(8-3*i) * time.Hour)
		a.LastSeen = a.FirstSeen.Add(20 * time.Minute)
		if _, err := parts.h.store.SaveAlert(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	e.open("/security")
	e.do("dashboard", chromedp.WaitVisible(chromedp.CSS("#chart-signins svg")))
	if got := e.text("#alerts tbody"); !strings.Contains(got, "203.0.113.7") {
		t.Fatalf("alerts: %q", got)
	}
	e.screenshot("security")
	e.submit("resolve", "#alerts form button")
	if !strings.Contains(e.text(".flash"), "Alert resolved.") {
		t.Fatal("no confirmation of the resolved alert")
	}

	// Erase a customer: detail, confirmation with a reason, tombstone.
	e.open("/customers/" + alan.ID)
	e.submit("erase link", "#erase-link")
	e.do("confirmation", chromedp.WaitVisible(chromedp.CSS("#erase-reason")))
	e.submit("erase without reason", "form[action$='/erase'] button[type=submit]")
	e.do("reason error", chromedp.WaitVisible(chromedp.CSS("#erase-reason-error")))
	e.fill("#erase-reason", "Erasure request ER-2026-031")
	e.do("confirm", chromedp.Click(chromedp.CSS("#erase-confirm"), chromedp.NodeVisible))
	e.submit("erase", "form[action$='/erase'] button[type=submit]")
	e.do("tombstone", chromedp.WaitVisible(chromedp.CSS("#tombstone")))
	if loc, got := e.location(), e.text("#tombstone"); loc != "/customers/"+alan.ID || !strings.Contains(got, "ER-2026-031") || strings.Contains(got, "Turing") {
		t.Fatalf("tombstone at %q: %q", loc, got)
	}
	e.open("/customers")
	e.do("list", chromedp.WaitVisible(chromedp.CSS("#customers")))
	if got := e.text("#customers tbody"); strings.Contains(got, "Alan Turing") {
		t.Fatal("the erased customer is still listed")
	}

	// The audit trail shows the erasure.
	e.open("/audit?subject=" + alan.ID)
	e.do("audit", chromedp.WaitVisible(chromedp.CSS("#audit")))
	if got := e.text("#audit tbody"); !strings.Contains(got, "customer.erase") {
		t.Fatalf("audit: %q", got)
	}
	e.open("/audit?action=customer.")
	e.do("audit", chromedp.WaitVisible(chromedp.CSS("#audit")))
	e.screenshot("audit")
}
