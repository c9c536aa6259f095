package edge

import (
	"net"
	"net/netip"
	"sync"
)

// DefaultMaxConnsPerAddr is how many connections one client address may
// hold open at once when LimitConnsPerAddr is given a non-positive limit:
// far above the half-dozen a browser opens, so that several people behind
// one NAT address are not refused, and far below what it takes to exhaust
// the server's file descriptors.
const DefaultMaxConnsPerAddr = 64

// connLimitPrefix groups IPv6 client addresses: one subscriber usually has
// a whole /64, so counting single addresses would let it open 2^64 times
// the limit.
const connLimitPrefix = 64

// ConnLimitListener is a net.Listener that closes, as soon as they are
// accepted, the connections of a client address that already holds its
// limit of open connections (IPv6 addresses counted per /64), so that
// slow clients from a few addresses cannot take every connection the
// server can hold, and everyone else (health checks included) is still
// served. Addresses the exempt function accepts (trusted reverse proxies,
// which carry many clients' connections) are not limited.
type ConnLimitListener struct {
	net.Listener
	max    int
	exempt func(netip.Addr) bool

	mu    sync.Mutex
	open  map[netip.Addr]int
	onCut func(netip.Addr) // called for each connection refused (tests, metrics)
}

// LimitConnsPerAddr wraps ln so that no client address holds more than max
// connections at once (DefaultMaxConnsPerAddr when max <= 0); exempt, when
// not nil, names addresses without a limit.
func LimitConnsPerAddr(ln net.Listener, max int, exempt func(netip.Addr) bool) *ConnLimitListener {
	if max <= 0 {
		max = DefaultMaxConnsPerAddr
	}
	return &ConnLimitListener{Listener: ln, max: max, exempt: exempt, open: make(map[netip.Addr]int)}
}

// Accept returns the next connection whose address is within its limit,
// closing those that are over it.
func (l *ConnLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := l.key(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		l.mu.Lock()
		n := l.open[key]
		if n >= l.max {
			l.mu.Unlock()
			_ = c.Close()
			if l.onCut != nil {
				l.onCut(key)
			}
			continue
		}
		l.open[key] = n + 1
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

// Open returns how many connections addr's group holds.
func (l *ConnLimitListener) Open(addr netip.Addr) int {
	key, ok := l.keyOf(addr)
	if !ok {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[key]
}

// key returns the counting key of a remote address, and false for one
// that is not limited.
func (l *ConnLimitListener) key(a net.Addr) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return l.keyOf(ap.Addr())
}

func (l *ConnLimitListener) keyOf(addr netip.Addr) (netip.Addr, bool) {
	addr = addr.Unmap()
	if !addr.IsValid() || (l.exempt != nil && l.exempt(addr)) {
		return netip.Addr{}, false
	}
	if addr.Is6() {
		p, _ := addr.Prefix(connLimitPrefix)
		return p.Addr(), true
	}
	return addr, true
}

func (l *ConnLimitListener) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] <= 1 {
		delete(l.open, key)
		return
	}
	l.open[key]--
}

// limitedConn gives its place back once, when it is first closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its place.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
