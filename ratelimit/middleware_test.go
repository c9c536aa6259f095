package ratelimit

import (
	"context"
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

// byRemote keys requests by their peer address, as a server facing its
// clients directly would.
func byRemote(r *http.Request) string { return r.RemoteAddr }

// retryAfter answers a refusal with 429 and Retry-After, as a server's
// refusal must.
func retryAfter(w http.ResponseWriter, _ *http.Request, d Decision) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(d.RetryAfter)))
	w.WriteHeader(http.StatusTooManyRequests)
}

func serve(h http.Handler, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/api/customers", nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestMiddlewareRefuses(t *testing.T) {
	clk := newFakeClock()
	lim := newTestLocal(t, Limit{Rate: 0.4, Burst: 2}, LocalConfig{Now: clk.Now})
	h := Middleware(lim, byRemote, retryAfter)(okHandler)

	for i, wantRemaining := range []int{1, 0} {
		rec := serve(h, "192.0.2.1:5000")
		if rec.Code != http.StatusNoContent {
			t.Fatalf("request %d: status %d, want 204", i, rec.Code)
		}
		if got, want := rec.Header().Get("RateLimit"), `"default";r=`+strconv.Itoa(wantRemaining); got != want {
			t.Fatalf("request %d: RateLimit %q, want %q", i, got, want)
		}
	}
	rec := serve(h, "192.0.2.1:5000")
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
	h := Middleware(broken, byRemote, retryAfter, OnError(func(_ *http.Request, err error) {
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
	if rec := serve(Middleware(broken, byRemote, retryAfter)(okHandler), "192.0.2.1:1"); rec.Code != http.StatusNoContent {
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

func BenchmarkMiddlewareAllowed(b *testing.B) {
	lim := newTestLocal(b, Limit{Rate: 1e9, Burst: 1000}, LocalConfig{})
	h := Middleware(lim, byRemote, retryAfter)(okHandler)
	req := httptest.NewRequest(http.MethodGet, "/api/customers", nil)
	req.RemoteAddr = "192.0.2.1:5000"
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(rec, req)
	}
}
