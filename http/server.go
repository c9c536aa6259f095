// Package http serves Custodian over HTTP: the REST API under /api/, health
// checks for load balancers, and the OpenAPI document. NewServer returns a
// plain http.Handler, so the whole server can be tested in-process.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/edge"
	"github.com/custodian-crm/custodian/locale"
	"github.com/custodian-crm/custodian/metrics"
	"github.com/custodian-crm/custodian/ratelimit"
)

// Deps are what the server needs from the rest of the program.
//
// The services are required: NewServer panics, naming the field, when one
// is missing, since a server without them cannot answer its routes.
type Deps struct {
	// Logger receives the request log and every error report.
	Logger *slog.Logger
	// Customers serves the customer records.
	Customers custodian.CustomerService
	// Privacy serves consent, legal holds, erasure and exports.
	Privacy custodian.PrivacyService
	// Activities logs notes, calls, meetings and emails on customers and
	// tells each customer's timeline.
	Activities custodian.ActivityService
	// Tasks sets follow-up tasks on customers and lists one's own.
	Tasks custodian.TaskService
	// Bulk acts on many customers at once.
	Bulk custodian.BulkCustomerService
	// Webhooks registers webhook endpoints and lists their deliveries.
	Webhooks custodian.WebhookService
	// Accounts signs people in and manages accounts and users.
	Accounts custodian.AccountService
	// Audit is the audit trail listed at GET /api/audit/.
	Audit custodian.AuditTrail
	// Names names the customers the audit page mentions, for the roles
	// that may see customers' data.
	Names custodian.CustomerNamer
	// Alerts are the stored security alerts (GET /api/alerts/).
	Alerts custodian.AlertService
	// Monitor receives the security signals the server sees: failed
	// sign-ins, rate-limit refusals and (through OnProbe's caller)
	// scanner probes.
	Monitor custodian.Observer
	// Imports runs CSV imports in the background (/api/imports/ and the
	// import pages); nil answers 503 there.
	Imports custodian.ImportService
	// Exports streams customer lists (GET /api/customers/export); nil
	// answers 503 there.
	Exports custodian.CustomerExporter
	// TransferLimiter limits, per user, how often imports and exports
	// start; nil means DefaultTransferLimit, kept in memory.
	TransferLimiter ratelimit.Limiter
	// DB is what /readyz asks whether this server is ready: at least
	// whether the database answers; serve also checks that it takes a
	// write, that the disk has room and that the keyring opens the data.
	DB custodian.Pinger

	// TrustedProxies are the reverse proxies whose forwarding headers
	// give the client address and scheme; nil trusts nobody, which is
	// right when the server faces the internet directly.
	TrustedProxies *edge.TrustedProxies
	// AllowedHosts are the host names (or ".example.com" for a domain and
	// its subdomains) the server answers for; a request with another Host
	// gets 400. Empty accepts any host.
	AllowedHosts []string
	// Headers configures the security headers sent on every response.
	Headers edge.HeaderConfig
	// OnProbe, when set, is called for every vulnerability-scanner probe
	// after it has been answered with an empty 404, so that the attack
	// detector can count scanning clients (edge.ClientAddrFrom gives the
	// client address).
	OnProbe func(*http.Request)
	// APILimiter limits requests under /api/ per RateKey; refusals are 429
	// problems with Retry-After. Nil applies no limit (the serve command
	// always sets one; see DefaultAPILimit).
	APILimiter ratelimit.Limiter
	// SignInLimiter is the stricter limiter for sign-in attempts (see
	// DefaultSignInLimit), applied per RateKey by the sign-in route.
	SignInLimiter ratelimit.Limiter
	// PageLimiter limits the web interface's pages (see DefaultPageLimit)
	// twice, per RateKey and per signed-in session, so that neither one
	// address nor one session can read customers in bulk through the
	// pages; refusals are a 429 page with Retry-After. Nil leaves pages
	// unlimited.
	PageLimiter ratelimit.Limiter
	// RateKey derives the rate-limit key of a request; nil means ClientKey.
	RateKey func(*http.Request) string
	// Metrics records requests by route, latency, sign-in failures and
	// rate-limit refusals; nil records into a registry nobody serves.
	Metrics *metrics.Metrics
	// FormKey keys the web interface's CSRF tokens and the state its pages
	// hand to the browser sealed. Servers that share a database behind one
	// load balancer must share it (the serve command derives it from the
	// keyring); nil means a random key made at start, so forms work only
	// with the server that showed them.
	FormKey []byte
	// Blocked, when set, reports client addresses whose requests are
	// refused at once with 403 (the attack detector's temporary blocks).
	Blocked func(netip.Addr) bool
	// Locales are the web interface's message catalogues and the
	// language matcher; nil loads the embedded ones.
	Locales *locale.Catalogs
	// Now is the clock of the web interface's security charts; nil means
	// time.Now.
	Now func() time.Time
}

// NewServer returns the server's handler: every route of routes, each
// wrapped in the route chain when it is registered, behind the edge. The
// whole pipeline, outermost first, is described and built in pipeline.go.
func NewServer(d Deps) http.Handler {
	d.mustHaveServices()
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	d.TransferLimiter = d.transferLimiter()
	u := newUI(d)
	table := routes(d, u)
	u.nav = navLinks(table)
	p := newPipeline(d)
	mux := http.NewServeMux()
	p.register(mux, table)
	return p.edge(mux)
}

// mustHaveServices panics, naming the field, when a required service is
// missing: a programming error that no request could recover from.
func (d Deps) mustHaveServices() {
	for name, missing := range map[string]bool{
		"Logger": d.Logger == nil, "Customers": d.Customers == nil, "Privacy": d.Privacy == nil, "Activities": d.Activities == nil, "Tasks": d.Tasks == nil,
		"Accounts": d.Accounts == nil, "Audit": d.Audit == nil, "Names": d.Names == nil, "Alerts": d.Alerts == nil,
		"Monitor": d.Monitor == nil, "DB": d.DB == nil, "Bulk": d.Bulk == nil, "Webhooks": d.Webhooks == nil,
	} {
		if missing {
			panic("http.NewServer: Deps." + name + " is required")
		}
	}
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers 200 when db (the server's readiness: the database
// answers and takes a write, the disk has room, the keyring opens the
// data) says so within two seconds, and 503 otherwise, so a load balancer
// stops sending traffic. The reason goes to the log, never to the caller.
func handleReadyz(logger *slog.Logger, db custodian.Pinger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			logger.WarnContext(r.Context(), "not ready", "err", err)
			writeProblem(w, r, Problem{Status: http.StatusServiceUnavailable, Code: custodian.EUNAVAILABLE, Detail: "This server is not ready to serve; the reason is in its log."})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
