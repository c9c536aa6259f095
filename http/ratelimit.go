package http

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/edge"
	"github.com/custodian-crm/custodian/ratelimit"
)

// Default rate limits, as written in the serve command's flags.
const (
	// DefaultAPILimit is the per-client limit on /api/ requests.
	DefaultAPILimit = "10/s,burst=20"
	// DefaultSignInLimit is the per-client limit on sign-in attempts:
	// strict, because each attempt is a password guess.
	DefaultSignInLimit = "1/s,burst=3"
)

// ClientKey is the default rate-limit key: the client address that
// edge.ClientInfo resolved (never a forwarding header the client could
// forge), with IPv6 addresses reduced to their /64, which one client
// usually controls. Requests whose address is unknown share the key "".
func ClientKey(r *http.Request) string {
	a := edge.ClientAddrFrom(r.Context())
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64) // cannot fail for an IPv6 address
		return p.String()
	}
	return a.String()
}

func (d Deps) rateKey() func(*http.Request) string {
	if d.RateKey != nil {
		return d.RateKey
	}
	return ClientKey
}

// limitAPI applies l to requests under /api/ only, so health checks from a
// load balancer are never refused.
func limitAPI(logger *slog.Logger, sig signals, l ratelimit.Limiter, key func(*http.Request) string) func(http.Handler) http.Handler {
	limited := rateLimit(logger, sig, l, key, refuseTooMany)
	return func(next http.Handler) http.Handler {
		lim := limited(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				lim.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refusal answers a request a rate limit refused.
type refusal func(w http.ResponseWriter, r *http.Request, d ratelimit.Decision)

// signInLimit puts a sign-in handler behind the sign-in rate limit, with
// answer as its refusal: the API answers a problem (refuseTooMany), the
// sign-in page shows itself again with a message.
type signInLimit func(h http.Handler, answer refusal) http.Handler

// rateLimit limits every request through it with l, keyed by key, and
// answers refusals with answer (refuseTooMany: a 429 problem carrying
// Retry-After). A limiter error lets the request through (the limiter
// fails open) and is logged without the key. Every refusal is counted in
// the metrics and reported to the attack detector.
func rateLimit(logger *slog.Logger, sig signals, l ratelimit.Limiter, key func(*http.Request) string, answer refusal, opts ...ratelimit.MiddlewareOption) func(http.Handler) http.Handler {
	onError := ratelimit.OnError(func(r *http.Request, err error) {
		logger.WarnContext(r.Context(), "rate limiter failed; request let through", "request_id", requestID(r.Context()), "err", err)
	})
	refuse := func(w http.ResponseWriter, r *http.Request, d ratelimit.Decision) {
		sig.rateLimited(r)
		answer(w, r, d)
	}
	return ratelimit.Middleware(l, key, refuse, append([]ratelimit.MiddlewareOption{onError}, opts...)...)
}

// refuseTooMany answers a rate-limited request with 429 and Retry-After in
// the server's problem format.
func refuseTooMany(w http.ResponseWriter, r *http.Request, d ratelimit.Decision) {
	secs := ratelimit.RetryAfterSeconds(d.RetryAfter)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeProblem(w, r, Problem{
		Status: http.StatusTooManyRequests, Code: custodian.ETOOMANY,
		Detail: "Too many requests; retry after " + strconv.Itoa(secs) + " seconds.",
	})
}
