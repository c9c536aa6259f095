package http

import (
	"context"
	"net/http/httptest"
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

// signInWith signs in through the sign-in page and fails unless it lands
// on want.
func signInWith(e *e2e, email, password, want string) {
	e.t.Helper()
	e.open("/login")
	e.do("sign-in form", chromedp.WaitVisible(chromedp.CSS("#email")))
	e.fill("#email", email, "#password", password)
	e.submit("sign in as "+email, "button[type=submit]")
	if loc := e.location(); loc != want {
		e.t.Fatalf("after signing in as %s: at %q, want %q: %q", email, loc, want, e.text("main"))
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
	e.submit("forgotten-password link", `a[href="/forgot"]`)
	if loc := e.location(); loc != "/forgot" {
		t.Fatalf("the link led to %q", loc)
	}
	e.do("address form", chromedp.WaitVisible(chromedp.CSS("#email")))
	e.screenshot("forgot")
	e.fill("#email", "Grace.Reset@Example.com")
	e.submit("send the link", `form[action="/forgot"] button[type=submit]`)
	if got := e.text("main"); !strings.Contains(got, "If an account uses that address, a link to choose a new password is on its way") {
		t.Fatalf("after asking for a link: %q", got)
	}
	path, tok := mailedLink(t, smtpd, email)
	if path != "/reset" {
		t.Fatalf("the mail links to %s", path)
	}

	e.open("/reset?token=" + tok)
	e.do("new-password form", chromedp.WaitVisible(chromedp.CSS("#password")))
	// A password the strength estimator refuses: the message is next to
	// the field and the link stays good.
	e.fill("#password", "password password password")
	e.submit("weak password", "button[type=submit]")
	e.do("password error", chromedp.WaitVisible(chromedp.CSS("#password-error")))
	if got := e.text("#password-error"); got == "" {
		t.Fatal("the weak password's message is empty")
	}
	e.screenshot("reset-weak")
	e.fill("#password", next)
	e.submit("set the password", "button[type=submit]")
	if got := e.text("main"); !strings.Contains(got, "Your password is set") {
		t.Fatalf("after setting the password: %q", got)
	}
	e.screenshot("reset-done")

	signInWith(e, email, next, "/customers")
	if got := e.text(".who .name"); got != "Grace Reset" {
		t.Fatalf("signed in as %q", got)
	}

	// The link a second time: the page opens (mail scanners fetch links)
	// but refuses the password.
	e.open("/reset?token=" + tok)
	e.fill("#password", "another long passphrase nobody guesses")
	e.submit("reuse the link", "button[type=submit]")
	if got := e.text("[role=alert]"); !strings.Contains(got, "invalid, expired or already used") {
		t.Fatalf("the used link answered %q", got)
	}
	if strings.Contains(e.text("main"), "Your password is set") {
		t.Fatal("the used link set a password")
	}

	// The old password no longer signs in; the new one still does.
	e.open("/customers")
	e.submit("sign out", ".who button")
	e.fill("#email", email, "#password", testPassword)
	e.submit("old password", "button[type=submit]")
	if loc, got := e.location(), e.text("[role=alert]"); !strings.HasPrefix(loc, "/login") || got != "The email address or password is incorrect." {
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
		e.do("invitation form", chromedp.WaitVisible(chromedp.CSS("#invite_email")))
		e.fill("#invite_email", email, "#invite_role", "agent")
		e.submit("invite "+email, `form[action="/admin/users/invite"] button[type=submit]`)
		if got := e.text(".flash"); !strings.Contains(got, "Invitation created for "+email) || !strings.Contains(got, "It was e-mailed to them") {
			t.Fatalf("after inviting %s: %q", email, got)
		}
		path, tok := mailedLink(t, smtpd, email)
		if path != "/register" {
			t.Fatalf("the invitation links to %s", path)
		}
		if shown := e.text("#invite-link"); !strings.Contains(shown, tok) {
			t.Fatalf("the page shows the link %q, the mail has another", shown)
		}
		return tok
	}
	revoked := invite("revoke.me@example.com")
	e.screenshot("users-invited")
	welcome := invite("welcome.aboard@example.com")

	e.open("/admin/users")
	e.do("invitation list", chromedp.WaitVisible(chromedp.CSS("#invitation-list")))
	state, action := inviteRow(e, "revoke.me@example.com")
	if state != "pending" || action == "" {
		t.Fatalf("the invitation is listed as %q with revoke form %q", state, action)
	}
	if st, _ := inviteRow(e, "welcome.aboard@example.com"); st != "pending" {
		t.Fatalf("the second invitation is listed as %q", st)
	}
	e.submit("revoke", `form[action="`+action+`"] button[type=submit]`)
	if loc, got := e.location(), e.text(".flash"); loc != "/admin/users" || !strings.Contains(got, "Invitation revoked") {
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
	o.do("registration form", chromedp.WaitVisible(chromedp.CSS("#name")))
	o.fill("#name", "Rex Revoked", "#password", testPassword)
	o.submit("register with the revoked link", "button[type=submit]")
	if got := o.text("[role=alert]"); !strings.Contains(got, "invalid, expired or already used") {
		t.Fatalf("the revoked link answered %q", got)
	}
	if _, err := s.acc.UserByEmail(context.Background(), "revoke.me@example.com"); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("the revoked invitation made an account: %v", err)
	}

	o.open("/register?token=" + welcome)
	o.do("registration form", chromedp.WaitVisible(chromedp.CSS("#name")))
	o.screenshot("register")
	o.fill("#name", "Wendy Welcome", "#password", testPassword)
	o.submit("register", "button[type=submit]")
	if got := o.text("main"); !strings.Contains(got, "Your account is ready") {
		t.Fatalf("after registering: %q", got)
	}
	signInWith(o, "welcome.aboard@example.com", testPassword, "/customers")
	if got := o.text(".who .name"); got != "Wendy Welcome" {
		t.Fatalf("the new account signed in as %q", got)
	}
	o.checkClean()

	e.open("/admin/users")
	if got := e.text("#users tbody"); !strings.Contains(got, "Wendy Welcome") || !strings.Contains(got, "welcome.aboard@example.com") {
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
	e.do("task form", chromedp.WaitVisible(chromedp.CSS("#task-title")))
	// The form starts due today and assigned to oneself.
	if got := e.value("#task-due"); got != today.Format("2006-01-02") {
		t.Fatalf("the due date starts as %q", got)
	}
	if got := readPage(e, "assignee", chromedp.Evaluate[string](`document.querySelector("#task-assignee").selectedOptions[0].textContent.trim()`)); got != "Ada Admin" {
		t.Fatalf("the assignee starts as %q", got)
	}
	e.fill("#task-title", title, "#task-due", today.Format("2006-01-02"))
	e.submit("add the task", ".task-form button[type=submit]")
	e.do("task list", chromedp.WaitVisible(chromedp.CSS("#task-list")))
	if got := e.text(".flash"); !strings.Contains(got, "Task added.") {
		t.Fatalf("after adding: %q", got)
	}
	if row := e.text("#task-list tbody tr"); !strings.Contains(row, title) || !strings.Contains(row, "Ada Admin") || !strings.Contains(row, "open") || !strings.Contains(row, today.Format("2 Jan 2006")) {
		t.Fatalf("the task is shown as %q", row)
	}
	e.screenshot("customer-tasks")

	e.submit("my tasks", `nav a[href="/tasks"]`)
	e.do("my tasks", chromedp.WaitVisible(chromedp.CSS("#my-tasks")))
	if h := e.text("#my-tasks-h"); h != "Due today or overdue" {
		t.Fatalf("the section is %q", h)
	}
	row := e.text("#my-tasks tbody tr")
	if !strings.Contains(row, title) || !strings.Contains(row, "Tess Tasked") || !strings.Contains(row, "today") || strings.Contains(row, "overdue") {
		t.Fatalf("my tasks shows %q", row)
	}
	e.screenshot("my-tasks")
	e.submit("done", "#my-tasks form[action$='/done'] button[type=submit]")
	if loc := e.location(); loc != "/tasks" {
		t.Fatalf("after marking it done: at %q", loc)
	}
	e.do("empty list", chromedp.WaitVisible(chromedp.CSS("#no-tasks")))
	if got := e.text("main"); strings.Contains(got, title) || !strings.Contains(got, "Task updated.") {
		t.Fatalf("after marking it done: %q", got)
	}
	e.screenshot("my-tasks-done")

	e.open("/customers/" + c.ID)
	e.do("task list", chromedp.WaitVisible(chromedp.CSS("#task-list")))
	if row := e.text("#task-list tbody tr"); !strings.Contains(row, title) || !strings.Contains(row, "done") || !strings.Contains(row, "Reopen") {
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
	e.do("name form", chromedp.WaitVisible(chromedp.CSS("#profile_name")))
	if got := e.value("#profile_name"); got != "Ada Admin" {
		t.Fatalf("the form starts with %q", got)
	}
	e.fill("#profile_name", "<script>")
	e.submit("invalid name", form+" button[type=submit]")
	e.do("name error", chromedp.WaitVisible(chromedp.CSS("#profile_name-error")))
	if got := e.text(".who .name"); got != "Ada Admin" {
		t.Fatalf("the refused name changed the header to %q", got)
	}

	const name = "Augusta Ada King"
	e.fill("#profile_name", name)
	e.submit("save the name", form+" button[type=submit]")
	if got := e.text(".flash"); !strings.Contains(got, "Your name has been changed.") {
		t.Fatalf("after saving: %q", got)
	}
	e.do("reload", chromedp.Reload())
	e.do("name form", chromedp.WaitVisible(chromedp.CSS("#profile_name")))
	if got := e.text(".who .name"); got != name {
		t.Fatalf("the header shows %q after a reload", got)
	}
	if got := e.value("#profile_name"); got != name {
		t.Fatalf("the form shows %q after a reload", got)
	}
	e.screenshot("account-name")
	e.open("/customers")
	if got := e.text(".who .name"); got != name {
		t.Fatalf("another page's header shows %q", got)
	}
	e.checkClean()
}
