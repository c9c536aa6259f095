package ratelimit_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/custodian-crm/custodian/ratelimit"
)

// A server wraps its API in the middleware with a limit read from
// configuration.
func ExampleMiddleware() {
	limit, err := ratelimit.ParseLimit("1/s,burst=2")
	if err != nil {
		log.Fatal(err)
	}
	lim, err := ratelimit.NewLocal(limit, ratelimit.LocalConfig{})
	if err != nil {
		log.Fatal(err)
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "customers")
	})
	// Key by the peer address (a server behind a proxy keys by the address
	// the trusted proxy reports), and answer refusals with 429.
	byAddr := func(r *http.Request) string { return r.RemoteAddr }
	refuse := func(w http.ResponseWriter, _ *http.Request, d ratelimit.Decision) {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(d.RetryAfter)))
		w.WriteHeader(http.StatusTooManyRequests)
	}
	h := ratelimit.Middleware(lim, byAddr, refuse,
		ratelimit.OnError(func(_ *http.Request, err error) { log.Printf("rate limiter unavailable: %v", err) }),
	)(api)

	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/api/customers", nil)
		req.RemoteAddr = "192.0.2.10:40000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Printf("%d RateLimit: %s Retry-After: %q\n", rec.Code, rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 RateLimit: "default";r=1 Retry-After: ""
	// 200 RateLimit: "default";r=0 Retry-After: ""
	// 429 RateLimit: "default";r=0;t=1 Retry-After: "1"
}
