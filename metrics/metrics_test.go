package metrics

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches the metrics handler over HTTP and parses the text format.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// find returns the metric of family name whose labels include all of want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			return m
		}
	}
	return nil
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(fams, name, labels)
	if m == nil {
		t.Fatalf("no %s%v in scrape", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("%s has no value", name)
	return 0
}

func TestObserveRequestLabelsByPatternMethodAndClass(t *testing.T) {
	m := New()
	for range 3 {
		m.ObserveRequest("GET /customers/{id}", "GET", http.StatusOK, time.Millisecond)
	}
	m.ObserveRequest("GET /customers/{id}", "GET", http.StatusNotFound, time.Millisecond)
	m.ObserveRequest("POST /sign-in", "POST", http.StatusUnauthorized, time.Millisecond)
	m.ObserveRequest("POST /sign-in", "POST", http.StatusUnauthorized, time.Millisecond)
	m.ObserveRequest("", "GET", http.StatusNotFound, time.Millisecond)
	m.ObserveRequest("", "PURGE", http.StatusMethodNotAllowed, time.Millisecond)
	m.ObserveRequest("/boom", "GET", http.StatusInternalServerError, time.Millisecond)
	m.ObserveRequest("api", "DELETE", http.StatusServiceUnavailable, time.Millisecond)

	fams := scrape(t, m)
	tests := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": "/customers/{id}", "method": "GET", "code": "2xx"}, 3},
		{map[string]string{"route": "/customers/{id}", "method": "GET", "code": "4xx"}, 1},
		{map[string]string{"route": "/sign-in", "method": "POST", "code": "4xx"}, 2},
		{map[string]string{"route": UnmatchedRoute, "method": "GET", "code": "4xx"}, 1},
		{map[string]string{"route": UnmatchedRoute, "method": "OTHER", "code": "4xx"}, 1},
		{map[string]string{"route": "/boom", "method": "GET", "code": "5xx"}, 1},
		{map[string]string{"route": "api", "method": "DELETE", "code": "5xx"}, 1},
	}
	for _, tt := range tests {
		if got := value(t, fams, "custodian_http_requests_total", tt.labels); got != tt.want {
			t.Errorf("requests%v = %v, want %v", tt.labels, got, tt.want)
		}
	}
	if got := value(t, fams, "custodian_http_request_duration_seconds", map[string]string{"route": "/customers/{id}"}); got != 4 {
		t.Errorf("duration samples = %v, want 4", got)
	}
}

func TestSecurityCounters(t *testing.T) {
	m := New()
	for range 4 {
		m.SignInFailed()
	}
	m.RateLimited()
	m.RateLimited()
	m.AlertRaised("brute_force")
	m.AlertRaised("brute_force")
	m.AlertRaised("scanning")
	m.SetRateLimitDegraded(true)
	fams := scrape(t, m)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"custodian_sign_in_failures_total", nil, 4},
		{"custodian_rate_limit_refusals_total", nil, 2},
		{"custodian_alerts_raised_total", map[string]string{"rule": "brute_force"}, 2},
		{"custodian_alerts_raised_total", map[string]string{"rule": "scanning"}, 1},
		{"custodian_rate_limit_degraded", nil, 1},
	}
	for _, tt := range tests {
		if got := value(t, fams, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	m.SetRateLimitDegraded(false)
	if got := value(t, scrape(t, m), "custodian_rate_limit_degraded", nil); got != 0 {
		t.Errorf("degraded gauge = %v after recovery", got)
	}
}

func TestDBStatsAndGaugeFunc(t *testing.T) {
	m := New()
	calls := 0
	stats := func() sql.DBStats {
		calls++
		return sql.DBStats{MaxOpenConnections: 20, OpenConnections: 7, InUse: 5, Idle: 2,
			WaitCount: 11, WaitDuration: 1500 * time.Millisecond, MaxLifetimeClosed: 3}
	}
	if err := m.RegisterDBStats("primary", stats); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterDBStats("primary", stats); err == nil {
		t.Fatal("duplicate pool name accepted")
	}
	depth := 0.0
	if err := m.RegisterGaugeFunc("alert_queue_depth", "Alerts waiting for delivery.", func() float64 { return depth }); err != nil {
		t.Fatal(err)
	}
	depth = 9
	fams := scrape(t, m)
	db := map[string]string{"db": "primary"}
	tests := []struct {
		name string
		want float64
	}{
		{"custodian_db_max_open_connections", 20},
		{"custodian_db_open_connections", 7},
		{"custodian_db_in_use_connections", 5},
		{"custodian_db_idle_connections", 2},
		{"custodian_db_wait_total", 11},
		{"custodian_db_wait_seconds_total", 1.5},
		{"custodian_db_max_lifetime_closed_total", 3},
	}
	for _, tt := range tests {
		if got := value(t, fams, tt.name, db); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := value(t, fams, "custodian_alert_queue_depth", nil); got != 9 {
		t.Errorf("gauge func = %v", got)
	}
	if calls == 0 {
		t.Error("stats callback never called at scrape time")
	}
}

func TestOwnRegistry(t *testing.T) {
	a, b := New(), New()
	a.SignInFailed()
	if got := value(t, scrape(t, b), "custodian_sign_in_failures_total", nil); got != 0 {
		t.Fatalf("registries share state: %v", got)
	}
	if fams := scrape(t, a); fams["go_goroutines"] == nil {
		t.Fatal("runtime collector missing")
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("GET /customers/{id}", "GET", http.StatusOK, time.Millisecond)
	}
}
