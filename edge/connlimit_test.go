package edge

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr from the loopback address from
// (any 127.0.0.0/8 address works as a source on loopback).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByServer reports whether the server closed c (a read ends with
// EOF or a reset) within wait.
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestSlowConnectionFloodLeavesHealthChecksAnswering reproduces a
// slow-client flood: many connections from one address, each sending
// its request headers a byte at a time, held open. Past the per-address
// cap the server must close them at once, so that they cannot take every
// connection it can hold, and a health check from another address must
// still answer promptly.
func TestSlowConnectionFloodLeavesHealthChecksAnswering(t *testing.T) {
	const limit, flood = 8, 120
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cut := make(chan netip.Addr, flood)
	limited := LimitConnsPerAddr(ln, limit, func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.9") })
	limited.onCut = func(a netip.Addr) { cut <- a }
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), ServerConfig{Logger: slog.New(slog.DiscardHandler)})
	go func() { _ = srv.Serve(limited) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	conns := make([]net.Conn, flood)
	for i := range conns {
		conns[i] = dialFrom(t, "127.0.0.2", addr)
		_, _ = io.WriteString(conns[i], "GET /healthz HTTP/1.1\r\nHo") // and never more
	}
	for range flood - limit {
		select {
		case a := <-cut:
			if a != netip.MustParseAddr("127.0.0.2") {
				t.Fatalf("cut a connection of %v", a)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the server holds %d connections of one address, want at most %d", limited.Open(netip.MustParseAddr("127.0.0.2")), limit)
		}
	}
	if n := limited.Open(netip.MustParseAddr("127.0.0.2")); n != limit {
		t.Fatalf("%d connections open for the flooding address, want %d", n, limit)
	}
	if !closedByServer(conns[flood-1], 2*time.Second) {
		t.Fatal("a connection over the cap was not closed")
	}

	// A health check from another address answers at once.
	start := time.Now()
	hc := dialFrom(t, "127.0.0.1", addr)
	_, _ = io.WriteString(hc, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = hc.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(hc).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("health check during the flood: %q %v", line, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("health check took %v", d)
	}

	// An exempt address (a trusted proxy) is not limited.
	for range limit + 2 {
		_ = dialFrom(t, "127.0.0.9", addr)
	}
	select {
	case a := <-cut:
		t.Fatalf("cut a connection of exempt %v", a)
	case <-time.After(200 * time.Millisecond):
	}

	// Closed connections give their places back.
	for _, c := range conns {
		_ = c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for limited.Open(netip.MustParseAddr("127.0.0.2")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d places still held after the clients left", limited.Open(netip.MustParseAddr("127.0.0.2")))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnLimitKeysIPv6ByPrefix(t *testing.T) {
	l := LimitConnsPerAddr(nil, 0, nil)
	a, _ := l.keyOf(netip.MustParseAddr("2001:db8:1:2::1"))
	b, _ := l.keyOf(netip.MustParseAddr("2001:db8:1:2:ffff::9"))
	c, _ := l.keyOf(netip.MustParseAddr("2001:db8:1:3::1"))
	v4, _ := l.keyOf(netip.MustParseAddr("::ffff:192.0.2.1"))
	if a != b || a == c || v4 != netip.MustParseAddr("192.0.2.1") || l.max != DefaultMaxConnsPerAddr {
		t.Fatalf("keys %v %v %v %v, max %d", a, b, c, v4, l.max)
	}
}
