package edge

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func mustProxies(t *testing.T, list []string, opts ...ProxyOption) *TrustedProxies {
	t.Helper()
	tp, err := ParseTrustedProxies(list, opts...)
	if err != nil {
		t.Fatalf("ParseTrustedProxies(%q): %v", list, err)
	}
	return tp
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		list    []string
		trusted []string
		not     []string
		wantErr bool
	}{
		{name: "empty trusts nobody", list: nil, not: []string{"127.0.0.1", "::1"}},
		{name: "ipv4 address", list: []string{"192.0.2.7"}, trusted: []string{"192.0.2.7"}, not: []string{"192.0.2.8"}},
		{name: "ipv4 cidr", list: []string{"10.0.0.0/8"}, trusted: []string{"10.1.2.3", "::ffff:10.9.9.9"}, not: []string{"11.0.0.1"}},
		{name: "unaligned cidr is masked", list: []string{"10.1.2.3/16"}, trusted: []string{"10.1.200.1"}, not: []string{"10.2.0.1"}},
		{name: "ipv6 address", list: []string{"::1"}, trusted: []string{"::1"}, not: []string{"::2", "127.0.0.1"}},
		{name: "ipv6 cidr", list: []string{"2001:db8::/32"}, trusted: []string{"2001:db8:1::5"}, not: []string{"2001:db9::1"}},
		{name: "mapped cidr matches ipv4", list: []string{"::ffff:10.0.0.0/104"}, trusted: []string{"10.3.3.3"}, not: []string{"11.0.0.1"}},
		{name: "whitespace trimmed", list: []string{" 192.0.2.1 "}, trusted: []string{"192.0.2.1"}},
		{name: "bad address", list: []string{"10.0.0.256"}, wantErr: true},
		{name: "bad cidr", list: []string{"10.0.0.0/33"}, wantErr: true},
		{name: "hostname", list: []string{"proxy.example"}, wantErr: true},
		{name: "empty entry", list: []string{"10.0.0.1", ""}, wantErr: true},
		{name: "zone in cidr", list: []string{"fe80::1%eth0/64"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := ParseTrustedProxies(tt.list)
			if tt.wantErr {
				if !errors.Is(err, ErrBadProxy) {
					t.Fatalf("err = %v, want ErrBadProxy", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.trusted {
				if !tp.Trusts(netip.MustParseAddr(s)) {
					t.Errorf("Trusts(%s) = false, want true", s)
				}
			}
			for _, s := range tt.not {
				if tp.Trusts(netip.MustParseAddr(s)) {
					t.Errorf("Trusts(%s) = true, want false", s)
				}
			}
		})
	}
}

// fromPeer returns a request from the peer remote (its RemoteAddr) that
// carries each of lines as one line of the header named header.
func fromPeer(remote, header string, lines ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for _, l := range lines {
		r.Header.Add(header, l)
	}
	return r
}

func TestClientAddrXForwardedFor(t *testing.T) {
	tp := func(t *testing.T) *TrustedProxies {
		return mustProxies(t, []string{"10.0.0.0/8", "2001:db8::/32"})
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{name: "untrusted peer ignores header", remote: "203.0.113.9:1234", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{name: "trusted peer without header", remote: "10.0.0.1:1234", want: "10.0.0.1"},
		{name: "single hop", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "forged leftmost ignored", remote: "10.0.0.1:1234", xff: []string{"1.1.1.1, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "skips trusted hops", remote: "10.0.0.1:1234", xff: []string{"1.1.1.1, 198.51.100.1, 10.0.0.2, 10.0.0.3"}, want: "198.51.100.1"},
		{name: "multiple header lines", remote: "10.0.0.1:1234", xff: []string{"1.1.1.1, 198.51.100.1", "10.0.0.2"}, want: "198.51.100.1"},
		{name: "forged line before real", remote: "10.0.0.1:1234", xff: []string{"1.1.1.1", "198.51.100.7"}, want: "198.51.100.7"},
		{name: "all trusted returns leftmost", remote: "10.0.0.1:1234", xff: []string{"10.0.0.9, 10.0.0.2"}, want: "10.0.0.9"},
		{name: "malformed stops at last good hop", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1, garbage, 10.0.0.2"}, want: "10.0.0.2"},
		{name: "malformed rightmost uses peer", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1, unknown"}, want: "10.0.0.1"},
		{name: "empty element stops", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1,,"}, want: "10.0.0.1"},
		{name: "ipv4 with port", remote: "10.0.0.1:1234", xff: []string{"198.51.100.1:5555"}, want: "198.51.100.1"},
		{name: "ipv6 plain", remote: "10.0.0.1:1234", xff: []string{"2001:db9::7"}, want: "2001:db9::7"},
		{name: "ipv6 bracket port", remote: "10.0.0.1:1234", xff: []string{"[2001:db9::7]:443"}, want: "2001:db9::7"},
		{name: "ipv6 trusted hop skipped", remote: "[2001:db8::1]:443", xff: []string{"198.51.100.3, 2001:db8::2"}, want: "198.51.100.3"},
		{name: "mapped address unmapped", remote: "10.0.0.1:1234", xff: []string{"::ffff:198.51.100.4"}, want: "198.51.100.4"},
		{name: "bad remote addr", remote: "nonsense", xff: []string{"198.51.100.1"}, want: "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tp(t).ClientAddr(fromPeer(tt.remote, "X-Forwarded-For", tt.xff...))
			if got.String() != tt.want {
				t.Fatalf("ClientAddr = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientAddrForwarded(t *testing.T) {
	tp := mustProxies(t, []string{"10.0.0.0/8", "2001:db8::/32"}, WithProxyHeader(HeaderForwarded))
	tests := []struct {
		name      string
		remote    string
		fwd       []string
		xff       string
		want      string
		wantHTTPS bool
	}{
		{name: "simple", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.1;proto=https"}, want: "198.51.100.1", wantHTTPS: true},
		{name: "case insensitive keys", remote: "10.0.0.1:1", fwd: []string{"For=198.51.100.1;Proto=HTTPS"}, want: "198.51.100.1", wantHTTPS: true},
		{name: "quoted ipv6 with port", remote: "10.0.0.1:1", fwd: []string{`for="[2001:db9::17]:4711";proto=http`}, want: "2001:db9::17"},
		{name: "quoted ipv4 with port", remote: "10.0.0.1:1", fwd: []string{`for="198.51.100.2:4711"`}, want: "198.51.100.2"},
		{name: "forged leftmost", remote: "10.0.0.1:1", fwd: []string{"for=1.1.1.1, for=198.51.100.1;proto=https, for=10.0.0.5;proto=http"}, want: "198.51.100.1", wantHTTPS: true},
		{name: "several lines", remote: "10.0.0.1:1", fwd: []string{"for=1.1.1.1", "for=198.51.100.9;by=10.0.0.1"}, want: "198.51.100.9"},
		{name: "unknown stops walk", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.1, for=unknown, for=10.0.0.7"}, want: "10.0.0.7"},
		{name: "obfuscated stops walk", remote: "10.0.0.1:1", fwd: []string{"for=198.51.100.1, for=_hidden"}, want: "10.0.0.1"},
		{name: "broken quote stops walk", remote: "10.0.0.1:1", fwd: []string{`for=198.51.100.1, for="[2001:db9::1`}, want: "10.0.0.1"},
		{name: "unbracketed ipv6 accepted", remote: "10.0.0.1:1", fwd: []string{`for="2001:db9::3"`}, want: "2001:db9::3"},
		{name: "comma inside quotes", remote: "10.0.0.1:1", fwd: []string{`for=198.51.100.1;host="a,b", for=10.0.0.2`}, want: "198.51.100.1"},
		{name: "trailing garbage after quote", remote: "10.0.0.1:1", fwd: []string{`for=198.51.100.1, for="10.0.0.2"x`}, want: "10.0.0.1"},
		{name: "client's unbalanced quote does not hide it", remote: "10.0.0.1:1", fwd: []string{`for="1.1.1.1, for=198.51.100.1;proto=https`}, want: "198.51.100.1", wantHTTPS: true},
		{name: "escaped quote inside value", remote: "10.0.0.1:1", fwd: []string{`for=198.51.100.1;ext="a\"b,c", for=10.0.0.2`}, want: "198.51.100.1"},
		{name: "duplicate for", remote: "10.0.0.1:1", fwd: []string{`for=198.51.100.1;for=198.51.100.2`}, want: "10.0.0.1"},
		{name: "x-forwarded-for ignored in this mode", remote: "10.0.0.1:1", xff: "198.51.100.77", want: "10.0.0.1"},
		{name: "untrusted peer ignores header", remote: "203.0.113.1:1", fwd: []string{"for=198.51.100.1;proto=https"}, want: "203.0.113.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fromPeer(tt.remote, "Forwarded", tt.fwd...)
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := tp.ClientAddr(r); got.String() != tt.want {
				t.Errorf("ClientAddr = %s, want %s", got, tt.want)
			}
			if got := tp.IsHTTPS(r); got != tt.wantHTTPS {
				t.Errorf("IsHTTPS = %v, want %v", got, tt.wantHTTPS)
			}
		})
	}
}

func TestXForwardedForModeIgnoresForwarded(t *testing.T) {
	tp := mustProxies(t, []string{"10.0.0.0/8"})
	r := fromPeer("10.0.0.1:1", "Forwarded", "for=1.1.1.1;proto=https")
	if got := tp.ClientAddr(r); got.String() != "10.0.0.1" {
		t.Fatalf("ClientAddr = %s, want peer", got)
	}
	if tp.IsHTTPS(r) {
		t.Fatal("IsHTTPS believed Forwarded proto in X-Forwarded-For mode")
	}
}

func TestIsHTTPS(t *testing.T) {
	tp := mustProxies(t, []string{"10.0.0.0/8"})
	tests := []struct {
		name   string
		tp     *TrustedProxies
		remote string
		tls    bool
		proto  []string
		want   bool
	}{
		{name: "tls connection", tp: tp, remote: "203.0.113.1:1", tls: true, want: true},
		{name: "tls connection nil proxies", tp: nil, remote: "203.0.113.1:1", tls: true, want: true},
		{name: "plain", tp: tp, remote: "203.0.113.1:1", want: false},
		{name: "untrusted proto header ignored", tp: tp, remote: "203.0.113.1:1", proto: []string{"https"}, want: false},
		{name: "nil proxies ignore header", tp: nil, remote: "10.0.0.1:1", proto: []string{"https"}, want: false},
		{name: "trusted https", tp: tp, remote: "10.0.0.1:1", proto: []string{"HTTPS"}, want: true},
		{name: "trusted http", tp: tp, remote: "10.0.0.1:1", proto: []string{"http"}, want: false},
		{name: "nearest proxy wins", tp: tp, remote: "10.0.0.1:1", proto: []string{"https, http"}, want: false},
		{name: "nearest line wins", tp: tp, remote: "10.0.0.1:1", proto: []string{"http", "https"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for _, v := range tt.proto {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			if got := tt.tp.IsHTTPS(r); got != tt.want {
				t.Fatalf("IsHTTPS = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNilTrustedProxies(t *testing.T) {
	var tp *TrustedProxies
	r := fromPeer("127.0.0.1:9", "X-Forwarded-For", "198.51.100.1")
	if got := tp.ClientAddr(r); got.String() != "127.0.0.1" {
		t.Fatalf("nil ClientAddr = %s, want socket address", got)
	}
}

func TestClientInfoMiddleware(t *testing.T) {
	tp := mustProxies(t, []string{"10.0.0.0/8"})
	var gotAddr netip.Addr
	var gotHTTPS bool
	h := ClientInfo(tp)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAddr = ClientAddrFrom(r.Context())
		gotHTTPS = IsHTTPSFrom(r.Context())
	}))
	r := fromPeer("10.0.0.1:1", "X-Forwarded-For", "198.51.100.1")
	r.Header.Set("X-Forwarded-Proto", "https")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if gotAddr.String() != "198.51.100.1" || !gotHTTPS {
		t.Fatalf("context = %s https=%v, want 198.51.100.1 https=true", gotAddr, gotHTTPS)
	}

	bare := httptest.NewRequest(http.MethodGet, "/", nil)
	if a := ClientAddrFrom(bare.Context()); a.IsValid() {
		t.Fatalf("ClientAddrFrom without middleware = %s, want zero", a)
	}
	if IsHTTPSFrom(bare.Context()) {
		t.Fatal("IsHTTPSFrom without middleware = true")
	}
}

// appendedClient is the address a trusted proxy appends in the fuzz tests.
const appendedClient = "198.51.100.7"

// FuzzXForwardedForAppend checks the central guarantee: whatever a client
// puts in X-Forwarded-For, the address the trusted proxy appends wins.
func FuzzXForwardedForAppend(f *testing.F) {
	for _, seed := range []string{"", "1.1.1.1", "10.0.0.1", "garbage", `"`, "1.1.1.1, 10.0.0.2", ",,,", "[::1]:80", "unknown"} {
		f.Add(seed)
	}
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, forged string) {
		for _, lines := range [][]string{{forged + ", " + appendedClient}, {forged, appendedClient}} {
			r := fromPeer("10.0.0.1:443", "X-Forwarded-For", lines...)
			if got := tp.ClientAddr(r); got.String() != appendedClient {
				t.Fatalf("lines %q: ClientAddr = %s, want %s", lines, got, appendedClient)
			}
		}
	})
}

// FuzzForwardedAppend is the same guarantee for RFC 7239 Forwarded, where
// quoting makes the parse harder: no client text may change how the
// proxy's own element is read.
func FuzzForwardedAppend(f *testing.F) {
	for _, seed := range []string{"", "for=1.1.1.1", `for="`, `for="[::1`, `"\`, "for=10.0.0.2;proto=https", ";;;,,", `a="b,c"`} {
		f.Add(seed)
	}
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8"}, WithProxyHeader(HeaderForwarded))
	if err != nil {
		f.Fatal(err)
	}
	own := "for=" + appendedClient + ";proto=https"
	f.Fuzz(func(t *testing.T, forged string) {
		for _, lines := range [][]string{{forged + ", " + own}, {forged, own}} {
			r := fromPeer("10.0.0.1:443", "Forwarded", lines...)
			if got := tp.ClientAddr(r); got.String() != appendedClient {
				t.Fatalf("lines %q: ClientAddr = %s, want %s", lines, got, appendedClient)
			}
			if !tp.IsHTTPS(r) {
				t.Fatalf("lines %q: proto of the proxy's element lost", lines)
			}
		}
	})
}

func BenchmarkClientAddr(b *testing.B) {
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8", "172.16.0.0/12", "2001:db8::/32"})
	if err != nil {
		b.Fatal(err)
	}
	r := fromPeer("10.0.0.1:1234", "X-Forwarded-For", "1.1.1.1, 198.51.100.1, 10.0.0.2")
	b.ReportAllocs()
	for b.Loop() {
		if !tp.ClientAddr(r).IsValid() {
			b.Fatal("invalid")
		}
	}
}
