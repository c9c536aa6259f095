package edge

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// baseline is the set of headers every response must carry.
var baseline = map[string]string{
	"X-Content-Type-Options":            "nosniff",
	"X-Frame-Options":                   "DENY",
	"Referrer-Policy":                   "strict-origin-when-cross-origin",
	"Cross-Origin-Opener-Policy":        "same-origin",
	"Cross-Origin-Resource-Policy":      "same-origin",
	"X-Permitted-Cross-Domain-Policies": "none",
	"X-XSS-Protection":                  "0",
}

func checkBaseline(t *testing.T, h http.Header, https bool) {
	t.Helper()
	for k, want := range baseline {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q contains %q", csp, bad)
		}
	}
	pp := h.Get("Permissions-Policy")
	for _, f := range []string{"camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"} {
		if !strings.Contains(pp, f) {
			t.Errorf("Permissions-Policy %q lacks %q", pp, f)
		}
	}
	if got := h.Get("Server"); got != "" {
		t.Errorf("Server = %q, want removed", got)
	}
	if got := h.Get("X-Powered-By"); got != "" {
		t.Errorf("X-Powered-By = %q, want removed", got)
	}
	hsts := h.Get("Strict-Transport-Security")
	upgrade := strings.Contains(csp, "upgrade-insecure-requests")
	if https {
		if hsts != "max-age=63072000; includeSubDomains" {
			t.Errorf("HSTS = %q on HTTPS", hsts)
		}
		if !upgrade {
			t.Error("CSP lacks upgrade-insecure-requests on HTTPS")
		}
	} else {
		if hsts != "" {
			t.Errorf("HSTS = %q on plain HTTP, want none", hsts)
		}
		if upgrade {
			t.Error("CSP has upgrade-insecure-requests on plain HTTP")
		}
	}
}

// answer returns a handler that sets headers (name, value pairs) and
// writes body.
func answer(body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		_, _ = io.WriteString(w, body)
	}
}

func TestSecurityHeadersResponses(t *testing.T) {
	proxies := mustProxies(t, []string{"10.0.0.0/8"})
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		tls       bool
		viaProxy  bool
		wantCode  int
		wantHTTPS bool
		wantCache string
	}{
		{
			name:     "html page",
			handler:  answer("<p>hi</p>", "Content-Type", "text/html"),
			wantCode: 200, wantCache: "no-store",
		},
		{
			name: "api json over tls",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(201)
			},
			tls: true, wantCode: 201, wantHTTPS: true, wantCache: "no-store",
		},
		{
			name:     "https via trusted proxy",
			handler:  answer("ok"),
			viaProxy: true, wantCode: 200, wantHTTPS: true, wantCache: "no-store",
		},
		{
			name:     "http.Error",
			handler:  func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusForbidden) },
			wantCode: 403, wantCache: "no-store",
		},
		{
			name:     "not found",
			handler:  http.NotFound,
			tls:      true,
			wantCode: 404, wantHTTPS: true, wantCache: "no-store",
		},
		{
			name: "handler deletes headers",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for _, k := range []string{"Cache-Control", "X-Frame-Options", "Content-Security-Policy", "Strict-Transport-Security"} {
					w.Header().Del(k)
				}
				w.WriteHeader(500)
			},
			tls: true, wantCode: 500, wantHTTPS: true, wantCache: "no-store",
		},
		{
			name: "ServeContent error path",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.ServeFile(w, r, "/definitely/not/here")
			},
			wantCode: 404, wantCache: "no-store",
		},
		{
			name:     "static asset may set its own cache policy",
			handler:  answer("body{}", "Cache-Control", "public, max-age=31536000, immutable"),
			wantCode: 200, wantCache: "public, max-age=31536000, immutable",
		},
		{
			name:     "server identification removed",
			handler:  answer("x", "Server", "Apache/2.4", "X-Powered-By", "PHP/5"),
			wantCode: 200, wantCache: "no-store",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ClientInfo(proxies)(SecurityHeaders(HeaderConfig{})(tt.handler))
			r := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.viaProxy {
				r.RemoteAddr = "10.0.0.1:1"
				r.Header.Set("X-Forwarded-Proto", "https")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantCode)
			}
			checkBaseline(t, w.Result().Header, tt.wantHTTPS)
			if got := w.Result().Header.Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.wantCache)
			}
		})
	}
}

func TestSecurityHeadersRefusesTrace(t *testing.T) {
	for _, method := range []string{"TRACE", "TRACK"} {
		t.Run(method, func(t *testing.T) {
			called := false
			h := SecurityHeaders(HeaderConfig{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(method, "/", nil))
			if w.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status = %d, want 405", w.Code)
			}
			if called {
				t.Fatal("handler ran for " + method)
			}
			if w.Body.Len() != 0 {
				t.Fatalf("body = %q, want empty", w.Body.String())
			}
			checkBaseline(t, w.Result().Header, false)
		})
	}
}

func TestSecurityHeadersReportPath(t *testing.T) {
	h := SecurityHeaders(HeaderConfig{ReportPath: "/csp-report", HSTSPreload: true, HSTSMaxAge: 365 * 24 * time.Hour})(http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "report-uri /csp-report") || !strings.Contains(csp, "report-to csp") {
		t.Errorf("CSP = %q, want report-uri and report-to", csp)
	}
	if got := w.Header().Get("Reporting-Endpoints"); got != `csp="/csp-report"` {
		t.Errorf("Reporting-Endpoints = %q", got)
	}
	if got := w.Header().Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains; preload" {
		t.Errorf("HSTS = %q", got)
	}
}

func TestHeaderConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  HeaderConfig
		ok   bool
	}{
		{name: "zero", cfg: HeaderConfig{}, ok: true},
		{name: "report path", cfg: HeaderConfig{ReportPath: "/csp-report"}, ok: true},
		{name: "relative", cfg: HeaderConfig{ReportPath: "csp"}},
		{name: "protocol relative", cfg: HeaderConfig{ReportPath: "//evil.example/r"}},
		{name: "directive injection", cfg: HeaderConfig{ReportPath: "/r; script-src *"}},
		{name: "quote", cfg: HeaderConfig{ReportPath: `/r"`}},
		{name: "newline", cfg: HeaderConfig{ReportPath: "/r\nX-Evil: 1"}},
		{name: "negative max-age", cfg: HeaderConfig{HSTSMaxAge: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadHeaderConfig) {
				t.Fatalf("Validate = %v, want ErrBadHeaderConfig", err)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Fatal("SecurityHeaders accepted an invalid configuration")
		}
	}()
	SecurityHeaders(HeaderConfig{ReportPath: "x"})
}

// TestSecurityHeadersOverTheWire checks the headers and streaming through a
// real server, where Flush must keep working behind the wrapper.
func TestSecurityHeadersOverTheWire(t *testing.T) {
	h := SecurityHeaders(HeaderConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "leaky/1.0")
		_, _ = io.WriteString(w, "part1;")
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("wrapped writer is not a Flusher")
			return
		}
		f.Flush()
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("ResponseController through wrapper: %v", err)
		}
		_, _ = io.WriteString(w, "part2")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(body, []byte("part1;part2")) {
		t.Fatalf("body = %q", body)
	}
	checkBaseline(t, resp.Header, false)
}

func TestHeadersNoStaticAssetLeak(t *testing.T) {
	// A file server response keeps the security headers too.
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/app.js", []byte("console.log(1)"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := SecurityHeaders(HeaderConfig{})(http.FileServer(http.Dir(dir)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/app.js", nil))
	if w.Code != 200 || w.Body.String() != "console.log(1)" {
		t.Fatalf("status %d body %q", w.Code, w.Body.String())
	}
	checkBaseline(t, w.Result().Header, false)
}

// benchWriter is a reusable ResponseWriter so that the benchmark measures
// the middleware rather than httptest.ResponseRecorder.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

func BenchmarkSecurityHeaders(b *testing.B) {
	h := SecurityHeaders(HeaderConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequest(http.MethodGet, "/api/customers", nil)
	w := &benchWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if w.code != http.StatusNoContent || w.h.Get("X-Frame-Options") != "DENY" {
		b.Fatal("middleware did not run")
	}
}
