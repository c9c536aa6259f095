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
	"github.com/custodian-crm/custodian/metrics"
)

// requestID returns the id of the request ctx belongs to.
func requestID(ctx context.Context) string { return custodian.OriginFrom(ctx).RequestID }

// begin gives every request a random id, in the X-Request-ID response
// header and in its context's custodian.Origin (with the client address),
// so a client's report can be matched to the server's log line and audit
// events caused by the request record where it came from; and it notes
// when the request began, for the request log and the metrics.
func begin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [12]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-ID", id)
		ctx := custodian.WithOrigin(withStart(r.Context(), start), custodian.Origin{ClientAddr: clientAddr(r), RequestID: id})
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

// observe writes one structured log line per request and counts it in the
// metrics, under route (the pattern the route was registered with, "" for
// a request no route matched). The line holds the start time (UTC), the
// request id, the user (or anonymous), the client address, the method, the
// route and the path, the user agent, the status, the response size and
// the duration. It logs the path without its query, which can hold search
// terms, no other header value, and the client address that
// edge.ClientInfo resolved through the trusted proxies (as begin recorded
// it), never a forwarding header the client could have forged. The JSON
// encoding escapes newlines and control characters in the path and user
// agent, so that no value can forge a log line. A panic is logged and
// counted as a 500 on its way to recoverPanics.
func observe(logger *slog.Logger, m *metrics.Metrics, route string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := &recorder{ResponseWriter: w}
			defer func() {
				v := recover()
				status := rw.status
				switch {
				case status != 0:
				case v != nil:
					status = http.StatusInternalServerError
				default:
					status = http.StatusOK
				}
				logRequest(logger, r, route, status, rw.size)
				m.ObserveRequest(route, r.Method, status, time.Since(startOf(r.Context())))
				if v != nil {
					panic(v)
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// logRequest writes the request log line of observe.
func logRequest(logger *slog.Logger, r *http.Request, route string, status int, size int64) {
	start := startOf(r.Context())
	ua := r.UserAgent()
	if len(ua) > maxUserAgentLog {
		ua = ua[:maxUserAgentLog]
	}
	user := custodian.Anonymous
	if p := principal(r); p != nil {
		user = p.User.ID
	}
	o := custodian.OriginFrom(r.Context())
	logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.Time("start", start.UTC()),
		slog.String("request_id", o.RequestID),
		slog.String("user", user),
		slog.String("client", o.ClientAddr),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", r.URL.EscapedPath()),
		slog.String("user_agent", ua),
		slog.Int("status", status),
		slog.Int64("size", size),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	)
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
