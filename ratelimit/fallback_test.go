package ratelimit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian/internal/fakeclock"
	"github.com/custodian-crm/custodian/internal/syncbuf"
)

// switchable is a primary limiter that can be made to fail or hang, so the
// Fallback's state machine can be driven step by step. The Redis-backed
// Fallback is tested against a real server in package redis.
type switchable struct {
	mu    sync.Mutex
	mode  string // "ok", "fail" or "hang"
	calls atomic.Int32
}

var errDown = errors.New("primary down")

func (s *switchable) set(mode string) {
	s.mu.Lock()
	s.mode = mode
	s.mu.Unlock()
}

func (s *switchable) Allow(ctx context.Context, _ string) (Decision, error) {
	s.calls.Add(1)
	s.mu.Lock()
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case "fail":
		return Decision{}, errDown
	case "hang":
		<-ctx.Done()
		return Decision{}, ctx.Err()
	}
	return Decision{Allowed: true, Remaining: 99}, nil
}

// newTestFallback returns a fallback from a switchable primary in mode to
// a local limiter with limit, both reading the time from a new fake
// clock; cfg gives the rest of the fallback's configuration.
func newTestFallback(t *testing.T, mode string, limit Limit, cfg FallbackConfig) (*Fallback, *switchable, *fakeclock.Clock) {
	t.Helper()
	clk := newFakeClock()
	primary := &switchable{mode: mode}
	cfg.Now = clk.Now
	return NewFallback(primary, newTestLocal(t, limit, LocalConfig{Now: clk.Now}), cfg), primary, clk
}

func TestFallbackDegradesProbesAndRecovers(t *testing.T) {
	var tr syncbuf.List[bool]
	f, primary, clk := newTestFallback(t, "ok", Limit{Rate: 1, Burst: 2}, FallbackConfig{OnStateChange: tr.Add})
	ctx := context.Background()

	if d := mustAllow(t, f, "k"); d.Remaining != 99 || f.Degraded() {
		t.Fatalf("healthy primary not used: %+v degraded=%v", d, f.Degraded())
	}

	primary.set("fail")
	// The failing call itself is answered locally, and so is the rest of
	// the burst: the local limiter keeps enforcing the limit.
	for i, want := range []bool{true, true, false} {
		d, err := f.Allow(ctx, "k")
		if err != nil || d.Allowed != want {
			t.Fatalf("degraded request %d: %+v, %v; want allowed=%v", i, d, err, want)
		}
	}
	if !f.Degraded() {
		t.Fatal("not degraded after primary failure")
	}
	if n := primary.calls.Load(); n != 2 {
		t.Fatalf("primary called %d times, want 2 (no probe before the interval)", n)
	}

	// After the probe interval exactly one request probes; it still fails.
	clk.Advance(time.Second)
	for range 5 {
		mustAllow(t, f, "k")
	}
	if n := primary.calls.Load(); n != 3 {
		t.Fatalf("primary called %d times, want 3 (one probe per second)", n)
	}

	primary.set("ok")
	if d := mustAllow(t, f, "k"); d.Remaining == 99 {
		t.Fatal("primary used before the next probe was due")
	}
	clk.Advance(time.Second)
	if d := mustAllow(t, f, "k"); d.Remaining != 99 || f.Degraded() {
		t.Fatalf("did not recover: %+v degraded=%v", d, f.Degraded())
	}
	if got := tr.All(); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("transitions %v, want [true false] (once per change)", got)
	}
}

func TestFallbackTimeout(t *testing.T) {
	f, _, _ := newTestFallback(t, "hang", Limit{Rate: 1, Burst: 1}, FallbackConfig{Timeout: time.Millisecond})
	d, err := f.Allow(context.Background(), "k")
	if err != nil || !d.Allowed || !f.Degraded() {
		t.Fatalf("hanging primary: %+v, %v, degraded=%v", d, err, f.Degraded())
	}
}

func TestFallbackCallerCancelled(t *testing.T) {
	f, _, _ := newTestFallback(t, "hang", Limit{Rate: 1, Burst: 1}, FallbackConfig{Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.Allow(ctx, "k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if f.Degraded() {
		t.Fatal("a caller's cancellation must not mark the primary as down")
	}
}

func TestFallbackConcurrentTransitionsReportedOnce(t *testing.T) {
	var tr syncbuf.List[bool]
	f, _, _ := newTestFallback(t, "fail", Limit{Rate: 1000, Burst: 1000}, FallbackConfig{OnStateChange: tr.Add})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				_, _ = f.Allow(context.Background(), "k")
			}
		})
	}
	wg.Wait()
	if got := tr.All(); !slices.Equal(got, []bool{true}) {
		t.Fatalf("transitions %v, want a single [true]", got)
	}
}
