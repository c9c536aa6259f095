package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// MiddlewareOption adjusts Middleware.
type MiddlewareOption func(*middlewareConfig)

type middlewareConfig struct {
	onError func(r *http.Request, err error)
	headers bool
}

// OnError registers fn to record a limiter error (for a log line or a
// metric) before the request is let through. fn must not log the request's
// key or other personal data.
func OnError(fn func(r *http.Request, err error)) MiddlewareOption {
	return func(c *middlewareConfig) { c.onError = fn }
}

// WithoutHeaders stops Middleware from sending the RateLimit header field,
// for endpoints (such as sign-in) where the remaining budget should not be
// advertised. The refusal's answer still says when to retry.
func WithoutHeaders() MiddlewareOption {
	return func(c *middlewareConfig) { c.headers = false }
}

// Middleware limits requests per key. key derives the client identity from
// the request (behind a reverse proxy, from the address the trusted proxy
// reports, never from RemoteAddr alone); all requests whose key is "" share
// one budget. Refused requests are answered by refuse, which owns the
// answer's format and must say when to retry, and never reach next.
//
// Unless WithoutHeaders is given, every response carries the RateLimit
// header field of draft-ietf-httpapi-ratelimit-headers, e.g.
// `RateLimit: "default";r=4` or, when refused, `"default";r=0;t=2` where t
// matches Retry-After.
//
// When the limiter fails, the middleware fails open: it records the error
// through OnError, if given, and serves the request. Availability wins here
// because a broken limiter must not take the whole service down; attack
// detection elsewhere still sees the traffic.
func Middleware(l Limiter, key func(*http.Request) string, refuse func(w http.ResponseWriter, r *http.Request, d Decision), opts ...MiddlewareOption) func(http.Handler) http.Handler {
	cfg := middlewareConfig{headers: true}
	for _, o := range opts {
		o(&cfg)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d, err := l.Allow(r.Context(), key(r))
			if err != nil {
				if cfg.onError != nil {
					cfg.onError(r, err)
				}
				next.ServeHTTP(w, r)
				return
			}
			if cfg.headers {
				w.Header().Set("RateLimit", Field(d))
			}
			if !d.Allowed {
				refuse(w, r, d)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Field formats the RateLimit header field of
// draft-ietf-httpapi-ratelimit-headers for d: the remaining budget, and
// when refused the seconds until a retry (matching Retry-After).
func Field(d Decision) string {
	v := `"default";r=` + strconv.Itoa(max(d.Remaining, 0))
	if !d.Allowed {
		v += ";t=" + strconv.Itoa(RetryAfterSeconds(d.RetryAfter))
	}
	return v
}

// RetryAfterSeconds converts a wait into the whole seconds sent in
// Retry-After: rounded up, so a client that obeys it is never early, and at
// least 1, so a client never retries at once.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
