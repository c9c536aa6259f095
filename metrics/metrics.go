// Package metrics exposes the server's Prometheus metrics.
//
// Everything is registered on a registry owned by the Metrics value, never
// on the client library's global default registry, so tests and multiple
// servers in one process do not collide. Labels are bounded: requests are
// labelled by route pattern (never the raw path, which is unbounded and may
// carry personal data), a normalised method and a status class.
package metrics

import (
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "custodian"

// UnmatchedRoute labels requests no route matched.
const UnmatchedRoute = "unmatched"

// Metrics holds the server's collectors and their registry. Its methods
// are safe for concurrent use.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	signInFail prometheus.Counter
	rateLimit  prometheus.Counter
	alerts     *prometheus.CounterVec
	degraded   prometheus.Gauge
}

// New creates the metrics on a fresh registry, together with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests served, by route pattern, method and status class.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		signInFail: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sign_in_failures_total",
			Help: "Rejected sign-in attempts.",
		}),
		rateLimit: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rate_limit_refusals_total",
			Help: "Requests refused by the rate limiter.",
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "alerts_raised_total",
			Help: "Security alerts raised, by rule.",
		}, []string{"rule"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "rate_limit_degraded",
			Help: "1 while rate limiting runs in degraded (local fallback) mode, else 0.",
		}),
	}
	m.reg.MustRegister(
		m.requests, m.duration, m.signInFail, m.rateLimit, m.alerts, m.degraded,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry, for registering further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats. Mount
// it on an internal listener or behind authentication.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg,
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// SignInFailed counts a rejected sign-in attempt.
func (m *Metrics) SignInFailed() { m.signInFail.Inc() }

// RateLimited counts a request refused by the rate limiter.
func (m *Metrics) RateLimited() { m.rateLimit.Inc() }

// AlertRaised counts a security alert of the given rule. Rule names come
// from configuration, which keeps the label bounded.
func (m *Metrics) AlertRaised(rule string) { m.alerts.WithLabelValues(rule).Inc() }

// SetRateLimitDegraded records whether rate limiting is degraded, e.g.
// because its shared store is unreachable.
func (m *Metrics) SetRateLimitDegraded(degraded bool) {
	if degraded {
		m.degraded.Set(1)
	} else {
		m.degraded.Set(0)
	}
}

// RegisterGaugeFunc registers a gauge whose value is read from f at each
// scrape. name is prefixed with the namespace.
func (m *Metrics) RegisterGaugeFunc(name, help string, f func() float64) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, f)
	if err := m.reg.Register(g); err != nil {
		return fmt.Errorf("metrics: registering gauge %s: %w", name, err)
	}
	return nil
}

// RegisterDBStats exports a database pool's figures, read from stats at
// each scrape and labelled db=name. Registering the same name twice fails.
func (m *Metrics) RegisterDBStats(name string, stats func() sql.DBStats) error {
	if err := m.reg.Register(newDBCollector(name, stats)); err != nil {
		return fmt.Errorf("metrics: registering pool stats for %s: %w", name, err)
	}
	return nil
}

// ObserveRequest counts one answered request and its duration. route is
// the ServeMux pattern that served it (its method part is dropped) or ""
// for a request no route matched (UnmatchedRoute); method is mapped to a
// bounded set and status to its class, so that no request can grow the
// number of series.
func (m *Metrics) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	label := patternPath(route)
	if label == "" {
		label = UnmatchedRoute
	}
	m.requests.WithLabelValues(label, methodLabel(method), statusClass(status)).Inc()
	m.duration.WithLabelValues(label).Observe(elapsed.Seconds())
}

// patternPath drops the "METHOD " prefix of a ServeMux pattern.
func patternPath(p string) string {
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return strings.TrimLeft(p[i:], " \t")
	}
	return p
}

// methodLabel maps the request method to a bounded set.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return fmt.Sprintf("%dxx", code/100)
}
