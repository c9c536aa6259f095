package alerting

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/fakeclock"
)

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
}

// recSink records notifications.
type recSink struct {
	mu  sync.Mutex
	got []custodian.Alert
	ch  chan custodian.Alert
}

func (s *recSink) Notify(_ context.Context, a custodian.Alert) error {
	s.mu.Lock()
	s.got = append(s.got, a)
	s.mu.Unlock()
	if s.ch != nil {
		s.ch <- a
	}
	return nil
}

func (s *recSink) alerts() []custodian.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]custodian.Alert(nil), s.got...)
}

// distinctIDs returns the alert IDs in order of first appearance.
func distinctIDs(as []custodian.Alert) []string {
	seen := map[string]bool{}
	var ids []string
	for _, a := range as {
		if !seen[a.ID] {
			seen[a.ID] = true
			ids = append(ids, a.ID)
		}
	}
	return ids
}

func newTestCorrelator(t testing.TB, cfg Config) (*Correlator, *recSink, *fakeclock.Clock) {
	t.Helper()
	clk := newClock()
	cfg.Now = clk.Now
	sink := &recSink{}
	c, err := New(sink, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, sink, clk
}

var (
	attacker = netip.MustParseAddr("203.0.113.9")
	bystand  = netip.MustParseAddr("198.51.100.20")
)

func TestThresholds(t *testing.T) {
	tests := []struct {
		name    string
		signal  custodian.Signal
		n       int
		step    time.Duration
		wantKey string
		rule    string
		alert   bool
	}{
		{"brute force by addr, 4 is fine", custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker}, 4, time.Minute, "", "", false},
		{"brute force by addr, 5 alerts", custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker}, 5, time.Minute, "addr:203.0.113.9", "brute_force", true},
		{"brute force by account, 5 alerts", custodian.Signal{Kind: custodian.SignalFailedSignIn, Account: "acct-17"}, 5, time.Minute, "account:acct-17", "brute_force", true},
		{"brute force spread over 16 minutes is fine", custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker}, 5, 4*time.Minute + time.Second, "", "", false},
		{"scanning, 9 is fine", custodian.Signal{Kind: custodian.SignalSuspicious, Addr: attacker}, 9, 10 * time.Second, "", "", false},
		{"scanning, 10 alerts", custodian.Signal{Kind: custodian.SignalSuspicious, Addr: attacker}, 10, 10 * time.Second, "addr:203.0.113.9", "scanning", true},
		{"abuse, 2 is fine", custodian.Signal{Kind: custodian.SignalRateLimited, Addr: attacker}, 2, time.Second, "", "", false},
		{"abuse, 3 alerts", custodian.Signal{Kind: custodian.SignalRateLimited, Addr: attacker}, 3, time.Second, "addr:203.0.113.9", "abuse", true},
		{"abuse outside 5 minutes is fine", custodian.Signal{Kind: custodian.SignalRateLimited, Addr: attacker}, 3, 2*time.Minute + 31*time.Second, "", "", false},
		{"ipv6 counted per /64", custodian.Signal{Kind: custodian.SignalRateLimited, Addr: netip.MustParseAddr("2001:db8:1:2::1")}, 3, time.Second, "addr:2001:db8:1:2::", "abuse", true},
		{"a locked account alerts at once", custodian.Signal{Kind: custodian.SignalAccountLocked, Addr: attacker, Account: "acct-17"}, 1, time.Second, "account:acct-17", "account_locked", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sink, clk := newTestCorrelator(t, Config{})
			for i := range tt.n {
				s := tt.signal
				if s.Addr.Is6() && !s.Addr.Is4In6() {
					// Rotate the interface id inside the /64.
					b := s.Addr.As16()
					b[15] = byte(i + 1)
					s.Addr = netip.AddrFrom16(b)
				}
				if i > 0 {
					clk.Advance(tt.step)
				}
				c.Observe(s)
			}
			c.Flush(context.Background())
			got := sink.alerts()
			if !tt.alert {
				if len(got) != 0 {
					t.Fatalf("unexpected alert %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d notifications, want 1: %+v", len(got), got)
			}
			a := got[0]
			if a.Rule != tt.rule || a.Key != tt.wantKey || a.Count != tt.n || a.Status != custodian.AlertOpen || a.ID == "" {
				t.Fatalf("alert %+v", a)
			}
			if !a.LastSeen.Equal(clk.Now()) || a.LastSeen.Sub(a.FirstSeen) != time.Duration(tt.n-1)*tt.step {
				t.Fatalf("alert times %v..%v", a.FirstSeen, a.LastSeen)
			}
		})
	}
}

func TestSlidingWindowNotBuckets(t *testing.T) {
	// Three failures just before a quarter-hour boundary and two just after:
	// fixed 15-minute buckets would see 3 and 2, a sliding window sees 5.
	c, sink, clk := newTestCorrelator(t, Config{})
	clk.Advance(14 * time.Minute) // the clock starts at 09:00; now 09:14
	for _, d := range []time.Duration{0, 20 * time.Second, 20 * time.Second, 40 * time.Second, 10 * time.Second} {
		clk.Advance(d)
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker})
	}
	c.Flush(context.Background())
	if len(sink.alerts()) != 1 {
		t.Fatalf("sliding window missed an attack across a bucket boundary: %+v", sink.alerts())
	}
}

func TestOneAttackOneAlert(t *testing.T) {
	c, sink, clk := newTestCorrelator(t, Config{})
	ctx := context.Background()
	for i := range 1000 {
		clk.Advance(100 * time.Millisecond)
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker})
		if i%100 == 0 {
			c.Flush(ctx) // deliveries interleave with the attack
		}
	}
	c.Flush(ctx)
	got := sink.alerts()
	if ids := distinctIDs(got); len(ids) != 1 {
		t.Fatalf("one attack raised %d alerts", len(ids))
	}
	if len(got) > 11 {
		t.Fatalf("updates were not coalesced: %d notifications", len(got))
	}
	last := got[len(got)-1]
	if last.Count != 1000 || !last.LastSeen.Equal(clk.Now()) || last.Status != custodian.AlertOpen {
		t.Fatalf("final state %+v", last)
	}
	if st := c.Stats(); st.Raised != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewAlertOnlyAfterQuietWindow(t *testing.T) {
	c, sink, clk := newTestCorrelator(t, Config{})
	ctx := context.Background()
	attack := func(n int) {
		for range n {
			clk.Advance(time.Second)
			c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: attacker})
		}
	}
	attack(5)
	clk.Advance(4 * time.Minute) // quiet, but less than the 5 minute window
	attack(3)
	c.Flush(ctx)
	if ids := distinctIDs(sink.alerts()); len(ids) != 1 {
		t.Fatalf("a pause shorter than the window split the attack into %d alerts", len(ids))
	}

	clk.Advance(6 * time.Minute) // quiet for more than the window
	c.Sweep()
	c.Flush(ctx)
	got := sink.alerts()
	if last := got[len(got)-1]; last.Status != custodian.AlertClosed || last.Count != 8 {
		t.Fatalf("quiet alert not closed: %+v", last)
	}
	attack(3)
	c.Flush(ctx)
	got = sink.alerts()
	ids := distinctIDs(got)
	if len(ids) != 2 || got[len(got)-1].ID != ids[1] || got[len(got)-1].Count != 3 {
		t.Fatalf("renewed attack: ids %v last %+v", ids, got[len(got)-1])
	}
	if st := c.Stats(); st.Raised != 2 {
		t.Fatalf("raised %d", st.Raised)
	}
}

func TestClosedWithoutSweepOnNextSignal(t *testing.T) {
	c, sink, clk := newTestCorrelator(t, Config{})
	for range 3 {
		c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: attacker})
	}
	clk.Advance(10 * time.Minute)
	c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: attacker})
	c.Flush(context.Background())
	got := sink.alerts()
	if len(got) != 1 || got[0].Status != custodian.AlertClosed || got[0].Count != 3 {
		t.Fatalf("got %+v", got)
	}
}

func TestBlocked(t *testing.T) {
	rules := DefaultRules()
	rules[0].Block = 10 * time.Minute // brute force by address
	c, _, clk := newTestCorrelator(t, Config{Rules: rules})
	v6 := netip.MustParseAddr("2001:db8:aa:bb::5")
	for range 5 {
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker})
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: v6})
	}
	tests := []struct {
		addr netip.Addr
		want bool
	}{
		{attacker, true},
		{netip.MustParseAddr("::ffff:203.0.113.9"), true},
		{netip.MustParseAddr("2001:db8:aa:bb::77"), true},
		{netip.MustParseAddr("2001:db8:aa:bc::5"), false},
		{bystand, false},
		{netip.Addr{}, false},
	}
	for _, tt := range tests {
		if got := c.Blocked(tt.addr); got != tt.want {
			t.Errorf("Blocked(%v) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	// Blocking by account rules never applies to addresses; expiry ends it.
	clk.Advance(10*time.Minute + time.Second)
	if c.Blocked(attacker) {
		t.Fatal("block did not expire")
	}
	c.Sweep()
	c.blockMu.RLock()
	n := len(c.blocks)
	c.blockMu.RUnlock()
	if n != 0 {
		t.Fatalf("expired blocks kept: %d", n)
	}
}

func TestNoBlockingByDefault(t *testing.T) {
	c, _, _ := newTestCorrelator(t, Config{})
	for range 20 {
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker})
	}
	if c.Blocked(attacker) {
		t.Fatal("default rules must not block")
	}
}

func TestBoundedMemoryUnderFlood(t *testing.T) {
	const maxKeys = 10000
	c, sink, clk := newTestCorrelator(t, Config{MaxKeys: maxKeys})
	const flood = 1_000_000
	// The attacker's five failures: two close together, the rest spread so
	// far apart that hundreds of thousands of one-off addresses arrive in
	// between, far more than the cap.
	attackAt := map[int]bool{1000: true, 1500: true, 300_000: true, 600_000: true, 900_000: true}
	for i := range flood {
		clk.Advance(500 * time.Microsecond) // 1M signals over 500 s
		if attackAt[i] {
			c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker})
		}
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: a})
		if i%100_000 == 0 {
			if n := c.Tracked("brute_force"); n > maxKeys {
				t.Fatalf("tracking %d keys after %d signals, cap %d", n, i, maxKeys)
			}
		}
	}
	if n := c.Tracked("brute_force"); n != maxKeys {
		t.Fatalf("tracking %d keys, want exactly the cap %d", n, maxKeys)
	}
	c.Flush(context.Background())
	got := sink.alerts()
	if len(got) != 1 || got[0].Key != "addr:203.0.113.9" || got[0].Count != 5 {
		t.Fatalf("attacker among the flood: %+v", got)
	}
}

func TestAttackerSlowerThanProbationIsForgotten(t *testing.T) {
	// Contrast for the test above: an attacker whose first two attempts are
	// further apart than the probation segment is forgotten, documenting
	// the limit of the protection.
	c, sink, _ := newTestCorrelator(t, Config{MaxKeys: 100})
	for i := range 5 {
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker})
		for j := range 200 {
			c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: netip.AddrFrom4([4]byte{10, 0, byte(i), byte(j)})})
		}
	}
	c.Flush(context.Background())
	if len(sink.alerts()) != 0 {
		t.Fatalf("expected the evicted attacker to go unnoticed, got %+v", sink.alerts())
	}
}

func TestQueueBoundedAndDropsOldest(t *testing.T) {
	c, sink, _ := newTestCorrelator(t, Config{QueueSize: 4})
	for i := range 10 {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		for range 3 {
			c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: a})
		}
	}
	st := c.Stats()
	if st.Pending != 4 || st.Dropped != 6 || st.Raised != 10 {
		t.Fatalf("stats %+v", st)
	}
	c.Flush(context.Background())
	got := sink.alerts()
	if len(got) != 4 || got[0].Key != "addr:192.0.2.6" || got[3].Key != "addr:192.0.2.9" {
		t.Fatalf("want the newest 4 alerts, got %+v", got)
	}
	// A dropped alert is queued again on its next update.
	c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: netip.AddrFrom4([4]byte{192, 0, 2, 0})})
	c.Flush(context.Background())
	got = sink.alerts()
	if last := got[len(got)-1]; last.Key != "addr:192.0.2.0" || last.Count != 4 {
		t.Fatalf("dropped alert not requeued on update: %+v", last)
	}
}

type blockingSink struct{ release chan struct{} }

func (b blockingSink) Notify(ctx context.Context, _ custodian.Alert) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

func TestObserveNeverBlocksOnSlowSink(t *testing.T) {
	sink := blockingSink{release: make(chan struct{})}
	clk := newClock()
	c, err := New(sink, Config{Now: clk.Now, QueueSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for i := range 50_000 {
		c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})})
		c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})})
		c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})})
	}
	if st := c.Stats(); st.Pending > 8 {
		t.Fatalf("queue exceeded its cap: %+v", st)
	}
	close(sink.release)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

func TestRunDelivers(t *testing.T) {
	clk := newClock()
	sink := &recSink{ch: make(chan custodian.Alert, 16)}
	c, err := New(sink, Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	for range 10 {
		c.Observe(custodian.Signal{Kind: custodian.SignalSuspicious, Addr: attacker, Detail: "probe /wp-admin"})
	}
	select {
	case a := <-sink.ch:
		if a.Rule != "scanning" {
			t.Fatalf("got %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alert not delivered by Run")
	}
}

func TestConcurrentObserve(t *testing.T) {
	c, sink, _ := newTestCorrelator(t, Config{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker, Account: "acct-1"})
				c.Blocked(attacker)
				c.Observe(custodian.Signal{Kind: custodian.SignalSuspicious, Addr: netip.AddrFrom4([4]byte{10, 9, byte(g), byte(i)})})
			}
		}()
	}
	wg.Wait()
	c.Flush(context.Background())
	ids := distinctIDs(sink.alerts())
	if len(ids) != 2 { // one per brute force key: the address and the account
		t.Fatalf("got %d alerts", len(ids))
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{Rules: []Rule{{Kind: custodian.SignalFailedSignIn, By: ByAddr, Threshold: 1, Window: time.Minute}}},
		{Rules: []Rule{{Name: "x", Kind: 99, By: ByAddr, Threshold: 1, Window: time.Minute}}},
		{Rules: []Rule{{Name: "x", Kind: custodian.SignalFailedSignIn, Threshold: 1, Window: time.Minute}}},
		{Rules: []Rule{{Name: "x", Kind: custodian.SignalFailedSignIn, By: ByAddr, Threshold: 0, Window: time.Minute}}},
		{IPv6Prefix: 129},
	}
	for i, cfg := range bad {
		if _, err := New(&recSink{}, cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("nil sink accepted")
	}
}

func BenchmarkObserve(b *testing.B) {
	b.Run("same-addr", func(b *testing.B) {
		c, _, _ := newTestCorrelator(b, Config{})
		b.ReportAllocs()
		for b.Loop() {
			c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker, Account: "acct-1"})
		}
	})
	b.Run("distinct-addrs-at-cap", func(b *testing.B) {
		c, _, _ := newTestCorrelator(b, Config{})
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			c.Observe(custodian.Signal{Kind: custodian.SignalSuspicious, Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})})
		}
	})
	b.Run("parallel", func(b *testing.B) {
		c, _, _ := newTestCorrelator(b, Config{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})})
			}
		})
	})
}

func TestOnRaiseAndSinkFunc(t *testing.T) {
	var delivered []custodian.Alert
	sink := SinkFunc(func(_ context.Context, a custodian.Alert) error {
		delivered = append(delivered, a)
		return nil
	})
	var raised []string
	clk := newClock()
	var c *Correlator
	c, err := New(sink, Config{Now: clk.Now, OnRaise: func(a custodian.Alert) {
		raised = append(raised, a.Rule+" "+a.Key)
		c.Tracked(a.Rule) // re-entering must not deadlock
	}})
	if err != nil {
		t.Fatal(err)
	}
	for range 12 {
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: attacker, Account: "acct-3"})
	}
	want := []string{"brute_force addr:203.0.113.9", "brute_force account:acct-3"}
	if len(raised) != 2 || raised[0] != want[0] || raised[1] != want[1] {
		t.Fatalf("OnRaise got %v, want %v", raised, want)
	}
	c.Flush(context.Background())
	if len(delivered) != 2 || delivered[0].Count != 12 {
		t.Fatalf("delivered %+v", delivered)
	}
}

func TestLongAccountTruncated(t *testing.T) {
	c, sink, _ := newTestCorrelator(t, Config{})
	long := strings.Repeat("a", 10_000)
	for i := range 5 {
		c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Account: long + strconv.Itoa(i)})
	}
	c.Flush(context.Background())
	got := sink.alerts()
	if len(got) != 1 || len(got[0].Key) != len("account:")+maxAccountLen {
		t.Fatalf("got %d alerts, key length %d", len(got), len(got[0].Key))
	}
}
