package http

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/edge"
	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/ratelimit"
)

// edgeServer is a test server with deps adjusted by adjust (nil for none),
// answering every request without credentials as an administrator, and
// the buffer its log goes to.
func edgeServer(t testing.TB, adjust func(*Deps)) (http.Handler, *syncbuf.Buffer) {
	t.Helper()
	var opts []func(*Deps)
	if adjust != nil {
		opts = append(opts, adjust)
	}
	s := newTestServer(t, opts...)
	return s.asAdmin(), s.logs
}

func serveOne(h http.Handler, method, target, remote string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	if remote != "" {
		req.RemoteAddr = remote
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// securityHeaders are the headers the issue requires on every response.
var securityHeaders = map[string]string{
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "strict-origin-when-cross-origin",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Cache-Control":                "no-store",
}

// panickingService fails every list with a panic, to show that the 500
// written by the recovery middleware carries the security headers.
type panickingService struct{ custodian.CustomerService }

func (panickingService) ListCustomers(context.Context, custodian.CustomerQuery) (*custodian.CustomerPage, error) {
	panic("boom")
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h, _ := edgeServer(t, func(d *Deps) {
		d.APILimiter = mustLocal(t, "1/s,burst=1")
	})
	panics, _ := edgeServer(t, func(d *Deps) { d.Customers = panickingService{} })
	hosts, _ := edgeServer(t, func(d *Deps) { d.AllowedHosts = []string{"crm.example.com"} })
	tests := []struct {
		name    string
		h       http.Handler
		method  string
		target  string
		remote  string
		status  int
		problem bool
	}{
		{"API JSON", h, "GET", "/api/customers/", "192.0.2.1:1", 200, false},
		{"rate limited", h, "GET", "/api/customers/", "192.0.2.1:1", 429, true},
		{"health", h, "GET", "/healthz", "", 200, false},
		{"openapi", h, "GET", "/api/openapi.json", "192.0.2.2:1", 200, false},
		{"validation error", h, "GET", "/api/customers/?limit=0", "192.0.2.3:1", 400, true},
		{"404", h, "GET", "/nowhere", "", 404, true},
		{"405", h, "DELETE", "/healthz", "", 405, true},
		{"probe 404", h, "GET", "/wp-login.php", "", 404, false},
		{"TRACE", h, "TRACE", "/healthz", "", 405, false},
		{"URI too long", h, "GET", "/api/customers/?search=" + strings.Repeat("a", edge.DefaultMaxURL), "", 414, false},
		{"panic 500", panics, "GET", "/api/customers/", "", 500, true},
		{"bad host", hosts, "GET", "/healthz", "", 400, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serveOne(tt.h, tt.method, tt.target, tt.remote)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			for k, v := range securityHeaders {
				if k == "Cache-Control" && tt.target == "/api/openapi.json" {
					// The public API description is revalidated, not
					// personal data; its handler chooses no-cache.
					v = "no-cache"
				}
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range []string{"Content-Security-Policy", "Permissions-Policy"} {
				if rec.Header().Get(k) == "" {
					t.Errorf("%s missing", k)
				}
			}
			if rec.Header().Get("Strict-Transport-Security") != "" {
				t.Errorf("HSTS sent over plain HTTP")
			}
			if ct := rec.Header().Get("Content-Type"); tt.problem && ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want a problem", ct)
			}
		})
	}
}

func TestHSTSOnlyWhenHTTPS(t *testing.T) {
	tp, err := edge.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := edgeServer(t, func(d *Deps) { d.TrustedProxies = tp })
	tests := []struct {
		name   string
		remote string
		proto  string
		want   bool
	}{
		{"trusted proxy says https", "10.1.2.3:5000", "https", true},
		{"trusted proxy says http", "10.1.2.3:5000", "http", false},
		{"untrusted peer claims https", "192.0.2.9:5000", "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serveOne(h, "GET", "/healthz", tt.remote, "X-Forwarded-Proto", tt.proto)
			if got := rec.Header().Get("Strict-Transport-Security") != ""; got != tt.want {
				t.Fatalf("HSTS present %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProbeAnsweredAndCounted(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h, logs := edgeServer(t, func(d *Deps) {
		d.OnProbe = func(r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, edge.ClientAddrFrom(r.Context()).String())
		}
	})
	for _, target := range []string{"/.env", "/wp-admin/", "/api/customers/%2e%2e/x", "/api/customers/"} {
		rec := serveOne(h, "GET", target, "198.51.100.7:1")
		isProbe := target != "/api/customers/"
		if isProbe && (rec.Code != 404 || rec.Body.Len() != 0 || rec.Header().Get("Connection") != "close") {
			t.Fatalf("%s: %d %q %v", target, rec.Code, rec.Body, rec.Header())
		}
		if !isProbe && rec.Code != 200 {
			t.Fatalf("%s: %d", target, rec.Code)
		}
	}
	if len(seen) != 3 || seen[0] != "198.51.100.7" {
		t.Fatalf("probe callback saw %v, want 3 calls from 198.51.100.7", seen)
	}
	if strings.Count(logs.String(), `"msg":"request"`) != 1 {
		t.Fatalf("probes must be answered before the request log:\n%s", logs)
	}
}

func mustLocal(t *testing.T, spec string) *ratelimit.Local {
	t.Helper()
	lim, err := ratelimit.ParseLimit(spec)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ratelimit.NewLocal(lim, ratelimit.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAPIRateLimitPerResolvedClient(t *testing.T) {
	tp, err := edge.ParseTrustedProxies([]string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h, logs := edgeServer(t, func(d *Deps) {
		d.TrustedProxies = tp
		d.APILimiter = mustLocal(t, "1/s,burst=2")
	})
	get := func(target, remote, xff string) *httptest.ResponseRecorder {
		return serveOne(h, "GET", target, remote, "X-Forwarded-For", xff)
	}
	for i := range 2 {
		if rec := get("/api/customers/", "10.0.0.1:1", "203.0.113.5"); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	rec := get("/api/customers/", "10.0.0.1:1", "203.0.113.5")
	if rec.Code != 429 {
		t.Fatalf("third request: %d, want 429", rec.Code)
	}
	ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != custodian.ETOOMANY || p.Status != 429 || p.RequestID == "" {
		t.Fatalf("problem %+v %v", p, err)
	}
	// Another client behind the same proxy has its own budget.
	if rec := get("/api/customers/", "10.0.0.1:1", "203.0.113.6"); rec.Code != 200 {
		t.Fatalf("other client: %d", rec.Code)
	}
	// An untrusted peer cannot pick a fresh address with a forged header:
	// its key is its own socket address.
	for i := range 2 {
		if rec := get("/api/customers/", "192.0.2.50:1", "198.51.100."+strconv.Itoa(i)); rec.Code != 200 {
			t.Fatalf("spoofer request %d: %d", i, rec.Code)
		}
	}
	if rec := get("/api/customers/", "192.0.2.50:1", "198.51.100.99"); rec.Code != 429 {
		t.Fatalf("forged X-Forwarded-For escaped the limit: %d", rec.Code)
	}
	// Health checks are not limited.
	for range 5 {
		if rec := get("/healthz", "192.0.2.50:1", ""); rec.Code != 200 {
			t.Fatalf("healthz limited: %d", rec.Code)
		}
	}
	// The log names the resolved client, never the forged header value.
	if !strings.Contains(logs.String(), `"client":"203.0.113.5"`) || !strings.Contains(logs.String(), `"client":"192.0.2.50"`) {
		t.Fatalf("log does not name the resolved client:\n%s", logs)
	}
	if strings.Contains(logs.String(), "198.51.100.") {
		t.Fatalf("log contains a forged address:\n%s", logs)
	}
}

// failingLimiter is a limiter whose store is down.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, context.DeadlineExceeded
}

func TestRateLimiterFailureFailsOpenAndLogs(t *testing.T) {
	h, logs := edgeServer(t, func(d *Deps) { d.APILimiter = failingLimiter{} })
	if rec := serveOne(h, "GET", "/api/customers/", "192.0.2.1:1"); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if !strings.Contains(logs.String(), "rate limiter failed") || strings.Contains(logs.String(), `"key"`) {
		t.Fatalf("log:\n%s", logs)
	}
}

func TestAllowedHosts(t *testing.T) {
	h, _ := edgeServer(t, func(d *Deps) { d.AllowedHosts = []string{"crm.example.com", ".example.org"} })
	tests := []struct {
		host string
		want int
	}{
		{"crm.example.com", 200},
		{"CRM.Example.com:8443", 200},
		{"crm.example.com.", 200},
		{"example.org", 200},
		{"a.b.example.org", 200},
		{"evil.com", 400},
		{"crm.example.com.evil.com", 400},
		{"badexample.org", 400},
		{"", 400},
		{"127.0.0.1:8080", 400},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/healthz", nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("Host %q: %d, want %d", tt.host, rec.Code, tt.want)
			}
			if tt.want == 400 && !strings.Contains(rec.Body.String(), `"code":"bad_host"`) {
				t.Fatalf("body %s", rec.Body)
			}
		})
	}
	if !HostAllowed("anything.test", nil) {
		t.Fatal("an empty list must allow every host")
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.1:5", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:5", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:5", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"garbage", ""},
	}
	for _, tt := range tests {
		var got string
		edge.ClientInfo(nil)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = ClientKey(r) })).
			ServeHTTP(httptest.NewRecorder(), func() *http.Request {
				r := httptest.NewRequest("GET", "/", nil)
				r.RemoteAddr = tt.remote
				return r
			}())
		if got != tt.want {
			t.Errorf("ClientKey(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}

func BenchmarkMiddlewareChain(b *testing.B) {
	d, _, _, _ := testDeps(b)
	d.Logger = slog.New(slog.DiscardHandler)
	d.APILimiter, _ = ratelimit.NewLocal(ratelimit.Limit{Rate: 1e9, Burst: 1 << 20}, ratelimit.LocalConfig{})
	h := NewServer(d)
	req := httptest.NewRequest("GET", "/healthz", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
