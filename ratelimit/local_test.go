package ratelimit

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestLocal(t testing.TB, l Limit, cfg LocalConfig) *Local {
	t.Helper()
	lim, err := NewLocal(l, cfg)
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	return lim
}

func mustAllow(t *testing.T, l Limiter, key string) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

func TestLocalGCRA(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 1, Burst: 3}, LocalConfig{Now: clk.Now})

	type step struct {
		advance   time.Duration
		allowed   bool
		remaining int
		retry     time.Duration
	}
	steps := []step{
		{0, true, 2, 0},
		{0, true, 1, 0},
		{0, true, 0, 0},
		{0, false, 0, time.Second}, // burst spent
		{400 * time.Millisecond, false, 0, 600 * time.Millisecond}, // refusal does not cost
		{600 * time.Millisecond, true, 0, 0},                       // one token back after 1s
		{0, false, 0, time.Second},
		{10 * time.Second, true, 2, 0}, // idle long enough: full burst again
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		d := mustAllow(t, lim, "203.0.113.7")
		want := Decision{Allowed: s.allowed, Remaining: s.remaining, RetryAfter: s.retry}
		if d != want {
			t.Fatalf("step %d: got %+v, want %+v", i, d, want)
		}
	}
}

func TestLocalKeysIndependent(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 1, Burst: 1}, LocalConfig{Now: clk.Now})
	if !mustAllow(t, lim, "a").Allowed {
		t.Fatal("first request of a refused")
	}
	if mustAllow(t, lim, "a").Allowed {
		t.Fatal("second request of a allowed")
	}
	if !mustAllow(t, lim, "b").Allowed {
		t.Fatal("b refused because of a")
	}
}

func TestLocalRejectsBadConfig(t *testing.T) {
	tests := []struct {
		limit Limit
		cfg   LocalConfig
	}{
		{Limit{Rate: 0, Burst: 1}, LocalConfig{}},
		{Limit{Rate: 1, Burst: 1}, LocalConfig{MaxKeys: -1}},
		{Limit{Rate: 1, Burst: 1}, LocalConfig{Shards: -2}},
		{Limit{Rate: 1, Burst: 1}, LocalConfig{MaxKeys: math.MaxInt32 + 1}},
	}
	for _, tt := range tests {
		if _, err := NewLocal(tt.limit, tt.cfg); !errors.Is(err, ErrInvalidLimit) {
			t.Errorf("NewLocal(%+v, %+v) = %v, want ErrInvalidLimit", tt.limit, tt.cfg, err)
		}
	}
}

// exhaust spends key's whole burst.
func exhaust(t *testing.T, l *Local, key string) {
	t.Helper()
	for range l.Limit().Burst {
		if !mustAllow(t, l, key).Allowed {
			t.Fatalf("%s refused while spending its burst", key)
		}
	}
	if mustAllow(t, l, key).Allowed {
		t.Fatalf("%s allowed past its burst", key)
	}
}

func TestLocalEvictsFullEntriesFirst(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 1, Burst: 2}, LocalConfig{MaxKeys: 2, Shards: 1, Now: clk.Now})

	exhaust(t, lim, "attacker") // TAT two seconds ahead
	clk.Advance(time.Millisecond)
	mustAllow(t, lim, "quiet") // TAT one second ahead
	clk.Advance(1500 * time.Millisecond)
	// "quiet" has refilled (its TAT is past), "attacker" has not; although
	// "attacker" was seen less recently, "quiet" must be the one forgotten.
	mustAllow(t, lim, "newcomer")
	if n := lim.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	// Half a second of the attacker's debt is left: one token came back,
	// none to spare. A forgotten key would show a fresh bucket (Remaining 1).
	if d := mustAllow(t, lim, "attacker"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("attacker state lost through eviction: %+v", d)
	}
	if d := mustAllow(t, lim, "quiet"); d.Remaining != 1 {
		t.Fatalf("quiet should have been forgotten (fresh bucket), got %+v", d)
	}
}

func TestLocalEvictsLeastRecentlySeenWhenNoneFull(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 1, Burst: 2}, LocalConfig{MaxKeys: 3, Shards: 1, Now: clk.Now})
	exhaust(t, lim, "a")
	exhaust(t, lim, "b")
	exhaust(t, lim, "c")
	mustAllow(t, lim, "a") // refused, but seen: now "b" is least recent
	mustAllow(t, lim, "d") // table full, nothing refilled: evicts "b"
	if n := lim.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	if d := mustAllow(t, lim, "b"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("b should have been forgotten (fresh bucket), got %+v", d)
	}
	// "b" re-entered by evicting "c" (now least recent); "a" kept its state.
	if d := mustAllow(t, lim, "a"); d.Allowed {
		t.Fatalf("a lost its state: %+v", d)
	}
	if d := mustAllow(t, lim, "c"); !d.Allowed {
		t.Fatalf("c should have been forgotten, got %+v", d)
	}
}

// TestLocalMemoryBoundUnderFlood proves the table never grows past MaxKeys
// when a million distinct addresses each send a request.
func TestLocalMemoryBoundUnderFlood(t *testing.T) {
	const maxKeys = 10_000
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 10, Burst: 20}, LocalConfig{MaxKeys: maxKeys, Now: clk.Now})
	ctx := context.Background()
	for i := range 1_000_000 {
		if i%1000 == 0 {
			clk.Advance(time.Millisecond)
		}
		d, err := lim.Allow(ctx, addrKey(i))
		if err != nil || !d.Allowed {
			t.Fatalf("fresh key %d: %+v, %v", i, d, err)
		}
	}
	if n := lim.Len(); n != maxKeys {
		t.Fatalf("Len = %d after 1e6 keys, want exactly %d", n, maxKeys)
	}
	for i := range lim.shards {
		s := &lim.shards[i]
		if len(s.slots) > s.capacity || len(s.heap) != len(s.index) {
			t.Fatalf("shard %d: %d slots, %d heap, %d index, capacity %d", i, len(s.slots), len(s.heap), len(s.index), s.capacity)
		}
	}
}

// addrKey renders i as an IPv4 address string, like a flood of distinct
// client addresses.
func addrKey(i int) string {
	return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + "#" + strconv.Itoa(i>>24)
}

// TestLocalHeapAndListInvariants drives random-ish traffic through a small
// table and checks the internal structures after every request.
func TestLocalHeapAndListInvariants(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 5, Burst: 4}, LocalConfig{MaxKeys: 8, Shards: 1, Now: clk.Now})
	s := &lim.shards[0]
	x := uint32(1)
	for i := range 5000 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		clk.Advance(time.Duration(x%50) * time.Millisecond)
		mustAllow(t, lim, "k"+strconv.Itoa(int(x%20)))
		for h := 1; h < len(s.heap); h++ {
			if s.slots[s.heap[h]].tat < s.slots[s.heap[(h-1)/2]].tat {
				t.Fatalf("step %d: heap order broken at %d", i, h)
			}
		}
		for h, idx := range s.heap {
			if int(s.slots[idx].heapIdx) != h {
				t.Fatalf("step %d: heapIdx stale", i)
			}
		}
		n := 0
		for idx := s.head; idx != none; idx = s.slots[idx].next {
			if got, ok := s.index[s.slots[idx].key]; !ok || got != idx {
				t.Fatalf("step %d: list and index disagree", i)
			}
			n++
		}
		if n != len(s.index) {
			t.Fatalf("step %d: list has %d entries, index %d", i, n, len(s.index))
		}
	}
}

// TestLocalConcurrentBudget checks, under the race detector, that parallel
// callers sharing one key together get exactly the burst.
func TestLocalConcurrentBudget(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 1, Burst: 50}, LocalConfig{Now: clk.Now})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				d, _ := lim.Allow(context.Background(), "shared")
				if d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
				_, _ = lim.Allow(context.Background(), "other")
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("allowed %d across goroutines, want exactly the burst of 50", allowed)
	}
}

func BenchmarkLocalAllowSameKey(b *testing.B) {
	lim := newTestLocal(b, Limit{Rate: 1e9, Burst: 1000}, LocalConfig{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = lim.Allow(ctx, "198.51.100.1")
	}
}

// BenchmarkLocalAllowFlood measures the worst case: every request comes
// from a new address and the full table must evict.
func BenchmarkLocalAllowFlood(b *testing.B) {
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = addrKey(i)
	}
	lim := newTestLocal(b, Limit{Rate: 10, Burst: 20}, LocalConfig{MaxKeys: DefaultMaxKeys})
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = lim.Allow(ctx, keys[i&(len(keys)-1)])
		i++
	}
}

func BenchmarkLocalAllowParallel(b *testing.B) {
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = addrKey(i)
	}
	lim := newTestLocal(b, Limit{Rate: 10, Burst: 20}, LocalConfig{})
	ctx := context.Background()
	var worker atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(worker.Add(1)) * 12345 // workers start on different keys
		for pb.Next() {
			_, _ = lim.Allow(ctx, keys[i&(len(keys)-1)])
			i += 7919
		}
	})
}
