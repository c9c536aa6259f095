package http

import (
	"encoding/hex"
	"net/http"
	"strconv"

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
	// DefaultPageLimit is the limit on the web interface's pages, per
	// client address and per signed-in session: far above what a person
	// clicking through pages asks for, far below reading customers in
	// bulk.
	DefaultPageLimit = "3/s,burst=30"
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

// refusal answers a request a rate limit refused.
type refusal func(w http.ResponseWriter, r *http.Request, d ratelimit.Decision)

// signInRoute marks a sign-in handler: the route chain puts it behind the
// stricter sign-in rate limit, answering refusals with refuse (the API
// answers a problem, refuseTooMany; the sign-in page shows itself again
// with a message).
type signInRoute struct {
	http.Handler
	refuse refusal
}

// signIn marks h as a sign-in handler whose rate-limit refusals refuse
// answers.
func signIn(h http.Handler, refuse refusal) http.Handler {
	return signInRoute{Handler: h, refuse: refuse}
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

// sessionRateKey is the page limit's key of a signed-in session: a prefix
// of its token's hash (never the token), or "" for a request without a
// session.
func sessionRateKey(r *http.Request) string {
	p := principal(r)
	if p == nil || len(p.SessionHash) == 0 {
		return ""
	}
	return "session:" + hex.EncodeToString(p.SessionHash[:min(16, len(p.SessionHash))])
}
