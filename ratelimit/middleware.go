package ratelimit

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
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
// advertised. Retry-After is still sent on refusals by DefaultRefuse.
func WithoutHeaders() MiddlewareOption {
	return func(c *middlewareConfig) { c.headers = false }
}

// Middleware limits requests per key. key derives the client identity from
// the request (ClientIP if nil, which is right when RemoteAddr holds the
// real peer); all requests whose key is "" share one budget. Refused
// requests are answered by refuse (DefaultRefuse if nil) and never reach
// next.
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
	if refuse == nil {
		refuse = DefaultRefuse
	}
	if key == nil {
		key = ClientIP
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
				w.Header().Set("RateLimit", rateLimitField(d))
			}
			if !d.Allowed {
				refuse(w, r, d)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// rateLimitField formats the RateLimit structured field for d.
func rateLimitField(d Decision) string {
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

// problem is an RFC 9457 problem details document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// DefaultRefuse answers a refused request with 429 Too Many Requests, a
// Retry-After header in whole seconds and an application/problem+json body.
func DefaultRefuse(w http.ResponseWriter, _ *http.Request, d Decision) {
	secs := RetryAfterSeconds(d.RetryAfter)
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTooManyRequests)
	body, _ := json.Marshal(problem{ // cannot fail: only strings and ints
		Type:   "about:blank",
		Title:  http.StatusText(http.StatusTooManyRequests),
		Status: http.StatusTooManyRequests,
		Detail: "Request rate limit exceeded; retry after " + strconv.Itoa(secs) + " seconds.",
	})
	_, _ = w.Write(body) // the client may have gone; nothing to do about it
}

// ClientIP returns the client address of r as a limiter key: the host part
// of r.RemoteAddr, with IPv6 addresses reduced to their /64 prefix because a
// single client usually controls a whole /64. If RemoteAddr cannot be
// parsed it is returned as is. Behind a reverse proxy, RemoteAddr must first
// be replaced by the address the trusted proxy reports.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64) // cannot fail for an IPv6 address
		return p.String()
	}
	return addr.String()
}
