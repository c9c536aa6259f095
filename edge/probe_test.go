package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
)

var probeTargets = []string{
	"/index.php",
	"/INDEX.PHP",
	"/xmlrpc.php?rsargs[]=1",
	"/index.php/api/x",
	"/config.php.bak",
	"/shell.php5",
	"/default.asp",
	"/Default.ASPX",
	"/login.jsp",
	"/struts/x.jspa",
	"/test.cgi",
	"/.env",
	"/.env.production",
	"/api/.ENV",
	"/wp-admin/",
	"/wp-login.php",
	"/WP-Content/plugins/x",
	"/blog/wordpress/wp-includes/x",
	"/.git/config",
	"/.git/HEAD",
	"/.svn/entries",
	"/.hg/store",
	"/.htaccess",
	"/.htpasswd",
	"/phpmyadmin/",
	"/phpMyAdmin4.8/index",
	"/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin",
	"/cgi-bin/luci",
	"/.DS_Store",
	"/backup.sql",
	"/db.sql.gz",
	"/site.bak",
	"/.aws/credentials",
	"/.ssh/id_rsa",
	"/static/../../etc/passwd",
	"/..",
	"/static/..%2f..%2fetc/passwd",
	"/static/%2e%2e/%2e%2e/etc/passwd",
	"/static/%2E%2E/x",
	"/static/%252e%252e/x",
	"/static/%252f",
	"/static/..%255c..%255cwindows",
	"/static/%5c..%5cwin.ini",
	"/static/%c0%ae%c0%ae/etc",
	"/static/x%00.js",
	"/static/x%2500",
}

var normalTargets = []string{
	"/",
	"/api/customers",
	"/api/customers/cus_abc/",
	"/api/customers/cus_01HZX7Q9/notes?sort=desc&q=.env",
	"/static/app.js",
	"/static/app.3f9a1c.css",
	"/static/fonts/inter.woff2",
	"/static/logo.svg",
	"/favicon.ico",
	"/robots.txt",
	"/.well-known/acme-challenge/abc-DEF_123",
	"/.well-known/security.txt",
	"/api/exports/exp_123.zip",
	"/api/customers/cus_abc/environment",
	"/api/v1.2/customers",
	"/login",
	"/api/search/john%20doe",
	"/api/tags/%C3%A9t%C3%A9",
	"/api/users/wp",
	"/api/phones/%2B4930123",
	"/api/customers/cus_abc/documents/contract.pdf",
}

func TestIsProbe(t *testing.T) {
	for _, target := range probeTargets {
		t.Run("probe "+target, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, target, nil)
			if !IsProbe(r) {
				t.Fatalf("IsProbe(%q) = false, want true", target)
			}
		})
	}
	for _, target := range normalTargets {
		t.Run("normal "+target, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, target, nil)
			if IsProbe(r) {
				t.Fatalf("IsProbe(%q) = true, want false", target)
			}
		})
	}
}

// TestIsProbeDecodedOnly covers requests built without a raw target (as a
// client-side or rewritten request would be), where only the decoded path
// carries the evidence.
func TestIsProbeDecodedOnly(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{path: "/a\\b", want: true},
		{path: "/a\x00b", want: true},
		{path: "/x/../y", want: true},
		{path: "/Admin.PhP", want: true},
		{path: "/api/customers", want: false},
	}
	for _, tt := range tests {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: tt.path}}
		if got := IsProbe(r); got != tt.want {
			t.Errorf("IsProbe(path %q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestProbesMiddlewareOverTheWire(t *testing.T) {
	var probes, served atomic.Int64
	h := Probes(func(r *http.Request) { probes.Add(1) })(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = io.WriteString(w, "app")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/wp-login.php")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || len(body) != 0 {
		t.Fatalf("probe answered %d %q, want 404 with empty body", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Fatal("probe response did not close the connection")
	}
	if probes.Load() != 1 || served.Load() != 0 {
		t.Fatalf("probes=%d served=%d, want 1 and 0", probes.Load(), served.Load())
	}

	resp, err = http.Get(srv.URL + "/api/customers/cus_abc/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "app" {
		t.Fatalf("normal request answered %d %q", resp.StatusCode, body)
	}
	if probes.Load() != 1 || served.Load() != 1 {
		t.Fatalf("probes=%d served=%d, want 1 and 1", probes.Load(), served.Load())
	}
}

func TestProbesNilCallback(t *testing.T) {
	h := Probes(nil)(http.NotFoundHandler())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.git/config", nil))
	if w.Code != http.StatusNotFound || w.Header().Get("Connection") != "close" {
		t.Fatalf("status %d Connection %q", w.Code, w.Header().Get("Connection"))
	}
}

func BenchmarkIsProbe(b *testing.B) {
	cases := []struct{ name, target string }{
		{"normal", "/api/customers/cus_01HZX7Q9ABCDEF/notes/not_01HZX7QA"},
		{"static", "/static/app.3f9a1c.js"},
		{"probe", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				IsProbe(r)
			}
		})
	}
}

// FuzzIsProbeCaseInsensitive checks that ASCII case never changes the
// decision, and that the scanner never panics on arbitrary input.
func FuzzIsProbeCaseInsensitive(f *testing.F) {
	for _, seed := range append(append([]string{}, probeTargets...), normalTargets...) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		upper := []byte(p)
		for i, c := range upper {
			if 'a' <= c && c <= 'z' {
				upper[i] = c - ('a' - 'A')
			}
		}
		if isProbePath(p) != isProbePath(string(upper)) {
			t.Fatalf("case changes the decision for %q", p)
		}
		if !isProbePath(p + "/../x") {
			t.Fatalf("traversal after %q not detected", p)
		}
	})
}
