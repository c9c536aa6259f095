package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/custodian-crm/custodian/edge"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after a stop signal.
const shutdownTimeout = 30 * time.Second

// listen serves handler on --addr (HTTPS when tlsSetup is set) and, with
// TLS and --http-addr, the plain-HTTP redirect, until ctx ends; then it
// shuts both down, letting in-flight requests finish.
func listen(ctx context.Context, s *serveSettings, handler http.Handler, tlsSetup *edge.TLSSetup, logger *slog.Logger, onListen func(addr string, https bool) error) error {
	base := func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	ln, err := s.listen(*s.addr)
	if err != nil {
		return err
	}
	// Both listeners are open before either serves, so that a client
	// that sees one answer finds the other.
	var pln net.Listener
	if tlsSetup != nil && *s.httpAddr != "" {
		if pln, err = s.listen(*s.httpAddr); err != nil {
			_ = ln.Close()
			return err
		}
	}
	cfg := edge.ServerConfig{Logger: logger}
	if tlsSetup != nil {
		cfg.TLSConfig = tlsSetup.Config
	}
	main := edge.NewHTTPServer(handler, cfg)
	main.BaseContext = base
	servers := []*http.Server{main}
	errc := make(chan error, 2)
	go func() {
		if tlsSetup != nil {
			errc <- main.ServeTLS(ln, "", "")
			return
		}
		errc <- main.Serve(ln)
	}()
	logger.Info("listening", "addr", ln.Addr().String(), "tls", tlsSetup != nil, "version", version)
	if err := onListen(ln.Addr().String(), tlsSetup != nil); err != nil {
		_ = main.Close()
		if pln != nil {
			_ = pln.Close()
		}
		return err
	}

	if pln != nil {
		_, portText, _ := net.SplitHostPort(ln.Addr().String())
		port, _ := strconv.Atoi(portText)
		var redirect http.Handler
		if tlsSetup.Manager == nil {
			hosts := exactHosts(*s.allowedHosts)
			if len(hosts) == 0 {
				hosts = tlsSetup.Hosts()
			}
			if len(hosts) == 0 {
				logger.Warn("plain HTTP is not redirected: neither --allowed-hosts nor the certificate names a host to send clients to; they get 400")
			}
			redirect = edge.RedirectHTTPS(port, hosts...)
		} else {
			redirect = tlsSetup.HTTPHandler(port)
		}
		redirect = edge.ClientInfo(s.proxies)(edge.SecurityHeaders(edge.HeaderConfig{})(edge.LimitURL(edge.DefaultMaxURL)(redirect)))
		plain := edge.NewHTTPServer(redirect, edge.ServerConfig{Logger: logger})
		plain.BaseContext = base
		servers = append(servers, plain)
		go func() { errc <- plain.Serve(pln) }()
		logger.Info("redirecting plain HTTP to HTTPS", "addr", pln.Addr().String())
	}

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	logger.Info("shutting down; finishing in-flight requests", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	shutdownErrs := make([]error, len(servers))
	for i, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(sctx); err != nil {
				shutdownErrs[i] = fmt.Errorf("shutdown: %w", err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(shutdownErrs...); err != nil {
		return err
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	for range len(servers) - boolInt(serveErr != nil) {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	logger.Info("stopped")
	return nil
}

// listen listens on addr, closing the connections of a client address
// that already holds --max-conns-per-addr of them (trusted proxies carry
// many clients' connections and are not limited), so that slow clients
// cannot take every connection the server can hold.
func (s *serveSettings) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var exempt func(netip.Addr) bool
	if s.proxies != nil {
		exempt = s.proxies.Trusts
	}
	return edge.LimitConnsPerAddr(ln, *s.maxConnsPerAddr, exempt), nil
}

// boolInt is 1 for true and 0 for false.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// exactHosts returns the allowed host names that are single names (not
// ".domain" patterns), for the HTTPS redirect's canonical host.
func exactHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if !strings.HasPrefix(h, ".") {
			out = append(out, h)
		}
	}
	return out
}
