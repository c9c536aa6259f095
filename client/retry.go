package client

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry says when and how long the client waits and tries a request again.
//
// A request refused with 429 (a rate limit, or an account waiting after
// failed sign-ins) is always retried: the server refuses it before doing
// anything. A request refused with 503 (the database or key store is
// unreachable) is retried only when repeating it is safe whatever
// happened to the first attempt: GET, HEAD, PUT and DELETE, and any
// request with If-Match, which cannot apply twice.
//
// The client waits as long as the answer's Retry-After says, or else
// Backoff, doubled at each retry, with jitter, up to MaxWait. It gives up,
// returning the refusal, after Attempts tries, when Retry-After asks for
// longer than MaxWait, or when the wait would outlast the context's
// deadline; a context cancelled while waiting ends the wait at once.
type Retry struct {
	// Attempts is how many times a request is sent at most, the first
	// included; 1 (or less) never retries.
	Attempts int
	// Backoff is the first wait when the server gives no Retry-After.
	Backoff time.Duration
	// MaxWait bounds a single wait.
	MaxWait time.Duration
}

// DefaultRetry is the policy of a new Client: four tries, waits from half
// a second, none longer than a minute.
var DefaultRetry = Retry{Attempts: 4, Backoff: 500 * time.Millisecond, MaxWait: time.Minute}

// NoRetry sends every request once.
var NoRetry = Retry{Attempts: 1}

// send sends cl until it is answered with something other than a
// retryable refusal, or the policy gives up; it returns the last answer.
func (c *Client) send(ctx context.Context, cl call, body []byte) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		req, err := c.request(ctx, cl, body)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("client: %s %s: %w", cl.method, cl.path, err)
		}
		wait, ok := c.retry.wait(attempt, req, resp)
		if !ok || !fitsDeadline(ctx, wait) {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("client: %s %s: waiting %v to retry after %d: %w", cl.method, cl.path, wait, resp.StatusCode, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// wait returns how long to wait before trying again after attempt was
// answered with resp, and whether to try again at all.
func (r Retry) wait(attempt int, req *http.Request, resp *http.Response) (time.Duration, bool) {
	if attempt >= r.Attempts {
		return 0, false
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
	case http.StatusServiceUnavailable:
		if !repeatable(req) {
			return 0, false
		}
	default:
		return 0, false
	}
	if d, ok := retryAfter(resp.Header, time.Now()); ok {
		return d, d <= r.MaxWait
	}
	d := r.Backoff << (attempt - 1)
	if d <= 0 || d > r.MaxWait {
		d = r.MaxWait
	}
	// Jitter on the upper half, so that clients refused together do not
	// come back together.
	return d/2 + rand.N(d/2+1), true // #nosec G404 -- jitter spreads retries; it guards nothing
}

// repeatable reports whether sending req twice has the effect of sending
// it once.
func repeatable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return req.Header.Get("If-Match") != ""
}

// fitsDeadline reports whether a wait of d ends before ctx's deadline.
func fitsDeadline(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// retryAfter reads a Retry-After header: delay seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
