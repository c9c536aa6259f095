package http

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/testsmtp"
)

// inEnglish makes the browser ask for English pages, so that the text the
// tests read does not follow the machine's language.
func inEnglish(e *e2e) {
	e.t.Helper()
	if _, err := chromedp.Call(e.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "en"}}); err != nil {
		e.t.Fatalf("set Accept-Language: %v", err)
	}
}

// newMailingE2E is a browser, asking for English, on a server that mails
// through the account mailer to a real SMTP listener; it returns the
// server's parts, the listener and the browser's path to Chromium and
// the server's address, for opening a second browser.
func newMailingE2E(t *testing.T) (e *e2e, s *testServer, smtpd *testsmtp.Server, chromium, base string) {
	t.Helper()
	chromium = chromiumPath(t)
	s, smtpd = newMailingServer(t)
	srv := httptest.NewTLSServer(s.h)
	t.Cleanup(srv.Close)
	e = openBrowser(t, chromium, srv.URL, nil)
	inEnglish(e)
	return e, s, smtpd, chromium, srv.URL
}

// textNow reads the text of the element sel finds on the page as it is
// (the harness's reads wait for one to appear), failing at once, with
// the page's text, when there is none.
func textNow(e *e2e, sel string) string {
	e.t.Helper()
	got := readPage(e, "text of "+sel, chromedp.Evaluate[[]string](`(s => { const n = document.querySelector(s); return n ? [n.textContent] : []; })(`+strconv.Quote(sel)+`)`))
	if len(got) == 0 {
		e.t.Fatalf("%s has no %s: %q", e.location(), sel, readPage(e, "page text", chromedp.Evaluate[string](`document.body.innerText`)))
	}
	return got[0]
}

// need fails the test at once unless the page has an element sel finds.
func need(e *e2e, sel string) {
	e.t.Helper()
	textNow(e, sel)
}

// click is the harness's submit, failing at once when the page has
// nothing sel finds rather than waiting for it.
func click(e *e2e, what, sel string) {
	e.t.Helper()
	need(e, sel)
	e.submit(what, sel)
}

// signInWith signs in through the sign-in page and fails unless it lands
// on want.
func signInWith(e *e2e, email, password, want string) {
	e.t.Helper()
	e.open("/login")
	need(e, "#email")
	e.fill("#email", email, "#password", password)
	click(e, "sign in as "+email, "button[type=submit]")
	if loc := e.location(); loc != want {
		e.t.Fatalf("after signing in as %s: at %q, want %q: %q", email, loc, want, textNow(e, "main"))
	}
}

// TestBrowserPasswordReset follows "Forgot your password?" from the
// sign-in page, reads the link from a real SMTP listener, sets a new
// password on the link's page (a weak one refused first, the link still
// good), signs in with it; the link refuses a second use, and the old
// password no longer signs in.
func TestBrowserPasswordReset(t *testing.T) {
	e, s, smtpd, _, _ := newMailingE2E(t)
	const email, next = "grace.reset@example.com", "violet lantern drifts over quarry seven"
	if _, err := s.acc.CreateUser(context.Background(), email, "Grace Reset", custodian.RoleAgent, testPassword); err != nil {
		t.Fatal(err)
	}

	e.open("/login")
	click(e, "forgotten-password link", `a[href="/forgot"]`)
	if loc := e.location(); loc != "/forgot" {
		t.Fatalf("the link led to %q", loc)
	}
	need(e, "#email")
	e.screenshot("forgot")
	e.fill("#email", "Grace.Reset@Example.com")
	click(e, "send the link", `form[action="/forgot"] button[type=submit]`)
	if got := textNow(e, "main"); !strings.Contains(got, "If an account uses that address, a link to choose a new password is on its way") {
		t.Fatalf("after asking for a link: %q", got)
	}
	path, tok := mailedLink(t, smtpd, email)
	if path != "/reset" {
		t.Fatalf("the mail links to %s", path)
	}

	e.open("/reset?token=" + tok)
	need(e, "#password")
	// A password the strength estimator refuses: the message is next to
	// the field and the link stays good.
	e.fill("#password", "password password password")
	click(e, "weak password", "button[type=submit]")
	need(e, "#password-error")
	if got := textNow(e, "#password-error"); got == "" {
		t.Fatal("the weak password's message is empty")
	}
	e.screenshot("reset-weak")
	e.fill("#password", next)
	click(e, "set the password", "button[type=submit]")
	if got := textNow(e, "main"); !strings.Contains(got, "Your password is set") {
		t.Fatalf("after setting the password: %q", got)
	}
	e.screenshot("reset-done")

	signInWith(e, email, next, "/customers")
	if got := textNow(e, ".who .name"); got != "Grace Reset" {
		t.Fatalf("signed in as %q", got)
	}

	// The link a second time: the page opens (mail scanners fetch links)
	// but refuses the password.
	e.open("/reset?token=" + tok)
	e.fill("#password", "another long passphrase nobody guesses")
	click(e, "reuse the link", "button[type=submit]")
	if got := textNow(e, "[role=alert]"); !strings.Contains(got, "invalid, expired or already used") {
		t.Fatalf("the used link answered %q", got)
	}
	if strings.Contains(textNow(e, "main"), "Your password is set") {
		t.Fatal("the used link set a password")
	}

	// The old password no longer signs in; the new one still does.
	e.open("/customers")
	click(e, "sign out", ".who button")
	e.fill("#email", email, "#password", testPassword)
	click(e, "old password", "button[type=submit]")
	if loc, got := e.location(), textNow(e, "[role=alert]"); !strings.HasPrefix(loc, "/login") || got != "The email address or password is incorrect." {
		t.Fatalf("the old password: at %q, %q", loc, got)
	}
	if _, _, err := s.acc.SignIn(context.Background(), custodian.SignInRequest{Email: email, Password: next}); err != nil {
		t.Fatalf("the new password after the refused reuse: %v", err)
	}
	e.checkClean()
}

// inviteRow returns the state shown for the invitation of email on the
// users page and the action of its revoke form ("" when it has none).
func inviteRow(e *e2e, email string) (state, revoke string) {
	e.t.Helper()
	row := readPage(e, "invitation of "+email, chromedp.Evaluate[[]string](`(() => {
	for (const tr of document.querySelectorAll("#invitation-list tbody tr")) {
		if (tr.querySelector("td[data-label=Email]").textContent.trim() !== `+"`"+email+"`"+`) continue;
		const f = tr.querySelector("form[action$='/revoke']");
		return [tr.querySelector(".invite-state").textContent.trim(), f ? f.getAttribute("action") : ""];
	}
	return ["", ""];
})()`))
	return row[0], row[1]
}

// TestBrowserInvitations has an administrator invite two people on the
// users page. Each mail, read from a real SMTP listener, has the link;
// the first invitation is listed as pending, revoked in the browser and
// listed as revoked, and its link, opened in another browser, is
// refused. The second is accepted through its link in that browser, and
// the new account signs in.
func TestBrowserInvitations(t *testing.T) {
	e, s, smtpd, chromium, base := newMailingE2E(t)
	if _, err := s.acc.CreateUser(context.Background(), "ada.admin@example.com", "Ada Admin", custodian.RoleAdmin, testPassword); err != nil {
		t.Fatal(err)
	}
	signInWith(e, "ada.admin@example.com", testPassword, "/customers")

	invite := func(email string) string {
		t.Helper()
		e.open("/admin/users")
		need(e, "#invite_email")
		e.fill("#invite_email", email, "#invite_role", "agent")
		click(e, "invite "+email, `form[action="/admin/users/invite"] button[type=submit]`)
		if got := textNow(e, ".flash"); !strings.Contains(got, "Invitation created for "+email) || !strings.Contains(got, "It was e-mailed to them") {
			t.Fatalf("after inviting %s: %q", email, got)
		}
		path, tok := mailedLink(t, smtpd, email)
		if path != "/register" {
			t.Fatalf("the invitation links to %s", path)
		}
		if shown := textNow(e, "#invite-link"); !strings.Contains(shown, tok) {
			t.Fatalf("the page shows the link %q, the mail has another", shown)
		}
		return tok
	}
	revoked := invite("revoke.me@example.com")
	e.screenshot("users-invited")
	welcome := invite("welcome.aboard@example.com")

	e.open("/admin/users")
	need(e, "#invitation-list")
	state, action := inviteRow(e, "revoke.me@example.com")
	if state != "pending" || action == "" {
		t.Fatalf("the invitation is listed as %q with revoke form %q", state, action)
	}
	if st, _ := inviteRow(e, "welcome.aboard@example.com"); st != "pending" {
		t.Fatalf("the second invitation is listed as %q", st)
	}
	click(e, "revoke", `form[action="`+action+`"] button[type=submit]`)
	if loc, got := e.location(), textNow(e, ".flash"); loc != "/admin/users" || !strings.Contains(got, "Invitation revoked") {
		t.Fatalf("after revoking: at %q, %q", loc, got)
	}
	if state, action := inviteRow(e, "revoke.me@example.com"); state != "revoked" || action != "" {
		t.Fatalf("after revoking, listed as %q with revoke form %q", state, action)
	}
	e.screenshot("users-revoked")
	e.checkClean()

	// Another browser, with nothing of the administrator's session.
	o := openBrowser(t, chromium, base, nil)
	inEnglish(o)
	o.open("/register?token=" + revoked)
	need(o, "#name")
	o.fill("#name", "Rex Revoked", "#password", testPassword)
	click(o, "register with the revoked link", "button[type=submit]")
	if got := textNow(o, "[role=alert]"); !strings.Contains(got, "invalid, expired or already used") {
		t.Fatalf("the revoked link answered %q", got)
	}
	if _, err := s.acc.UserByEmail(context.Background(), "revoke.me@example.com"); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("the revoked invitation made an account: %v", err)
	}

	o.open("/register?token=" + welcome)
	need(o, "#name")
	o.screenshot("register")
	o.fill("#name", "Wendy Welcome", "#password", testPassword)
	click(o, "register", "button[type=submit]")
	if got := textNow(o, "main"); !strings.Contains(got, "Your account is ready") {
		t.Fatalf("after registering: %q", got)
	}
	signInWith(o, "welcome.aboard@example.com", testPassword, "/customers")
	if got := textNow(o, ".who .name"); got != "Wendy Welcome" {
		t.Fatalf("the new account signed in as %q", got)
	}
	o.checkClean()

	e.open("/admin/users")
	if got := textNow(e, "#users tbody"); !strings.Contains(got, "Wendy Welcome") || !strings.Contains(got, "welcome.aboard@example.com") {
		t.Fatalf("the new account is not listed: %q", got)
	}
	if st, _ := inviteRow(e, "welcome.aboard@example.com"); st != "accepted" {
		t.Fatalf("the accepted invitation is listed as %q", st)
	}
	e.checkClean()
}

// TestBrowserTasks adds a follow-up task due today, assigned to oneself,
// on a customer's page, finds it under "My tasks", marks it done there,
// and sees it leave the open list and show as done on the customer.
func TestBrowserTasks(t *testing.T) {
	e, parts := newE2E(t)
	inEnglish(e)
	signInAsAdmin(e, parts)
	c, err := parts.svc.CreateCustomer(custodian.WithActor(context.Background(), "usr_test"), custodian.CustomerFields{Name: "Tess Tasked", Email: "tess@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const title = "Call back about the renewal"
	today := time.Now().UTC()

	e.open("/customers/" + c.ID)
	need(e, "#task-title")
	// The form starts due today and assigned to oneself.
	if got := e.value("#task-due"); got != today.Format("2006-01-02") {
		t.Fatalf("the due date starts as %q", got)
	}
	if got := readPage(e, "assignee", chromedp.Evaluate[string](`document.querySelector("#task-assignee").selectedOptions[0].textContent.trim()`)); got != "Ada Admin" {
		t.Fatalf("the assignee starts as %q", got)
	}
	e.fill("#task-title", title, "#task-due", today.Format("2006-01-02"))
	click(e, "add the task", ".task-form button[type=submit]")
	need(e, "#task-list")
	if got := textNow(e, ".flash"); !strings.Contains(got, "Task added.") {
		t.Fatalf("after adding: %q", got)
	}
	if row := textNow(e, "#task-list tbody tr"); !strings.Contains(row, title) || !strings.Contains(row, "Ada Admin") || !strings.Contains(row, "open") || !strings.Contains(row, today.Format("2 Jan 2006")) {
		t.Fatalf("the task is shown as %q", row)
	}
	e.screenshot("customer-tasks")

	click(e, "my tasks", `nav a[href="/tasks"]`)
	need(e, "#my-tasks")
	if h := textNow(e, "#my-tasks-h"); h != "Due today or overdue" {
		t.Fatalf("the section is %q", h)
	}
	row := textNow(e, "#my-tasks tbody tr")
	if !strings.Contains(row, title) || !strings.Contains(row, "Tess Tasked") || !strings.Contains(row, "today") || strings.Contains(row, "overdue") {
		t.Fatalf("my tasks shows %q", row)
	}
	e.screenshot("my-tasks")
	click(e, "done", "#my-tasks form[action$='/done'] button[type=submit]")
	if loc := e.location(); loc != "/tasks" {
		t.Fatalf("after marking it done: at %q", loc)
	}
	need(e, "#no-tasks")
	if got := textNow(e, "main"); strings.Contains(got, title) || !strings.Contains(got, "Task updated.") {
		t.Fatalf("after marking it done: %q", got)
	}
	e.screenshot("my-tasks-done")

	e.open("/customers/" + c.ID)
	need(e, "#task-list")
	if row := textNow(e, "#task-list tbody tr"); !strings.Contains(row, title) || !strings.Contains(row, "done") || !strings.Contains(row, "Reopen") {
		t.Fatalf("the customer shows the task as %q", row)
	}
	e.checkClean()
}

// TestBrowserProfileName changes one's own name on the account page: an
// invalid name is refused next to the field and changes nothing; a valid
// one is shown in the header and the form after a reload.
func TestBrowserProfileName(t *testing.T) {
	e, parts := newE2E(t)
	inEnglish(e)
	signInAsAdmin(e, parts)
	const form = `form[action="/account/name"]`

	e.open("/account")
	need(e, "#profile_name")
	if got := e.value("#profile_name"); got != "Ada Admin" {
		t.Fatalf("the form starts with %q", got)
	}
	e.fill("#profile_name", "<script>")
	click(e, "invalid name", form+" button[type=submit]")
	need(e, "#profile_name-error")
	if got := textNow(e, ".who .name"); got != "Ada Admin" {
		t.Fatalf("the refused name changed the header to %q", got)
	}

	const name = "Augusta Ada King"
	e.fill("#profile_name", name)
	click(e, "save the name", form+" button[type=submit]")
	if got := textNow(e, ".flash"); !strings.Contains(got, "Your name has been changed.") {
		t.Fatalf("after saving: %q", got)
	}
	e.do("reload", chromedp.Reload())
	need(e, "#profile_name")
	if got := textNow(e, ".who .name"); got != name {
		t.Fatalf("the header shows %q after a reload", got)
	}
	if got := e.value("#profile_name"); got != name {
		t.Fatalf("the form shows %q after a reload", got)
	}
	e.screenshot("account-name")
	e.open("/customers")
	if got := textNow(e, ".who .name"); got != name {
		t.Fatalf("another page's header shows %q", got)
	}
	e.checkClean()
}
