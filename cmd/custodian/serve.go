package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/edge"
	custhttp "github.com/custodian-crm/custodian/http"
	"github.com/custodian-crm/custodian/metrics"
	"github.com/custodian-crm/custodian/ratelimit"
	"github.com/custodian-crm/custodian/redact"
	"github.com/custodian-crm/custodian/redis"
	goredis "github.com/redis/go-redis/v9"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after a stop signal.
const shutdownTimeout = 30 * time.Second

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	s := addServeFlags(fs)
	if help, err := parseConfig(fs, args, getenv); help || err != nil {
		return err
	}
	if err := s.resolve(); err != nil {
		return err
	}
	// Every log line passes the redacting handler: secrets and personal
	// values are masked whatever the code path that logged them.
	logger := slog.New(redact.NewHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: s.level, ReplaceAttr: utcTime}), redact.Options{AllowKeys: []string{"active_key"}}))

	if *s.production {
		findings := deployChecks(s, getenv)
		var lines []string
		for _, f := range findings {
			lines = append(lines, f.String())
			logger.Warn("deploy check", "finding", f.ID, "severity", string(f.Severity), "problem", f.Problem, "fix", f.Fix)
		}
		if hasErrors(findings) {
			return fmt.Errorf("%w: refusing to start in production:\n%s", ErrInsecure, strings.Join(lines, "\n"))
		}
	}

	a, source, keyPath, err := openApp(ctx, s.storage, crypto.LoadOptions{
		Env: getenv("CUSTODIAN_MASTER_KEY"), File: *s.masterKeyFile,
		DataDir: *s.storage.dataDir, Production: *s.production,
	}, accounts.Config{IdleTimeout: *s.sessionIdle, AbsoluteTimeout: *s.sessionMaxAge})
	if err != nil {
		return err
	}
	defer a.store.Close()
	switch source {
	case crypto.SourceGenerated:
		logger.Warn("generated a development keyring; keep it safe and set CUSTODIAN_MASTER_KEY_FILE in production", "path", keyPath, "active_key", a.sealer.ActiveKeyID())
	default:
		logger.Info("keyring loaded", "source", string(source), "active_key", a.sealer.ActiveKeyID())
	}
	if *s.production {
		findings, err := accountChecks(ctx, a.accounts)
		if err != nil {
			return err
		}
		if hasErrors(findings) {
			return fmt.Errorf("%w: refusing to start in production:\n%s", ErrInsecure, findings[0])
		}
	}
	stopReload := reloadOnHangup(ctx, a.sealer, logger)
	defer stopReload()
	schema, latest, err := a.store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	logger.Info("database ready", "backend", s.storage.backend(), "schema_version", schema, "latest", latest)

	var tlsSetup *edge.TLSSetup
	if s.tls() {
		tlsSetup, err = edge.TLSConfig(edge.TLSOptions{
			CertFile: *s.tlsCert, KeyFile: *s.tlsKey,
			AutocertHosts: *s.acmeHosts, AutocertCacheDir: *s.acmeCacheDir, AutocertEmail: *s.acmeEmail,
			Logger: logger,
		})
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
	}

	m := metrics.New()
	limits, err := newLimiters(s, logger, m)
	if err != nil {
		return err
	}
	defer limits.close()

	shred, err := s.storage.openShred(ctx)
	if err != nil {
		return err
	}
	defer shred.Close()
	customerSvc := customers.New(a.store, a.sealer, customers.Options{Validator: custodian.Validator{PhoneRegion: *s.phoneRegion}, Shred: shred, ConsentPurposes: s.privacy.purposeNames})
	stopRetention := startRetention(ctx, customerSvc, s.privacy, logger)
	defer stopRetention()
	if err := m.RegisterDBStats(s.storage.backend(), a.store.DB().Stats); err != nil {
		return err
	}
	stopMetrics, err := serveMetrics(ctx, s, m, logger)
	if err != nil {
		return err
	}
	defer stopMetrics()
	alerts, err := startAlerting(ctx, s.alerts, a.store, logger, m)
	if err != nil {
		return err
	}
	defer alerts.stop()
	// Every instance with this keyring accepts the forms the others show.
	formKey, err := a.sealer.DerivedKey("web forms")
	if err != nil {
		return err
	}
	deps := custhttp.Deps{
		Logger: logger, Customers: customerSvc, Privacy: customerSvc, DB: a.store, Accounts: a.accounts, Metrics: m,
		TrustedProxies: s.proxies, AllowedHosts: *s.allowedHosts,
		APILimiter: limits.api, SignInLimiter: limits.signIn,
		FormKey: formKey,
		Audit:   a.store, Alerts: a.store, Monitor: alerts.correlator,
		OnProbe: func(r *http.Request) { alerts.correlator.Observe(custhttp.ProbeSignal(r)) },
	}
	if *s.alerts.block > 0 {
		deps.Blocked = alerts.correlator.Blocked
	}
	handler := custhttp.NewServer(deps)
	// With no account yet, print a one-time link to create the first
	// administrator once the server listens. It goes to standard output,
	// never to the log.
	onListen := func(addr string, https bool) error {
		tok, expires, err := a.accounts.SetupLink(ctx)
		if err != nil || tok == "" {
			return err
		}
		scheme := "http"
		if https {
			scheme = "https"
		}
		fmt.Fprintf(stdout, "No users yet. Create the first administrator within %s at\n  %s://%s/setup?token=%s\n(or POST it to /api/auth/setup/, or run: custodian user create --email E --role admin --password-stdin)\n",
			time.Until(expires).Round(time.Minute), scheme, addr, tok)
		return nil
	}
	return listen(ctx, s, handler, tlsSetup, logger, onListen)
}

// listen serves handler on --addr (HTTPS when tlsSetup is set) and, with
// TLS and --http-addr, the plain-HTTP redirect, until ctx ends; then it
// shuts both down, letting in-flight requests finish.
func listen(ctx context.Context, s *serveSettings, handler http.Handler, tlsSetup *edge.TLSSetup, logger *slog.Logger, onListen func(addr string, https bool) error) error {
	base := func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	ln, err := net.Listen("tcp", *s.addr)
	if err != nil {
		return err
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
		return err
	}

	if tlsSetup != nil && *s.httpAddr != "" {
		_, portText, _ := net.SplitHostPort(ln.Addr().String())
		port, _ := strconv.Atoi(portText)
		var redirect http.Handler
		if tlsSetup.Manager == nil {
			redirect = edge.RedirectHTTPS(port, exactHosts(*s.allowedHosts)...)
		} else {
			redirect = tlsSetup.HTTPHandler(port)
		}
		redirect = edge.ClientInfo(s.proxies)(edge.SecurityHeaders(edge.HeaderConfig{})(edge.LimitURL(edge.DefaultMaxURL)(redirect)))
		pln, err := net.Listen("tcp", *s.httpAddr)
		if err != nil {
			_ = main.Close()
			return err
		}
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

// limiters are the API and sign-in rate limiters, shared through Redis
// when --redis-url is set.
type limiters struct {
	api, signIn ratelimit.Limiter
	client      *goredis.Client
}

func (l *limiters) close() {
	if l.client != nil {
		_ = l.client.Close()
	}
}

// newLimiters builds local limiters, or Redis limiters that fall back to
// local ones while Redis is unreachable; each transition is logged once.
func newLimiters(s *serveSettings, logger *slog.Logger, m *metrics.Metrics) (*limiters, error) {
	apiLocal, err := ratelimit.NewLocal(s.apiLimit, ratelimit.LocalConfig{})
	if err != nil {
		return nil, fmt.Errorf("--rate-limit-api: %w", err)
	}
	signInLocal, err := ratelimit.NewLocal(s.signInLimit, ratelimit.LocalConfig{})
	if err != nil {
		return nil, fmt.Errorf("--rate-limit-signin: %w", err)
	}
	if *s.redisURL == "" {
		logger.Info("rate limits are local to this instance", "api", s.apiLimit.String(), "signin", s.signInLimit.String())
		return &limiters{api: apiLocal, signIn: signInLocal}, nil
	}
	opts, err := goredis.ParseURL(*s.redisURL)
	if err != nil {
		// The parser's message may quote parts of the URL, which can
		// hold a password: say only what is wrong.
		return nil, errors.New("--redis-url is not a valid redis:// or rediss:// URL")
	}
	opts.ContextTimeoutEnabled = true
	opts.DialTimeout = time.Second
	opts.MaxRetries = -1 // the Fallback retries, with its own timing
	client := goredis.NewClient(opts)
	l := &limiters{client: client}
	shared := func(name string, limit ratelimit.Limit, local ratelimit.Limiter) (ratelimit.Limiter, error) {
		rl, err := redis.NewLimiter(client, limit, *s.redisPrefix+name+":")
		if err != nil {
			return nil, fmt.Errorf("rate limit %s: %w", name, err)
		}
		return ratelimit.NewFallback(rl, local, ratelimit.FallbackConfig{Timeout: *s.redisTimeout, OnStateChange: func(degraded bool) {
			m.SetRateLimitDegraded(degraded)
			if degraded {
				logger.Warn("Redis unreachable; rate limits are local to this instance until it answers", "limit", name)
			} else {
				logger.Info("Redis answers again; rate limits are shared", "limit", name)
			}
		}}), nil
	}
	if l.api, err = shared("api", s.apiLimit, apiLocal); err != nil {
		l.close()
		return nil, err
	}
	if l.signIn, err = shared("signin", s.signInLimit, signInLocal); err != nil {
		l.close()
		return nil, err
	}
	logger.Info("rate limits are shared through Redis", "api", s.apiLimit.String(), "signin", s.signInLimit.String())
	return l, nil
}

// serveMetrics serves the Prometheus metrics on --metrics-addr, a listener
// of its own so that they are never public by accident; with
// --metrics-token-file every scrape must send that bearer token. Without
// --metrics-addr nothing is served.
func serveMetrics(ctx context.Context, s *serveSettings, m *metrics.Metrics, logger *slog.Logger) (func(), error) {
	if *s.metricsAddr == "" {
		return func() {}, nil
	}
	token, err := secretValue("metrics-token", "", *s.metricsTokenFile)
	if err != nil {
		return nil, err
	}
	h := m.Handler()
	if token != "" {
		next := h
		want := []byte("Bearer " + token)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				http.Error(w, "metrics need the bearer token", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	ln, err := net.Listen("tcp", *s.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	srv := edge.NewHTTPServer(edge.SecurityHeaders(edge.HeaderConfig{})(h), edge.ServerConfig{Logger: logger})
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	go func() { _ = srv.Serve(ln) }()
	logger.Info("serving metrics", "addr", ln.Addr().String(), "token", token != "")
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// reloadOnHangup rereads the keyring on SIGHUP, as after a key rotation or
// retirement, until ctx ends or the returned function is called.
func reloadOnHangup(ctx context.Context, sealer *crypto.Sealer, logger *slog.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := sealer.Reload(); err != nil {
					logger.Error("keyring reload failed; keeping the keys in use", "err", err)
					continue
				}
				logger.Info("keyring reloaded", "active_key", sealer.ActiveKeyID())
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

// utcTime writes every log line's time in UTC, whatever the machine's zone.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}
