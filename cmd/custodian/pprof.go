package main

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/custodian-crm/custodian/edge"
)

// profileWriteTimeout bounds a profiling answer: long enough for a CPU
// profile or trace of up to two minutes (?seconds=), which the handlers
// refuse beyond the server's write timeout.
const profileWriteTimeout = 2*time.Minute + 10*time.Second

// refuseExposedProfiles refuses, before anything starts, profiling
// endpoints on an address other machines can reach without a token:
// profiles and goroutine dumps describe the running server to whoever
// reads them, and a CPU profile or trace costs the server while it runs.
func refuseExposedProfiles(s *serveSettings) error {
	if *s.pprofAddr != "" && *s.pprofTokenFile == "" && !loopback(*s.pprofAddr) {
		return fmt.Errorf("%w: --pprof-addr %s is not a loopback address and --pprof-token-file is not set; bind it to 127.0.0.1 or require a token (check C011)", ErrInsecure, *s.pprofAddr)
	}
	return nil
}

// serveProfiles serves the Go runtime's profiles (net/http/pprof) under
// /debug/pprof/ on --pprof-addr, a listener of its own, so that a slow
// server can be diagnosed without a rebuild; with --pprof-token-file
// every request must send that bearer token. Without --pprof-addr nothing
// is served. The returned function stops the listener.
func serveProfiles(ctx context.Context, s *serveSettings, logger *slog.Logger) (func(), error) {
	if *s.pprofAddr == "" {
		return func() {}, nil
	}
	token, err := secretValue("pprof-token", "", *s.pprofTokenFile)
	if err != nil {
		return nil, err
	}
	// A mux of its own: importing net/http/pprof also registers these
	// handlers on http.DefaultServeMux, which nothing here serves.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and every named profile below it
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	h := http.Handler(mux)
	if token != "" {
		h = requireBearer("pprof", token, h)
	}
	ln, err := net.Listen("tcp", *s.pprofAddr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr: %w", err)
	}
	srv := edge.NewHTTPServer(edge.SecurityHeaders(edge.HeaderConfig{})(h), edge.ServerConfig{Logger: logger, WriteTimeout: profileWriteTimeout})
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	go func() { _ = srv.Serve(ln) }()
	logger.Info("serving profiles", "addr", ln.Addr().String(), "token", token != "")
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// requireBearer lets through only the requests that send token as a
// bearer token, compared in constant time; the others get 401.
func requireBearer(realm, token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
			http.Error(w, "this endpoint requires its bearer token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
