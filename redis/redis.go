// Package redis provides a rate limiter shared by all server instances,
// backed by Redis and the GCRA implementation of
// github.com/go-redis/redis_rate, so that several instances behind a load
// balancer enforce one common budget per client.
//
// It is the only package of the module that depends on go-redis. Wrap the
// Limiter in ratelimit.Fallback so that the server keeps limiting, per
// instance, while Redis is unreachable.
//
// Keys (typically client addresses) are stored in Redis only until their
// bucket has refilled: the GCRA script sets an expiry on every key it
// writes.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custodian-crm/custodian/ratelimit"
	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
)

// Client is the part of a go-redis client the limiter uses: script
// evaluation and key deletion. *goredis.Client, *goredis.ClusterClient and
// goredis.UniversalClient all satisfy it.
//
// For the Fallback's short per-call timeout to take effect, create the
// client with Options.ContextTimeoutEnabled set to true, or with read and
// write timeouts no longer than that timeout.
type Client interface {
	goredis.Scripter
	Del(ctx context.Context, keys ...string) *goredis.IntCmd
}

// ErrInvalidPrefix is returned (wrapped) by NewLimiter for an unusable key
// prefix.
var ErrInvalidPrefix = errors.New("redis: invalid key prefix")

// Limiter is a ratelimit.Limiter whose state lives in Redis. It is safe for
// concurrent use.
type Limiter struct {
	rl     *redis_rate.Limiter
	limit  redis_rate.Limit
	prefix string
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// NewLimiter returns a Limiter enforcing limit through client. Every Redis
// key it writes starts with "rate:" followed by prefix, so different limits
// (for example "api:" and "signin:") and different deployments sharing a
// Redis never mix budgets. prefix must be non-empty and should end with a
// separator such as ':'.
func NewLimiter(client Client, limit ratelimit.Limit, prefix string) (*Limiter, error) {
	if err := limit.Validate(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	if prefix == "" || strings.ContainsAny(prefix, " \t\r\n") {
		return nil, fmt.Errorf("%w: must be non-empty without whitespace", ErrInvalidPrefix)
	}
	if client == nil {
		return nil, errors.New("redis: nil client")
	}
	return &Limiter{
		rl: redis_rate.NewLimiter(client),
		// redis_rate counts Rate events per Period; one event per emission
		// interval expresses any fractional per-second rate exactly.
		limit:  redis_rate.Limit{Rate: 1, Burst: limit.Burst, Period: limit.Interval()},
		prefix: prefix,
	}, nil
}

// Allow applies GCRA to key atomically in Redis. The error, if any, wraps
// the go-redis or context error and never contains the key.
func (l *Limiter) Allow(ctx context.Context, key string) (ratelimit.Decision, error) {
	res, err := l.rl.Allow(ctx, l.prefix+key, l.limit)
	if err != nil {
		return ratelimit.Decision{}, fmt.Errorf("redis: rate limit check: %w", err)
	}
	d := ratelimit.Decision{Allowed: res.Allowed > 0, Remaining: res.Remaining}
	if !d.Allowed {
		d.RetryAfter = max(res.RetryAfter, time.Nanosecond)
	}
	return d, nil
}

// Reset forgets key's state, giving it a full burst again (for example
// after an operator unblocks a client).
func (l *Limiter) Reset(ctx context.Context, key string) error {
	if err := l.rl.Reset(ctx, l.prefix+key); err != nil {
		return fmt.Errorf("redis: rate limit reset: %w", err)
	}
	return nil
}
