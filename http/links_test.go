package http

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

func postForm(h http.Handler, path string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestSetupPageInTheBrowser(t *testing.T) {
	d, acc, _, _ := testDeps(t)
	h := NewServer(d)
	tok, _, err := acc.SetupLink(context.Background())
	if err != nil || tok == "" {
		t.Fatal(err)
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/setup?token="+tok, nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `name="token" value="`+tok+`"`) || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET /setup: %d %s", rec.Code, body)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Fatal("the page has inline script or style")
	}

	// A weak password is explained next to its field; the other values stay,
	// escaped; the password is never echoed.
	rec = postForm(h, "/setup", url.Values{"token": {tok}, "email": {"admin@example.com"}, "name": {`<script>alert(1)</script>`}, "password": {"short"}})
	body = rec.Body.String()
	if rec.Code != 400 || !strings.Contains(body, `id="password-error"`) || !strings.Contains(body, "&lt;script&gt;") || strings.Contains(body, "<script>alert") || strings.Contains(body, `value="short"`) {
		t.Fatalf("weak password: %d %s", rec.Code, body)
	}

	// A cross-site form post is refused and changes nothing.
	rec = postForm(h, "/setup", url.Values{"token": {tok}, "email": {"admin@example.com"}, "name": {"Ada"}, "password": {testPassword}}, "Sec-Fetch-Site", "cross-site")
	if rec.Code != 403 {
		t.Fatalf("cross-site setup: %d", rec.Code)
	}

	rec = postForm(h, "/setup", url.Values{"token": {tok}, "email": {"admin@example.com"}, "name": {"Ada"}, "password": {testPassword}}, "Sec-Fetch-Site", "same-origin")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "ready") {
		t.Fatalf("setup: %d %s", rec.Code, rec.Body.String())
	}
	if u, err := acc.UserByEmail(context.Background(), "admin@example.com"); err != nil || u.Role != custodian.RoleAdmin {
		t.Fatalf("first administrator: %+v %v", u, err)
	}
	rec = postForm(h, "/setup", url.Values{"token": {tok}, "email": {"second@example.com"}, "name": {"Eve"}, "password": {testPassword}})
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "invalid, expired or already used") {
		t.Fatalf("setup link reused: %d", rec.Code)
	}
}
