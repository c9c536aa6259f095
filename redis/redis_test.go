package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/fakeclock"
	"github.com/custodian-crm/custodian/internal/syncbuf"
	"github.com/custodian-crm/custodian/internal/testnet"
	"github.com/custodian-crm/custodian/ratelimit"
	goredis "github.com/redis/go-redis/v9"
)

// redisAddr is the Redis the tests use; REDIS_ADDR overrides it.
func redisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newClient returns a client as a server instance would configure it:
// context deadlines bound every call.
func newClient(t *testing.T, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// requireRedis connects to the real Redis, failing under CI and skipping
// elsewhere when it is not reachable.
func requireRedis(t *testing.T) *goredis.Client {
	t.Helper()
	c := newClient(t, redisAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s unreachable under CI: %v", redisAddr(), err)
		}
		t.Skipf("Redis at %s unreachable (%v); start Redis or set REDIS_ADDR to run this test", redisAddr(), err)
	}
	return c
}

// testPrefix returns a key prefix unique to this test run and deletes every
// key under it when the test ends.
func testPrefix(t *testing.T, c *goredis.Client) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	prefix := "custodian-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "rate:"+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			_ = c.Del(ctx, iter.Val()).Err()
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleaning up test keys: %v", err)
		}
	})
	return prefix
}

func newLimiter(t *testing.T, c Client, l ratelimit.Limit, prefix string) *Limiter {
	t.Helper()
	lim, err := NewLimiter(c, l, prefix)
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	return lim
}

func allow(t *testing.T, l ratelimit.Limiter, key string) ratelimit.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	return d
}

// slow is a limit whose bucket refills far slower than any test runs, so
// results do not depend on how fast the machine is.
var slow = ratelimit.Limit{Rate: 0.01, Burst: 3}

func TestTwoInstancesShareOneBudget(t *testing.T) {
	probe := requireRedis(t)
	prefix := testPrefix(t, probe)
	// Two server instances, each with its own connection pool.
	a := newLimiter(t, newClient(t, redisAddr()), slow, prefix)
	b := newLimiter(t, newClient(t, redisAddr()), slow, prefix)

	steps := []struct {
		inst      *Limiter
		allowed   bool
		remaining int
	}{
		{a, true, 2},
		{b, true, 1},
		{a, true, 0},
		{b, false, 0},
		{a, false, 0},
	}
	for i, s := range steps {
		d := allow(t, s.inst, "198.51.100.7")
		if d.Allowed != s.allowed || d.Remaining != s.remaining {
			t.Fatalf("request %d: %+v, want allowed=%v remaining=%d", i+1, d, s.allowed, s.remaining)
		}
		if !d.Allowed && (d.RetryAfter <= 90*time.Second || d.RetryAfter > 100*time.Second) {
			t.Fatalf("request %d: RetryAfter %v, want about 100s", i+1, d.RetryAfter)
		}
		if d.Allowed && d.RetryAfter != 0 {
			t.Fatalf("request %d: allowed with RetryAfter %v", i+1, d.RetryAfter)
		}
	}
	// Another client keeps its own budget.
	if d := allow(t, b, "198.51.100.8"); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("other key: %+v", d)
	}
	// A different prefix (another limit) is a separate budget.
	other := newLimiter(t, probe, slow, prefix+"signin:")
	if d := allow(t, other, "198.51.100.7"); !d.Allowed {
		t.Fatalf("separate prefix shares budget: %+v", d)
	}
}

func TestFractionalRateAndReset(t *testing.T) {
	c := requireRedis(t)
	prefix := testPrefix(t, c)
	lim := newLimiter(t, c, ratelimit.Limit{Rate: 0.5, Burst: 1}, prefix)
	allow(t, lim, "k")
	d := allow(t, lim, "k")
	// One request per 2 s: the wait is just under 2 s.
	if d.Allowed || d.RetryAfter <= time.Second || d.RetryAfter > 2*time.Second {
		t.Fatalf("second request: %+v, want refusal with RetryAfter in (1s, 2s]", d)
	}
	ttl, err := c.TTL(context.Background(), "rate:"+prefix+"k").Result()
	if err != nil || ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("key TTL %v, %v: state must expire once the bucket refills", ttl, err)
	}
	if err := lim.Reset(context.Background(), "k"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if d := allow(t, lim, "k"); !d.Allowed {
		t.Fatalf("after Reset: %+v", d)
	}
}

func TestNewLimiterRejects(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr()})
	defer c.Close()
	if _, err := NewLimiter(c, ratelimit.Limit{Rate: 0, Burst: 1}, "p:"); !errors.Is(err, ratelimit.ErrInvalidLimit) {
		t.Errorf("bad limit: %v", err)
	}
	for _, p := range []string{"", "a b"} {
		if _, err := NewLimiter(c, slow, p); !errors.Is(err, ErrInvalidPrefix) {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
	if _, err := NewLimiter(nil, slow, "p:"); err == nil {
		t.Error("nil client accepted")
	}
}

// stateLog records a fallback's state changes.
type stateLog struct{ syncbuf.List[bool] }

// String lists the changes: "degraded;" or "recovered;" each.
func (s *stateLog) String() string {
	out := ""
	for _, v := range s.All() {
		if v {
			out += "degraded;"
		} else {
			out += "recovered;"
		}
	}
	return out
}

// newFallback returns a fallback from primary to a local limiter with a
// 50 ms timeout, the fake clock both read the time from, and the log of
// the fallback's state changes.
func newFallback(t *testing.T, primary ratelimit.Limiter) (*ratelimit.Fallback, *fakeclock.Clock, *stateLog) {
	t.Helper()
	clk := fakeclock.New(time.Now())
	log := &stateLog{}
	local, err := ratelimit.NewLocal(slow, ratelimit.LocalConfig{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return ratelimit.NewFallback(primary, local, ratelimit.FallbackConfig{
		Timeout:       50 * time.Millisecond,
		OnStateChange: log.Add,
		Now:           clk.Now,
	}), clk, log
}

func TestFallbackLimitsLocallyWhenRedisUnreachable(t *testing.T) {
	f, clk, log := newFallback(t, newLimiter(t, newClient(t, testnet.FreeAddr(t)), slow, "custodian-test:down:"))

	for i, want := range []bool{true, true, true, false, false} {
		start := time.Now()
		d, err := f.Allow(context.Background(), "203.0.113.9")
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		if d.Allowed != want {
			t.Fatalf("request %d: %+v, want allowed=%v from the local limiter", i+1, d, want)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("request %d took %v: the per-call timeout is not bounding Redis calls", i+1, el)
		}
		clk.Advance(300 * time.Millisecond) // more probes, all failing
	}
	if !f.Degraded() {
		t.Fatal("Degraded() = false with Redis unreachable")
	}
	if got := log.String(); got != "degraded;" {
		t.Fatalf("state changes %q, want exactly one degraded", got)
	}
}

// proxy is a loopback TCP relay in front of the real Redis that can be
// switched between relaying, refusing (closing every connection) and
// swallowing traffic without answering, to make Redis fail and recover.
type proxy struct {
	ln     net.Listener
	target string
	mode   atomic.Value // "up", "refuse" or "hang"
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target, mode string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.mode.Store(mode)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.dropAll()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) set(mode string) {
	p.mode.Store(mode)
	p.dropAll()
}

func (p *proxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		switch p.mode.Load().(string) {
		case "refuse":
			_ = c.Close()
		case "hang":
			p.track(c) // hold it open, never answer
		default:
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.track(c)
			p.track(up)
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}
}

func TestFallbackRecoversWhenRedisReturns(t *testing.T) {
	direct := requireRedis(t)
	prefix := testPrefix(t, direct)
	px := startProxy(t, redisAddr(), "refuse")
	f, clk, log := newFallback(t, newLimiter(t, newClient(t, px.addr()), slow, prefix))
	shared := newLimiter(t, direct, slow, prefix) // another instance, straight to Redis

	allow(t, f, "k") // Redis refused: local answer, degraded
	if !f.Degraded() {
		t.Fatal("not degraded while the relay refuses connections")
	}

	px.set("up")
	allow(t, f, "k") // probe not due yet: still local
	if !f.Degraded() {
		t.Fatal("probed Redis before the probe interval")
	}
	clk.Advance(time.Second)
	if d := allow(t, f, "k"); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("after recovery: %+v, want the first request of the shared budget", d)
	}
	if f.Degraded() {
		t.Fatal("still degraded after Redis answered")
	}
	// The recovered instance and another one now share the budget again.
	if d := allow(t, shared, "k"); d.Remaining != 1 {
		t.Fatalf("other instance sees %+v, want remaining 1", d)
	}
	if got := log.String(); got != "degraded;recovered;" {
		t.Fatalf("state changes %q", got)
	}
}

func TestFallbackTimesOutOnHungRedis(t *testing.T) {
	direct := requireRedis(t)
	prefix := testPrefix(t, direct)
	px := startProxy(t, redisAddr(), "hang")
	f, _, _ := newFallback(t, newLimiter(t, newClient(t, px.addr()), slow, prefix))

	start := time.Now()
	d, err := f.Allow(context.Background(), "k")
	elapsed := time.Since(start)
	if err != nil || !d.Allowed || !f.Degraded() {
		t.Fatalf("hung Redis: %+v, %v, degraded=%v", d, err, f.Degraded())
	}
	if elapsed > time.Second {
		t.Fatalf("call took %v; the 50ms timeout did not bound it", elapsed)
	}
	t.Logf("answered locally after %v", elapsed)
}

func BenchmarkRedisAllow(b *testing.B) {
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr(), ContextTimeoutEnabled: true})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		b.Skipf("Redis unreachable: %v", err)
	}
	lim, err := NewLimiter(c, ratelimit.Limit{Rate: 1e6, Burst: 1000}, "custodian-bench:")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lim.Allow(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	_ = lim.Reset(ctx, "bench")
}

// TestAgreesWithLocal checks that the Redis limiter and the local one give
// the same answers, so a Fallback switching between them stays consistent.
func TestAgreesWithLocal(t *testing.T) {
	c := requireRedis(t)
	prefix := testPrefix(t, c)
	for _, l := range []ratelimit.Limit{slow, {Rate: 0.02, Burst: 1}, {Rate: 0.005, Burst: 5}} {
		shared := newLimiter(t, c, l, prefix+l.String()+":")
		local, err := ratelimit.NewLocal(l, ratelimit.LocalConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range l.Burst + 2 {
			r, m := allow(t, shared, "k"), allow(t, local, "k")
			if r.Allowed != m.Allowed || r.Remaining != m.Remaining {
				t.Fatalf("%v request %d: redis %+v, local %+v", l, i+1, r, m)
			}
			if diff := r.RetryAfter - m.RetryAfter; diff < -time.Second || diff > time.Second {
				t.Fatalf("%v request %d: RetryAfter redis %v, local %v", l, i+1, r.RetryAfter, m.RetryAfter)
			}
		}
	}
}
