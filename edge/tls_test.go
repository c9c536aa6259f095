package edge

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testcert"
)

// testCert is a self-signed RSA certificate written to PEM files.
type testCert struct {
	*testcert.Cert
	certFile, keyFile string
}

// newTestCert creates a fresh key and self-signed certificate for host
// with the given serial number. RSA is used so that the server could offer
// RSA key exchange if its configuration allowed it.
func newTestCert(t *testing.T, host string, serial int64) testCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tc := testCert{Cert: testcert.New(t, key, serial, host), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	writeFile(t, tc.certFile, tc.CertPEM, time.Time{})
	writeFile(t, tc.keyFile, tc.KeyPEM, time.Time{})
	return tc
}

// writeFile writes data and, when mod is set, stamps it with that
// modification time so that tests do not depend on timestamp granularity.
func writeFile(t *testing.T, path string, data []byte, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if !mod.IsZero() {
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// serveTLS accepts connections on a loopback TLS listener with cfg and
// completes the handshake on each, so clients see real accept or refusal.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().String()
}

// dial performs a client handshake against addr trusting only root.
func dial(addr string, root *x509.Certificate, cfg *tls.Config) (tls.ConnectionState, error) {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	cfg.RootCAs = pool
	cfg.ServerName = "localhost"
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

func TestTLSHandshakes(t *testing.T) {
	cert := newTestCert(t, "localhost", 1)
	setup, err := TLSConfig(TLSOptions{CertFile: cert.certFile, KeyFile: cert.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	strict := serveTLS(t, setup.Config)

	// A deliberately lax server with the same certificate proves that
	// each refused client is refused because of our configuration, not
	// because the client itself cannot connect.
	pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var all []uint16
	for _, cs := range tls.CipherSuites() {
		all = append(all, cs.ID)
	}
	for _, cs := range tls.InsecureCipherSuites() {
		all = append(all, cs.ID)
	}
	lax := serveTLS(t, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS10, CipherSuites: all})

	tests := []struct {
		name       string
		client     func() *tls.Config
		accept     bool
		wantVer    uint16
		wantCurve  tls.CurveID
		wantCipher uint16
	}{
		{
			name:   "TLS 1.1 refused",
			client: func() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11} },
		},
		{
			name: "TLS 1.2 CBC only refused",
			client: func() *tls.Config {
				return &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
					tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
					tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
				}}
			},
		},
		{
			name: "TLS 1.2 RSA key exchange refused",
			client: func() *tls.Config {
				return &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
					tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
				}}
			},
		},
		{
			name: "TLS 1.2 ECDHE-GCM accepted",
			client: func() *tls.Config {
				return &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
			},
			accept: true, wantVer: tls.VersionTLS12, wantCurve: tls.X25519, wantCipher: tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		},
		{
			name: "TLS 1.2 ChaCha20 accepted",
			client: func() *tls.Config {
				return &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}}
			},
			accept: true, wantVer: tls.VersionTLS12, wantCurve: tls.X25519, wantCipher: tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		{
			name: "TLS 1.2 server prefers X25519 over the client's P-256",
			client: func() *tls.Config {
				return &tls.Config{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP256, tls.X25519}}
			},
			accept: true, wantVer: tls.VersionTLS12, wantCurve: tls.X25519,
		},
		{
			name: "TLS 1.2 P-521 only refused",
			client: func() *tls.Config {
				return &tls.Config{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP521}}
			},
		},
		{
			name:   "TLS 1.3 accepted",
			client: func() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS13} },
			accept: true, wantVer: tls.VersionTLS13, wantCurve: tls.X25519MLKEM768,
		},
		{
			name: "TLS 1.3 classical client gets X25519",
			client: func() *tls.Config {
				return &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.CurveP256, tls.X25519}}
			},
			accept: true, wantVer: tls.VersionTLS13, wantCurve: tls.X25519,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := dial(strict, cert.X509, tt.client())
			if !tt.accept {
				if err == nil {
					t.Fatalf("handshake succeeded with %s / %s, want refusal",
						tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				if _, laxErr := dial(lax, cert.X509, tt.client()); laxErr != nil {
					t.Fatalf("control: client cannot connect even to a lax server: %v", laxErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake refused: %v", err)
			}
			if st.Version != tt.wantVer {
				t.Errorf("version = %s, want %s", tls.VersionName(st.Version), tls.VersionName(tt.wantVer))
			}
			if tt.wantCipher != 0 && st.CipherSuite != tt.wantCipher {
				t.Errorf("cipher = %s", tls.CipherSuiteName(st.CipherSuite))
			}
			if st.CurveID != tt.wantCurve {
				t.Errorf("key exchange = %v, want %v", st.CurveID, tt.wantCurve)
			}
		})
	}
}

func TestTLSConfigShape(t *testing.T) {
	cert := newTestCert(t, "localhost", 1)
	setup, err := TLSConfig(TLSOptions{CertFile: cert.certFile, KeyFile: cert.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	c := setup.Config
	if c.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", c.MinVersion)
	}
	insecure := map[uint16]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		insecure[s.ID] = true
	}
	for _, id := range c.CipherSuites {
		name := tls.CipherSuiteName(id)
		if insecure[id] || !strings.Contains(name, "ECDHE") || !(strings.Contains(name, "GCM") || strings.Contains(name, "CHACHA20")) {
			t.Errorf("cipher suite %s is not ECDHE+AEAD", name)
		}
	}
	if c.CurvePreferences[0] != tls.X25519MLKEM768 || c.CurvePreferences[1] != tls.X25519 {
		t.Errorf("curve order = %v, want X25519 family first", c.CurvePreferences)
	}
	if !slices.Contains(c.NextProtos, "h2") {
		t.Errorf("NextProtos = %v, want h2", c.NextProtos)
	}
	if setup.Manager != nil {
		t.Error("file mode has an ACME manager")
	}
}

// slogText returns a logger writing text records to w.
func slogText(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestTLSOptionsErrors(t *testing.T) {
	cert := newTestCert(t, "localhost", 1)
	other := newTestCert(t, "localhost", 2)
	tests := []struct {
		name    string
		opts    TLSOptions
		wantIs  error
		anyFail bool
	}{
		{name: "nothing", opts: TLSOptions{}, wantIs: ErrTLSConfig},
		{name: "both sources", opts: TLSOptions{CertFile: cert.certFile, KeyFile: cert.keyFile, AutocertHosts: []string{"a.example"}, AutocertCacheDir: t.TempDir()}, wantIs: ErrTLSConfig},
		{name: "cert without key", opts: TLSOptions{CertFile: cert.certFile}, wantIs: ErrTLSConfig},
		{name: "missing file", opts: TLSOptions{CertFile: filepath.Join(t.TempDir(), "nope.pem"), KeyFile: cert.keyFile}, wantIs: os.ErrNotExist},
		{name: "mismatched key", opts: TLSOptions{CertFile: cert.certFile, KeyFile: other.keyFile}, anyFail: true},
		{name: "autocert without cache", opts: TLSOptions{AutocertHosts: []string{"a.example"}}, wantIs: ErrTLSConfig},
		{name: "autocert bad host", opts: TLSOptions{AutocertHosts: []string{"a example"}, AutocertCacheDir: t.TempDir()}, wantIs: ErrTLSConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TLSConfig(tt.opts)
			if err == nil {
				t.Fatal("TLSConfig accepted invalid options")
			}
			if !tt.anyFail && !errors.Is(err, tt.wantIs) {
				t.Fatalf("err = %v, want %v", err, tt.wantIs)
			}
		})
	}
}

// TestCertificateReload replaces the certificate files on disk and checks,
// through real handshakes, that the new certificate is served once the
// rate limit allows a check, and that a broken renewal keeps the old one.
func TestCertificateReload(t *testing.T) {
	first := newTestCert(t, "localhost", 101)
	second := newTestCert(t, "localhost", 202)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	var logBuf syncbuf.Buffer
	setup, err := TLSConfig(TLSOptions{
		CertFile: first.certFile, KeyFile: first.keyFile,
		ReloadInterval: time.Minute, Now: clock,
		Logger: slogText(&logBuf),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, setup.Config)

	// Trust both certificates; report which one the server presented.
	served := func() int64 {
		t.Helper()
		pool := x509.NewCertPool()
		pool.AddCert(first.X509)
		pool.AddCert(second.X509)
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := served(); got != 101 {
		t.Fatalf("initial serial = %d, want 101", got)
	}

	// Renewal: new files with a clearly newer modification time.
	later := time.Now().Add(time.Hour)
	writeFile(t, first.certFile, second.CertPEM, later)
	writeFile(t, first.keyFile, second.KeyPEM, later)
	if got := served(); got != 101 {
		t.Fatalf("serial before the check interval = %d, want 101 (rate limit)", got)
	}
	advance(time.Minute)
	if got := served(); got != 202 {
		t.Fatalf("serial after renewal = %d, want 202", got)
	}

	// A half-written renewal (new certificate, old key) must not break TLS.
	writeFile(t, first.certFile, first.CertPEM, later.Add(time.Hour))
	advance(time.Minute)
	if got := served(); got != 202 {
		t.Fatalf("serial after broken renewal = %d, want 202 (kept)", got)
	}
	if !strings.Contains(logBuf.String(), "reload failed") {
		t.Errorf("broken renewal not logged: %q", logBuf.String())
	}
	// Completing the renewal is picked up at the next check.
	writeFile(t, first.keyFile, first.KeyPEM, later.Add(time.Hour))
	advance(time.Minute)
	if got := served(); got != 101 {
		t.Fatalf("serial after completed renewal = %d, want 101", got)
	}
	if strings.Contains(logBuf.String(), "PRIVATE KEY") {
		t.Error("key material in log")
	}
}

func TestAutocertSetup(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "acme")
	setup, err := TLSConfig(TLSOptions{AutocertHosts: []string{"crm.example.test"}, AutocertCacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cache)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode = %v, want 0700", fi.Mode().Perm())
	}
	if setup.Manager == nil {
		t.Fatal("no ACME manager")
	}
	if !slices.Contains(setup.Config.NextProtos, "acme-tls/1") {
		t.Errorf("NextProtos = %v, want acme-tls/1 for tls-alpn-01", setup.Config.NextProtos)
	}
	if setup.Config.MinVersion != tls.VersionTLS12 || len(setup.Config.CipherSuites) != len(modernCipherSuites) {
		t.Error("autocert config lost the protocol restrictions")
	}
	// Host policy: a name not configured is refused before any network use.
	if _, err := setup.Config.GetCertificate(&tls.ClientHelloInfo{ServerName: "evil.example.test"}); err == nil {
		t.Error("certificate requested for a host not configured")
	}

	// An existing, too-open cache directory is tightened.
	loose := t.TempDir()
	if err := os.Chmod(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := TLSConfig(TLSOptions{AutocertHosts: []string{"crm.example.test"}, AutocertCacheDir: loose}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Errorf("existing cache dir mode = %v, want 0700", fi.Mode().Perm())
	}

	// The plain-HTTP handler answers challenges itself and redirects the rest.
	h := setup.HTTPHandler(443)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://crm.example.test/.well-known/acme-challenge/token123", nil))
	if w.Code >= 300 && w.Code < 400 {
		t.Errorf("ACME challenge was redirected (%d)", w.Code)
	}
	for _, host := range []string{"crm.example.test", "CRM.example.test:80", "192.0.2.1", "other.example"} {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/login", nil)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusMovedPermanently {
			t.Errorf("%s: status = %d, want 301", host, w.Code)
		}
		if loc := strings.ToLower(w.Header().Get("Location")); loc != "https://crm.example.test/login" {
			t.Errorf("%s: Location = %q, want the configured host", host, loc)
		}
	}
}

func TestRedirectHTTPSCanonicalHost(t *testing.T) {
	h := RedirectHTTPS(8443, "crm.example.test", "www.crm.example.test")
	tests := []struct{ host, want string }{
		{"www.crm.example.test", "https://www.crm.example.test:8443/p"},
		{"crm.example.test:8080", "https://crm.example.test:8443/p"},
		{"evil.example", "https://crm.example.test:8443/p"},
		{"a b", "https://crm.example.test:8443/p"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/p", nil)
		r.Host = tt.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("Location"); w.Code != http.StatusMovedPermanently || got != tt.want {
			t.Errorf("Host %q: %d %q, want 301 %q", tt.host, w.Code, got, tt.want)
		}
	}
}

func TestRedirectHTTPS(t *testing.T) {
	hosts := []string{"crm.example.test", "192.0.2.1", "::1"}
	tests := []struct {
		name     string
		method   string
		target   string
		host     string
		port     int
		wantCode int
		wantLoc  string
	}{
		{name: "get default port", method: "GET", target: "/a/b?c=1", host: "crm.example.test", port: 443, wantCode: 301, wantLoc: "https://crm.example.test/a/b?c=1"},
		{name: "zero port means 443", method: "GET", target: "/", host: "crm.example.test:80", port: 0, wantCode: 301, wantLoc: "https://crm.example.test/"},
		{name: "custom port", method: "HEAD", target: "/x", host: "crm.example.test:8080", port: 8443, wantCode: 301, wantLoc: "https://crm.example.test:8443/x"},
		{name: "post keeps method", method: "POST", target: "/api/login", host: "crm.example.test", port: 443, wantCode: 308, wantLoc: "https://crm.example.test/api/login"},
		{name: "ipv6 literal", method: "GET", target: "/", host: "[::1]:8080", port: 8443, wantCode: 301, wantLoc: "https://[::1]:8443/"},
		{name: "ipv4 literal", method: "GET", target: "/", host: "192.0.2.1", port: 443, wantCode: 301, wantLoc: "https://192.0.2.1/"},
		{name: "unknown ipv6 literal goes to the canonical host", method: "GET", target: "/", host: "[2001:db8::1]", port: 443, wantCode: 301, wantLoc: "https://crm.example.test/"},
		{name: "host with path goes to the canonical host", method: "GET", target: "/", host: "evil.example/x", port: 443, wantCode: 301, wantLoc: "https://crm.example.test/"},
		{name: "host with userinfo goes to the canonical host", method: "GET", target: "/", host: "a@evil.example", port: 443, wantCode: 301, wantLoc: "https://crm.example.test/"},
		{name: "empty host goes to the canonical host", method: "GET", target: "/", host: "", port: 443, wantCode: 301, wantLoc: "https://crm.example.test/"},
		{name: "double slash path stays on host", method: "GET", target: "//evil.example/", host: "crm.example.test", port: 443, wantCode: 301, wantLoc: "https://crm.example.test//evil.example/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			r.Host = tt.host
			w := httptest.NewRecorder()
			RedirectHTTPS(tt.port, hosts...).ServeHTTP(w, r)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantCode)
			}
			if got := w.Header().Get("Location"); got != tt.wantLoc {
				t.Fatalf("Location = %q, want %q", got, tt.wantLoc)
			}
		})
	}
}

// TestRedirectHTTPSWithoutHostsNeverCopiesHost reproduces the redirect
// that sent a request's Host back in Location when no host was configured:
// with no hosts, no Host, however plausible, becomes a redirect target.
func TestRedirectHTTPSWithoutHostsNeverCopiesHost(t *testing.T) {
	for _, host := range []string{"evil.example", "crm.example.test", "192.0.2.1", "[::1]:8080"} {
		r := httptest.NewRequest(http.MethodGet, "/login", nil)
		r.Host = host
		w := httptest.NewRecorder()
		RedirectHTTPS(443).ServeHTTP(w, r)
		if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
			t.Errorf("Host %q: %d, Location %q; want 400 and no Location", host, w.Code, w.Header().Get("Location"))
		}
	}
}

// TestHTTPHandlerRedirectsToCertificateNames checks that, with a
// certificate file and no other configured name, the plain-HTTP port
// redirects to the certificate's own host name, never to the request's.
func TestHTTPHandlerRedirectsToCertificateNames(t *testing.T) {
	cert := newTestCert(t, "crm.example.test", 9)
	setup, err := TLSConfig(TLSOptions{CertFile: cert.certFile, KeyFile: cert.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if got := setup.Hosts(); !slices.Contains(got, "crm.example.test") {
		t.Fatalf("Hosts() = %v, want the certificate's name", got)
	}
	r := httptest.NewRequest(http.MethodGet, "/login", nil)
	r.Host = "evil.example"
	w := httptest.NewRecorder()
	setup.HTTPHandler(443).ServeHTTP(w, r)
	if loc := w.Header().Get("Location"); w.Code != http.StatusMovedPermanently || loc != "https://crm.example.test/login" {
		t.Fatalf("%d %q, want 301 to the certificate's name", w.Code, loc)
	}
}

// TestHTTPSServerEndToEnd serves the edge chain over real HTTPS with the
// hardened server and checks HTTP/2 negotiation and HSTS on the wire.
func TestHTTPSServerEndToEnd(t *testing.T) {
	cert := newTestCert(t, "localhost", 7)
	setup, err := TLSConfig(TLSOptions{CertFile: cert.certFile, KeyFile: cert.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	h := ClientInfo(nil)(SecurityHeaders(HeaderConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secure")
	})))
	srv := NewHTTPServer(h, ServerConfig{TLSConfig: setup.Config, Logger: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	pool := cert.Pool()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "localhost"},
		ForceAttemptHTTP2: true,
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "secure" || resp.ProtoMajor != 2 {
		t.Fatalf("got %q over %s, want \"secure\" over HTTP/2", body, resp.Proto)
	}
	checkBaseline(t, resp.Header, true)
}
