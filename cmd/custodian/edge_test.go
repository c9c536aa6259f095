package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/internal/testnet"
	goredis "github.com/redis/go-redis/v9"
)

// waitReady polls url with client until it answers or the server exits.
func waitReady(t *testing.T, client *http.Client, url string, done chan error, logs *syncbuf.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeTLSEndToEnd(t *testing.T) {
	f := newDeployFixture(t)
	addr, httpAddr := testnet.FreeAddr(t), testnet.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		args := append([]string{"custodian", "serve", "--production", "--addr", addr, "--http-addr", httpAddr}, f.args()...)
		done <- run(ctx, args, env(nil), nil, io.Discard, logs)
	}()

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(f.certPEM)
	_, port, _ := strings.Cut(addr, ":")
	base := "https://localhost:" + port
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	waitReady(t, client, base+"/healthz", done, logs)

	versions := []struct {
		name     string
		min, max uint16
		ok       bool
	}{
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, true},
		{"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12, true},
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, false},
	}
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			// #nosec G402 -- the test offers old versions on purpose to see them refused.
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: v.min, MaxVersion: v.max})
			if (err == nil) != v.ok {
				t.Fatalf("handshake err %v, want ok=%v", err, v.ok)
			}
			if err == nil {
				if got := conn.ConnectionState().Version; got != v.max {
					t.Fatalf("negotiated %x", got)
				}
				conn.Close()
			}
		})
	}

	resp, err := client.Get(base + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("HTTPS response %d without HSTS: %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "upgrade-insecure-requests") {
		t.Fatalf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}

	// A Host outside --allowed-hosts is refused.
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Host = "evil.example"
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("foreign Host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The plain-HTTP port redirects to HTTPS, keeping the path and query.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, httpPort, _ := strings.Cut(httpAddr, ":")
	resp, err = plain.Get("http://localhost:" + httpPort + "/api/openapi.json?v=5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != base+"/api/openapi.json?v=5" {
		t.Fatalf("redirect %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("redirect without security headers: %v", resp.Header)
	}
	// Following the redirect reaches the API over TLS.
	resp, err = client.Get("http://localhost:" + httpPort + "/healthz")
	if err != nil || resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("followed redirect: %v %v", resp, err)
	}
	resp.Body.Close()

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v\n%s", err, logs)
	}
	// Both listeners are closed.
	for _, a := range []string{addr, httpAddr} {
		if c, err := tls.Dial("tcp", a, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}); err == nil {
			c.Close()
			t.Fatalf("%s still accepts connections after shutdown", a)
		}
	}
}

// redisURL returns the test Redis, skipping (or failing under CI=true)
// when it is unreachable.
func redisURL(t *testing.T) string {
	t.Helper()
	const url = "redis://127.0.0.1:6379/0"
	opts, _ := goredis.ParseURL(url)
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		testdb.Unavailable(t, "Redis", err)
	}
	return url
}

func randomPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "custodian-test-" + hex.EncodeToString(b[:]) + ":"
}

func get(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestRateLimitSharedThroughRedis(t *testing.T) {
	url := redisURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A generous Redis timeout: on a loaded test machine the default 50 ms
	// can pass, and the instances would then answer from local limits.
	args := []string{"--redis-url", url, "--redis-prefix", randomPrefix(), "--redis-timeout", "5s", "--rate-limit-api", "1/m,burst=3"}
	first, done1, _ := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}, args...)
	second, done2, _ := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()}, args...)

	for i := range 3 {
		if r := get(t, first+"/api/openapi.json"); r.StatusCode != 200 {
			t.Fatalf("first server, request %d: %d", i, r.StatusCode)
		}
	}
	r := get(t, second+"/api/openapi.json")
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second server: %d, want 429 from the shared budget", r.StatusCode)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	cancel()
	<-done1
	<-done2
}

func TestRateLimitFallsBackWhenRedisIsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Nothing listens on port 1: every Redis call fails at once.
	base, done, logs := startServer(t, ctx, map[string]string{"CUSTODIAN_DATA_DIR": t.TempDir()},
		"--redis-url", "redis://:s3cret-redis-password@127.0.0.1:1/0", "--rate-limit-api", "1/m,burst=2")
	for i := range 2 {
		if r := get(t, base+"/api/openapi.json"); r.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	if r := get(t, base+"/api/openapi.json"); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("local limit not applied while Redis is down: %d", r.StatusCode)
	}
	if r := get(t, base+"/healthz"); r.StatusCode != 200 {
		t.Fatalf("server stopped serving: %d", r.StatusCode)
	}
	if n := strings.Count(logs.String(), "Redis unreachable"); n != 1 {
		t.Fatalf("degradation logged %d times, want once:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("log reveals the Redis password:\n%s", logs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
