package http

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
)

// signInAs creates a user with the role and signs the browser in as them.
func signInAs(e *e2e, parts *testServerParts, email string, role custodian.Role) {
	e.t.Helper()
	if _, err := parts.h.acc.CreateUser(context.Background(), email, "Test "+string(role), role, testPassword); err != nil {
		e.t.Fatal(err)
	}
	e.open("/login")
	e.fill("#email", email, "#password", testPassword)
	e.submit("sign in", "button[type=submit]")
}

// listNames reads the names of the customers the list shows, in order.
func listNames(e *e2e) string {
	e.t.Helper()
	return strings.Join(readPage(e, "names", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('#customers tbody td[data-label=Name]')).map(td => td.textContent.trim())`)), ", ")
}

// viewLinks reads the views bar: each link's text, the current one
// marked with a *.
func viewLinks(e *e2e) string {
	e.t.Helper()
	return strings.Join(readPage(e, "views", chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('#view-list a')).map(a => (a.getAttribute('aria-current') ? '*' : '') + a.textContent.trim().replace(/\s+/g, ' '))`)), ", ")
}

// TestBrowserSavedViews: an agent filters the list, saves it as a view,
// finds it after a reload and opens it to the same filtered list (by its
// address too, as a bookmark would); renames and deletes it. A manager's
// shared view appears for the agent, who cannot share views nor change
// the shared one; neither sees the other's private views. The bar works
// at 390 and 1280 pixels and in dark mode, under the strict CSP.
func TestBrowserSavedViews(t *testing.T) {
	e, parts := newE2E(t)
	ctx := custodian.WithActor(context.Background(), "usr_test")
	for _, c := range []custodian.CustomerFields{
		{Name: "Ada Lovelace", Email: "ada@example.com", Status: custodian.StatusLead, Tags: []string{"vip"}},
		{Name: "Adam Smith", Status: custodian.StatusActive},
		{Name: "Alan Turing", Status: custodian.StatusActive, Tags: []string{"vip"}},
		{Name: "Grace Hopper", Status: custodian.StatusLead},
	} {
		if _, err := parts.svc.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	signInAs(e, parts, "agent@example.com", custodian.RoleAgent)
	e.open("/customers")
	if got := viewLinks(e); got != "" {
		t.Fatalf("a new user has views %q", got)
	}
	if n := readPage(e, "share box", chromedp.Evaluate[int](`document.querySelectorAll('#view-shared').length`)); n != 0 {
		t.Fatal("an agent is offered to share a view")
	}

	// Filter the list: "ada", leads only, by name; save it as a view.
	e.fill("#q", "ada")
	e.do("leads", chromedp.SetValue(chromedp.CSS("#status"), "lead"), chromedp.SetValue(chromedp.CSS("#sort"), "name"))
	e.submit("search", `form.filters button[type=submit]`)
	if got := listNames(e); got != "Ada Lovelace" {
		t.Fatalf("filtered list %q", got)
	}
	e.do("open the save form", chromedp.Click(chromedp.CSS("#view-save summary"), chromedp.NodeVisible))
	e.fill("#view-name", "My Ada leads")
	e.submit("save view", "#view-save-button")
	loc := e.location()
	if !strings.HasPrefix(loc, "/customers?view="+custodian.ViewIDPrefix) || strings.Contains(loc, "ada") {
		t.Fatalf("a saved view opens at %q", loc)
	}
	if got := e.text(".flash"); got != "View saved." {
		t.Fatalf("flash %q", got)
	}
	if got := viewLinks(e); got != "*My Ada leads" {
		t.Fatalf("views bar %q", got)
	}
	// The same name again is refused on the form, and nothing is saved.
	e.do("open the save form", chromedp.Click(chromedp.CSS("#view-save summary"), chromedp.NodeVisible))
	e.fill("#view-name", "my ada LEADS")
	e.submit("save view", "#view-save-button")
	if got := e.text("#view-name-error"); got != "A view with this name exists already." {
		t.Fatalf("duplicate name: %q", got)
	}
	if got := viewLinks(e); got != "My Ada leads" {
		t.Fatalf("views bar after a refused save %q", got)
	}

	// Reloaded without filters, the list shows everyone; the view brings
	// the filtered list back, its search and filters in the form.
	e.open("/customers")
	if got := listNames(e); !strings.Contains(got, "Grace Hopper") || !strings.Contains(got, "Alan Turing") {
		t.Fatalf("unfiltered list %q", got)
	}
	e.submit("open the view", "#view-list a")
	if got := listNames(e); got != "Ada Lovelace" {
		t.Fatalf("the view shows %q", got)
	}
	if q, status, sort := e.value("#q"), e.value("#status"), e.value("#sort"); q != "ada" || status != "lead" || sort != "name" {
		t.Fatalf("the view's form: q %q, status %q, sort %q", q, status, sort)
	}
	if e.location() != loc {
		t.Fatalf("the view opens at %q, saved at %q", e.location(), loc)
	}
	e.open(loc) // as a bookmark
	if got := listNames(e); got != "Ada Lovelace" {
		t.Fatalf("the bookmarked view shows %q", got)
	}

	// A manager, in another browser, saves a shared view of the VIPs.
	m := openBrowser(t, chromiumPath(t), e.base, parts.svc)
	signInAs(m, parts, "manager@example.com", custodian.RoleManager)
	m.open("/customers")
	if got := viewLinks(m); got != "" {
		t.Fatalf("the manager sees the agent's views: %q", got)
	}
	m.fill("#tag", "vip")
	m.submit("search", `form.filters button[type=submit]`)
	m.do("open the save form", chromedp.Click(chromedp.CSS("#view-save summary"), chromedp.NodeVisible))
	m.fill("#view-name", "Team VIPs")
	m.do("share", chromedp.Click(chromedp.CSS("#view-shared"), chromedp.NodeVisible))
	m.submit("save view", "#view-save-button")
	if got := viewLinks(m); got != "*Team VIPs shared" {
		t.Fatalf("manager's views bar %q", got)
	}
	m.checkClean()

	// The agent sees it, shared first, and opens it.
	e.open("/customers")
	if got := viewLinks(e); got != "Team VIPs shared, My Ada leads" {
		t.Fatalf("agent's views bar %q", got)
	}
	e.submit("open the shared view", "#view-list a.shared")
	if got := listNames(e); got != "Alan Turing, Ada Lovelace" && got != "Ada Lovelace, Alan Turing" {
		t.Fatalf("the shared view shows %q", got)
	}
	if e.value("#tag") != "vip" {
		t.Fatalf("the shared view's tag %q", e.value("#tag"))
	}
	// The agent manages their own view only.
	e.do("open manage", chromedp.Click(chromedp.CSS("#view-manage summary"), chromedp.NodeVisible))
	if n := readPage(e, "manage rows", chromedp.Evaluate[int](`document.querySelectorAll('#view-manage .view-row').length`)); n != 1 {
		t.Fatalf("the agent may manage %d views, want their own 1", n)
	}

	// 1280 and 390 pixels, light and dark: nothing overflows, and the bar
	// keeps its contrast.
	for _, scheme := range []string{"light", "dark"} {
		if _, err := chromedp.Call(e.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatal(err)
		}
		for _, w := range []int64{1280, 390} {
			e.do("viewport", chromedp.EmulateViewport(w, 844))
			over := readPage(e, "overflow", chromedp.Evaluate[float64](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
			if over > 0 {
				t.Errorf("%s, %d px: the page is %.0f pixels too wide", scheme, w, over)
			}
			c := readPage(e, "contrast", chromedp.Evaluate[map[string]float64](viewsContrastJS))
			for what, r := range c {
				if r < 4.5 {
					t.Errorf("%s, %d px: %s contrast %.2f:1, below 4.5:1", scheme, w, what, r)
				}
			}
		}
		e.do("desktop", chromedp.EmulateViewport(1280, 800))
		e.screenshot("customers-views-" + scheme)
	}
	if _, err := chromedp.Call(e.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}}); err != nil {
		t.Fatal(err)
	}

	// Rename, then delete, the agent's view.
	e.open("/customers")
	e.do("open manage", chromedp.Click(chromedp.CSS("#view-manage summary"), chromedp.NodeVisible))
	e.do("new name", chromedp.SetValue(chromedp.CSS("#view-manage input[name=name]"), "Ada, leads"))
	e.submit("rename", "#view-manage button.secondary")
	if got := viewLinks(e); got != "Team VIPs shared, *Ada, leads" {
		t.Fatalf("after renaming: %q", got)
	}
	e.do("open manage", chromedp.Click(chromedp.CSS("#view-manage summary"), chromedp.NodeVisible))
	e.submit("delete", "#view-manage button.danger")
	if got := e.text(".flash"); got != "View deleted." {
		t.Fatalf("flash %q", got)
	}
	if got := viewLinks(e); got != "Team VIPs shared" {
		t.Fatalf("after deleting: %q", got)
	}
	e.open(loc)
	if got := e.text(".flash"); !strings.Contains(got, "That view does not exist") {
		t.Fatalf("a deleted view's address: %q", got)
	}
	e.checkClean()
}

// viewsContrastJS measures the WCAG contrast of the views bar's links
// (the current one included) and its heading against their backgrounds.
const viewsContrastJS = `(() => {` + contrastFuncsJS + `
  const out = {heading: contrastOf(document.getElementById('views-h'))};
  document.querySelectorAll('#view-list a, #view-list .view-kind').forEach((el, i) => { out['view ' + i + ' ' + el.className] = contrastOf(el); });
  return out;
})()`
