package edge

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRecommendedChain drives the documented middleware order through a
// real server: ClientInfo → SecurityHeaders → LimitURL → Probes → app.
func TestRecommendedChain(t *testing.T) {
	tp := mustProxies(t, []string{"127.0.0.1"})
	var mu sync.Mutex
	var probeAddrs []netip.Addr
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	handler := ClientInfo(tp)(SecurityHeaders(HeaderConfig{})(LimitURL(256)(Probes(func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		probeAddrs = append(probeAddrs, ClientAddrFrom(r.Context()))
	})(app))))
	srv := NewHTTPServer(handler, ServerConfig{})
	addr := startServer(t, srv)

	do := func(method, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	viaProxy := map[string]string{"X-Forwarded-For": "198.51.100.23", "X-Forwarded-Proto": "https"}

	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		code   int
		https  bool
	}{
		{name: "normal request", method: "GET", path: "/api/customers/cus_abc/", code: 200},
		{name: "normal request via proxy over https", method: "GET", path: "/api/customers", hdr: viaProxy, code: 200, https: true},
		{name: "probe", method: "GET", path: "/.env", hdr: viaProxy, code: 404, https: true},
		{name: "long url", method: "GET", path: "/" + strings.Repeat("a", 300), code: 414},
		{name: "trace", method: "TRACE", path: "/", code: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(tt.method, tt.path, tt.hdr)
			if resp.StatusCode != tt.code {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.code)
			}
			checkBaseline(t, resp.Header, tt.https)
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(probeAddrs) != 1 || probeAddrs[0].String() != "198.51.100.23" {
		t.Fatalf("probe callback saw %v, want the forwarded client address", probeAddrs)
	}
}

// TestChainRawProbeOverTheWire sends targets that Go's HTTP client would
// normalise, over a raw TCP connection, so the server sees them verbatim.
func TestChainRawProbeOverTheWire(t *testing.T) {
	var probes int
	var mu sync.Mutex
	handler := Probes(func(*http.Request) { mu.Lock(); probes++; mu.Unlock() })(http.NotFoundHandler())
	addr := startServer(t, NewHTTPServer(handler, ServerConfig{}))
	for _, target := range []string{"/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/a%5c..%5cwin.ini", "/x%00.js"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: x\r\n\r\n")
		out, _ := io.ReadAll(conn) // the server closes after a probe
		conn.Close()
		if !strings.HasPrefix(string(out), "HTTP/1.1 404") || !strings.Contains(string(out), "Connection: close") {
			t.Errorf("%s: response %q", target, out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if probes != 4 {
		t.Fatalf("probe callback ran %d times, want 4", probes)
	}
}
