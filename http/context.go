package http

import (
	"context"
	"net/http"
	"time"

	"github.com/custodian-crm/custodian"
)

// The request context carries, from the outer steps of the route chain to
// the inner ones (never back out): when the request began, and the answer
// to a request the admission step refused. The root package's context
// keys (actor, principal, purpose, origin) carry what the services need.

// principal returns the caller of r, or nil for an anonymous one.
func principal(r *http.Request) *custodian.Principal { return custodian.PrincipalFrom(r.Context()) }

type startKey struct{}

// withStart returns ctx carrying the time the request began.
func withStart(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, startKey{}, t)
}

// startOf returns when the request ctx belongs to began, or now.
func startOf(ctx context.Context) time.Time {
	if t, ok := ctx.Value(startKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

type refusalKey struct{}

// withRefusal returns r carrying answer, the response to a request that
// must not go on.
func withRefusal(r *http.Request, answer http.HandlerFunc) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), refusalKey{}, answer))
}

// refusalFrom returns the answer withRefusal set, or nil.
func refusalFrom(r *http.Request) http.HandlerFunc {
	a, _ := r.Context().Value(refusalKey{}).(http.HandlerFunc)
	return a
}
