package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/edge"
	custhttp "github.com/custodian-crm/custodian/http"
	"github.com/custodian-crm/custodian/locale"
	"github.com/custodian-crm/custodian/metrics"
	"github.com/custodian-crm/custodian/redact"
)

// runServe runs the server until ctx ends. Each step is a function of its
// own, in the order the server needs them; the deferred calls stop what
// the steps started, in reverse.
func runServe(ctx context.Context, proc *process, args []string) error {
	fs := newFlagSet("serve", proc.stderr)
	s := addServeFlags(fs)
	if help, err := s.parse(fs, args, proc.getenv); help || err != nil {
		return err
	}
	logger := newLogger(proc.stderr, s.level)
	if err := refuseInsecureSettings(s, logger); err != nil {
		return err
	}
	defer applyMemoryLimit(*s.memoryLimitMiB, proc.getenv, logger)()
	warnDevelopmentSettings(s, logger)
	if err := refuseExposedProfiles(s); err != nil {
		return err
	}
	relay := &signalRelay{}
	mailer, linkBase, err := accountMailer(s, logger)
	if err != nil {
		return err
	}
	if mailer != nil {
		defer mailer.Close()
	}
	a, err := openServedApp(ctx, s, logger, func(c *accounts.Config) {
		c.Observer = relay
		if mailer != nil {
			c.Notifier, c.PublicURL = mailer, linkBase
		}
	})
	if err != nil {
		return err
	}
	defer a.Close()
	stopListening := listenForAccountChanges(ctx, s, a, logger)
	defer stopListening()
	stopReload := reloadOnHangup(ctx, a.sealer, logger)
	defer stopReload()
	tlsSetup, err := setUpTLS(s, logger)
	if err != nil {
		return err
	}
	m := metrics.New()
	limits, err := newLimiters(s, logger, m)
	if err != nil {
		return err
	}
	defer limits.close()
	alerts, err := startAlerting(ctx, s.alerts, a.store, limits, logger, m)
	if err != nil {
		return err
	}
	defer alerts.stop()
	relay.to.Store(alerts.correlator)
	stopMetrics, err := serveMetrics(ctx, s, m, a.store.DB(), logger)
	if err != nil {
		return err
	}
	defer stopMetrics()
	stopProfiles, err := serveProfiles(ctx, s, logger)
	if err != nil {
		return err
	}
	defer stopProfiles()
	stopRetention := startRetention(ctx, a.customers, s.privacy, a.lease, logger)
	defer stopRetention()
	stopWebhooks := startWebhooks(ctx, s, a, logger)
	defer stopWebhooks()
	stopBackups := startBackups(ctx, s, a, logger)
	defer stopBackups()
	stopAnchors, err := startAnchors(ctx, s.ops, a, a.lease, newAnchorLogger(proc.stderr), logger, alerts.webhook)
	if err != nil {
		return err
	}
	defer stopAnchors()
	handler, err := newHandler(s, a, logger, m, limits, alerts)
	if err != nil {
		return err
	}
	return listen(ctx, s, handler, tlsSetup, logger, printSetupLink(ctx, a.accounts, s.linkBase(), proc.stdout))
}

// newLogger returns the server's logger: JSON lines on w at level, every
// line through the redacting handler, so that secrets and personal values
// are masked whatever the code path that logged them.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(redact.NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: utcTime}), redact.Options{AllowKeys: []string{"active_key"}}))
}

// newAnchorLogger returns the logger of the audit anchors: JSON lines on
// w like the server's log, but not through the redacting handler, which
// would mask the anchor's hash as it masks every long hex run. An anchor
// is a hash of the trail, neither a secret nor a personal value.
func newAnchorLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: utcTime}))
}

// refuseInsecureSettings runs the deploy checks under --production, logs
// every finding and refuses to start on an error-level one, before
// anything is opened or created.
func refuseInsecureSettings(s *serveSettings, logger *slog.Logger) error {
	if !*s.production {
		return nil
	}
	findings := deployChecks(s)
	var lines []string
	for _, f := range findings {
		lines = append(lines, f.String())
		logger.Warn("deploy check", "finding", f.ID, "severity", string(f.Severity), "problem", f.Problem, "fix", f.Fix)
	}
	if hasErrors(findings) {
		return fmt.Errorf("%w: refusing to start in production:\n%s", ErrInsecure, strings.Join(lines, "\n"))
	}
	return nil
}

// developmentFindings are the deploy checks that serve also warns about at
// start outside --production: settings fit for development only.
var developmentFindings = []string{"C001", "C002", "C003"}

// warnDevelopmentSettings logs a warning at start, outside --production
// (which refuses them instead), for each development setting serve runs
// with: plain HTTP on a non-loopback address (no TLS and no trusted proxy),
// empty --allowed-hosts, and the development keyring. check --deploy lists
// the same and more.
func warnDevelopmentSettings(s *serveSettings, logger *slog.Logger) {
	if *s.production {
		return
	}
	for _, f := range deployChecks(s) {
		if !slices.Contains(developmentFindings, f.ID) || (f.ID == "C001" && loopback(*s.addr)) {
			continue
		}
		logger.Warn("development setting", "finding", f.ID, "problem", f.Problem, "fix", f.Fix)
	}
}

// openServedApp opens the application as serve runs it (generating the
// development keyring on a first run outside production) and reports it:
// where the keyring came from and the schema version. Under --production
// it also refuses insecure settings kept in the database.
func openServedApp(ctx context.Context, s *serveSettings, logger *slog.Logger, adjust func(*accounts.Config)) (_ *app, err error) {
	cfg := s.appConfig()
	cfg.logger = logger
	if adjust != nil {
		adjust(&cfg.accounts)
	}
	a, err := openApp(ctx, cfg, holdDataDir, generateDevKeyring, withCustomers)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.keyring.source == crypto.SourceGenerated {
		logger.Warn("generated a development keyring; keep it safe and set CUSTODIAN_MASTER_KEY_FILE in production", "path", a.keyring.path, "active_key", a.sealer.ActiveKeyID())
	} else {
		logger.Info("keyring loaded", "source", string(a.keyring.source), "active_key", a.sealer.ActiveKeyID())
	}
	if err := checkKeyringOpensData(ctx, a); err != nil {
		return nil, err
	}
	// Import jobs a stopped server left running are marked interrupted
	// (their committed batches stay, listed in their reports). With
	// PostgreSQL another instance may be running one, so they are left.
	if a.authChanges == nil {
		if err := a.imports.Recover(ctx); err != nil {
			return nil, fmt.Errorf("import jobs: %w", err)
		}
	}
	if *s.production {
		findings, err := accountChecks(ctx, a.accounts)
		if err != nil {
			return nil, err
		}
		if hasErrors(findings) {
			return nil, fmt.Errorf("%w: refusing to start in production:\n%s", ErrInsecure, findings[0])
		}
	}
	schema, latest, err := a.store.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	logger.Info("database ready", "backend", s.storage.backend(), "schema_version", schema, "latest", latest)
	if s.passkeys.RPID == "" {
		logger.Warn("passkeys are off: set --public-url (or --allowed-hosts) to the address people open Custodian at")
		// Users of such roles could neither register a passkey nor use
		// one: they reach only their own account until this is fixed.
		if roles, err := a.accounts.RequiredPasskeyRoles(ctx); err == nil && len(roles) > 0 {
			logger.Error("roles require passkeys, but passkeys are off: their users reach only their own account; set --public-url, or clear the requirement with custodian settings --require-passkey-roles none", "roles", roles)
		}
	} else {
		logger.Info("passkeys on", "relying_party", s.passkeys.RPID, "origins", s.passkeys.Origins)
	}
	return a, nil
}

// listenForAccountChanges keeps the authentication cache in step with the
// account changes other instances make: with PostgreSQL it listens for
// them until ctx ends or the returned function is called; with SQLite
// there are no other instances. It logs what the cache trusts and for how
// long.
func listenForAccountChanges(ctx context.Context, s *serveSettings, a *app, logger *slog.Logger) func() {
	if *s.authCacheTTL == 0 {
		logger.Info("authentication cache off: every request reads its token or session from the database")
	} else {
		logger.Info("authentication cache on", "ttl", s.authCacheTTL.String(), "other_instances", map[bool]string{true: "PostgreSQL LISTEN/NOTIFY", false: "none (SQLite)"}[a.authChanges != nil])
	}
	if a.authChanges == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.authChanges.Listen(ctx, func(inv custodian.AuthInvalidation) {
			if inv.Keyring {
				reloadKeyring(a.sealer, logger, "a key command changed the keyring")
				return
			}
			a.accounts.Forget(inv)
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

// setUpTLS loads the certificates serve speaks HTTPS with, from files or
// over ACME; nil when TLS is not configured (plain HTTP, perhaps behind a
// TLS-terminating proxy).
func setUpTLS(s *serveSettings, logger *slog.Logger) (*edge.TLSSetup, error) {
	if !s.tls() {
		return nil, nil
	}
	t, err := edge.TLSConfig(edge.TLSOptions{
		CertFile: *s.tlsCert, KeyFile: *s.tlsKey,
		AutocertHosts: *s.acmeHosts, AutocertCacheDir: *s.acmeCacheDir, AutocertEmail: *s.acmeEmail,
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	return t, nil
}

// newHandler builds the HTTP server's handler over the application's
// services, the limiters and the attack detector.
func newHandler(s *serveSettings, a *app, logger *slog.Logger, m *metrics.Metrics, limits *limiters, alerts *detector) (http.Handler, error) {
	// Every instance with this keyring accepts the forms the others show.
	formKey, err := a.sealer.DerivedKey("web forms")
	if err != nil {
		return nil, fmt.Errorf("form key: %w", err)
	}
	locales, err := locale.Load()
	if err != nil {
		return nil, fmt.Errorf("message catalogues: %w", err)
	}
	deps := custhttp.Deps{
		Locales: locales,
		Logger:  logger, Customers: a.customers, Privacy: a.customers, Activities: a.customers, Tasks: a.customers, Names: a.customers, Bulk: a.customers, Webhooks: a.webhooks, Accounts: a.accounts, Metrics: m,
		Imports: a.imports, Exports: a.customers,
		DB:             newReadiness(a, *s.ops.minFreeDiskMB<<20, dirsWritten(s)...),
		TrustedProxies: s.proxies, AllowedHosts: *s.allowedHosts,
		APILimiter: limits.api, SignInLimiter: limits.signIn, PageLimiter: limits.pages,
		FormKey: formKey,
		Audit:   a.store, Alerts: a.store, Monitor: alerts.correlator,
		OnProbe: func(r *http.Request) { alerts.correlator.Observe(custhttp.ProbeSignal(r)) },
	}
	if *s.alerts.block > 0 {
		deps.Blocked = alerts.correlator.Blocked
	}
	return custhttp.NewServer(deps), nil
}

// linkBase is the address the links the server prints start with:
// --public-url, else https:// and the first --acme-host (certificates are
// only obtained for names reached on port 443), else empty, for the
// listening address.
func (s *serveSettings) linkBase() string {
	switch {
	case *s.publicURL != "":
		return strings.TrimSuffix(*s.publicURL, "/")
	case len(*s.acmeHosts) > 0:
		return "https://" + (*s.acmeHosts)[0]
	}
	return ""
}

// printSetupLink returns what listen calls once the server listens: with
// no account yet, it prints a one-time link to create the first
// administrator, at base (see linkBase) or, when base is empty, at the
// listening address. The link goes to standard output, never to the log.
func printSetupLink(ctx context.Context, acc *accounts.Service, base string, stdout io.Writer) func(addr string, https bool) error {
	return func(addr string, https bool) error {
		tok, expires, err := acc.SetupLink(ctx)
		if ctx.Err() != nil {
			// Stopped while starting: nothing to print, and no failure.
			return nil
		}
		if err != nil || tok == "" {
			return err
		}
		if base == "" {
			base = "http://" + addr
			if https {
				base = "https://" + addr
			}
		}
		fmt.Fprintf(stdout, "No users yet. Create the first administrator within %s at\n  %s/setup?token=%s\n(or POST it to /api/auth/setup/, or run: custodian user create --email E --role admin --password-stdin)\n",
			time.Until(expires).Round(time.Minute), base, tok)
		return nil
	}
}

// serveMetrics adds the database pool's statistics to the metrics and
// serves them on --metrics-addr, a listener of its own so that they are
// never public by accident; with --metrics-token-file every scrape must
// send that bearer token. Without --metrics-addr nothing is served. The
// returned function stops the listener.
func serveMetrics(ctx context.Context, s *serveSettings, m *metrics.Metrics, db *sql.DB, logger *slog.Logger) (func(), error) {
	if err := m.RegisterDBStats(s.storage.backend(), db.Stats); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if *s.metricsAddr == "" {
		return func() {}, nil
	}
	token, err := secretValue("metrics-token", "", *s.metricsTokenFile)
	if err != nil {
		return nil, err
	}
	h := m.Handler()
	if token != "" {
		h = requireBearer("metrics", token, h)
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
				reloadKeyring(sealer, logger, "SIGHUP")
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

// reloadKeyring rereads the keyring, on SIGHUP or when a key command
// announces a change, and logs the outcome; a failed reload keeps the
// keys in use.
func reloadKeyring(sealer *crypto.Sealer, logger *slog.Logger, why string) {
	if err := sealer.Reload(); err != nil {
		logger.Error("keyring reload failed; keeping the keys in use", "why", why, "err", err)
		return
	}
	logger.Info("keyring reloaded", "active_key", sealer.ActiveKeyID(), "why", why)
}

// utcTime writes every log line's time in UTC, whatever the machine's zone.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}

// startWebhooks runs the webhook deliveries, the one place serve sends
// them, as a background job under the job lease: among instances sharing
// a database, the one holding the lease sends them (each instance's
// requests queue events in the outbox all the same). The outbox's DELETE
// and each delivery's compare-and-set claim would also keep two senders
// from sending an event twice, should the lease change hands mid-round.
func startWebhooks(ctx context.Context, s *serveSettings, a *app, logger *slog.Logger) func() {
	stop := startJob(ctx, "webhooks", *s.webhookPoll, a.lease, logger, func(ctx context.Context) {
		if err := a.webhooks.RunOnce(ctx); err != nil && ctx.Err() == nil {
			logger.Error("webhook delivery round failed; the next round retries", "err", err)
		}
	})
	logger.Info("webhook delivery started", "poll_interval", s.webhookPoll.String())
	return stop
}
