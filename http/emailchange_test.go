package http

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/internal/fakeclock"
	"github.com/custodian-crm/custodian/internal/testsmtp"
)

// emailLinkRE finds the address confirmation link in a mail.
var emailLinkRE = regexp.MustCompile(regexp.QuoteMeta(testPublicURL) + `/account/email\?token=(cst_eml_[A-Za-z0-9_\-]+)`)

// emailChangeMails receives the two mails of an address-change request
// and returns them by recipient.
func emailChangeMails(t *testing.T, smtpd *testsmtp.Server) map[string]string {
	t.Helper()
	got := map[string]string{}
	for range 2 {
		m := smtpd.Receive(t)
		if len(m.To) != 1 {
			t.Fatalf("mail to %v", m.To)
		}
		got[m.To[0]] = m.Data
	}
	return got
}

// confirmationToken returns the token of the confirmation link in mail,
// failing when it has none.
func confirmationToken(t *testing.T, mail string) string {
	t.Helper()
	g := emailLinkRE.FindStringSubmatch(mail)
	if g == nil {
		t.Fatalf("no confirmation link in the mail:\n%s", mail)
	}
	return g[1]
}

// confirmEmail redeems a confirmation token through the API, without a
// session, and returns the answer's status.
func confirmEmail(s *testServer, tok string) int {
	s.t.Helper()
	return (&browser{s: s}).do("POST", "/api/auth/email/confirm/", `{"token":"`+tok+`"}`).StatusCode
}

// storedEmail returns the sign-in address stored for the user id.
func storedEmail(t *testing.T, s *testServer, id string) string {
	t.Helper()
	u, err := s.store.UserByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u.Email
}

// TestEmailChangeIsConfirmedByAMailedLink walks the change of one's own
// sign-in address through a real SMTP listener: the account page asks for
// the new address and the password; the link goes to the new address and
// a notice without link (the new address masked) to the old one; nothing
// changes until the link is opened, and opening the page of the link
// changes nothing either (mail scanners fetch links); confirming in the
// browser session keeps it and ends the others; the link works once.
func TestEmailChangeIsConfirmedByAMailedLink(t *testing.T) {
	s, smtpd := newMailingServer(t)
	c := s.web()
	u := c.signIn("old.address@example.com", custodian.RoleAgent)
	other := s.web()
	other.addr = "198.51.100.30"
	if p := other.post("/login", "/login", url.Values{"email": {"old.address@example.com"}, "password": {testPassword}}); p.code != 303 {
		t.Fatalf("second sign-in: %d", p.code)
	}
	if p := c.get("/account"); !strings.Contains(p.body, `action="/account/email/change"`) || strings.Contains(p.body, "email-unavailable") {
		t.Fatalf("no address form: %s", p.body)
	}

	// A wrong password changes and mails nothing.
	p := c.post("/account", "/account/email/change", url.Values{"email": {"new.address@example.com"}, "current_password": {"not my password"}})
	if p.code != 401 || !strings.Contains(p.body, "email_current_password-error") || !strings.Contains(p.body, `value="new.address@example.com"`) {
		t.Fatalf("wrong password: %d %s", p.code, p.body)
	}
	smtpd.None(t, 200*time.Millisecond)

	p = c.post("/account", "/account/email/change", url.Values{"email": {"New.Address@Example.com"}, "current_password": {testPassword}})
	if p.code != 303 {
		t.Fatalf("request: %d %s", p.code, p.body)
	}
	if p = c.get("/account"); !strings.Contains(p.body, "A link to confirm your new address has been sent to it") {
		t.Fatalf("no confirmation shown: %s", p.body)
	}
	mails := emailChangeMails(t, smtpd)
	tok := confirmationToken(t, mails["new.address@example.com"])
	notice := mails["old.address@example.com"]
	if notice == "" || strings.Contains(notice, "token=") || strings.Contains(notice, "new.address") || !strings.Contains(notice, "n***@e***.com") {
		t.Fatalf("the notice to the old address:\n%s", notice)
	}
	if got := storedEmail(t, s, u.ID); got != "old.address@example.com" {
		t.Fatalf("the address changed before the link was opened: %s", got)
	}

	// Opening the link shows a button; only posting it changes anything.
	page := s.web().get("/account/email?token=" + tok)
	if page.code != 200 || !strings.Contains(page.body, `action="/account/email"`) || page.hdr.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("link page: %d %v %s", page.code, page.hdr, page.body)
	}
	if got := storedEmail(t, s, u.ID); got != "old.address@example.com" {
		t.Fatalf("opening the link page changed the address: %s", got)
	}
	done := c.do("POST", "/account/email", url.Values{"token": {tok}})
	if done.code != 200 || !strings.Contains(done.body, "Your sign-in address is changed") {
		t.Fatalf("confirm: %d %s", done.code, done.body)
	}
	if got := storedEmail(t, s, u.ID); got != "new.address@example.com" {
		t.Fatalf("stored address %s", got)
	}
	if p := c.get("/account"); p.code != 200 || !strings.Contains(p.body, "new.address@example.com") {
		t.Fatalf("the confirming session: %d", p.code)
	}
	if p := other.get("/account"); p.code != 303 {
		t.Fatalf("the other session survived the change: %d", p.code)
	}
	// Once only.
	again := c.do("POST", "/account/email", url.Values{"token": {tok}})
	if again.code != 404 || !strings.Contains(again.body, "invalid, expired or already used") {
		t.Fatalf("second use: %d %s", again.code, again.body)
	}
	if code := confirmEmail(s, tok); code != 404 {
		t.Fatalf("second use through the API: %d", code)
	}
	// The new address signs in; the old one no longer does.
	if p := s.web().post("/login", "/login", url.Values{"email": {"new.address@example.com"}, "password": {testPassword}}); p.code != 303 {
		t.Fatalf("sign-in with the new address: %d", p.code)
	}
	actions := s.actions(u.ID, "user.email", "@") // no address on the trail
	if strings.Join(actions, " ") != "user.email user.email_request" {
		t.Fatalf("address events, newest first: %v", actions)
	}
}

// TestEmailChangeLinks checks the links' rules: a new request replaces the
// pending one, a link expires after 30 minutes, and an address another
// account has taken is refused, at the request (the same answer as a free
// one, and no link) and at the confirmation.
func TestEmailChangeLinks(t *testing.T) {
	clock := fakeclock.New(time.Now().UTC().Truncate(time.Second))
	s, smtpd := newMailingServer(t, func(c *accounts.Config) { c.Now = clock.Now })
	ctx := context.Background()
	if _, err := s.acc.CreateUser(ctx, "taken@example.com", "Taken", custodian.RoleViewer, testPassword); err != nil {
		t.Fatal(err)
	}
	b, u := s.signedIn("mover@example.com", custodian.RoleAgent)
	request := func(email string) response {
		t.Helper()
		return b.do("POST", "/api/auth/email/", `{"current_password":"`+testPassword+`","email":"`+email+`"}`)
	}

	// A second request replaces the first.
	if r := request("first@example.com"); r.StatusCode != 202 {
		t.Fatalf("request: %d %s", r.StatusCode, r.body)
	}
	first := confirmationToken(t, emailChangeMails(t, smtpd)["first@example.com"])
	if r := request("second@example.com"); r.StatusCode != 202 {
		t.Fatalf("request: %d %s", r.StatusCode, r.body)
	}
	second := confirmationToken(t, emailChangeMails(t, smtpd)["second@example.com"])
	if code := confirmEmail(s, first); code != 404 {
		t.Fatalf("the replaced link: %d", code)
	}
	if got := storedEmail(t, s, u.ID); got != "mover@example.com" {
		t.Fatalf("the replaced link changed the address to %s", got)
	}

	// It expires.
	clock.Advance(30*time.Minute + time.Second) // the link lives 30 minutes
	if code := confirmEmail(s, second); code != 404 {
		t.Fatalf("an expired link: %d", code)
	}
	if got := storedEmail(t, s, u.ID); got != "mover@example.com" {
		t.Fatalf("the expired link changed the address to %s", got)
	}

	// A taken address gets the same answer as a free one, and its holder
	// a message without link.
	b, u = s.signedIn("mover2@example.com", custodian.RoleAgent)
	free, taken := request("free@example.com"), request("Taken@example.com")
	if free.StatusCode != 202 || taken.StatusCode != 202 || len(free.json(t)) != len(taken.json(t)) {
		t.Fatalf("free %d %s, taken %d %s", free.StatusCode, free.body, taken.StatusCode, taken.body)
	}
	// Four mails, in whatever order the mailer delivers them: the link to
	// free@, the message to taken@ and a notice for each request.
	mails := emailChangeMails(t, smtpd)
	for k, v := range emailChangeMails(t, smtpd) {
		mails[k] = v
	}
	freeTok := confirmationToken(t, mails["free@example.com"])
	if m := mails["taken@example.com"]; m == "" || strings.Contains(m, "token=") || !strings.Contains(m, "already belongs to an account") {
		t.Fatalf("the mail to a taken address:\n%s", m)
	}
	if mails["mover2@example.com"] == "" {
		t.Fatal("no notice to the current address")
	}
	// The request for the taken address replaced the one for free@.
	if code := confirmEmail(s, freeTok); code != 404 {
		t.Fatalf("the replaced link: %d", code)
	}
	if got := storedEmail(t, s, u.ID); got != "mover2@example.com" {
		t.Fatalf("the address changed to %s", got)
	}

	// Three requests an hour per account: the fourth is refused, and
	// mails nothing.
	if r := request("third@example.com"); r.StatusCode != 202 {
		t.Fatalf("the third request: %d %s", r.StatusCode, r.body)
	}
	emailChangeMails(t, smtpd)
	if r := request("fourth@example.com"); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("the fourth request in an hour: %d %s", r.StatusCode, r.body)
	}
	smtpd.None(t, 200*time.Millisecond)

	// An address taken between the request and the confirmation.
	clock.Advance(time.Hour + time.Second)
	b, u = s.signedIn("mover3@example.com", custodian.RoleAgent)
	if r := request("late@example.com"); r.StatusCode != 202 {
		t.Fatalf("request: %d %s", r.StatusCode, r.body)
	}
	late := confirmationToken(t, emailChangeMails(t, smtpd)["late@example.com"])
	if _, err := s.acc.CreateUser(ctx, "late@example.com", "Late", custodian.RoleViewer, testPassword); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, (&browser{s: s}).do("POST", "/api/auth/email/confirm/", `{"token":"`+late+`"}`), 409, custodian.ECONFLICT)
	if got := storedEmail(t, s, u.ID); got != "mover3@example.com" {
		t.Fatalf("the address changed to a taken one: %s", got)
	}
	// An access token alone may not ask.
	wantProblem(t, s.do("POST", "/api/auth/email/", `{"current_password":"`+testPassword+`","email":"x@example.com"}`), 403, custodian.EFORBIDDEN)
}

// TestEmailChangeWithoutMail says on the account page that the address
// cannot be changed there, and the API answers 503: nothing pretends a
// link was sent.
func TestEmailChangeWithoutMail(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	c.signIn("nomail@example.com", custodian.RoleAgent)
	if p := c.get("/account"); !strings.Contains(p.body, `id="email-unavailable"`) || strings.Contains(p.body, `action="/account/email/change"`) {
		t.Fatalf("account page without mail: %s", p.body)
	}
	p := c.post("/account", "/account/email/change", url.Values{"email": {"elsewhere@example.com"}, "current_password": {testPassword}})
	if p.code != 503 || !strings.Contains(p.body, "does not send e-mail") {
		t.Fatalf("form without mail: %d %s", p.code, p.body)
	}
	b, _ := s.signedIn("nomail2@example.com", custodian.RoleAgent)
	wantProblem(t, b.do("POST", "/api/auth/email/", `{"current_password":"`+testPassword+`","email":"elsewhere@example.com"}`), 503, custodian.EUNAVAILABLE)
}
