package edge

import (
	"github.com/custodian-crm/custodian/internal/syncbuf"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitURL(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		target string
		want   int
	}{
		{name: "short", max: 32, target: "/api/customers", want: 200},
		{name: "exactly max", max: 16, target: "/" + strings.Repeat("a", 15), want: 200},
		{name: "one over", max: 16, target: "/" + strings.Repeat("a", 16), want: 414},
		{name: "query counts", max: 16, target: "/a?" + strings.Repeat("q", 20), want: 414},
		{name: "default allows 8k", max: 0, target: "/" + strings.Repeat("a", DefaultMaxURL-1), want: 200},
		{name: "default refuses over 8k", max: 0, target: "/" + strings.Repeat("a", DefaultMaxURL), want: 414},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := LimitURL(tt.max)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.target, nil))
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d", w.Code, tt.want)
			}
			if called != (tt.want == 200) {
				t.Fatalf("handler called = %v", called)
			}
		})
	}
}

func TestLimitURLWithoutRequestURI(t *testing.T) {
	h := LimitURL(10)(http.NotFoundHandler())
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RequestURI = ""
	r.URL.Path = "/" + strings.Repeat("x", 20)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestURITooLong {
		t.Fatalf("status = %d, want 414", w.Code)
	}
}

func TestNewHTTPServerDefaults(t *testing.T) {
	srv := NewHTTPServer(http.NotFoundHandler(), ServerConfig{Addr: ":0"})
	if srv.ReadHeaderTimeout != DefaultReadHeaderTimeout || srv.ReadTimeout != DefaultReadTimeout ||
		srv.WriteTimeout != DefaultWriteTimeout || srv.IdleTimeout != DefaultIdleTimeout ||
		srv.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Fatalf("defaults not applied: %+v", srv)
	}
	if srv.ErrorLog == nil || srv.Addr != ":0" || srv.Handler == nil {
		t.Fatal("server not fully configured")
	}
	custom := NewHTTPServer(http.NotFoundHandler(), ServerConfig{ReadHeaderTimeout: time.Second, MaxHeaderBytes: 1024})
	if custom.ReadHeaderTimeout != time.Second || custom.MaxHeaderBytes != 1024 {
		t.Fatal("explicit values not kept")
	}
}

// startServer serves srv on a loopback listener and returns its address.
func startServer(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestSlowLorisDisconnected drives a real TCP client that sends its request
// headers one byte at a time; the server must drop it once
// ReadHeaderTimeout has passed, long before the headers are complete.
func TestSlowLorisDisconnected(t *testing.T) {
	const headerTimeout = 200 * time.Millisecond
	var served atomic.Bool
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Store(true) }),
		ServerConfig{ReadHeaderTimeout: headerTimeout, Logger: slog.New(slog.DiscardHandler)})
	addr := startServer(t, srv)

	// Timed from before the dial: the server's header deadline starts when
	// it accepts the connection, which can precede Dial's return.
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan time.Duration, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
		closed <- time.Since(start)
	}()

	request := "GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + strings.Repeat("a", 200) + "\r\n\r\n"
	const trickle = 10 * time.Millisecond // 200+ bytes would take over 2 s
	for i := 0; i < len(request); i++ {
		select {
		case took := <-closed:
			if took < headerTimeout {
				t.Fatalf("disconnected after %v, before ReadHeaderTimeout %v", took, headerTimeout)
			}
			if took > headerTimeout+time.Second {
				t.Fatalf("disconnected after %v, want about %v", took, headerTimeout)
			}
			if served.Load() {
				t.Fatal("handler ran for an incomplete request")
			}
			return
		default:
		}
		if _, err := conn.Write([]byte{request[i]}); err != nil {
			break // the server has gone: wait for the reader below
		}
		time.Sleep(trickle)
	}
	select {
	case took := <-closed:
		if took > headerTimeout+time.Second {
			t.Fatalf("slow client kept for %v", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow client never disconnected")
	}
	if served.Load() {
		t.Fatal("handler ran for a slow-loris request")
	}
}

// TestServerServesNormalClients makes sure the limits do not get in the way
// of an ordinary request.
func TestServerServesNormalClients(t *testing.T) {
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}), ServerConfig{ReadHeaderTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	addr := startServer(t, srv)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hello" {
		t.Fatalf("body = %q", body)
	}
}

func TestServerHeaderLimit(t *testing.T) {
	srv := NewHTTPServer(http.NotFoundHandler(), ServerConfig{MaxHeaderBytes: 1024, Logger: slog.New(slog.DiscardHandler)})
	addr := startServer(t, srv)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("b", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status = %d, want 431", resp.StatusCode)
	}
}

func TestRedactAddrs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http: TLS handshake error from 192.0.2.1:51234: EOF", "http: TLS handshake error from [addr]: EOF"},
		{"http: TLS handshake error from [2001:db8::1]:443: remote error", "http: TLS handshake error from [addr]: remote error"},
		{"read tcp 127.0.0.1:8443->198.51.100.4:5555: i/o timeout", "read tcp [addr]->[addr]: i/o timeout"},
		{"http: panic serving 10.0.0.1:9: boom", "http: panic serving [addr]: boom"},
		{"peer fe80::1 left", "peer [addr] left"},
		{"http: Accept error: accept tcp: too many open files; retrying in 5ms", "http: Accept error: accept tcp: too many open files; retrying in 5ms"},
		{"deadline exceeded at 12:30:45", "deadline exceeded at 12:30:45"},
	}
	for _, tt := range tests {
		if got := redactAddrs(tt.in); got != tt.want {
			t.Errorf("redactAddrs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestErrorLogToSlog provokes a real server error (a plain-text client on a
// TLS port) and checks that it reaches slog without the client address.
func TestErrorLogToSlog(t *testing.T) {
	var buf syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	cert := newTestCert(t, "localhost", 1)
	setup, err := TLSConfig(TLSOptions{CertFile: cert.certFile, KeyFile: cert.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(http.NotFoundHandler(), ServerConfig{TLSConfig: setup.Config, Logger: logger})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.Copy(io.Discard, conn)
	conn.Close()

	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "handshake") {
		if time.Now().After(deadline) {
			t.Fatalf("no handshake error logged; log: %q", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	out := buf.String()
	if strings.Contains(out, "127.0.0.1") {
		t.Fatalf("client address leaked into log: %q", out)
	}
	if !strings.Contains(out, "[addr]") || !strings.Contains(out, "level=WARN") {
		t.Fatalf("log line not redacted/levelled as expected: %q", out)
	}
}
