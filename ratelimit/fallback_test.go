package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

type transitions struct {
	mu  sync.Mutex
	got []bool
}

func (t *transitions) record(v bool) {
	t.mu.Lock()
	t.got = append(t.got, v)
	t.mu.Unlock()
}

func (t *transitions) list() []bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]bool(nil), t.got...)
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFallbackDegradesProbesAndRecovers(t *testing.T) {
	clk := newFakeClock()
	primary := &switchable{mode: "ok"}
	local := newTestLocal(t, Limit{Rate: 1, Burst: 2}, LocalConfig{Now: clk.Now})
	var tr transitions
	f := NewFallback(primary, local, FallbackConfig{OnStateChange: tr.record, Now: clk.Now})
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
	if got := tr.list(); !equalBools(got, []bool{true, false}) {
		t.Fatalf("transitions %v, want [true false] (once per change)", got)
	}
}

func TestFallbackTimeout(t *testing.T) {
	clk := newFakeClock()
	primary := &switchable{mode: "hang"}
	local := newTestLocal(t, Limit{Rate: 1, Burst: 1}, LocalConfig{Now: clk.Now})
	f := NewFallback(primary, local, FallbackConfig{Timeout: time.Millisecond, Now: clk.Now})
	d, err := f.Allow(context.Background(), "k")
	if err != nil || !d.Allowed || !f.Degraded() {
		t.Fatalf("hanging primary: %+v, %v, degraded=%v", d, err, f.Degraded())
	}
}

func TestFallbackCallerCancelled(t *testing.T) {
	clk := newFakeClock()
	primary := &switchable{mode: "hang"}
	local := newTestLocal(t, Limit{Rate: 1, Burst: 1}, LocalConfig{Now: clk.Now})
	f := NewFallback(primary, local, FallbackConfig{Timeout: time.Hour, Now: clk.Now})
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
	clk := newFakeClock()
	primary := &switchable{mode: "fail"}
	local := newTestLocal(t, Limit{Rate: 1000, Burst: 1000}, LocalConfig{Now: clk.Now})
	var tr transitions
	f := NewFallback(primary, local, FallbackConfig{OnStateChange: tr.record, Now: clk.Now})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				_, _ = f.Allow(context.Background(), "k")
			}
		})
	}
	wg.Wait()
	if got := tr.list(); !equalBools(got, []bool{true}) {
		t.Fatalf("transitions %v, want a single [true]", got)
	}
}
