package alerting

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/custodian-crm/custodian"
)

// RetryPolicy controls redelivery of a notification that failed.
type RetryPolicy struct {
	// MaxAttempts is the number of tries per notification, first included
	// (default 5).
	MaxAttempts int
	// BaseDelay is the wait before the second try; it doubles for every
	// further try (default 1s).
	BaseDelay time.Duration
	// MaxDelay caps the wait between tries (default 1m).
	MaxDelay time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = time.Minute
	}
	return p
}

// delay returns the wait after the given failed attempt (1-based):
// exponential with "equal jitter", uniformly in [d/2, d] where
// d = min(BaseDelay * 2^(attempt-1), MaxDelay), so retries of many
// notifiers do not synchronise.
func (p RetryPolicy) delay(attempt int) time.Duration {
	d := p.MaxDelay
	if attempt-1 < 32 {
		if e := p.BaseDelay << (attempt - 1); e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1) // #nosec G404 -- retry jitter only spreads load; it needs no unpredictability
}

// DeliveryStats are a notifier's counters.
type DeliveryStats struct {
	// Delivered counts notifications accepted by the far end.
	Delivered uint64
	// Failed counts notifications given up after all attempts or a
	// permanent error.
	Failed uint64
	// Dropped counts notifications discarded unsent because the queue was
	// full.
	Dropped uint64
	// Pending is the number of notifications waiting in the queue.
	Pending int
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

// Error returns the wrapped error's text.
func (e permanentError) Error() string { return e.err.Error() }

// Unwrap exposes the wrapped error to errors.Is and errors.As.
func (e permanentError) Unwrap() error { return e.err }

// deliverer is the bounded queue and retry loop shared by the notifiers.
type deliverer struct {
	queue  *ring[custodian.Alert]
	send   func(ctx context.Context, a custodian.Alert) error
	policy RetryPolicy
	// wait pauses between attempts; replaced in tests.
	wait func(ctx context.Context, d time.Duration) error

	delivered atomic.Uint64
	failed    atomic.Uint64
	lastErr   atomic.Pointer[error]
}

func newDeliverer(queueSize int, p RetryPolicy, send func(context.Context, custodian.Alert) error) *deliverer {
	if queueSize <= 0 {
		queueSize = 100
	}
	return &deliverer{queue: newRing[custodian.Alert](queueSize), send: send, policy: p.withDefaults(), wait: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// notify queues a, dropping the oldest pending notification when full.
func (d *deliverer) notify(a custodian.Alert) { d.queue.push(a) }

// run delivers queued notifications until ctx is done.
func (d *deliverer) run(ctx context.Context) error {
	for {
		for {
			a, ok := d.queue.pop()
			if !ok {
				break
			}
			d.deliver(ctx, a)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.queue.wake:
		}
	}
}

func (d *deliverer) deliver(ctx context.Context, a custodian.Alert) {
	for attempt := 1; ; attempt++ {
		err := d.send(ctx, a)
		if err == nil {
			d.delivered.Add(1)
			return
		}
		d.lastErr.Store(&err)
		var perm permanentError
		if errors.As(err, &perm) || attempt >= d.policy.MaxAttempts || ctx.Err() != nil {
			d.failed.Add(1)
			return
		}
		if d.wait(ctx, d.policy.delay(attempt)) != nil {
			d.failed.Add(1)
			return
		}
	}
}

func (d *deliverer) stats() DeliveryStats {
	return DeliveryStats{
		Delivered: d.delivered.Load(),
		Failed:    d.failed.Load(),
		Dropped:   d.queue.droppedCount(),
		Pending:   d.queue.len(),
	}
}

// lastError returns the most recent delivery error, or nil.
func (d *deliverer) lastError() error {
	if p := d.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}
