package accounts

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/custodian-crm/custodian"
	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultAuthCacheTTL is how long an authenticated access token or session
// is trusted without reading the database again, unless Config says
// otherwise. It is also how long another instance's change can go unseen
// when its invalidation is lost.
const DefaultAuthCacheTTL = 5 * time.Second

// DefaultAuthCacheSize bounds how many tokens and sessions are cached.
const DefaultAuthCacheSize = 10_000

// authCache holds the access tokens and sessions that authenticated
// recently, keyed by the token's SHA-256 hash (never the token itself),
// so that a request costs no database read. The hash covers the token's
// kind prefix, which authentication checks first, so a session's entry
// can never answer for an access token, nor the other way round. An entry is trusted for ttl
// after it was read from the database; every rule that depends on time
// (expiry, the idle and absolute limits of a session) is checked again on
// each use from the times the entry holds, and every change that ends or
// alters an account's access drops the account's entries (invalidate).
//
// A nil *authCache is a cache that holds nothing.
type authCache struct {
	ttl     time.Duration
	entries *lru.Cache[string, *authEntry]

	// mu orders fills against invalidations: a fill stores its entry only
	// if no invalidation happened since it began reading the database
	// (gen unchanged), so that a read from before a revocation can never
	// be stored after the revocation dropped the entries.
	mu  sync.Mutex
	gen atomic.Uint64 // changed under mu
}

// authEntry is what a token or session authenticated as: the user (without
// its secrets) and the times the rules are checked against. Entries are
// shared by concurrent requests: only lastSeen and touching change.
type authEntry struct {
	user    custodian.User
	session bool
	hash    []byte // the token's hash
	tokenID string // for access tokens
	// passkey: the session signed in with a passkey, or the token's user
	// has one (see principal).
	passkey bool
	expires time.Time
	loaded  time.Time // when it was read from the database
	// lastSeen is when the session was last seen, or the token last used,
	// as stored (microseconds since the epoch).
	lastSeen atomic.Int64
	touching atomic.Bool // a write of lastSeen is under way
}

// newAuthCache returns a cache of size entries trusted for ttl, or nil
// (no cache) when ttl is not positive.
func newAuthCache(ttl time.Duration, size int) *authCache {
	if ttl <= 0 {
		return nil
	}
	entries, err := lru.New[string, *authEntry](size)
	if err != nil {
		return nil // size is checked by New
	}
	return &authCache{ttl: ttl, entries: entries}
}

// seen returns when the session was last seen, or the token last used.
func (e *authEntry) seen() time.Time { return time.UnixMicro(e.lastSeen.Load()).UTC() }

// get returns the entry of a token hash while it is still trusted at now,
// or nil.
func (c *authCache) get(hash []byte, now time.Time) *authEntry {
	if c == nil {
		return nil
	}
	e, ok := c.entries.Get(string(hash))
	if !ok || !now.Before(e.loaded.Add(c.ttl)) {
		return nil
	}
	return e
}

// generation returns the invalidation count, to be taken before a
// database read whose result put may store.
func (c *authCache) generation() uint64 {
	if c == nil {
		return 0
	}
	return c.gen.Load()
}

// put stores e, read from the database after generation returned gen,
// unless an invalidation happened since.
func (c *authCache) put(e *authEntry, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() == gen {
		c.entries.Add(string(e.hash), e)
	}
}

// remove drops one token's or session's entry.
func (c *authCache) remove(hash []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.entries.Remove(string(hash))
}

// invalidate drops the entries inv names: every token and session of a
// user, or every entry.
func (c *authCache) invalidate(inv custodian.AuthInvalidation) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if inv.All() {
		c.entries.Purge()
		return
	}
	for _, k := range c.entries.Keys() {
		if e, ok := c.entries.Peek(k); ok && e.user.ID == inv.UserID {
			c.entries.Remove(k)
		}
	}
}
