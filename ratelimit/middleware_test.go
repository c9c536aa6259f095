package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusNoContent)
})

func serve(h http.Handler, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/api/customers", nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestMiddlewareRefusesWithProblem(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 0.4, Burst: 2}, LocalConfig{Now: clk.Now})
	h := Middleware(lim, nil, nil)(okHandler) // defaults: ClientIP, DefaultRefuse

	for i, wantRemaining := range []int{1, 0} {
		rec := serve(h, "192.0.2.1:5000")
		if rec.Code != http.StatusNoContent {
			t.Fatalf("request %d: status %d, want 204", i, rec.Code)
		}
		if got, want := rec.Header().Get("RateLimit"), `"default";r=`+strconv.Itoa(wantRemaining); got != want {
			t.Fatalf("request %d: RateLimit %q, want %q", i, got, want)
		}
	}
	rec := serve(h, "192.0.2.1:5001")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", rec.Code)
	}
	// Next token in 2.5 s: Retry-After rounds up to 3.
	if got := rec.Header().Get("Retry-After"); got != "3" {
		t.Fatalf("Retry-After %q, want 3", got)
	}
	if got := rec.Header().Get("RateLimit"); got != `"default";r=0;t=3` {
		t.Fatalf("RateLimit %q", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Fatalf("Content-Type %q", got)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if p["type"] != "about:blank" || p["title"] != "Too Many Requests" || p["status"] != float64(429) || p["detail"] == "" {
		t.Fatalf("problem body %v", p)
	}
	// Another client is unaffected.
	if rec := serve(h, "192.0.2.2:5000"); rec.Code != http.StatusNoContent {
		t.Fatalf("other client got %d", rec.Code)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want int
	}{
		{0, 1},
		{-time.Second, 1},
		{time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{2500 * time.Millisecond, 3},
		{time.Hour, 3600},
	}
	for _, tt := range tests {
		if got := RetryAfterSeconds(tt.in); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// limiterFunc adapts a function to Limiter, for exercising the middleware's
// and Fallback's own logic against a limiter that fails on demand.
type limiterFunc func(ctx context.Context, key string) (Decision, error)

func (f limiterFunc) Allow(ctx context.Context, key string) (Decision, error) { return f(ctx, key) }

func TestMiddlewareFailsOpen(t *testing.T) {
	errStore := errors.New("store unreachable")
	broken := limiterFunc(func(context.Context, string) (Decision, error) { return Decision{}, errStore })
	var recorded []error
	h := Middleware(broken, ClientIP, nil, OnError(func(_ *http.Request, err error) {
		recorded = append(recorded, err)
	}))(okHandler)
	rec := serve(h, "192.0.2.1:1")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d, want request served", rec.Code)
	}
	if len(recorded) != 1 || !errors.Is(recorded[0], errStore) {
		t.Fatalf("recorded %v", recorded)
	}
	if rec.Header().Get("RateLimit") != "" {
		t.Fatal("RateLimit header sent without a decision")
	}
	// Without a callback it still fails open.
	if rec := serve(Middleware(broken, ClientIP, nil)(okHandler), "192.0.2.1:1"); rec.Code != http.StatusNoContent {
		t.Fatalf("status %d without callback", rec.Code)
	}
}

func TestMiddlewareCustomRefuseAndKey(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 1, Burst: 1}, LocalConfig{Now: clk.Now})
	var seen Decision
	refuse := func(w http.ResponseWriter, _ *http.Request, d Decision) {
		seen = d
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	byUser := func(r *http.Request) string { return r.Header.Get("X-User") }
	h := Middleware(lim, byUser, refuse, WithoutHeaders())(okHandler)

	do := func(user string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/signin", nil)
		req.Header.Set("X-User", user)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("alice"); rec.Code != http.StatusNoContent || rec.Header().Get("RateLimit") != "" {
		t.Fatalf("first: %d %q", rec.Code, rec.Header().Get("RateLimit"))
	}
	if rec := do("alice"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("second: %d, want custom refusal", rec.Code)
	}
	if seen.Allowed || seen.RetryAfter != time.Second {
		t.Fatalf("refuse got %+v", seen)
	}
	if rec := do("bob"); rec.Code != http.StatusNoContent {
		t.Fatalf("bob: %d", rec.Code)
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.9]:80", "192.0.2.9"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"192.0.2.1", "192.0.2.1"},
		{"not-an-address", "not-an-address"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		if got := ClientIP(r); got != tt.want {
			t.Errorf("ClientIP(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}

func BenchmarkMiddlewareAllowed(b *testing.B) {
	lim := newTestLocal(b, Limit{Rate: 1e9, Burst: 1000}, LocalConfig{})
	h := Middleware(lim, ClientIP, nil)(okHandler)
	req := httptest.NewRequest(http.MethodGet, "/api/customers", nil)
	req.RemoteAddr = "192.0.2.1:5000"
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(rec, req)
	}
}
