package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/metrics"
	"github.com/custodian-crm/custodian/ratelimit"
	"github.com/custodian-crm/custodian/redis"
	goredis "github.com/redis/go-redis/v9"
)

// limiters are the API, sign-in and page rate limiters, shared through
// Redis when --redis-url is set.
type limiters struct {
	api, signIn, pages ratelimit.Limiter
	client             *goredis.Client
	// attacks, set with Redis, is where every instance counts security
	// signals, so that an attack spread over instances is one attack;
	// each call to it waits at most timeout, as rate limits do.
	attacks custodian.AttackWindows
	timeout time.Duration
}

// close closes the Redis client, if any.
func (l *limiters) close() {
	if l.client != nil {
		_ = l.client.Close()
	}
}

// newLimiters builds local limiters, or Redis limiters that fall back to
// local ones while Redis is unreachable; each transition is logged once.
func newLimiters(s *serveSettings, logger *slog.Logger, m *metrics.Metrics) (*limiters, error) {
	apiLocal, err := ratelimit.NewLocal(s.apiLimit, ratelimit.LocalConfig{})
	if err != nil {
		return nil, fmt.Errorf("--rate-limit-api: %w", err)
	}
	signInLocal, err := ratelimit.NewLocal(s.signInLimit, ratelimit.LocalConfig{})
	if err != nil {
		return nil, fmt.Errorf("--rate-limit-signin: %w", err)
	}
	pagesLocal, err := ratelimit.NewLocal(s.pageLimit, ratelimit.LocalConfig{})
	if err != nil {
		return nil, fmt.Errorf("--rate-limit-pages: %w", err)
	}
	if *s.redisURL == "" {
		logger.Info("rate limits are local to this instance", "api", s.apiLimit.String(), "signin", s.signInLimit.String(), "pages", s.pageLimit.String())
		return &limiters{api: apiLocal, signIn: signInLocal, pages: pagesLocal}, nil
	}
	opts, err := goredis.ParseURL(*s.redisURL)
	if err != nil {
		// The parser's message may quote parts of the URL, which can
		// hold a password: say only what is wrong.
		return nil, errors.New("--redis-url is not a valid redis:// or rediss:// URL")
	}
	opts.ContextTimeoutEnabled = true
	opts.DialTimeout = time.Second
	opts.MaxRetries = -1 // the Fallback retries, with its own timing
	client := goredis.NewClient(opts)
	l := &limiters{client: client, timeout: *s.redisTimeout}
	shared := func(name string, limit ratelimit.Limit, local ratelimit.Limiter) (ratelimit.Limiter, error) {
		rl, err := redis.NewLimiter(client, limit, *s.redisPrefix+name+":")
		if err != nil {
			return nil, fmt.Errorf("rate limit %s: %w", name, err)
		}
		return ratelimit.NewFallback(rl, local, ratelimit.FallbackConfig{Timeout: *s.redisTimeout, OnStateChange: func(degraded bool) {
			m.SetRateLimitDegraded(degraded)
			if degraded {
				logger.Warn("Redis unreachable; rate limits are local to this instance until it answers", "limit", name)
			} else {
				logger.Info("Redis answers again; rate limits are shared", "limit", name)
			}
		}}), nil
	}
	if l.api, err = shared("api", s.apiLimit, apiLocal); err != nil {
		l.close()
		return nil, err
	}
	if l.signIn, err = shared("signin", s.signInLimit, signInLocal); err != nil {
		l.close()
		return nil, err
	}
	if l.pages, err = shared("pages", s.pageLimit, pagesLocal); err != nil {
		l.close()
		return nil, err
	}
	if l.attacks, err = redis.NewAttacks(client, *s.redisPrefix); err != nil {
		l.close()
		return nil, err
	}
	logger.Info("rate limits are shared through Redis", "api", s.apiLimit.String(), "signin", s.signInLimit.String(), "pages", s.pageLimit.String())
	return l, nil
}
