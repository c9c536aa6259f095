package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/importer"
	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/metrics"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/ratelimit"
	"github.com/custodian-crm/custodian/sqlstore"
	"github.com/custodian-crm/custodian/webhooks"
)

type testServer struct {
	t      testing.TB
	h      http.Handler
	logs   *syncbuf.Buffer
	acc    *accounts.Service
	store  *sqlstore.Store
	bearer string // an administrator's access token, sent by do
}

// testPassword is long and random enough for the password policy.
const testPassword = "correct horse battery staple orbit"

// testDeps returns the Deps of a server on a fresh SQLite database, with no
// users yet, logging JSON lines to logs.
func testDeps(t testing.TB) (d Deps, acc *accounts.Service, store *sqlstore.Store, logs *syncbuf.Buffer) {
	t.Helper()
	return testDepsWith(t, testAccountsConfig())
}

// testPasskeyOrigin is the origin the test servers' passkeys are for
// (tests that need another, such as the browser's, use testDepsWith).
const testPasskeyOrigin = "https://localhost"

// testAccountsConfig is the account configuration of the test servers:
// the defaults, and passkeys for https://localhost.
func testAccountsConfig() accounts.Config {
	return accounts.Config{Passkeys: accounts.PasskeyConfig{RPID: "localhost", Origins: []string{testPasskeyOrigin}}}
}

// testDepsWith is testDeps with the account service configured by acfg.
func testDepsWith(t testing.TB, acfg accounts.Config) (d Deps, acc *accounts.Service, store *sqlstore.Store, logs *syncbuf.Buffer) {
	t.Helper()
	store, _ = testdb.SQLite(t)
	k, _ := crypto.NewKeyring()
	sealer, err := crypto.NewSealer(k, 0)
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncbuf.Buffer{}
	acc = testAccountsWith(t, store, sealer, acfg)
	svc := customers.New(store, sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: "GB"}})
	jobs := importer.NewJobs(svc, store, importer.JobsOptions{Batch: 2})
	t.Cleanup(jobs.Close)
	d = Deps{
		Logger:    slog.New(slog.NewJSONHandler(logs, nil)),
		Customers: svc, Privacy: svc, Activities: svc, Tasks: svc, Names: svc, Bulk: svc, Imports: jobs, Exports: svc,
		Webhooks: webhooks.New(store, sealer, webhooks.Options{Customers: svc}),
		DB:       store, Accounts: acc, Audit: store, Alerts: store,
		Monitor: custodian.ObserverFunc(func(custodian.Signal) {}),
	}
	return d, acc, store, logs
}

// newTestServer returns a server on a fresh SQLite database, with a
// sign-in limit and an administrator whose token do sends; opts adjust its
// Deps. Every API request and answer through it is checked against the
// OpenAPI document (see checked).
func newTestServer(t testing.TB, opts ...func(*Deps)) *testServer {
	t.Helper()
	s, _ := newUserlessServer(t, ratelimit.Limit{Rate: 1, Burst: 3}, opts...)
	s.bearer = s.userToken(custodian.RoleAdmin)
	return s
}

// newUserlessServer returns a server on a fresh SQLite database with no
// users yet, whose sign-ins are limited per address to limit, and its
// Deps, which opts adjust first.
func newUserlessServer(t testing.TB, limit ratelimit.Limit, opts ...func(*Deps)) (*testServer, Deps) {
	t.Helper()
	return newUserlessServerWith(t, limit, testAccountsConfig(), opts...)
}

// newUserlessServerWith is newUserlessServer with the account service
// configured by acfg.
func newUserlessServerWith(t testing.TB, limit ratelimit.Limit, acfg accounts.Config, opts ...func(*Deps)) (*testServer, Deps) {
	t.Helper()
	d, acc, store, logs := testDepsWith(t, acfg)
	limiter, err := ratelimit.NewLocal(limit, ratelimit.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d.SignInLimiter = limiter
	for _, o := range opts {
		o(&d)
	}
	return &testServer{t: t, h: checked(t, NewServer(d)), logs: logs, acc: acc, store: store}, d
}

// testAccountsWith returns an account service over store, configured by
// cfg, with the cheapest password hashing the policy allows.
func testAccountsWith(t testing.TB, store custodian.AccountRepository, sealer *crypto.Sealer, cfg accounts.Config) *accounts.Service {
	t.Helper()
	hasher, err := password.NewHasher(password.Config{Params: password.Params{Memory: password.MinMemoryKiB, Time: 2, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := accounts.New(store, hasher, sealer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// asAdmin signs every request that has no Authorization header with the
// administrator's access token of s, for tests about something other than
// access control.
func (s *testServer) asAdmin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+s.bearer)
		}
		s.h.ServeHTTP(w, r)
	})
}

// userToken creates a user with the role and returns an access token.
func (s *testServer) userToken(role custodian.Role) string {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.acc.CreateUser(ctx, string(role)+"-"+custodian.NewUserID()[4:12]+"@example.com", "Test "+string(role), role, testPassword)
	if err != nil {
		s.t.Fatal(err)
	}
	tok, _, err := s.acc.CreateAPIToken(ctx, u.ID, "tests", 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

type response struct {
	*http.Response
	body []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// do sends a request; headers are name, value pairs.
func (s *testServer) do(method, path, body string, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+s.bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return response{rec.Result(), rec.Body.Bytes()}
}

func (s *testServer) create(body string) map[string]any {
	s.t.Helper()
	r := s.do("POST", "/api/customers/", body)
	if r.StatusCode != 201 {
		s.t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	return r.json(s.t)
}

// wantProblem checks an RFC 9457 body with the status, code and fields.
func wantProblem(t *testing.T, r response, status int, code string, fields ...string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != status || p.Code != code || p.Title == "" || p.Type == "" || p.RequestID == "" {
		t.Fatalf("problem = %+v, want status %d code %s", p, status, code)
	}
	var got []string
	for _, f := range p.Errors {
		got = append(got, f.Field)
		if f.Message == "" {
			t.Fatalf("field %s has no message", f.Field)
		}
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Fatalf("field errors %v, want %v", got, fields)
	}
	for _, leak := range []string{"goroutine", ".go:", "sql", "SQL", "panic"} {
		if strings.Contains(string(r.body), leak) {
			t.Fatalf("problem leaks %q: %s", leak, r.body)
		}
	}
}

func TestCustomerLifecycle(t *testing.T) {
	s := newTestServer(t)
	r := s.do("POST", "/api/customers/", `{"name":"Ada Lovelace","email":"ada@example.com","phone":"020 7946 0958","address":{"country":"gb"},"notes":"<script>alert(1)</script>","tags":["VIP"]}`)
	if r.StatusCode != 201 {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	c := r.json(t)
	id := c["id"].(string)
	if loc := r.Header.Get("Location"); loc != "/api/customers/"+id+"/" {
		t.Fatalf("Location %q", loc)
	}
	if r.Header.Get("ETag") != `"1"` || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", r.Header)
	}
	if c["phone"] != "+442079460958" || c["notes"] != "<script>alert(1)</script>" || c["status"] != "lead" || c["version"] != 1.0 {
		t.Fatalf("created %v", c)
	}
	// Notes are stored exactly, and encoded on output: no raw markup in the bytes.
	if bytes.Contains(r.body, []byte("<script>")) {
		t.Fatalf("markup not escaped in JSON output: %s", r.body)
	}

	r = s.do("GET", "/api/customers/"+id+"/", "")
	if r.StatusCode != 200 || r.Header.Get("ETag") != `"1"` || r.json(t)["email"] != "ada@example.com" {
		t.Fatalf("get: %d %s", r.StatusCode, r.body)
	}
	if r := s.do("GET", "/api/customers/"+id+"/", "", "If-None-Match", `"1"`); r.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", r.StatusCode)
	}

	// Updates need If-Match; a stale one changes nothing.
	wantProblem(t, s.do("PUT", "/api/customers/"+id+"/", `{"name":"X"}`), 428, custodian.EREQUIRED)
	r = s.do("PATCH", "/api/customers/"+id+"/", `{"email":null,"address":{"city":"London"},"status":"active"}`, "If-Match", `"1"`)
	if r.StatusCode != 200 || r.Header.Get("ETag") != `"2"` {
		t.Fatalf("patch: %d %s", r.StatusCode, r.body)
	}
	c = r.json(t)
	addr := c["address"].(map[string]any)
	if c["email"] != "" || c["name"] != "Ada Lovelace" || addr["city"] != "London" || addr["country"] != "GB" || c["status"] != "active" {
		t.Fatalf("patched %v", c)
	}
	wantProblem(t, s.do("PUT", "/api/customers/"+id+"/", `{"name":"Stale"}`, "If-Match", `"1"`), 412, custodian.EPRECONDITION)
	wantProblem(t, s.do("PUT", "/api/customers/"+id+"/", `{"name":"Weak"}`, "If-Match", `W/"2"`), 412, custodian.EPRECONDITION)
	if got := s.do("GET", "/api/customers/"+id+"/", "").json(t); got["name"] != "Ada Lovelace" || got["version"] != 2.0 {
		t.Fatalf("stale PUT changed the record: %v", got)
	}
	// A PUT may echo read-only fields back from a GET; they are ignored.
	echo := s.do("GET", "/api/customers/"+id+"/", "").json(t)
	echo["name"] = "Ada King"
	echo["version"] = 99
	b, _ := json.Marshal(echo)
	r = s.do("PUT", "/api/customers/"+id+"/", string(b), "If-Match", `"2"`)
	if r.StatusCode != 200 || r.json(t)["name"] != "Ada King" || r.json(t)["version"] != 3.0 || r.json(t)["id"] != id {
		t.Fatalf("put: %d %s", r.StatusCode, r.body)
	}
	r = s.do("PUT", "/api/customers/"+id+"/", `{"name":"Only Name"}`, "If-Match", "*")
	if r.StatusCode != 200 || r.json(t)["tags"].([]any) == nil || len(r.json(t)["tags"].([]any)) != 0 || r.json(t)["notes"] != "" {
		t.Fatalf("put *: %d %s", r.StatusCode, r.body)
	}

	wantProblem(t, s.do("DELETE", "/api/customers/"+id+"/", "", "If-Match", `"1"`), 412, custodian.EPRECONDITION)
	if r := s.do("DELETE", "/api/customers/"+id+"/", ""); r.StatusCode != 204 {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("GET", "/api/customers/"+id+"/", ""), 404, custodian.ENOTFOUND)
	wantProblem(t, s.do("DELETE", "/api/customers/"+id+"/", ""), 404, custodian.ENOTFOUND)
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Ada"}`)["id"].(string)
	big := `{"name":"Ada","notes":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name, method, body, ct string
		status                 int
		code                   string
		fields                 []string
	}{
		{"malformed", "POST", `{"name":`, "application/json", 400, codeMalformed, nil},
		{"not an object", "POST", `["Ada"]`, "application/json", 400, codeMalformed, nil},
		{"trailing data", "POST", `{"name":"Ada"} {"name":"Eve"}`, "application/json", 400, codeMalformed, nil},
		{"empty", "POST", ``, "application/json", 400, codeMalformed, nil},
		{"unknown field", "POST", `{"name":"Ada","is_admin":true}`, "application/json", 400, custodian.EINVALID, []string{"is_admin"}},
		{"unknown nested field", "POST", `{"name":"Ada","address":{"planet":"Mars"}}`, "application/json", 400, custodian.EINVALID, []string{"address.planet"}},
		{"wrong type", "POST", `{"name":42}`, "application/json", 400, custodian.EINVALID, []string{"name"}},
		{"too large", "POST", big, "application/json", 413, codeTooLarge, nil},
		{"wrong content type", "POST", `{"name":"Ada"}`, "text/plain", 415, codeUnsupportedMedia, nil},
		{"no content type", "POST", `{"name":"Ada"}`, "", 415, codeUnsupportedMedia, nil},
		{"wrong charset", "POST", `{"name":"Ada"}`, "application/json; charset=latin1", 415, codeUnsupportedMedia, nil},
		{"invalid UTF-8", "POST", "{\"name\":\"Ad\xffa\"}", "application/json", 400, codeMalformed, nil},
		{"control character", "POST", `{"name":"Ada\u0007"}`, "application/json", 400, custodian.EINVALID, []string{"name"}},
		{"markup in name", "POST", `{"name":"<img src=x onerror=alert(1)>"}`, "application/json", 400, custodian.EINVALID, []string{"name"}},
		{"markup in company and street", "POST", `{"name":"Ada","company":"a<b","address":{"street":"x>y"}}`, "application/json", 400, custodian.EINVALID, []string{"company", "address.street"}},
		{"everything wrong", "POST", `{"name":"","email":"a@b","phone":"abc","address":{"country":"UK","postal_code":"12;34"},"tags":["ok","<x>"],"status":"vip"}`, "application/json", 400, custodian.EINVALID,
			[]string{"name", "email", "phone", "address.postal_code", "address.country", "tags[1]", "status"}},
		{"email too long", "POST", `{"name":"Ada","email":"` + strings.Repeat("a", 250) + `@example.com"}`, "application/json", 400, custodian.EINVALID, []string{"email"}},
		{"patch wrong type", "PATCH", `{"email":5,"tags":"x"}`, "application/merge-patch+json", 400, custodian.EINVALID, []string{"email", "tags"}},
		{"patch null name", "PATCH", `{"name":null}`, "application/merge-patch+json", 400, custodian.EINVALID, []string{"name"}},
		{"patch unknown field", "PATCH", `{"version":7}`, "application/merge-patch+json", 400, custodian.EINVALID, []string{"version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/api/customers/"
			headers := []string{"Content-Type", tt.ct}
			if tt.method == "PATCH" {
				path += id + "/"
				headers = append(headers, "If-Match", `"1"`)
			}
			req := httptest.NewRequest(tt.method, path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+s.bearer)
			for i := 0; i < len(headers); i += 2 {
				if headers[i+1] != "" {
					req.Header.Set(headers[i], headers[i+1])
				}
			}
			rec := httptest.NewRecorder()
			s.h.ServeHTTP(rec, req)
			wantProblem(t, response{rec.Result(), rec.Body.Bytes()}, tt.status, tt.code, tt.fields...)
		})
	}
	// Nothing was written: one customer, still at version 1.
	list := s.do("GET", "/api/customers/", "").json(t)
	if items := list["items"].([]any); len(items) != 1 || items[0].(map[string]any)["version"] != 1.0 {
		t.Fatalf("refused requests changed data: %v", list)
	}
}

func TestListAPI(t *testing.T) {
	s := newTestServer(t)
	for _, name := range []string{"Carol Danvers", "Alice Smith", "Bob Jones", "alice Walker"} {
		s.create(`{"name":"` + name + `","tags":["x"],"status":"active"}`)
	}
	r := s.do("GET", "/api/customers/?sort=name&limit=3", "")
	page := r.json(t)
	items := page["items"].([]any)
	if r.StatusCode != 200 || len(items) != 3 || items[0].(map[string]any)["name"] != "Alice Smith" || page["next_cursor"] == nil {
		t.Fatalf("first page: %s", r.body)
	}
	r = s.do("GET", "/api/customers/?sort=name&limit=3&cursor="+page["next_cursor"].(string), "")
	page = r.json(t)
	if items := page["items"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "Carol Danvers" || page["next_cursor"] != nil {
		t.Fatalf("second page: %s", r.body)
	}
	if !bytes.Contains(r.body, []byte(`"next_cursor":null`)) {
		t.Fatalf("last page must carry next_cursor null: %s", r.body)
	}
	r = s.do("GET", "/api/customers/?search=ALI&status=active&tag=x", "")
	if items := r.json(t)["items"].([]any); len(items) != 2 {
		t.Fatalf("search: %s", r.body)
	}
	if r := s.do("GET", "/api/customers/?search=nobody", ""); !bytes.Contains(r.body, []byte(`"items":[]`)) {
		t.Fatalf("empty list must be an empty array: %s", r.body)
	}
	wantProblem(t, s.do("GET", "/api/customers/?page=2", ""), 400, custodian.EINVALID, "page")
	wantProblem(t, s.do("GET", "/api/customers/?limit=abc", ""), 400, custodian.EINVALID, "limit")
	wantProblem(t, s.do("GET", "/api/customers/?limit=500", ""), 400, custodian.EINVALID, "limit")
	wantProblem(t, s.do("GET", "/api/customers/?sort=email", ""), 400, custodian.EINVALID, "sort")
	wantProblem(t, s.do("GET", "/api/customers/?cursor=abc", ""), 400, custodian.EINVALID, "cursor")
	wantProblem(t, s.do("GET", "/api/customers/?status=a&status=b", ""), 400, custodian.EINVALID, "status")
}

func TestRoutingErrorsAreProblems(t *testing.T) {
	s := newTestServer(t)
	wantProblem(t, s.do("GET", "/nothing-here", ""), 404, custodian.ENOTFOUND)
	wantProblem(t, s.do("GET", "/api/customers/not-an-id/", ""), 404, custodian.ENOTFOUND)
	r := s.do("POST", "/api/customers/cus_aaaaaaaaaaaaaaaaaaaaaaaaaa/", `{}`)
	wantProblem(t, r, 405, codeMethodNotAllowed)
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "PATCH") || !strings.Contains(allow, "DELETE") {
		t.Fatalf("Allow = %q", allow)
	}
	if r := s.do("GET", "/healthz", ""); r.StatusCode != 200 {
		t.Fatalf("healthz %d", r.StatusCode)
	}
	if r := s.do("GET", "/readyz", ""); r.StatusCode != 200 {
		t.Fatalf("readyz %d", r.StatusCode)
	}
}

type downDB struct{}

func (downDB) Ping(context.Context) error { return errors.New("connection refused") }

func TestReadyzWhenDatabaseIsDown(t *testing.T) {
	d, _, _, _ := testDeps(t)
	d.DB = downDB{}
	h := checked(t, NewServer(d))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	wantProblem(t, response{rec.Result(), rec.Body.Bytes()}, 503, custodian.EUNAVAILABLE)
	// Why is for the log, not for whoever asks.
	if strings.Contains(rec.Body.String(), "connection refused") {
		t.Fatalf("the reason is in the answer: %s", rec.Body)
	}
}

func TestPanicAnswersGeneric500(t *testing.T) {
	d, _, _, logs := testDeps(t)
	d.Metrics = metrics.New()
	h := newPipeline(d).route("GET /boom", Route{Method: "GET", Path: "/boom", Perm: custodian.PermPublic, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("database password is hunter2")
	})})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	r := response{rec.Result(), rec.Body.Bytes()}
	wantProblem(t, r, 500, custodian.EINTERNAL)
	if strings.Contains(string(r.body), "hunter2") {
		t.Fatal("panic value reached the client")
	}
	if !strings.Contains(logs.String(), "goroutine") || !strings.Contains(logs.String(), r.json(t)["request_id"].(string)) {
		t.Fatal("panic not logged with its stack and request id")
	}
	// The request log and the metrics count it as the 500 it answered.
	if !strings.Contains(logs.String(), `"route":"GET /boom"`) || !strings.Contains(logs.String(), `"status":500`) {
		t.Fatalf("request log line of the panic missing: %s", logs)
	}
	scrape := httptest.NewRecorder()
	d.Metrics.Handler().ServeHTTP(scrape, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(scrape.Body.String(), `custodian_http_requests_total{code="5xx",method="GET",route="/boom"} 1`) {
		t.Fatal("the panic was not counted as a 5xx")
	}
}

func TestRequestLogOmitsQueryAndBody(t *testing.T) {
	s := newTestServer(t)
	s.create(`{"name":"Philippa Secretname","email":"philippa@example.com"}`)
	s.do("GET", "/api/customers/?search=philippa@example.com", "")
	logs := s.logs.String()
	if strings.Contains(strings.ToLower(logs), "philippa") {
		t.Fatalf("personal data in logs: %s", logs)
	}
	if !strings.Contains(logs, `"route":"GET /api/customers/{$}"`) {
		t.Fatalf("request line missing: %s", logs)
	}
}

func TestFieldNamesAreExactAndUnique(t *testing.T) {
	s := newTestServer(t)
	wantProblem(t, s.do("POST", "/api/customers/", `{"NAME":"Ada"}`), 400, custodian.EINVALID, "NAME")
	r := s.do("POST", "/api/customers/", `{"name":"Ada","Email":"a@example.com"}`)
	wantProblem(t, r, 400, custodian.EINVALID, "Email")
	if !strings.Contains(string(r.body), "case-sensitive") {
		t.Fatalf("no hint about case: %s", r.body)
	}
	wantProblem(t, s.do("POST", "/api/customers/", `{"name":"Ada","name":"Eve"}`), 400, custodian.EINVALID, "name")
	wantProblem(t, s.do("POST", "/api/customers/", `{"name":"Ada","address":{"City":"London"}}`), 400, custodian.EINVALID, "address.City")
	if r := s.do("GET", "/api/customers/", ""); len(r.json(t)["items"].([]any)) != 0 {
		t.Fatal("a refused body was stored")
	}
}
