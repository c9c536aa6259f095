package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrBlockedAddress is returned, wrapped, when a webhook target is, or
// resolves to, an address that endpoints may not reach.
var ErrBlockedAddress = errors.New("address not allowed for webhooks")

// blockedPrefixes are the ranges no webhook may reach unless allow-listed:
// this host, private and shared networks, link-local (cloud metadata
// services live there: 169.254.169.254, fd00:ec2::254 is unique-local),
// CGNAT (100.100.100.200 is another cloud's metadata), and ranges that are
// not unicast on the internet.
var blockedPrefixes = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
	"224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard decides which webhook targets may be reached: every address but
// the blocked ranges, plus what the operator allow-lists (--webhook-allow:
// CIDR ranges, or host names whose every address is then allowed). It
// checks at registration and again when each connection is made, on the
// address actually dialled, so a name that resolves elsewhere later (DNS
// rebinding) is still refused.
type Guard struct {
	prefixes []netip.Prefix
	hosts    []string
	// lookup resolves host names at registration.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// NewGuard returns a Guard that also allows the given entries: CIDR ranges
// ("10.1.2.0/24"), single addresses ("127.0.0.1"), or host names
// ("hooks.internal").
func NewGuard(allow []string) (*Guard, error) {
	g := &Guard{lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
		case strings.Contains(a, "/"):
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return nil, fmt.Errorf("webhook allow-list: %q is not a CIDR range: %w", a, err)
			}
			g.prefixes = append(g.prefixes, p.Masked())
		default:
			if ip, err := netip.ParseAddr(a); err == nil {
				g.prefixes = append(g.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(a, ":/ ") {
				return nil, fmt.Errorf("webhook allow-list: %q is neither an address, a CIDR range nor a host name", a)
			}
			g.hosts = append(g.hosts, strings.ToLower(strings.TrimSuffix(a, ".")))
		}
	}
	return g, nil
}

// hostAllowed reports whether the host name is allow-listed.
func (g *Guard) hostAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range g.hosts {
		if h == host {
			return true
		}
	}
	return false
}

// addrAllowed reports whether ip may be reached: allow-listed, or in none
// of the blocked ranges.
func (g *Guard) addrAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	if !ip.IsGlobalUnicast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// AllowListed reports whether the URL's host is allow-listed by name or,
// for an address, by range: such a target may use plain http.
func (g *Guard) AllowListed(u *url.URL) bool {
	host := u.Hostname()
	if g.hostAllowed(host) {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		for _, p := range g.prefixes {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// CheckTarget checks a target at registration: the host's addresses, as
// they resolve now, must all be allowed. A name that does not resolve
// yet is accepted: the check that counts is the one at connection time.
func (g *Guard) CheckTarget(ctx context.Context, u *url.URL) error {
	host := u.Hostname()
	if g.hostAllowed(host) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.addrAllowed(ip) {
			return fmt.Errorf("%s: %w", ip, ErrBlockedAddress)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := g.lookup(ctx, host)
	if err != nil {
		return nil
	}
	for _, ip := range addrs {
		if !g.addrAllowed(ip) {
			return fmt.Errorf("%s resolves to %s: %w", host, ip, ErrBlockedAddress)
		}
	}
	return nil
}

// DialContext dials like a net.Dialer, refusing any connection whose
// resolved address is blocked: the address is checked by the dialer's
// Control function, on the socket about to connect, after resolution.
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	byName := g.hostAllowed(host)
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		if byName {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%s: %w", address, ErrBlockedAddress)
		}
		if !g.addrAllowed(ap.Addr()) {
			return fmt.Errorf("%s: %w", ap.Addr(), ErrBlockedAddress)
		}
		return nil
	}}
	return d.DialContext(ctx, network, addr)
}
