package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ErrBadProxy is returned, wrapped, by ParseTrustedProxies for an entry that
// is neither an IP address nor a CIDR range.
var ErrBadProxy = errors.New("edge: invalid trusted proxy entry")

// ProxyHeader selects which forwarding header a TrustedProxies reads.
// Exactly one is read because a proxy that maintains one of them passes the
// other through from the client unchanged.
type ProxyHeader int

const (
	// HeaderXForwardedFor reads X-Forwarded-For for the client address and
	// X-Forwarded-Proto for the scheme. It is the default because nginx,
	// HAProxy, Caddy, Traefik and the common cloud load balancers set it.
	HeaderXForwardedFor ProxyHeader = iota
	// HeaderForwarded reads the RFC 7239 Forwarded header (for= and proto=).
	HeaderForwarded
)

// ProxyOption adjusts a TrustedProxies built by ParseTrustedProxies.
type ProxyOption func(*TrustedProxies)

// WithProxyHeader chooses the forwarding header the trusted proxies
// maintain. Without it X-Forwarded-For is read.
func WithProxyHeader(h ProxyHeader) ProxyOption {
	return func(tp *TrustedProxies) { tp.header = h }
}

// TrustedProxies is the set of reverse proxies whose forwarding headers are
// believed. It is immutable after ParseTrustedProxies and safe for
// concurrent use. A nil *TrustedProxies trusts nobody.
type TrustedProxies struct {
	prefixes []netip.Prefix
	header   ProxyHeader
}

// ParseTrustedProxies parses proxy addresses and CIDR ranges, IPv4 or IPv6
// (for example "10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"). An empty
// list yields a TrustedProxies that trusts nobody. A bad entry is reported
// with its position so the operator can fix the configuration.
func ParseTrustedProxies(list []string, opts ...ProxyOption) (*TrustedProxies, error) {
	tp := &TrustedProxies{prefixes: make([]netip.Prefix, 0, len(list))}
	for i, raw := range list {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			return nil, fmt.Errorf("%w: entry %d is empty", ErrBadProxy, i+1)
		}
		var p netip.Prefix
		if strings.Contains(entry, "/") {
			parsed, err := netip.ParsePrefix(entry)
			if err != nil {
				return nil, fmt.Errorf("%w: entry %d %q is not a CIDR range: %w", ErrBadProxy, i+1, entry, err)
			}
			if parsed.Addr().Zone() != "" {
				return nil, fmt.Errorf("%w: entry %d %q has an IPv6 zone", ErrBadProxy, i+1, entry)
			}
			p = netip.PrefixFrom(parsed.Addr().Unmap(), unmappedBits(parsed)).Masked()
		} else {
			a, err := netip.ParseAddr(entry)
			if err != nil {
				return nil, fmt.Errorf("%w: entry %d %q is not an IP address: %w", ErrBadProxy, i+1, entry, err)
			}
			a = a.WithZone("").Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		tp.prefixes = append(tp.prefixes, p)
	}
	for _, o := range opts {
		o(tp)
	}
	return tp, nil
}

// unmappedBits converts the prefix length of an IPv4-mapped IPv6 range
// (::ffff:10.0.0.0/104) to its IPv4 length so that it matches unmapped
// addresses.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return p.Bits() - 96
	}
	return p.Bits()
}

// Trusts reports whether addr belongs to a trusted proxy.
func (tp *TrustedProxies) Trusts(addr netip.Addr) bool {
	if tp == nil || !addr.IsValid() {
		return false
	}
	addr = addr.WithZone("").Unmap()
	for _, p := range tp.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address of the client that made r. When the direct
// peer is a trusted proxy, the configured forwarding header is walked from
// the right and the first untrusted address is returned; otherwise the
// socket address is returned. The result is the zero Addr only when
// r.RemoteAddr itself cannot be parsed.
func (tp *TrustedProxies) ClientAddr(r *http.Request) netip.Addr {
	addr, _ := tp.resolve(r)
	return addr
}

// IsHTTPS reports whether the client reached the edge over TLS: either r
// arrived on a TLS connection, or a trusted proxy says so in
// X-Forwarded-Proto (or Forwarded proto=, when that header is chosen).
func (tp *TrustedProxies) IsHTTPS(r *http.Request) bool {
	_, https := tp.resolve(r)
	return https
}

// resolve derives the client address and scheme of r in one walk.
func (tp *TrustedProxies) resolve(r *http.Request) (netip.Addr, bool) {
	peer := peerAddr(r.RemoteAddr)
	https := r.TLS != nil
	if !tp.Trusts(peer) {
		return peer, https
	}
	if tp.header == HeaderForwarded {
		addr, proto := walkForwarded(tp, peer, r.Header.Values("Forwarded"))
		return addr, https || strings.EqualFold(proto, "https")
	}
	addr := walkXFF(tp, peer, r.Header.Values("X-Forwarded-For"))
	return addr, https || strings.EqualFold(lastListValue(r.Header.Values("X-Forwarded-Proto")), "https")
}

// peerAddr parses a socket address as found in http.Request.RemoteAddr.
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.WithZone("").Unmap()
	}
	return netip.Addr{}
}

// walkXFF walks X-Forwarded-For lines (joined in order) from the right.
func walkXFF(tp *TrustedProxies, peer netip.Addr, lines []string) netip.Addr {
	last := peer
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for {
			var item string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				item, line = line[j+1:], line[:j]
			} else {
				item, line = line, ""
			}
			a, ok := parseNode(strings.TrimSpace(item))
			if !ok {
				return last
			}
			if !tp.Trusts(a) {
				return a
			}
			last = a
			if line == "" {
				break
			}
		}
	}
	return last
}

// lastListValue returns the rightmost element of a comma-separated header
// that may span several lines: the value set by the nearest proxy.
func lastListValue(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	v := lines[len(lines)-1]
	if j := strings.LastIndexByte(v, ','); j >= 0 {
		v = v[j+1:]
	}
	return strings.TrimSpace(v)
}

// forwardedElement is one hop of an RFC 7239 Forwarded header.
type forwardedElement struct {
	forVal string
	proto  string
	ok     bool
}

// walkForwarded walks Forwarded elements from the right and returns the
// client address and the proto= of the element that named it. Elements are
// split off from the right, so text a client put at the left (even an
// unbalanced quote) cannot change how the proxies' own elements to its
// right are read.
func walkForwarded(tp *TrustedProxies, peer netip.Addr, lines []string) (netip.Addr, string) {
	last, lastProto := peer, ""
	for li := len(lines) - 1; li >= 0; li-- {
		rest := lines[li]
		for {
			elem, left, more, ok := lastElement(rest)
			if !ok {
				return last, lastProto
			}
			parsed := appendForwarded(nil, elem)
			if len(parsed) != 1 || !parsed[0].ok {
				return last, lastProto
			}
			a, ok := parseNode(parsed[0].forVal)
			if !ok {
				return last, lastProto
			}
			if !tp.Trusts(a) {
				return a, parsed[0].proto
			}
			last, lastProto = a, parsed[0].proto
			if !more {
				break
			}
			rest = left
		}
	}
	return last, lastProto
}

// lastElement splits the rightmost comma-separated element off s, treating
// commas inside quoted strings as part of the element. more reports whether
// anything (possibly empty) remains to the left; ok is false when a quote
// is left open.
func lastElement(s string) (elem, left string, more, ok bool) {
	inQuote := false
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '"':
			if inQuote && escaped(s, i) {
				continue
			}
			inQuote = !inQuote
		case ',':
			if !inQuote {
				return s[i+1:], s[:i], true, true
			}
		}
	}
	return s, "", false, !inQuote
}

// escaped reports whether the byte at i is preceded by an odd number of
// backslashes.
func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// appendForwarded parses a Forwarded header value into elements, left to
// right. A syntactically broken element is kept with ok=false so a walk
// stops there. walkForwarded feeds it one element at a time.
func appendForwarded(elems []forwardedElement, s string) []forwardedElement {
	e := forwardedElement{ok: true}
	i := 0
	for {
		// Skip optional whitespace before a pair.
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		// Key.
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ';' && s[i] != ',' {
			i++
		}
		key := strings.TrimSpace(s[start:i])
		var val string
		if i < len(s) && s[i] == '=' {
			i++
			if i < len(s) && s[i] == '"' {
				v, n, ok := unquote(s[i:])
				if !ok {
					e.ok = false
					return append(elems, e)
				}
				val = v
				i += n
			} else {
				start = i
				for i < len(s) && s[i] != ';' && s[i] != ',' {
					i++
				}
				val = strings.TrimSpace(s[start:i])
			}
		} else if key != "" {
			e.ok = false // a key without a value
		}
		switch strings.ToLower(key) {
		case "for":
			if e.forVal != "" {
				e.ok = false // duplicate parameter
			}
			e.forVal = val
		case "proto":
			e.proto = val
		}
		// Skip whitespace up to the separator.
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return append(elems, e)
		}
		switch s[i] {
		case ';':
			i++
		case ',':
			elems = append(elems, e)
			e = forwardedElement{ok: true}
			i++
		default:
			// Text after a quoted value: malformed.
			e.ok = false
			for i < len(s) && s[i] != ',' {
				i++
			}
		}
	}
}

// unquote reads an RFC 7230 quoted-string at the start of s and returns its
// content and the number of bytes consumed.
func unquote(s string) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			i++
			if i >= len(s) {
				return "", 0, false
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// parseNode parses a forwarding-header node: an IPv4 address, an IPv6
// address, either optionally with a port, IPv6 optionally in brackets.
// "unknown", obfuscated identifiers and anything else fail.
func parseNode(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		rest := s[end+1:]
		if rest != "" && (rest[0] != ':' || !isPort(rest[1:])) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return a.WithZone("").Unmap(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap(), true
	}
	// IPv4 with a port.
	if j := strings.IndexByte(s, ':'); j > 0 && strings.Count(s, ":") == 1 && isPort(s[j+1:]) {
		a, err := netip.ParseAddr(s[:j])
		if err == nil && a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// isPort reports whether s is a decimal port number, or an RFC 7239
// obfuscated port ("_abc"), which is acceptable because only the address is
// used.
func isPort(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	if s[0] == '_' {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) <= 5
}

// clientInfoKey is the context key under which ClientInfo stores clientInfo.
type clientInfoKey struct{}

// clientInfo is what ClientInfo derives once per request.
type clientInfo struct {
	addr  netip.Addr
	https bool
}

// ClientInfo returns middleware that resolves the client address and scheme
// of each request through tp once and stores them in the request context,
// where ClientAddrFrom and IsHTTPSFrom read them. A nil tp trusts nobody.
func ClientInfo(tp *TrustedProxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr, https := tp.resolve(r)
			ctx := context.WithValue(r.Context(), clientInfoKey{}, clientInfo{addr: addr, https: https})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// ClientAddrFrom returns the client address stored by ClientInfo, or the
// zero Addr when ctx did not pass through it.
func ClientAddrFrom(ctx context.Context) netip.Addr {
	ci, _ := ctx.Value(clientInfoKey{}).(clientInfo)
	return ci.addr
}

// IsHTTPSFrom reports whether ClientInfo found the request to have reached
// the edge over TLS. It is false when ctx did not pass through ClientInfo.
func IsHTTPSFrom(ctx context.Context) bool {
	ci, _ := ctx.Value(clientInfoKey{}).(clientInfo)
	return ci.https
}

// requestIsHTTPS combines the context value with the connection state so
// that code works whether or not ClientInfo ran first.
func requestIsHTTPS(r *http.Request) bool {
	return r.TLS != nil || IsHTTPSFrom(r.Context())
}
