package http

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/edge"
	"github.com/custodian-crm/custodian/metrics"
	"github.com/custodian-crm/custodian/ratelimit"
)

// pipeline is what every request passes through, written once, here. It
// is built in two parts:
//
// The edge, before the router, knows nothing of routes: client address
// and scheme resolution through the trusted proxies, the security headers
// (so that every answer carries them, a 500 included), the bound on the
// request target, and the trap that answers scanner probes with an empty
// 404 before anything is logged.
//
// The route chain is wrapped around each route's handler when the route is
// registered, so its name, permission and limits are known before any
// request runs, and nothing flows back outwards. Outermost first:
//
//  1. begin: the request id, the origin recorded with audit events, and the
//     start time;
//  2. recoverPanics: a panic anywhere below answers a generic 500;
//  3. admit: decides, writing nothing, whether the request may go on (a
//     blocked address, the Host, the API rate limit before any database
//     lookup, the cross-origin check) and who the caller is;
//  4. observe: the request log line and the request metrics, under the
//     route's name and the caller admit found;
//  5. refuse: answers what admit refused, inside observe so that refusals
//     are logged and counted like every other answer;
//  6. withPurpose: the Custodian-Purpose header, checked and carried;
//  7. authorize: the route's permission (401, 403, or the page versions of
//     them);
//  8. the sign-in rate limit, on sign-in routes only, and the page rate
//     limit (per address and per session), on web pages only;
//  9. the route's handler.
type pipeline struct {
	logger   *slog.Logger
	metrics  *metrics.Metrics
	sig      signals
	acc      custodian.AccountService
	hosts    []string
	blocked  func(r *http.Request) bool
	api      ratelimit.Limiter
	signIn   ratelimit.Limiter
	pages    ratelimit.Limiter
	rateKey  func(*http.Request) string
	proxies  *edge.TrustedProxies
	headers  edge.HeaderConfig
	onProbe  func(*http.Request)
	origin   *http.CrossOriginProtection
	fallback string // the pattern of the route that answers what no route matches
}

func newPipeline(d Deps) *pipeline {
	p := &pipeline{
		logger: d.Logger, metrics: d.Metrics, sig: d.signals(), acc: d.Accounts,
		hosts: d.AllowedHosts, api: d.APILimiter, signIn: d.SignInLimiter, pages: d.PageLimiter, rateKey: d.RateKey,
		proxies: d.TrustedProxies, headers: d.Headers, onProbe: d.OnProbe,
		origin: http.NewCrossOriginProtection(), fallback: "/",
	}
	if p.rateKey == nil {
		p.rateKey = ClientKey
	}
	if d.Blocked != nil {
		p.blocked = func(r *http.Request) bool { return d.Blocked(edge.ClientAddrFrom(r.Context())) }
	}
	return p
}

// edge wraps the router in the route-independent protections, outermost
// first.
func (p *pipeline) edge(router http.Handler) http.Handler {
	h := edge.Probes(p.onProbe)(router)
	h = edge.LimitURL(edge.DefaultMaxURL)(h)
	h = edge.SecurityHeaders(p.headers)(h)
	return edge.ClientInfo(p.proxies)(h)
}

// route returns rt's handler inside the route chain, named name in the
// request log and the metrics ("" for the fallback that answers requests
// no route matches).
func (p *pipeline) route(name string, rt Route) http.Handler {
	h := rt.Handler
	if s, ok := h.(signInRoute); ok {
		h = s.Handler
		if p.signIn != nil {
			h = p.limit(name, p.signIn, s.refuse, ratelimit.WithoutHeaders())(h)
		}
	}
	if pg, ok := h.(uiPage); ok && p.pages != nil {
		pg.Handler = p.limitPage(name, pg.ui, pg.Handler)
		h = pg
	}
	h = authorize(p.logger, rt.Perm, h)
	h = withPurpose(p.logger)(h)
	h = refuse(h)
	h = observe(p.logger, p.metrics, name)(h)
	h = p.admit(name)(h)
	h = recoverPanics(p.logger)(h)
	return begin(h)
}

// register adds every route of table to mux behind its chain, and a
// fallback for what none of them matches: 405 with Allow when the path has
// routes for other methods, else 404, both as problems.
func (p *pipeline) register(mux *http.ServeMux, table []Route) {
	methods := []string{http.MethodHead}
	for _, rt := range table {
		if rt.Perm == "" {
			panic("route " + rt.Pattern() + " has no permission")
		}
		mux.Handle(rt.Pattern(), p.route(rt.Pattern(), rt))
		if !slices.Contains(methods, rt.Method) {
			methods = append(methods, rt.Method)
		}
	}
	slices.Sort(methods)
	mux.Handle(p.fallback, p.route("", Route{Path: p.fallback, Perm: custodian.PermPublic, Handler: p.noRoute(mux, methods)}))
}

// noRoute answers a request that no route matched, as the router would
// but in the problem format: 405 with the Allow header listing the methods
// the path has routes for (methods being every method of the table), or
// 404.
func (p *pipeline) noRoute(mux *http.ServeMux, methods []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			probe := *r
			probe.Method = m
			if _, pattern := mux.Handler(&probe); pattern != "" && pattern != p.fallback {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, r, Problem{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed, Detail: "This method is not allowed here."})
			return
		}
		writeProblem(w, r, Problem{Status: http.StatusNotFound, Code: custodian.ENOTFOUND, Detail: "There is nothing at this address."})
	})
}

// admit decides whether a request may go on, in order: a blocked client
// address (403), a Host the server does not serve (400), the API rate
// limit for paths under /api/ (429, before any database lookup), and the
// caller's credentials (a bad bearer token 401; a cookie request that
// changes state from another site 403). It writes no body: a refusal is
// carried inwards for refuse to answer inside the request log, and the
// caller's principal is carried inwards for everything after it.
func (p *pipeline) admit(route string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if answer := p.check(route, w, r); answer != nil {
				next.ServeHTTP(w, withRefusal(r, answer))
				return
			}
			pr, answer := p.identify(w, r)
			if answer != nil {
				next.ServeHTTP(w, withRefusal(r, answer))
				return
			}
			if pr != nil {
				r = r.WithContext(custodian.WithPrincipal(r.Context(), pr))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// check applies the refusals that need no account: blocked addresses (the
// attack detector's temporary blocks), hosts the server does not serve (so
// that links built from the Host, and caches in front of the server,
// cannot be poisoned with an attacker's host name), and the API rate
// limit. It returns the refusal's answer, or nil to let the request on.
func (p *pipeline) check(route string, w http.ResponseWriter, r *http.Request) http.HandlerFunc {
	if p.blocked != nil && p.blocked(r) {
		return func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, r, Problem{Status: http.StatusForbidden, Code: custodian.EFORBIDDEN, Detail: "Requests from your address are refused for a while after suspicious activity."})
		}
	}
	if !HostAllowed(r.Host, p.hosts) {
		return func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, r, Problem{Status: http.StatusBadRequest, Code: codeBadHost, Detail: "This server does not serve the host named in the request."})
		}
	}
	if p.api == nil || !strings.HasPrefix(r.URL.Path, "/api/") {
		return nil
	}
	d, err := p.api.Allow(r.Context(), p.rateKey(r))
	if err != nil {
		p.limiterFailed(r, err)
		return nil
	}
	w.Header().Set("RateLimit", ratelimit.Field(d))
	if d.Allowed {
		return nil
	}
	p.sig.rateLimited(r, route)
	return func(w http.ResponseWriter, r *http.Request) { refuseTooMany(w, r, d) }
}

// identify returns the caller: a bearer token in Authorization, or else a
// session cookie. A bad bearer token is refused; a stale cookie just
// leaves the request anonymous (and the cookie is cleared). Requests that
// change state and are not bearer-authenticated must come from this site
// (Sec-Fetch-Site / Origin, as net/http.CrossOriginProtection checks), so a
// cross-site form or script riding on a session cookie is refused.
func (p *pipeline) identify(w http.ResponseWriter, r *http.Request) (*custodian.Principal, http.HandlerFunc) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		bearer, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return nil, p.unauthorized(errorf(custodian.EUNAUTHORIZED, "Use Authorization: Bearer <personal access token>."))
		}
		pr, err := p.acc.AuthenticateToken(r.Context(), strings.TrimSpace(bearer))
		if err != nil {
			return nil, p.unauthorized(err)
		}
		return pr, nil
	}
	if err := p.origin.Check(r); err != nil {
		p.logger.WarnContext(r.Context(), "cross-origin request refused", "request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.EscapedPath())
		return nil, p.fail(errorf(custodian.EFORBIDDEN, "Cross-site requests are not allowed."))
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, nil
	}
	pr, err := p.acc.Authenticate(r.Context(), c.Value)
	switch {
	case err == nil:
		return pr, nil
	case custodian.ErrorCode(err) != custodian.EUNAUTHORIZED:
		return nil, p.fail(err)
	}
	clearSessionCookie(w)
	return nil, nil
}

// unauthorized answers a refused bearer token.
func (p *pipeline) unauthorized(err error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="custodian"`)
		writeError(w, r, p.logger, err)
	}
}

// fail answers err as a problem.
func (p *pipeline) fail(err error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeError(w, r, p.logger, err) }
}

// limiterFailed logs a limiter error, without the key. The limiter fails
// open: a broken limiter must not take the service down, and attack
// detection still sees the traffic.
func (p *pipeline) limiterFailed(r *http.Request, err error) {
	p.logger.WarnContext(r.Context(), "rate limiter failed; request let through", "request_id", requestID(r.Context()), "err", err)
}

// limit puts a handler behind l, keyed like the API limit, answering
// refusals with answer. Every refusal is counted and reported to the
// attack detector.
func (p *pipeline) limit(route string, l ratelimit.Limiter, answer refusal, opts ...ratelimit.MiddlewareOption) func(http.Handler) http.Handler {
	refuse := func(w http.ResponseWriter, r *http.Request, d ratelimit.Decision) {
		p.sig.rateLimited(r, route)
		answer(w, r, d)
	}
	return ratelimit.Middleware(l, p.rateKey, refuse, append([]ratelimit.MiddlewareOption{ratelimit.OnError(p.limiterFailed)}, opts...)...)
}

// limitPage puts a web page behind the page limit twice: per client
// address (RateKey) and, for a signed-in caller, per session, so that a
// script reading pages in bulk is slowed whether it spreads over sessions
// or over addresses. A refusal is a 429 page with Retry-After, counted and
// reported to the attack detector like every rate-limit refusal.
func (p *pipeline) limitPage(route string, u *ui, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, key := range []string{"addr:" + p.rateKey(r), sessionRateKey(r)} {
			if key == "" {
				continue
			}
			d, err := p.pages.Allow(r.Context(), key)
			if err != nil {
				p.limiterFailed(r, err)
				continue
			}
			if !d.Allowed {
				p.sig.rateLimited(r, route)
				u.tooManyPages(w, r, d)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers the refusal admit decided, if any, instead of going on.
func refuse(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answer := refusalFrom(r); answer != nil {
			answer(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
