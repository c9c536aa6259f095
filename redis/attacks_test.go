package redis

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/alerting"
)

// alertLog is an AlertSink that keeps what one instance delivered.
type alertLog struct {
	mu     sync.Mutex
	alerts []custodian.Alert
}

func (l *alertLog) Notify(_ context.Context, a custodian.Alert) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alerts = append(l.alerts, a)
	return nil
}

func (l *alertLog) snapshot() []custodian.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]custodian.Alert(nil), l.alerts...)
}

// instance is one server's attack detector counting through Redis.
type instance struct {
	c   *alerting.Correlator
	log *alertLog
}

func startInstances(t *testing.T, n int, rules []alerting.Rule) []instance {
	t.Helper()
	client := requireRedis(t)
	attacks, err := NewAttacks(client, testPrefix(t, client))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var out []instance
	for range n {
		log := &alertLog{}
		c, err := alerting.New(log, alerting.Config{Rules: rules, Shared: attacks, SweepEvery: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Run(ctx) }()
		out = append(out, instance{c: c, log: log})
	}
	return out
}

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAttackSpreadOverInstancesIsOneAlert is the attack behind a load
// balancer: twelve probes alternating between two instances reach a
// threshold of ten, which neither instance reaches alone. One alert is
// raised, by one instance, and only that instance delivers it (so it is
// stored, mailed and posted once); its count is what both saw.
func TestAttackSpreadOverInstancesIsOneAlert(t *testing.T) {
	rules := []alerting.Rule{{Name: "scanning", Kind: custodian.SignalSuspicious, By: alerting.ByAddr, Threshold: 10, Window: time.Minute}}
	in := startInstances(t, 2, rules)
	addr := netip.MustParseAddr("203.0.113.7")
	now := time.Now()
	for i := range 12 {
		in[i%2].c.Observe(custodian.Signal{Kind: custodian.SignalSuspicious, Addr: addr, Time: now.Add(time.Duration(i) * time.Millisecond)})
		time.Sleep(5 * time.Millisecond) // each instance takes its turn, as behind a round-robin balancer
	}
	eventually(t, "an alert with all twelve probes", func() bool {
		for _, i := range in {
			for _, a := range i.log.snapshot() {
				if a.Count == 12 {
					return true
				}
			}
		}
		return false
	})
	var ids = map[string]int{}
	delivering := 0
	for _, i := range in {
		got := i.log.snapshot()
		if len(got) > 0 {
			delivering++
		}
		for _, a := range got {
			ids[a.ID]++
			if a.Rule != "scanning" || a.Key != "addr:203.0.113.7" {
				t.Errorf("alert %+v", a)
			}
		}
	}
	if len(ids) != 1 || delivering != 1 {
		t.Fatalf("%d alerts delivered by %d instances; want one alert, delivered by one", len(ids), delivering)
	}
	if r := in[0].c.Stats().Raised + in[1].c.Stats().Raised; r != 1 {
		t.Fatalf("raised %d times across instances; want 1", r)
	}
}

// TestSharedAlertClosesOnceQuiet: the raising instance closes the alert
// when no instance has seen a signal for the window.
func TestSharedAlertClosesOnceQuiet(t *testing.T) {
	rules := []alerting.Rule{{Name: "abuse", Kind: custodian.SignalRateLimited, By: alerting.ByAddr, Threshold: 3, Window: 300 * time.Millisecond}}
	in := startInstances(t, 2, rules)
	addr := netip.MustParseAddr("198.51.100.9")
	for i := range 3 {
		in[i%2].c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: addr, Time: time.Now()})
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, "the alert closed", func() bool {
		for _, i := range in {
			for _, a := range i.log.snapshot() {
				if a.Status == custodian.AlertClosed {
					return true
				}
			}
		}
		return false
	})
}

// TestBlockReachesEveryInstance: an address blocked after an attack seen
// by one instance is refused by the others, which saw nothing from it.
func TestBlockReachesEveryInstance(t *testing.T) {
	rules := []alerting.Rule{{Name: "brute_force", Kind: custodian.SignalFailedSignIn, By: alerting.ByAddr, Threshold: 2, Window: time.Minute, Block: time.Minute}}
	in := startInstances(t, 2, rules)
	addr := netip.MustParseAddr("192.0.2.44")
	time.Sleep(100 * time.Millisecond) // both subscribed
	for range 2 {
		in[0].c.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: addr, Time: time.Now()})
	}
	eventually(t, "the block on the other instance", func() bool { return in[1].c.Blocked(addr) })
	if in[1].c.Blocked(netip.MustParseAddr("192.0.2.45")) {
		t.Fatal("another address is blocked too")
	}
}

// TestAttacksFallBackToLocalCounting: while Redis cannot be reached the
// instance still detects attacks it sees itself.
func TestAttacksFallBackToLocalCounting(t *testing.T) {
	client := newClient(t, "127.0.0.1:1") // nothing listens there
	attacks, err := NewAttacks(client, "down:")
	if err != nil {
		t.Fatal(err)
	}
	log := &alertLog{}
	degraded := make(chan bool, 4)
	c, err := alerting.New(log, alerting.Config{
		Rules:  []alerting.Rule{{Name: "abuse", Kind: custodian.SignalRateLimited, By: alerting.ByAddr, Threshold: 3, Window: time.Minute}},
		Shared: attacks, SharedTimeout: 200 * time.Millisecond,
		OnShared: func(d bool) { degraded <- d },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for range 3 {
		c.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: netip.MustParseAddr("192.0.2.1"), Time: time.Now()})
	}
	eventually(t, "a locally counted alert", func() bool { return len(log.snapshot()) > 0 })
	select {
	case d := <-degraded:
		if !d {
			t.Fatal("OnShared was told counting is shared again, with Redis down")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnShared was not told that counting fell back")
	}
}
