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
	"github.com/custodian-crm/custodian/alerting"
	"github.com/custodian-crm/custodian/internal/testsmtp"
	"github.com/custodian-crm/custodian/ratelimit"
)

// testPublicURL is where the mailing test servers say they are.
const testPublicURL = "https://crm.example.test"

// newMailingServer returns a test server (with an administrator token)
// whose account service mails through the product's own account mailer
// to a real SMTP listener, which it returns.
func newMailingServer(t *testing.T, adjust ...func(*accounts.Config)) (*testServer, *testsmtp.Server) {
	t.Helper()
	smtpd := testsmtp.Start(t, nil)
	m, err := alerting.NewAccountMailer(alerting.MailerConfig{Addr: smtpd.Addr(), From: "custodian@example.test", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	cfg := testAccountsConfig()
	cfg.Notifier, cfg.PublicURL = m, testPublicURL
	for _, a := range adjust {
		a(&cfg)
	}
	s, _ := newUserlessServerWith(t, ratelimit.Limit{Rate: 1, Burst: 20}, cfg)
	s.bearer = s.userToken(custodian.RoleAdmin)
	return s, smtpd
}

// linkRE finds a link of the test servers in a mail.
var linkRE = regexp.MustCompile(regexp.QuoteMeta(testPublicURL) + `(/[a-z]+)\?token=([A-Za-z0-9_\-]+)`)

// mailedLink returns the path and token of the link in the next mail,
// which must be to the address to.
func mailedLink(t *testing.T, smtpd *testsmtp.Server, to string) (path, tok string) {
	t.Helper()
	m := smtpd.Receive(t)
	if len(m.To) != 1 || m.To[0] != to {
		t.Fatalf("mail to %v, want %s", m.To, to)
	}
	g := linkRE.FindStringSubmatch(m.Data)
	if g == nil {
		t.Fatalf("no link in the mail:\n%s", m.Data)
	}
	return g[1], g[2]
}

// TestForgotPasswordByMail walks the forgotten-password page: a link from
// the sign-in page, one answer for known and unknown addresses, a
// single-use link mailed to the account, an audit trail that never names
// an unknown address, and the per-address throttle.
func TestForgotPasswordByMail(t *testing.T) {
	s, smtpd := newMailingServer(t)
	ctx := context.Background()
	if _, err := s.acc.CreateUser(ctx, "grace@example.com", "Grace", custodian.RoleAgent, testPassword); err != nil {
		t.Fatal(err)
	}
	c := s.web()
	if p := c.get("/login"); !strings.Contains(p.body, `href="/forgot"`) {
		t.Fatalf("the sign-in page has no forgotten-password link: %s", p.body)
	}
	answer := func(email string) string {
		t.Helper()
		p := c.post("/forgot", "/forgot", url.Values{"email": {email}})
		if p.code != 200 || !strings.Contains(p.body, "If an account uses that address") {
			t.Fatalf("forgot %s: %d %s", email, p.code, p.body)
		}
		return csrfRE.ReplaceAllString(p.body, "")
	}
	known, unknown := answer("Grace@Example.com"), answer("nobody.here@example.com")
	if known != unknown {
		t.Fatal("the answers for a known and an unknown address differ")
	}
	path, tok := mailedLink(t, smtpd, "grace@example.com")
	if path != "/reset" {
		t.Fatalf("link to %s", path)
	}
	smtpd.None(t, 200*time.Millisecond) // nothing for the unknown address

	// The link works once, through the existing reset page.
	const next = "another quite long passphrase for grace"
	if r := s.do("POST", "/api/auth/reset/", `{"token":"`+tok+`","password":"`+next+`"}`); r.StatusCode != 204 {
		t.Fatalf("reset: %d %s", r.StatusCode, r.body)
	}
	if r := s.do("POST", "/api/auth/reset/", `{"token":"`+tok+`","password":"yet another long passphrase here"}`); r.StatusCode == 204 {
		t.Fatal("the link worked twice")
	}
	if _, _, err := s.acc.SignIn(ctx, custodian.SignInRequest{Email: "grace@example.com", Password: next}); err != nil {
		t.Fatalf("sign in with the new password: %v", err)
	}

	// Audited, never naming the unknown address.
	evs, err := s.store.AuditEvents(ctx, custodian.AuditQuery{Action: custodian.ActionPasswordForgot})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d forgotten-password events, want 2", len(evs))
	}
	for _, e := range evs {
		if strings.Contains(string(e.Data), "nobody") || strings.Contains(string(e.Data), "@") {
			t.Fatalf("an event names an address: %s", e.Data)
		}
	}
	if !strings.Contains(string(evs[0].Data), `"account":"unknown:`) || evs[1].Subject == "" {
		t.Fatalf("events: %+v", evs)
	}

	// The API answers alike, and throttles per address: three links an
	// hour, then the same answer and no mail.
	for i, email := range []string{"grace@example.com", "nobody.here@example.com", "grace@example.com"} {
		if r := s.do("POST", "/api/auth/forgot/", `{"email":"`+email+`"}`); r.StatusCode != 204 {
			t.Fatalf("api %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	mailedLink(t, smtpd, "grace@example.com")
	mailedLink(t, smtpd, "grace@example.com")
	if r := s.do("POST", "/api/auth/forgot/", `{"email":"grace@example.com"}`); r.StatusCode != 204 {
		t.Fatalf("throttled: %d %s", r.StatusCode, r.body)
	}
	smtpd.None(t, 300*time.Millisecond)
	wantProblem(t, s.do("POST", "/api/auth/forgot/", `{"email":"not an address"}`), 400, custodian.EINVALID, "email")
}

// TestForgotPasswordWithoutMail says to ask an administrator when the
// server sends no mail.
func TestForgotPasswordWithoutMail(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	if p := c.get("/forgot"); p.code != 200 || !strings.Contains(p.body, "Ask an administrator") || strings.Contains(p.body, `name="email"`) {
		t.Fatalf("forgot page without mail: %d %s", p.code, p.body)
	}
	wantProblem(t, s.do("POST", "/api/auth/forgot/", `{"email":"a@example.com"}`), 503, custodian.EUNAVAILABLE)
}

// TestForgotPasswordThrottlesSources stops mailing links asked for from
// one client address past the per-source bound, whatever the addresses.
func TestForgotPasswordThrottlesSources(t *testing.T) {
	smtpd := testsmtp.Start(t, nil)
	m, err := alerting.NewAccountMailer(alerting.MailerConfig{Addr: smtpd.Addr(), From: "custodian@example.test", Timeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	d, acc, store, _ := testDepsWith(t, accounts.Config{Notifier: m, PublicURL: testPublicURL})
	_ = d
	ctx := context.Background()
	for i := range 11 {
		email := "user" + string(rune('a'+i)) + "@example.com"
		if _, err := acc.CreateUser(ctx, email, "User", custodian.RoleViewer, testPassword); err != nil {
			t.Fatal(err)
		}
		if err := acc.ForgotPassword(ctx, email, "198.51.100.7"); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		smtpd.Receive(t)
	}
	smtpd.None(t, 300*time.Millisecond)
	evs, _ := store.AuditEvents(ctx, custodian.AuditQuery{Action: custodian.ActionPasswordForgot})
	if len(evs) != 11 || !strings.Contains(string(evs[0].Data), `"reason":"throttled"`) {
		t.Fatalf("events: %d, newest %s", len(evs), evs[0].Data)
	}
}

// TestInvitationsAreMailed mails an invitation's link to the invitee when
// the server sends mail, from the users page and from the API, and the
// mailed link registers the account.
func TestInvitationsAreMailed(t *testing.T) {
	s, smtpd := newMailingServer(t)
	c := s.web()
	c.signIn("admin.person@example.com", custodian.RoleAdmin)
	p := c.post("/admin/users", "/admin/users/invite", url.Values{"email": {"New.Person@example.com"}, "role": {"agent"}})
	if p.code != 201 || !strings.Contains(p.body, "It was e-mailed to them") {
		t.Fatalf("invite: %d %s", p.code, p.body)
	}
	path, tok := mailedLink(t, smtpd, "new.person@example.com")
	if path != "/register" {
		t.Fatalf("link to %s", path)
	}
	if r := s.do("POST", "/api/auth/register/", `{"token":"`+tok+`","name":"New Person","password":"`+testPassword+`"}`); r.StatusCode != 201 {
		t.Fatalf("register: %d %s", r.StatusCode, r.body)
	}
	r := s.do("POST", "/api/invites/", `{"email":"second@example.com","role":"viewer"}`)
	if r.StatusCode != 201 || r.json(t)["mailed"] != true {
		t.Fatalf("api invite: %d %s", r.StatusCode, r.body)
	}
	mailedLink(t, smtpd, "second@example.com")
}

// inviteIDRE finds the invitation ids in the users page's forms.
var inviteIDRE = regexp.MustCompile(`/admin/invites/([0-9a-f]+)/revoke`)

// TestInvitationsListedRevokedResent lists invitations with their state
// on the users page; revoking one stops its link, and re-sending one
// mails a new link and stops the old.
func TestInvitationsListedRevokedResent(t *testing.T) {
	s, smtpd := newMailingServer(t)
	c := s.web()
	c.signIn("admin.person@example.com", custodian.RoleAdmin)
	invite := func(email string) string {
		t.Helper()
		if p := c.post("/admin/users", "/admin/users/invite", url.Values{"email": {email}, "role": {"agent"}}); p.code != 201 {
			t.Fatalf("invite %s: %d %s", email, p.code, p.body)
		}
		_, tok := mailedLink(t, smtpd, email)
		return tok
	}
	revoked, resent, accepted := invite("revoked@example.com"), invite("resent@example.com"), invite("accepted@example.com")
	register := func(tok string) int {
		t.Helper()
		return s.do("POST", "/api/auth/register/", `{"token":"`+tok+`","name":"Some One","password":"`+testPassword+`"}`).StatusCode
	}
	if code := register(accepted); code != 201 {
		t.Fatalf("register: %d", code)
	}
	page := c.get("/admin/users")
	ids := inviteIDRE.FindAllStringSubmatch(page.body, -1)
	if len(ids) != 2 || !strings.Contains(page.body, "accepted@example.com") || strings.Count(page.body, `class="invite-state">pending<`) != 2 ||
		!strings.Contains(page.body, `class="invite-state">accepted<`) || strings.Contains(page.body, revoked) {
		t.Fatalf("invitation list: %s", page.body)
	}
	// Newest first: resent@ then revoked@.
	resentID, revokedID := ids[0][1], ids[1][1]
	if p := c.post("/admin/users", "/admin/invites/"+revokedID+"/revoke", url.Values{}); p.code != 303 {
		t.Fatalf("revoke: %d %s", p.code, p.body)
	}
	if code := register(revoked); code == 201 {
		t.Fatal("a revoked invitation registered an account")
	}
	if p := c.post("/admin/users", "/admin/invites/"+revokedID+"/revoke", url.Values{}); p.code != 404 {
		t.Fatalf("revoke twice: %d", p.code)
	}
	if p := c.post("/admin/users", "/admin/invites/"+resentID+"/resend", url.Values{}); p.code != 201 || !strings.Contains(p.body, "It was e-mailed") {
		t.Fatalf("resend: %d %s", p.code, p.body)
	}
	_, fresh := mailedLink(t, smtpd, "resent@example.com")
	if code := register(resent); code == 201 {
		t.Fatal("the replaced link still works")
	}
	if code := register(fresh); code != 201 {
		t.Fatalf("the new link: %d", code)
	}
	page = c.get("/admin/users")
	for _, st := range []string{"revoked", "accepted"} {
		if !strings.Contains(page.body, `class="invite-state">`+st+`<`) {
			t.Fatalf("no %s invitation listed: %s", st, page.body)
		}
	}
	evs, err := s.store.AuditEvents(context.Background(), custodian.AuditQuery{Action: custodian.ActionInviteRevoke})
	if err != nil || len(evs) != 1 {
		t.Fatalf("revocation events: %d %v", len(evs), err)
	}
}

// TestUsersChangeTheirOwnName from the account page and through the API
// (an access token may), with the field explained when invalid.
func TestUsersChangeTheirOwnName(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	u := c.signIn("named@example.com", custodian.RoleViewer)
	if p := c.get("/account"); !strings.Contains(p.body, `action="/account/name"`) {
		t.Fatalf("no name form: %s", p.body)
	}
	if p := c.post("/account", "/account/name", url.Values{"name": {"Grace B. Hopper"}}); p.code != 303 {
		t.Fatalf("change name: %d %s", p.code, p.body)
	}
	if p := c.get("/account"); !strings.Contains(p.body, `value="Grace B. Hopper"`) {
		t.Fatalf("name not shown: %s", p.body)
	}
	if p := c.post("/account", "/account/name", url.Values{"name": {"<script>"}}); p.code != 400 || !strings.Contains(p.body, "profile_name-error") {
		t.Fatalf("invalid name: %d %s", p.code, p.body)
	}
	r := s.do("POST", "/api/auth/name/", `{"name":"Admin Renamed"}`)
	if r.StatusCode != 200 || r.json(t)["user"].(map[string]any)["name"] != "Admin Renamed" {
		t.Fatalf("api: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("POST", "/api/auth/name/", `{"name":""}`), 400, custodian.EINVALID, "name")
	got, err := s.acc.UserByEmail(context.Background(), "named@example.com")
	if err != nil || got.Name != "Grace B. Hopper" || got.ID != u.ID {
		t.Fatalf("stored: %+v %v", got, err)
	}
}

// sessionIDRE finds the sign-out forms of other sessions on /account.
var sessionIDRE = regexp.MustCompile(`/account/sessions/([0-9a-f]+)/end"`)

// TestUsersSeeAndEndTheirSessions lists a person's sessions on /account
// with their addresses; one can be signed out, then all the others.
func TestUsersSeeAndEndTheirSessions(t *testing.T) {
	s := newTestServer(t)
	me := s.web()
	me.signIn("sessions@example.com", custodian.RoleAgent)
	other := func(addr string) *webClient {
		t.Helper()
		c := s.web()
		c.addr = addr
		if p := c.post("/login", "/login", url.Values{"email": {"sessions@example.com"}, "password": {testPassword}}); p.code != 303 {
			t.Fatalf("sign-in from %s: %d", addr, p.code)
		}
		return c
	}
	laptop := other("198.51.100.9")
	page := me.get("/account")
	ids := sessionIDRE.FindAllStringSubmatch(page.body, -1)
	if len(ids) != 1 || !strings.Contains(page.body, "198.51.100.9") || !strings.Contains(page.body, "this session") {
		t.Fatalf("sessions: %s", page.body)
	}
	if p := me.post("/account", "/account/sessions/"+ids[0][1]+"/end", url.Values{}); p.code != 303 {
		t.Fatalf("end session: %d %s", p.code, p.body)
	}
	if p := laptop.get("/account"); p.code != 303 {
		t.Fatalf("the ended session still works: %d", p.code)
	}
	if p := me.post("/account", "/account/sessions/"+ids[0][1]+"/end", url.Values{}); p.code != 404 {
		t.Fatalf("end it again: %d", p.code)
	}
	phone, tablet := other("198.51.100.10"), other("198.51.100.11")
	if p := me.post("/account", "/account/sessions/end-others", url.Values{}); p.code != 303 {
		t.Fatalf("end others: %d %s", p.code, p.body)
	}
	for _, c := range []*webClient{phone, tablet} {
		if p := c.get("/account"); p.code != 303 {
			t.Fatalf("another session survived: %d", p.code)
		}
	}
	if p := me.get("/account"); p.code != 200 || sessionIDRE.MatchString(p.body) {
		t.Fatalf("own session after ending the others: %d", p.code)
	}
	// The API lists the same, with the session in use marked.
	s.bearer = ""
	r := s.do("GET", "/api/auth/sessions/", "", "Cookie", SessionCookie+"="+me.cookies[SessionCookie].Value, "Sec-Fetch-Site", "same-origin")
	items, _ := r.json(t)["items"].([]any)
	if r.StatusCode != 200 || len(items) != 1 || items[0].(map[string]any)["current"] != true || items[0].(map[string]any)["client_addr"] != "192.0.2.50" {
		t.Fatalf("api sessions: %d %s", r.StatusCode, r.body)
	}
}
