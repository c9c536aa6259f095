package http

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/syncbuf"
	otptotp "github.com/pquerna/otp/totp"
)

// webClient is a browser of the in-process server: it keeps every cookie,
// sends Sec-Fetch-Site like a browser posting this site's own forms, and
// follows no redirects.
type webClient struct {
	s       *testServer
	cookies map[string]*http.Cookie
	addr    string
	// lang, when set, is sent as Accept-Language.
	lang string
}

func (s *testServer) web() *webClient {
	return &webClient{s: s, cookies: map[string]*http.Cookie{}, addr: "192.0.2.50"}
}

type webPage struct {
	code int
	loc  string
	body string
	hdr  http.Header
}

func (c *webClient) do(method, path string, form url.Values) webPage {
	c.s.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	req.RemoteAddr = c.addr + ":5555"
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	c.s.h.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return webPage{code: rec.Code, loc: rec.Header().Get("Location"), body: rec.Body.String(), hdr: rec.Header()}
}

func (c *webClient) get(path string) webPage { return c.do("GET", path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// token returns the CSRF token of the page at path.
func (c *webClient) token(path string) string {
	c.s.t.Helper()
	p := c.get(path)
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		c.s.t.Fatalf("no CSRF token on %s (%d): %s", path, p.code, p.body)
	}
	return m[1]
}

// post submits a form of the page at from to path, with that page's token.
func (c *webClient) post(from, path string, form url.Values) webPage {
	c.s.t.Helper()
	form.Set(csrfField, c.token(from))
	return c.do("POST", path, form)
}

// signIn creates a user with the role and signs in through the form.
func (c *webClient) signIn(email string, role custodian.Role) *custodian.User {
	c.s.t.Helper()
	u, err := c.s.acc.CreateUser(context.Background(), email, "Person "+string(role), role, testPassword)
	if err != nil {
		c.s.t.Fatal(err)
	}
	p := c.post("/login", "/login", url.Values{"email": {email}, "password": {testPassword}})
	if p.code != 303 || c.cookies[SessionCookie] == nil {
		c.s.t.Fatalf("sign-in: %d %s", p.code, p.body)
	}
	return u
}

func TestUIRedirectsSignedOutBrowsers(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	for path, want := range map[string]string{
		"/":                       "/login",
		"/customers":              "/login?next=%2Fcustomers",
		"/customers/new":          "/login?next=%2Fcustomers%2Fnew",
		"/account":                "/login?next=%2Faccount",
		"/customers?status=lead":  "/login?next=%2Fcustomers%3Fstatus%3Dlead",
		"/admin/users":            "/login?next=%2Fadmin%2Fusers",
		"/customers/cus_x/edit":   "/login?next=%2Fcustomers%2Fcus_x%2Fedit",
		"/login?next=%2Faccount%": "",
	} {
		p := c.get(path)
		if want == "" { // the sign-in page itself, ignoring a malformed next
			if p.code != 200 || strings.Contains(p.body, `name="next"`) {
				t.Errorf("GET %s: %d, want the sign-in page without next", path, p.code)
			}
			continue
		}
		if p.code != 303 || p.loc != want {
			t.Errorf("GET %s: %d %q, want 303 to %q", path, p.code, p.loc, want)
		}
	}
	// A signed-out form post goes to the sign-in page, not to a JSON 401.
	if p := c.do("POST", "/customers/new", url.Values{"name": {"X"}}); p.code != 303 || p.loc != "/login" {
		t.Fatalf("signed-out post: %d %q", p.code, p.loc)
	}
	p := c.get("/login?next=%2Fcustomers")
	if p.code != 200 || !strings.Contains(p.body, `name="next" value="/customers"`) || c.cookies[preSessionCookie] == nil {
		t.Fatalf("login page: %d %s", p.code, p.body)
	}
	if pc := c.cookies[preSessionCookie]; !pc.Secure || !pc.HttpOnly || pc.SameSite != http.SameSiteLaxMode {
		t.Fatalf("pre-session cookie %+v", pc)
	}
}

func TestUISignInAndOpenRedirects(t *testing.T) {
	s := newTestServer(t)
	s.acc.CreateUser(context.Background(), "agent@example.com", "Agent", custodian.RoleAgent, testPassword)
	s.acc.CreateUser(context.Background(), "victim@example.com", "Victim", custodian.RoleAgent, testPassword)
	// Unknown email and wrong password get the same page.
	c := s.web()
	unknown := c.post("/login", "/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong password here"}})
	c2 := s.web()
	c2.addr = "192.0.2.51"
	wrong := c2.post("/login", "/login", url.Values{"email": {"victim@example.com"}, "password": {"wrong password here"}})
	msg := regexp.MustCompile(`role="alert">([^<]*)<`)
	m1, m2 := msg.FindStringSubmatch(unknown.body), msg.FindStringSubmatch(wrong.body)
	if unknown.code != 401 || wrong.code != 401 || m1 == nil || m2 == nil || m1[1] != m2[1] {
		t.Fatalf("unknown email %d %v, wrong password %d %v", unknown.code, m1, wrong.code, m2)
	}
	if !strings.Contains(unknown.body, `value="nobody@example.com"`) || strings.Contains(unknown.body, "wrong password here") {
		t.Fatal("the email should be kept and the password never echoed")
	}

	for i, tc := range []struct{ next, want string }{
		{"/customers/new", "/customers/new"},
		{"/customers?status=lead", "/customers?status=lead"},
		{"//evil.example/", "/"},
		{"https://evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/logout", "/"},
		{"", "/"},
	} {
		c := s.web()
		c.addr = fmt.Sprintf("198.51.100.%d", 10+i) // separate sign-in budgets
		p := c.post("/login", "/login", url.Values{"email": {"agent@example.com"}, "password": {testPassword}, "next": {tc.next}})
		if p.code != 303 || p.loc != tc.want {
			t.Errorf("next %q: %d %q, want %q", tc.next, p.code, p.loc, tc.want)
		}
	}
}

// observed records the signals the server reports to the attack detector.
type observed struct{ syncbuf.List[custodian.Signal] }

// Observe records s.
func (o *observed) Observe(s custodian.Signal) { o.Add(s) }

// A failed sign-in through the form reaches the attack detector like one
// through the API: per address, and per account when one was named.
func TestUIFailedSignInReachesTheDetector(t *testing.T) {
	obs := &observed{}
	s := newTestServer(t, func(d *Deps) { d.Monitor = obs })
	u, err := s.acc.CreateUser(context.Background(), "victim@example.com", "Victim", custodian.RoleAgent, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	c := s.web()
	if p := c.post("/login", "/login", url.Values{"email": {"victim@example.com"}, "password": {"wrong password here"}}); p.code != 401 {
		t.Fatalf("wrong password: %d", p.code)
	}
	if sigs := obs.All(); len(sigs) != 1 || sigs[0].Kind != custodian.SignalFailedSignIn || sigs[0].Addr.String() != c.addr || sigs[0].Account != u.ID {
		t.Fatalf("signals: %+v", sigs)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/customers": "/customers", "/customers?x=1": "/customers?x=1",
		"//evil.example": "", "/\\evil": "", "https://evil": "", "evil": "", "/%0d%0aSet-Cookie:x": "/%0d%0aSet-Cookie:x",
		"/a\nb": "", "/login": "", "": "", "/\t/evil": "",
		"/customers?q=a b":              "/customers?q=a b",
		"/" + strings.Repeat("a", 2047): "/" + strings.Repeat("a", 2047), "/" + strings.Repeat("a", 2048): "",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFormKeys pins the form keys: a configured key gives the same tokens
// on every server, no key a random one (never an empty, guessable key);
// a token checks only for its kind and binding, and an empty binding has
// none; sealed state opens only for its purpose and binding, and not once
// expired.
func TestFormKeys(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	a, err := newFormKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newFormKeys(key)
	r1, _ := newFormKeys(nil)
	r2, _ := newFormKeys(nil)
	bind := []byte("session hash")
	if a.token("form", bind) != b.token("form", bind) {
		t.Error("two servers with one key make different tokens")
	}
	if r1.token("form", bind) == r2.token("form", bind) || r1.token("form", bind) == a.token("form", bind) {
		t.Error("servers without a key share their token key")
	}
	tok := a.token("form", bind)
	if !a.check("form", bind, tok) || a.check("other", bind, tok) || a.check("form", []byte("other session"), tok) || a.check("form", bind, tok[1:]) {
		t.Error("a token checks for another kind or binding, or a changed token checks")
	}
	if a.token("form", nil) != "" || a.check("form", nil, "") {
		t.Error("an empty binding has a token")
	}
	sealed := a.sealState("login", bind, []byte("step two"), time.Minute)
	if got, err := b.openState("login", bind, sealed); err != nil || string(got) != "step two" {
		t.Errorf("openState = %q, %v", got, err)
	}
	if _, err := a.openState("enrol", bind, sealed); err == nil {
		t.Error("state opened for another purpose")
	}
	if _, err := a.openState("login", []byte("other session"), sealed); err == nil {
		t.Error("state opened for another binding")
	}
	if _, err := r1.openState("login", bind, sealed); err == nil {
		t.Error("state opened with another key")
	}
	if _, err := a.openState("login", bind, a.sealState("login", bind, []byte("x"), -time.Second)); err == nil {
		t.Error("expired state opened")
	}
}

// TestPreSessionCookieBounds: the signed-out browser's binding is taken
// from its cookie only when the value is 32 to 64 characters; otherwise a
// fresh random one is set.
func TestPreSessionCookieBounds(t *testing.T) {
	for _, tt := range []struct {
		n    int
		kept bool
	}{{31, false}, {32, true}, {64, true}, {65, false}} {
		v := strings.Repeat("v", tt.n)
		r := httptest.NewRequest("GET", "/login", nil)
		r.AddCookie(&http.Cookie{Name: preSessionCookie, Value: v})
		w := httptest.NewRecorder()
		got := string(preSession(w, r))
		set := w.Result().Cookies()
		if tt.kept != (got == v) || tt.kept != (len(set) == 0) {
			t.Errorf("a %d-character cookie: kept %v, new cookies %d; want kept %v", tt.n, got == v, len(set), tt.kept)
		}
		if !tt.kept && (len(got) < 32 || len(set) != 1 || set[0].Value != got) {
			t.Errorf("a %d-character cookie was not replaced by a fresh value: %q", tt.n, got)
		}
	}
}

func TestUICSRFIsRequired(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	c.signIn("agent@example.com", custodian.RoleAgent)
	other := s.web()
	other.addr = "192.0.2.60"
	other.signIn("other@example.com", custodian.RoleAgent)
	foreign := other.token("/customers/new")
	for name, tok := range map[string]string{"none": "", "garbage": "x", "another session's": foreign} {
		form := url.Values{"name": {"Forged " + name}}
		if tok != "" {
			form.Set(csrfField, tok)
		}
		p := c.do("POST", "/customers/new", form)
		if p.code != 403 || !strings.Contains(p.body, "This form has expired") {
			t.Errorf("%s token: %d", name, p.code)
		}
	}
	// The sign-in form needs the token of its pre-session cookie.
	anon := s.web()
	anon.get("/login")
	if p := anon.do("POST", "/login", url.Values{"email": {"agent@example.com"}, "password": {testPassword}}); p.code != 403 || anon.cookies[SessionCookie] != nil {
		t.Fatalf("login without token: %d", p.code)
	}
	// Sign-out is a form too.
	if p := c.do("POST", "/logout", url.Values{}); p.code != 403 {
		t.Fatalf("logout without token: %d", p.code)
	}
	// Nothing was created by the refused posts.
	if p := c.post("/customers", "/customers", url.Values{"q": {"forged"}}); p.code != 303 {
		t.Fatalf("search: %d", p.code)
	} else if res := c.get(p.loc); strings.Contains(res.body, "Forged") {
		t.Fatal("a refused form created a customer")
	}
	// With its token, the same form works; sign-out ends the session.
	if p := c.post("/customers/new", "/customers/new", url.Values{"name": {"Real Customer"}}); p.code != 303 || !strings.HasPrefix(p.loc, "/customers/cus_") {
		t.Fatalf("create: %d %s", p.code, p.body)
	}
	sess := c.cookies[SessionCookie]
	if p := c.post("/customers", "/logout", url.Values{}); p.code != 303 || p.loc != "/login" || c.cookies[SessionCookie] != nil {
		t.Fatalf("logout: %d %q", p.code, p.loc)
	}
	c.cookies[SessionCookie] = sess
	if p := c.get("/customers"); p.code != 303 {
		t.Fatalf("the session survived sign-out: %d", p.code)
	}
}

func TestUICustomerFormKeepsValuesAndExplains(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	c.signIn("agent@example.com", custodian.RoleAgent)
	form := url.Values{"name": {"Ada <b>Lovelace</b>"}, "email": {"not-an-email"}, "company": {`"><script>alert(1)</script>`},
		"notes": {"Line one\n<img src=x onerror=alert(1)>"}, "tags": {"vip, friends"}, "status": {"active"}, "address.country": {"GB"}}
	p := c.post("/customers/new", "/customers/new", form)
	if p.code != 400 {
		t.Fatalf("invalid create: %d", p.code)
	}
	for _, want := range []string{
		`id="f-name-error"`, `id="f-email-error"`, `aria-invalid="true"`,
		`value="Ada &lt;b&gt;Lovelace&lt;/b&gt;"`, `value="not-an-email"`, `value="vip, friends"`, `value="GB"`,
		"&lt;img src=x onerror=alert(1)&gt;</textarea>", `<option value="active" selected>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
		t.Fatal("input was echoed unescaped")
	}
	form.Set("name", "Ada Lovelace")
	form.Set("email", "ada@example.com")
	form.Set("company", "Analytical Engines")
	p = c.post("/customers/new", "/customers/new", form)
	if p.code != 303 {
		t.Fatalf("create: %d %s", p.code, p.body)
	}
	detail := c.get(p.loc)
	if detail.code != 200 || !strings.Contains(detail.body, "Customer created.") || !strings.Contains(detail.body, "&lt;img src=x onerror=alert(1)&gt;") || strings.Contains(detail.body, "<img src=x") {
		t.Fatalf("detail: %d %s", detail.code, detail.body)
	}
	// The flash is shown once.
	if again := c.get(p.loc); strings.Contains(again.body, "Customer created.") {
		t.Fatal("the flash message stayed")
	}
}

func TestUIStaleEditIsExplained(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	c.signIn("agent@example.com", custodian.RoleAgent)
	id := s.create(`{"name":"Grace Hopper","company":"Navy"}`)["id"].(string)
	edit := "/customers/" + id + "/edit"
	tok := c.token(edit)
	if p := c.get(edit); !strings.Contains(p.body, `name="version" value="1"`) {
		t.Fatalf("edit form: %s", p.body)
	}
	// Someone else saves first.
	if r := s.do("PATCH", "/api/customers/"+id+"/", `{"company":"US Navy Reserve"}`, "If-Match", `"1"`, "Content-Type", "application/merge-patch+json"); r.StatusCode != 200 {
		t.Fatalf("concurrent edit: %d %s", r.StatusCode, r.body)
	}
	p := c.do("POST", edit, url.Values{csrfField: {tok}, "version": {"1"}, "name": {"Grace Hopper"}, "company": {"Harvard"}, "status": {"lead"}})
	if p.code != 409 || !strings.Contains(p.body, "Someone else changed this customer") || !strings.Contains(p.body, "US Navy Reserve") ||
		!strings.Contains(p.body, `value="Harvard"`) || !strings.Contains(p.body, `name="version" value="2"`) {
		t.Fatalf("conflict: %d %s", p.code, p.body)
	}
	// Saving again replaces the other version knowingly.
	p = c.do("POST", edit, url.Values{csrfField: {tok}, "version": {"2"}, "name": {"Grace Hopper"}, "company": {"Harvard"}, "status": {"lead"}})
	if p.code != 303 {
		t.Fatalf("save after conflict: %d", p.code)
	}
	if d := c.get(p.loc); !strings.Contains(d.body, "Customer saved.") || !strings.Contains(d.body, "Harvard") {
		t.Fatalf("after save: %s", d.body)
	}
	// A version of 0 would mean "any": the form refuses it.
	if p := c.do("POST", edit, url.Values{csrfField: {tok}, "version": {"0"}, "name": {"X"}}); p.code != 400 {
		t.Fatalf("version 0: %d", p.code)
	}
}

func TestUIForbiddenPages(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	c.signIn("viewer@example.com", custodian.RoleViewer)
	for _, path := range []string{"/customers/new", "/admin/users"} {
		p := c.get(path)
		if p.code != 403 || !strings.HasPrefix(p.hdr.Get("Content-Type"), "text/html") || !strings.Contains(p.body, "No access") {
			t.Errorf("GET %s as viewer: %d %s", path, p.code, p.hdr.Get("Content-Type"))
		}
	}
	// The viewer sees the list but no "New customer" button, and no
	// navigation to pages it cannot use.
	p := c.get("/customers")
	if p.code != 200 || strings.Contains(p.body, `href="/customers/new"`) || strings.Contains(p.body, `href="/admin/users"`) {
		t.Fatalf("viewer list: %d", p.code)
	}
	// An auditor, with no customer access, starts at the account page.
	a := s.web()
	a.addr = "192.0.2.61"
	a.signIn("auditor@example.com", custodian.RoleAuditor)
	if p := a.get("/"); p.code != 303 || p.loc != "/account" {
		t.Fatalf("auditor home: %d %q", p.code, p.loc)
	}
	if p := a.get("/customers"); p.code != 403 {
		t.Fatalf("auditor list: %d", p.code)
	}
	// A missing customer is a readable 404.
	if p := c.get("/customers/cus_AAAAAAAAAAAAAAAAAAAAAAAAAA"); p.code != 404 || !strings.Contains(p.body, "Not found") {
		t.Fatalf("missing customer: %d %s", p.code, p.body)
	}
}

func TestUISearchTermsStayOutOfURLsAndLogs(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	c.signIn("agent@example.com", custodian.RoleAgent)
	s.create(`{"name":"Zebulon Quartermaine","tags":["vip"],"status":"active"}`)
	s.create(`{"name":"Other Person"}`)
	p := c.post("/customers", "/customers", url.Values{"q": {"zebulon"}, "status": {"active"}, "tag": {"vip"}, "sort": {"name"}})
	if p.code != 303 || strings.Contains(strings.ToLower(p.loc), "zebulon") || !strings.Contains(p.loc, "status=active") {
		t.Fatalf("search: %d %q", p.code, p.loc)
	}
	res := c.get(p.loc)
	if res.code != 200 || !strings.Contains(res.body, "Zebulon Quartermaine") || strings.Contains(res.body, "Other Person") || !strings.Contains(res.body, `value="zebulon"`) {
		t.Fatalf("results: %d %s", res.code, res.body)
	}
	if strings.Contains(strings.ToLower(s.logs.String()), "zebulon") {
		t.Fatal("the search term reached the log")
	}
	// The sealed term is bound to the session: another session cannot
	// read it, and tampering is detected.
	other := s.web()
	other.addr = "192.0.2.62"
	other.signIn("other@example.com", custodian.RoleAgent)
	if r := other.get(p.loc); r.code != 200 || strings.Contains(r.body, "zebulon") || !strings.Contains(r.body, "search has expired") {
		t.Fatalf("another session read the search: %s", r.body)
	}
	// Nothing matches: an empty state that says so.
	p = c.post("/customers", "/customers", url.Values{"q": {"nobodyatall"}})
	if r := c.get(p.loc); !strings.Contains(r.body, "No customers match") {
		t.Fatalf("empty result: %s", r.body)
	}
}

func TestUIPagination(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	c.signIn("agent@example.com", custodian.RoleAgent)
	for i := 0; i < uiPageSize+3; i++ {
		s.create(`{"name":"Customer ` + strings.Repeat("x", i+1) + `"}`)
	}
	p := c.get("/customers?sort=name")
	next := regexp.MustCompile(`href="(/customers\?[^"]*cursor=[^"]*)" rel="next"`).FindStringSubmatch(p.body)
	if p.code != 200 || next == nil || strings.Count(p.body, `data-label="Name"`) != uiPageSize {
		t.Fatalf("first page: %d", p.code)
	}
	p = c.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if p.code != 200 || strings.Count(p.body, `data-label="Name"`) != 3 || !strings.Contains(p.body, "First page") || strings.Contains(p.body, `rel="next"`) {
		t.Fatalf("second page: %d %s", p.code, p.body)
	}
}

func TestUISignInWithTwoFactor(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	u, _ := s.acc.CreateUser(ctx, "twofa@example.com", "Two Factor", custodian.RoleManager, testPassword)
	e, err := s.acc.BeginTOTP(ctx, &custodian.Principal{User: u, SessionHash: []byte("a session")}, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := otptotp.GenerateCode(e.Secret, time.Now())
	if _, err := s.acc.EnableTOTP(ctx, &custodian.Principal{User: u, SessionHash: []byte("a session")}, code); err != nil {
		t.Fatal(err)
	}
	c := s.web()
	p := c.post("/login", "/login", url.Values{"email": {"twofa@example.com"}, "password": {testPassword}, "next": {"/account"}})
	state := regexp.MustCompile(`name="state" value="([^"]+)"`).FindStringSubmatch(p.body)
	if p.code != 200 || state == nil || c.cookies[SessionCookie] != nil || strings.Contains(p.body, testPassword) {
		t.Fatalf("first step: %d %s", p.code, p.body)
	}
	tok := csrfRE.FindStringSubmatch(p.body)[1]
	// The sealed state is bound to this browser's pre-session cookie.
	thief := s.web()
	thief.addr = "192.0.2.63"
	ttok := thief.token("/login")
	next, _ := otptotp.GenerateCode(e.Secret, time.Now().Add(30*time.Second))
	if p := thief.do("POST", "/login", url.Values{csrfField: {ttok}, "state": {state[1]}, "otp": {next}}); p.code != 400 || thief.cookies[SessionCookie] != nil {
		t.Fatalf("state from another browser: %d", p.code)
	}
	p = c.do("POST", "/login", url.Values{csrfField: {tok}, "state": {state[1]}, "otp": {next}, "next": {"/account"}})
	if p.code != 303 || p.loc != "/account" || c.cookies[SessionCookie] == nil {
		t.Fatalf("second step: %d %q %s", p.code, p.loc, p.body)
	}
	// A wrong code keeps the second step and says so (a fresh browser: the
	// account's own failure delay would otherwise answer first next time).
	c = s.web()
	c.addr = "192.0.2.64"
	p = c.post("/login", "/login", url.Values{"email": {"twofa@example.com"}, "password": {testPassword}})
	state = regexp.MustCompile(`name="state" value="([^"]+)"`).FindStringSubmatch(p.body)
	tok = csrfRE.FindStringSubmatch(p.body)[1]
	p = c.do("POST", "/login", url.Values{csrfField: {tok}, "state": {state[1]}, "otp": {"000000"}})
	if p.code != 401 || !strings.Contains(p.body, "That code did not work") || !strings.Contains(p.body, `name="state"`) {
		t.Fatalf("wrong code: %d", p.code)
	}
}

func TestUISignInRateLimitAnswersHTML(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	tok := c.token("/login")
	var p webPage
	for i := 0; i < 5; i++ {
		p = c.do("POST", "/login", url.Values{csrfField: {tok}, "email": {"x@example.com"}, "password": {"wrong password here"}})
	}
	if p.code != 429 || !strings.HasPrefix(p.hdr.Get("Content-Type"), "text/html") || !strings.Contains(p.body, "Too many sign-in attempts") || p.hdr.Get("Retry-After") == "" {
		t.Fatalf("throttled sign-in: %d %s %s", p.code, p.hdr, p.body)
	}
}

func TestUIStaticFilesAreCached(t *testing.T) {
	s := newTestServer(t)
	css := staticAssets.url("app.css")
	if !regexp.MustCompile(`^/static/app\.[0-9a-f]{12}\.css$`).MatchString(css) {
		t.Fatalf("asset URL %q", css)
	}
	p := s.web().get(css)
	if p.code != 200 || !strings.Contains(p.hdr.Get("Cache-Control"), "immutable") || p.hdr.Get("ETag") == "" || !strings.HasPrefix(p.hdr.Get("Content-Type"), "text/css") {
		t.Fatalf("GET %s: %d %v", css, p.code, p.hdr)
	}
	req := httptest.NewRequest("GET", css, nil)
	req.Header.Set("If-None-Match", p.hdr.Get("ETag"))
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != 304 {
		t.Fatalf("revalidation: %d", rec.Code)
	}
	if p := s.web().get("/static/app.css"); p.code != 404 {
		t.Fatalf("unhashed name: %d", p.code)
	}
	// Pages carry the strict policy and no inline script or style.
	p = s.web().get("/login")
	if csp := p.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	// A JSON data block (the scripts' messages) is data, never run.
	body := regexp.MustCompile(`<script type="application/json" id="ui-messages">[^<]*</script>`).ReplaceAllString(p.body, "")
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]|style=|<style|\son[a-z]+=`).MatchString(body) {
		t.Fatalf("inline script or style: %s", p.body)
	}
}

func TestUIAccountAndAdministration(t *testing.T) {
	s := newTestServer(t)
	admin := s.web()
	me := admin.signIn("boss@example.com", custodian.RoleAdmin)
	// An access token is shown once.
	p := admin.post("/account", "/account/tokens", url.Values{"name": {"laptop"}, "expires_in_days": {"30"}})
	if p.code != 201 || !regexp.MustCompile(`cst_pat_[A-Za-z0-9_-]+`).MatchString(p.body) {
		t.Fatalf("create token: %d %s", p.code, p.body)
	}
	if p := admin.get("/account"); strings.Contains(p.body, "cst_pat_") || !strings.Contains(p.body, "laptop") {
		t.Fatal("token list")
	}
	// Invite, then change the new user's role and deactivate them.
	p = admin.post("/admin/users", "/admin/users/invite", url.Values{"email": {"new@example.com"}, "role": {"viewer"}})
	link := regexp.MustCompile(`/register\?token=(cst_inv_[A-Za-z0-9_-]+)`).FindStringSubmatch(p.body)
	if p.code != 201 || link == nil {
		t.Fatalf("invite: %d %s", p.code, p.body)
	}
	if _, err := s.acc.Register(context.Background(), link[1], "New Person", testPassword); err != nil {
		t.Fatal(err)
	}
	nu, _ := s.acc.UserByEmail(context.Background(), "new@example.com")
	if p := admin.post("/admin/users", "/admin/users/"+nu.ID+"/role", url.Values{"role": {"agent"}}); p.code != 303 {
		t.Fatalf("role: %d %s", p.code, p.body)
	}
	if p := admin.post("/admin/users", "/admin/users/"+nu.ID+"/active", url.Values{"active": {"false"}}); p.code != 303 {
		t.Fatalf("deactivate: %d", p.code)
	}
	if u, _ := s.acc.UserByEmail(context.Background(), "new@example.com"); u.Role != custodian.RoleAgent || u.Active {
		t.Fatalf("user after changes: %+v", u)
	}
	// Nobody demotes or deactivates themselves.
	if p := admin.post("/admin/users", "/admin/users/"+me.ID+"/active", url.Values{"active": {"false"}}); p.code != 409 {
		t.Fatalf("self-deactivation: %d", p.code)
	}
	// A weak new password is explained next to its field.
	p = admin.post("/account", "/account/password", url.Values{"current_password": {testPassword}, "new_password": {"short"}})
	if p.code != 400 || !strings.Contains(p.body, `id="new_password-error"`) {
		t.Fatalf("weak password: %d %s", p.code, p.body)
	}
}

func TestUIRequiredTwoFactorLeadsToTheAccountPage(t *testing.T) {
	s := newTestServer(t)
	if err := s.acc.SetRequiredTOTPRoles(context.Background(), []custodian.Role{custodian.RoleManager}); err != nil {
		t.Fatal(err)
	}
	c := s.web()
	c.signIn("manager@example.com", custodian.RoleManager)
	for _, path := range []string{"/", "/customers", "/customers/new"} {
		if p := c.get(path); p.code != 303 || p.loc != "/account" {
			t.Errorf("GET %s before enrolling: %d %q", path, p.code, p.loc)
		}
	}
	p := c.get("/account")
	if p.code != 200 || !strings.Contains(p.body, "requires two-factor authentication") || strings.Contains(p.body, `href="/customers"`) {
		t.Fatalf("account page: %d", p.code)
	}
	// Enrolment from the page: the QR code and the key, then the code.
	p = c.post("/account", "/account/2fa/setup", url.Values{"current_password": {testPassword}})
	secret := regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`).FindStringSubmatch(p.body)
	if p.code != 200 || secret == nil || !strings.Contains(p.body, `src="data:image/png;base64,`) {
		t.Fatalf("begin enrolment: %d %s", p.code, p.body)
	}
	state := regexp.MustCompile(`name="state" value="([^"]+)"`).FindStringSubmatch(p.body)[1]
	tok := csrfRE.FindStringSubmatch(p.body)[1]
	// A wrong code shows the same QR code again, with the error.
	p = c.do("POST", "/account/2fa/enable", url.Values{csrfField: {tok}, "state": {state}, "code": {"000000"}})
	if p.code != 400 || !strings.Contains(p.body, strings.TrimSpace(secret[1])) {
		t.Fatalf("wrong code: %d", p.code)
	}
	code, _ := otptotp.GenerateCode(strings.ReplaceAll(secret[1], " ", ""), time.Now())
	p = c.do("POST", "/account/2fa/enable", url.Values{csrfField: {tok}, "state": {state}, "code": {code}})
	if p.code != 200 || strings.Count(regexp.MustCompile(`id="recovery-codes">.*?</ul>`).FindString(strings.ReplaceAll(p.body, "\n", "")), "<li>") != 10 {
		t.Fatalf("enable: %d %s", p.code, p.body)
	}
	if p := c.get("/customers"); p.code != 200 {
		t.Fatalf("after enrolling: %d", p.code)
	}
}
