package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/ratelimit"
)

// routePolicy is the access policy of every route, written out by hand:
// who may call it ("anyone", or the roles that may). It is the reviewer's
// copy of the routing table's permissions; TestEveryRouteWithEveryRole
// holds the server to it with real requests, so a route added, or a
// permission changed, without changing this table fails.
var routePolicy = []struct{ route, allowed string }{
	{"GET /healthz", "anyone"},
	{"GET /readyz", "anyone"},
	{"GET /api/openapi.json", "anyone"},
	{"GET /setup", "anyone"},
	{"POST /setup", "anyone"},
	{"GET /register", "anyone"},
	{"POST /register", "anyone"},
	{"GET /reset", "anyone"},
	{"POST /reset", "anyone"},
	{"GET /account/email", "anyone"},
	{"POST /account/email", "anyone"},
	{"POST /api/auth/login/{$}", "anyone"},
	{"POST /api/auth/logout/{$}", "admin manager agent viewer auditor"},
	{"GET /api/auth/session/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/setup/{$}", "anyone"},
	{"POST /api/auth/register/{$}", "anyone"},
	{"POST /api/auth/reset/{$}", "anyone"},
	{"POST /api/auth/forgot/{$}", "anyone"},
	{"POST /api/auth/password/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/name/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/preferences/{$}", "admin manager agent viewer auditor"},
	{"GET /api/auth/sessions/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/sessions/end-others/{$}", "admin manager agent viewer auditor"},
	{"DELETE /api/auth/sessions/{id}/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/email/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/email/confirm/{$}", "anyone"},
	{"POST /api/auth/2fa/setup/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/2fa/enable/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/2fa/disable/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/passkeys/challenge/{$}", "anyone"},
	{"POST /api/auth/passkeys/login/{$}", "anyone"},
	{"GET /api/auth/passkeys/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/passkeys/registration/{$}", "admin manager agent viewer auditor"},
	{"POST /api/auth/passkeys/{$}", "admin manager agent viewer auditor"},
	{"PATCH /api/auth/passkeys/{id}/{$}", "admin manager agent viewer auditor"},
	{"DELETE /api/auth/passkeys/{id}/{$}", "admin manager agent viewer auditor"},
	{"GET /api/tokens/{$}", "admin manager agent viewer auditor"},
	{"POST /api/tokens/{$}", "admin manager agent viewer auditor"},
	{"DELETE /api/tokens/{id}/{$}", "admin manager agent viewer auditor"},
	{"GET /api/users/{$}", "admin"},
	{"PATCH /api/users/{id}/{$}", "admin"},
	{"POST /api/users/{id}/reset-2fa/{$}", "admin"},
	{"POST /api/users/{id}/reset-passkeys/{$}", "admin"},
	{"POST /api/users/{id}/unlock/{$}", "admin"},
	{"POST /api/users/{id}/reset-link/{$}", "admin"},
	{"POST /api/invites/{$}", "admin"},
	{"GET /api/invitations/{$}", "admin"},
	{"POST /api/invitations/{id}/revoke/{$}", "admin"},
	{"POST /api/invitations/{id}/resend/{$}", "admin"},
	{"GET /api/settings/{$}", "admin"},
	{"PUT /api/settings/{$}", "admin"},
	{"GET /api/audit/{$}", "admin auditor"},
	{"GET /api/alerts/{$}", "admin auditor"},
	{"POST /api/alerts/{id}/resolve/{$}", "admin"},
	{"GET /api/webhooks/{$}", "admin"},
	{"POST /api/webhooks/{$}", "admin"},
	{"GET /api/webhooks/{id}/{$}", "admin"},
	{"PATCH /api/webhooks/{id}/{$}", "admin"},
	{"DELETE /api/webhooks/{id}/{$}", "admin"},
	{"POST /api/webhooks/{id}/rotate-secret/{$}", "admin"},
	{"GET /api/webhooks/{id}/deliveries/{$}", "admin"},
	{"POST /api/customers/bulk/{$}", "admin manager agent"},
	{"GET /api/views/{$}", "admin manager agent viewer"},
	{"POST /api/views/{$}", "admin manager agent viewer"},
	{"GET /api/views/{id}/{$}", "admin manager agent viewer"},
	{"PATCH /api/views/{id}/{$}", "admin manager agent viewer"},
	{"DELETE /api/views/{id}/{$}", "admin manager agent viewer"},
	{"GET /api/customers/{$}", "admin manager agent viewer"},
	{"POST /api/customers/{$}", "admin manager agent"},
	{"GET /api/customers/export", "admin manager"},
	{"POST /api/imports/{$}", "admin manager"},
	{"GET /api/imports/{id}/{$}", "admin manager"},
	{"POST /api/imports/{id}/cancel/{$}", "admin manager"},
	{"POST /api/imports/{id}/run/{$}", "admin manager"},
	{"GET /api/customers/{id}/{$}", "admin manager agent viewer"},
	{"PUT /api/customers/{id}/{$}", "admin manager agent"},
	{"PATCH /api/customers/{id}/{$}", "admin manager agent"},
	{"DELETE /api/customers/{id}/{$}", "admin manager"},
	{"GET /api/customers/{id}/consents/{$}", "admin manager agent viewer"},
	{"POST /api/customers/{id}/consents/{$}", "admin manager agent"},
	{"GET /api/customers/{id}/activities/{$}", "admin manager agent viewer"},
	{"POST /api/customers/{id}/activities/{$}", "admin manager agent"},
	{"GET /api/customers/{id}/tasks/{$}", "admin manager agent viewer"},
	{"POST /api/customers/{id}/tasks/{$}", "admin manager agent"},
	{"PATCH /api/customers/{id}/tasks/{task}/{$}", "admin manager agent"},
	{"DELETE /api/customers/{id}/tasks/{task}/{$}", "admin manager agent"},
	{"GET /api/tasks/mine/{$}", "admin manager agent viewer"},
	{"PUT /api/customers/{id}/legal-hold/{$}", "admin manager"},
	{"POST /api/customers/{id}/erase/{$}", "admin manager"},
	{"GET /api/customers/{id}/export/{$}", "admin manager"},
	{"GET /{$}", "anyone"},
	{"GET /static/{file}", "anyone"},
	{"GET /login", "anyone"},
	{"POST /login", "anyone"},
	{"POST /login/passkey", "anyone"},
	{"GET /forgot", "anyone"},
	{"POST /forgot", "anyone"},
	{"POST /logout", "admin manager agent viewer auditor"},
	{"GET /customers", "admin manager agent viewer"},
	{"POST /customers/views", "admin manager agent viewer"},
	{"POST /customers/views/{id}/rename", "admin manager agent viewer"},
	{"POST /customers/views/{id}/delete", "admin manager agent viewer"},
	{"POST /customers", "admin manager agent viewer"},
	{"GET /customers/import", "admin manager"},
	{"POST /customers/import", "admin manager"},
	{"GET /imports/{id}", "admin manager"},
	{"POST /imports/{id}/run", "admin manager"},
	{"POST /imports/{id}/remap", "admin manager"},
	{"POST /imports/{id}/cancel", "admin manager"},
	{"POST /customers/export", "admin manager"},
	{"POST /customers/bulk", "admin manager agent"},
	{"POST /customers/bulk/apply", "admin manager agent"},
	{"GET /customers/new", "admin manager agent"},
	{"POST /customers/new", "admin manager agent"},
	{"GET /customers/{id}", "admin manager agent viewer"},
	{"GET /customers/{id}/edit", "admin manager agent"},
	{"POST /customers/{id}/edit", "admin manager agent"},
	{"POST /customers/{id}/consents", "admin manager agent"},
	{"POST /customers/{id}/activities", "admin manager agent"},
	{"POST /customers/{id}/tasks", "admin manager agent"},
	{"POST /customers/{id}/tasks/{task}/done", "admin manager agent"},
	{"GET /tasks", "admin manager agent viewer"},
	{"POST /customers/{id}/legal-hold", "admin manager"},
	{"POST /customers/{id}/export", "admin manager"},
	{"GET /customers/{id}/delete", "admin manager"},
	{"POST /customers/{id}/delete", "admin manager"},
	{"GET /customers/{id}/erase", "admin manager"},
	{"POST /customers/{id}/erase", "admin manager"},
	{"GET /audit", "admin auditor"},
	{"GET /security", "admin auditor"},
	{"POST /security/alerts/{id}/resolve", "admin"},
	{"GET /settings/webhooks", "admin"},
	{"POST /settings/webhooks", "admin"},
	{"POST /settings/webhooks/{id}/update", "admin"},
	{"POST /settings/webhooks/{id}/rotate", "admin"},
	{"POST /settings/webhooks/{id}/delete", "admin"},
	{"GET /account", "admin manager agent viewer auditor"},
	{"POST /account/password", "admin manager agent viewer auditor"},
	{"POST /account/name", "admin manager agent viewer auditor"},
	{"POST /account/preferences", "admin manager agent viewer auditor"},
	{"POST /account/email/change", "admin manager agent viewer auditor"},
	{"POST /account/sessions/{id}/end", "admin manager agent viewer auditor"},
	{"POST /account/sessions/end-others", "admin manager agent viewer auditor"},
	{"POST /account/2fa/setup", "admin manager agent viewer auditor"},
	{"POST /account/2fa/enable", "admin manager agent viewer auditor"},
	{"POST /account/2fa/disable", "admin manager agent viewer auditor"},
	{"POST /account/passkeys", "admin manager agent viewer auditor"},
	{"POST /account/passkeys/{id}/rename", "admin manager agent viewer auditor"},
	{"POST /account/passkeys/{id}/remove", "admin manager agent viewer auditor"},
	{"POST /account/tokens", "admin manager agent viewer auditor"},
	{"POST /account/tokens/{id}/revoke", "admin manager agent viewer auditor"},
	{"GET /admin/users", "admin"},
	{"POST /admin/users/invite", "admin"},
	{"POST /admin/users/{id}/role", "admin"},
	{"POST /admin/users/{id}/active", "admin"},
	{"POST /admin/users/{id}/unlock", "admin"},
	{"POST /admin/users/{id}/reset-2fa", "admin"},
	{"POST /admin/invites/{id}/revoke", "admin"},
	{"POST /admin/invites/{id}/resend", "admin"},
	{"POST /admin/users/{id}/reset-passkeys", "admin"},
}

// TestEveryRouteWithEveryRole walks the whole routing table as an
// anonymous caller and as each role, and checks each answer against
// routePolicy: 401 without credentials (unless anyone may call it), 403
// for a role the policy does not name, and neither for a role it names.
func TestEveryRouteWithEveryRole(t *testing.T) {
	s := newTestServer(t)
	tokens := map[custodian.Role]string{}
	for _, role := range custodian.Roles() {
		tokens[role] = s.userToken(role)
	}
	customer := s.create(`{"name":"Matrix Customer"}`)["id"].(string)
	table := routes(Deps{}, newUI(Deps{}))
	policy := map[string]string{}
	for _, p := range routePolicy {
		policy[p.route] = p.allowed
	}
	served := map[string]bool{}
	for _, rt := range table {
		served[rt.Pattern()] = true
		if _, ok := policy[rt.Pattern()]; !ok {
			t.Errorf("route %s is not in routePolicy: write down who may call it", rt.Pattern())
		}
	}
	for _, p := range routePolicy {
		if !served[p.route] {
			t.Errorf("routePolicy names %s, which the server does not serve", p.route)
		}
	}
	callers := append([]custodian.Role{""}, custodian.Roles()...)
	// The policy layer's answers, told apart from a handler's own 401s
	// (such as a wrong password at sign-in) by their detail.
	const needSignIn, forbidden = "Sign in, or send a personal access token, to continue.", "Your role does not allow this."
	for _, rt := range table {
		allowed := strings.Fields(policy[rt.Pattern()])
		path := strings.TrimSuffix(rt.Path, "{$}")
		path = strings.ReplaceAll(path, "{id}", customer)
		for i, role := range callers {
			req := httptest.NewRequest(rt.Method, path, strings.NewReader(`{}`))
			req.RemoteAddr = fmt.Sprintf("192.0.2.%d:1234", 10+i) // separate sign-in budgets
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("If-Match", "*")
			if role != "" {
				req.Header.Set("Authorization", "Bearer "+tokens[role])
			}
			rec := httptest.NewRecorder()
			s.h.ServeHTTP(rec, req)
			var p Problem
			json.Unmarshal(rec.Body.Bytes(), &p)
			refused := ""
			_, page := rt.Handler.(uiPage)
			switch {
			case !page && rec.Code == 401 && p.Detail == needSignIn:
				refused = "401"
			case !page && rec.Code == 403 && p.Detail == forbidden:
				refused = "403"
			// Web pages send a signed-out browser to the sign-in page
			// and show a signed-in one a 403 page.
			case page && rec.Code == 303 && strings.HasPrefix(rec.Header().Get("Location"), "/login"):
				refused = "401"
			case page && rec.Code == 403 && strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") && strings.Contains(rec.Body.String(), forbidden):
				refused = "403"
			}
			want := ""
			switch {
			case slices.Contains(allowed, "anyone"):
			case role == "":
				want = "401"
			case !slices.Contains(allowed, string(role)):
				want = "403"
			}
			if refused != want {
				t.Errorf("%s as %q: %d %q; want the policy to answer %q", rt.Pattern(), role, rec.Code, p.Detail, want)
			}
		}
	}
	// Refusals are recorded with the user and the route.
	if !strings.Contains(s.logs.String(), `"msg":"authorization refused"`) {
		t.Fatal("refused authorizations are not logged")
	}
}

// browser is a cookie-carrying client of the in-process server; addr is
// its client address (192.0.2.10 when empty), which the per-address
// sign-in limit counts.
type browser struct {
	s      *testServer
	cookie *http.Cookie
	addr   string
}

func (b *browser) do(method, path, body string, headers ...string) response {
	b.s.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "192.0.2.10:5555"
	if b.addr != "" {
		req.RemoteAddr = b.addr + ":5555"
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	b.s.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			if c.MaxAge < 0 {
				b.cookie = nil
			} else {
				b.cookie = c
			}
		}
	}
	return response{rec.Result(), rec.Body.Bytes()}
}

func TestSignInSessionAndLogout(t *testing.T) {
	s := newTestServer(t)
	if _, err := s.acc.CreateUser(context.Background(), "Agent.Smith@Example.com", "Agent Smith", custodian.RoleAgent, testPassword); err != nil {
		t.Fatal(err)
	}
	b := &browser{s: s}
	wantProblem(t, b.do("GET", "/api/customers/", ""), 401, custodian.EUNAUTHORIZED)

	r := b.do("POST", "/api/auth/login/", `{"email":"agent.smith@example.com","password":"`+testPassword+`"}`, "Sec-Fetch-Site", "same-origin")
	if r.StatusCode != 200 || b.cookie == nil {
		t.Fatalf("login: %d %s", r.StatusCode, r.body)
	}
	c := b.cookie
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || !strings.HasPrefix(c.Value, "cst_ses_") {
		t.Fatalf("session cookie %+v", c)
	}
	if strings.Contains(string(r.body), c.Value) {
		t.Fatal("the session token is in the body")
	}
	if r := b.do("GET", "/api/auth/session/", ""); r.StatusCode != 200 || r.json(t)["user"].(map[string]any)["role"] != "agent" {
		t.Fatalf("session: %d %s", r.StatusCode, r.body)
	}
	// Same-origin writes with the cookie work; the actor is recorded.
	r = b.do("POST", "/api/customers/", `{"name":"Via Cookie"}`, "Sec-Fetch-Site", "same-origin")
	if r.StatusCode != 201 || !strings.HasPrefix(r.json(t)["created_by"].(string), "usr_") {
		t.Fatalf("create with cookie: %d %s", r.StatusCode, r.body)
	}
	// A second sign-in gets a new session id.
	first := b.cookie.Value
	b.do("POST", "/api/auth/login/", `{"email":"agent.smith@example.com","password":"`+testPassword+`"}`)
	if b.cookie == nil || b.cookie.Value == first {
		t.Fatal("sign-in did not issue a new session id")
	}

	second := *b.cookie
	r = b.do("POST", "/api/auth/logout/", "", "Sec-Fetch-Site", "same-origin")
	if r.StatusCode != 204 || !strings.Contains(r.Header.Get("Clear-Site-Data"), `"cookies"`) || b.cookie != nil {
		t.Fatalf("logout: %d %v", r.StatusCode, r.Header)
	}
	// The server forgot the session: replaying its cookie fails.
	b.cookie = &second
	wantProblem(t, b.do("GET", "/api/auth/session/", ""), 401, custodian.EUNAUTHORIZED)
	// The first session, from another sign-in, is untouched.
	c.Value = first
	b.cookie = c
	if r := b.do("GET", "/api/auth/session/", ""); r.StatusCode != 200 {
		t.Fatalf("logging out one session ended another: %d", r.StatusCode)
	}
}

func TestCrossSitePostWithSessionIsRefused(t *testing.T) {
	s := newTestServer(t)
	s.acc.CreateUser(context.Background(), "m@example.com", "Manager", custodian.RoleManager, testPassword)
	b := &browser{s: s}
	b.do("POST", "/api/auth/login/", `{"email":"m@example.com","password":"`+testPassword+`"}`)
	if b.cookie == nil {
		t.Fatal("no session")
	}
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		r := b.do("POST", "/api/customers/", `{"name":"Forged"}`, h...)
		wantProblem(t, r, 403, custodian.EFORBIDDEN)
	}
	// Nothing was created.
	r := b.do("GET", "/api/customers/?search=forged", "")
	if r.StatusCode != 200 || len(r.json(t)["items"].([]any)) != 0 {
		t.Fatalf("cross-site POST changed data: %s", r.body)
	}
	// A cross-site login (login CSRF) is refused too.
	wantProblem(t, b.do("POST", "/api/auth/login/", `{"email":"m@example.com","password":"x"}`, "Sec-Fetch-Site", "cross-site"), 403, custodian.EFORBIDDEN)
	// Bearer requests are not cookie-authenticated and need no origin.
	if r := s.do("POST", "/api/customers/", `{"name":"Via Token"}`, "Sec-Fetch-Site", "cross-site"); r.StatusCode != 201 {
		t.Fatalf("bearer request: %d %s", r.StatusCode, r.body)
	}
}

func TestSignInThrottlingAndSameAnswers(t *testing.T) {
	// A burst of 3 that refills once a minute, so that the four attempts
	// below meet the limit however long their password work takes.
	s := newTestServer(t, func(d *Deps) {
		l, err := ratelimit.NewLocal(ratelimit.Limit{Rate: 1.0 / 60, Burst: 3}, ratelimit.LocalConfig{})
		if err != nil {
			t.Fatal(err)
		}
		d.SignInLimiter = l
	})
	for _, email := range []string{"known@example.com", "other@example.com"} {
		if _, err := s.acc.CreateUser(context.Background(), email, "Person", custodian.RoleViewer, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	b := &browser{s: s}
	unknown := b.do("POST", "/api/auth/login/", `{"email":"nobody@example.com","password":"wrong password here"}`)
	wrong := b.do("POST", "/api/auth/login/", `{"email":"known@example.com","password":"wrong password here"}`)
	wantProblem(t, unknown, 401, custodian.EUNAUTHORIZED)
	wantProblem(t, wrong, 401, custodian.EUNAUTHORIZED)
	var p1, p2 Problem
	json.Unmarshal(unknown.body, &p1)
	json.Unmarshal(wrong.body, &p2)
	if p1.Detail != p2.Detail {
		t.Fatalf("unknown email and wrong password answer differently: %q vs %q", p1.Detail, p2.Detail)
	}
	// Burst of 3 per address, then 429 with Retry-After, before any password work.
	b.do("POST", "/api/auth/login/", `{"email":"known@example.com","password":"again wrong"}`)
	r := b.do("POST", "/api/auth/login/", `{"email":"known@example.com","password":"`+testPassword+`"}`)
	wantProblem(t, r, 429, custodian.ETOOMANY)
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Another address is not throttled by this one (the failing account
	// itself now has to wait: the per-account delay follows it anywhere).
	elsewhere := &browser{s: s, addr: "198.51.100.7"}
	if r := elsewhere.do("POST", "/api/auth/login/", `{"email":"other@example.com","password":"`+testPassword+`"}`); r.StatusCode != 200 {
		t.Fatalf("sign-in from another address: %d %s", r.StatusCode, r.body)
	}
}

func TestInviteRegisterAndWeakPassword(t *testing.T) {
	s := newTestServer(t)
	r := s.do("POST", "/api/invites/", `{"email":"New.Person@example.com","role":"viewer"}`)
	if r.StatusCode != 201 {
		t.Fatalf("invite: %d %s", r.StatusCode, r.body)
	}
	tok := r.json(t)["token"].(string)
	s.bearer = ""
	// A weak password is refused with an explanation, and the invitation survives.
	for _, weak := range []string{"short", "passwordpassword", "new.person@example.com", "New Person custodian"} {
		r = s.do("POST", "/api/auth/register/", `{"token":"`+tok+`","name":"New Person","password":"`+weak+`"}`)
		wantProblem(t, r, 400, custodian.EINVALID, "password")
	}
	r = s.do("POST", "/api/auth/register/", `{"token":"`+tok+`","name":"New Person","password":"`+testPassword+`"}`)
	if r.StatusCode != 201 {
		t.Fatalf("register: %d %s", r.StatusCode, r.body)
	}
	u := r.json(t)["user"].(map[string]any)
	if u["email"] != "new.person@example.com" || u["role"] != "viewer" {
		t.Fatalf("registered %v", u)
	}
	// Single use.
	wantProblem(t, s.do("POST", "/api/auth/register/", `{"token":"`+tok+`","name":"Again","password":"`+testPassword+`"}`), 404, custodian.ENOTFOUND)
	wantProblem(t, s.do("POST", "/api/auth/register/", `{"token":"cst_inv_garbage","name":"X","password":"`+testPassword+`"}`), 404, custodian.ENOTFOUND)
	// No open self-registration: setup works only with its token and only once.
	wantProblem(t, s.do("POST", "/api/auth/setup/", `{"token":"cst_set_x","email":"a@example.com","name":"A","password":"`+testPassword+`"}`), 404, custodian.ENOTFOUND)
}

func TestAccessTokens(t *testing.T) {
	s := newTestServer(t)
	r := s.do("POST", "/api/tokens/", `{"name":"ci job","expires_in_days":30}`)
	if r.StatusCode != 201 {
		t.Fatalf("create token: %d %s", r.StatusCode, r.body)
	}
	created := r.json(t)
	tok, id := created["token"].(string), created["id"].(string)
	if !strings.HasPrefix(tok, "cst_pat_") {
		t.Fatalf("token %q", tok)
	}
	list := s.do("GET", "/api/tokens/", "")
	if strings.Contains(string(list.body), tok) || !strings.Contains(string(list.body), id) {
		t.Fatalf("token list: %s", list.body)
	}
	admin := s.bearer
	s.bearer = tok
	if r := s.do("GET", "/api/customers/", ""); r.StatusCode != 200 {
		t.Fatalf("new token refused: %d", r.StatusCode)
	}
	s.bearer = admin
	if r := s.do("DELETE", "/api/tokens/"+id+"/", ""); r.StatusCode != 204 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.body)
	}
	s.bearer = tok
	r = s.do("GET", "/api/customers/", "")
	wantProblem(t, r, 401, custodian.EUNAUTHORIZED)
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	s.bearer = "cst_pat_not-a-real-token"
	wantProblem(t, s.do("GET", "/api/customers/", ""), 401, custodian.EUNAUTHORIZED)
	s.bearer = admin
	wantProblem(t, s.do("POST", "/api/tokens/", `{"name":"","expires_in_days":5000}`), 400, custodian.EINVALID, "name", "expires_in_days")
}
