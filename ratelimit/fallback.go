package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for FallbackConfig.
const (
	// DefaultPrimaryTimeout bounds one call to the primary limiter.
	DefaultPrimaryTimeout = 50 * time.Millisecond
	// DefaultProbeInterval is how often a degraded Fallback retries the
	// primary limiter.
	DefaultProbeInterval = time.Second
)

// FallbackConfig tunes a Fallback. The zero value is usable.
type FallbackConfig struct {
	// Timeout bounds each call to the primary limiter
	// (DefaultPrimaryTimeout if zero). The primary must honour context
	// deadlines for this to work; see package redis.
	Timeout time.Duration
	// ProbeInterval is the least time between attempts to reach the
	// primary while degraded (DefaultProbeInterval if zero).
	ProbeInterval time.Duration
	// OnStateChange, if set, is called once per transition: with true when
	// the Fallback starts answering from the local limiter, with false when
	// the primary answers again. It is called synchronously, one transition
	// at a time, so it should only log or update a metric.
	OnStateChange func(degraded bool)
	// Now returns the current time (time.Now if nil).
	Now func() time.Time
}

// Fallback asks a primary limiter (typically the shared Redis one) and,
// when it errors or does not answer within the timeout, answers from a
// local limiter instead. While degraded it probes the primary at most once
// per ProbeInterval with a real request and switches back as soon as one
// succeeds.
//
// While degraded every server instance enforces the limit on its own, so a
// client may get up to one budget per instance; give the local limiter a
// stricter Limit if that matters.
type Fallback struct {
	primary, local Limiter
	timeout        time.Duration
	probeEvery     int64 // nanoseconds
	onStateChange  func(bool)
	now            func() time.Time
	epoch          time.Time // times are kept as nanoseconds since epoch

	degraded  atomic.Bool
	lastProbe atomic.Int64 // nanoseconds since epoch of the last probe or failure
	mu        sync.Mutex   // serialises transitions and their callbacks
}

var _ Limiter = (*Fallback)(nil)

// NewFallback returns a Fallback over primary and local.
func NewFallback(primary, local Limiter, cfg FallbackConfig) *Fallback {
	f := &Fallback{
		primary:       primary,
		local:         local,
		timeout:       cfg.Timeout,
		probeEvery:    int64(cfg.ProbeInterval),
		onStateChange: cfg.OnStateChange,
		now:           cfg.Now,
	}
	if f.timeout <= 0 {
		f.timeout = DefaultPrimaryTimeout
	}
	if f.probeEvery <= 0 {
		f.probeEvery = int64(DefaultProbeInterval)
	}
	if f.now == nil {
		f.now = time.Now
	}
	f.epoch = f.now()
	return f
}

// Degraded reports whether answers currently come from the local limiter;
// export it as a gauge.
func (f *Fallback) Degraded() bool { return f.degraded.Load() }

// Allow decides for key using the primary limiter when it is healthy and
// the local one otherwise. It returns an error only when the caller's own
// context ended while the primary was being asked.
func (f *Fallback) Allow(ctx context.Context, key string) (Decision, error) {
	if f.degraded.Load() && !f.claimProbe() {
		return f.local.Allow(ctx, key)
	}
	d, err := f.askPrimary(ctx, key)
	if err == nil {
		f.setDegraded(false)
		return d, nil
	}
	if ctx.Err() != nil {
		return Decision{}, fmt.Errorf("ratelimit: request ended while asking the shared limiter: %w", err)
	}
	f.setDegraded(true)
	return f.local.Allow(ctx, key)
}

func (f *Fallback) askPrimary(ctx context.Context, key string) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return f.primary.Allow(ctx, key)
}

// claimProbe reports whether this caller may probe the primary now; at most
// one caller wins per probe interval.
func (f *Fallback) claimProbe() bool {
	now := f.elapsed()
	last := f.lastProbe.Load()
	if now-last < f.probeEvery {
		return false
	}
	return f.lastProbe.CompareAndSwap(last, now)
}

// elapsed returns the monotonic time since f was created, in nanoseconds.
func (f *Fallback) elapsed() int64 { return int64(f.now().Sub(f.epoch)) }

func (f *Fallback) setDegraded(v bool) {
	if f.degraded.Load() == v {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.degraded.Load() == v {
		return
	}
	if v {
		f.lastProbe.Store(f.elapsed())
	}
	f.degraded.Store(v)
	if f.onStateChange != nil {
		f.onStateChange(v)
	}
}
