package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/custodian-crm/custodian"
)

// requestID returns the id of the request ctx belongs to.
func requestID(ctx context.Context) string { return custodian.OriginFrom(ctx).RequestID }

// withRequestID gives every request a random id, in the X-Request-ID
// response header and in its context's custodian.Origin (with the client
// address), so a client's report can be matched to the server's log line
// and audit events caused by the request record where it came from.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-ID", id)
		ctx := custodian.WithOrigin(r.Context(), custodian.Origin{ClientAddr: clientAddr(r), RequestID: id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	size   int64
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.size += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// routeSlot carries the matched route pattern and the authenticated user
// back up to the outer middleware (the request log, the metrics):
// middleware between them and the mux derives new requests, so they cannot
// read r.Pattern or the principal from their own copy. withRouteSlot
// installs it outermost; the route wrapper fills in the pattern
// (noteRoute) and authentication the user (noteUser); routeOf and userOf
// read them.
type routeSlot struct{ pattern, user string }

type routeSlotKey struct{}

func withRouteSlot(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeSlotKey{}, &routeSlot{})))
	})
}

// noteRoute records the matched pattern.
func noteRoute(r *http.Request) {
	if s, ok := r.Context().Value(routeSlotKey{}).(*routeSlot); ok {
		s.pattern = r.Pattern
	}
}

// noteUser records the authenticated user's id.
func noteUser(r *http.Request, id string) {
	if s, ok := r.Context().Value(routeSlotKey{}).(*routeSlot); ok {
		s.user = id
	}
}

// userOf returns the id of the request's authenticated user, or
// custodian.Anonymous.
func userOf(r *http.Request) string {
	if s, ok := r.Context().Value(routeSlotKey{}).(*routeSlot); ok && s.user != "" {
		return s.user
	}
	return custodian.Anonymous
}

// routeOf returns the pattern the request matched, or "".
func routeOf(r *http.Request) string {
	if s, ok := r.Context().Value(routeSlotKey{}).(*routeSlot); ok {
		return s.pattern
	}
	return ""
}

// logRequests writes one structured line per request: the start time (UTC), the
// request id, the user (or anonymous), the client address, the method, the
// route pattern and the path, the user agent, the status, the response
// size and the duration. It logs the path without its query, which can
// hold search terms, no other header value, and the client address that
// edge.ClientInfo resolved through the trusted proxies (as withRequestID
// recorded it), never a forwarding header the client could have forged.
// The JSON encoding escapes newlines and control characters in the path
// and user agent, so that no value can forge a log line.
func logRequests(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rw := &recorder{ResponseWriter: w}
			ua := r.UserAgent()
			if len(ua) > maxUserAgentLog {
				ua = ua[:maxUserAgentLog]
			}
			next.ServeHTTP(rw, r)
			if rw.status == 0 {
				rw.status = http.StatusOK
			}
			o := custodian.OriginFrom(r.Context())
			logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.Time("start", start.UTC()),
				slog.String("request_id", o.RequestID),
				slog.String("user", userOf(r)),
				slog.String("client", o.ClientAddr),
				slog.String("method", r.Method),
				slog.String("route", routeOf(r)),
				slog.String("path", r.URL.EscapedPath()),
				slog.String("user_agent", ua),
				slog.Int("status", rw.status),
				slog.Int64("size", rw.size),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			)
		})
	}
}

// maxUserAgentLog bounds the user agent kept in the request log.
const maxUserAgentLog = 256

// recoverPanics answers a handler's panic with a generic 500 problem
// carrying the request id, and logs the panic with its stack. The client
// never sees a stack trace. http.ErrAbortHandler is passed on, as net/http
// expects.
func recoverPanics(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.ErrorContext(r.Context(), "handler panicked",
					"request_id", requestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeProblem(w, r, Problem{Status: http.StatusInternalServerError, Code: custodian.EINTERNAL, Detail: "An internal error occurred."})
			}()
			next.ServeHTTP(w, r)
		})
	}
}
