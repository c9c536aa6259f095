package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/customers"
	"github.com/custodian-crm/custodian/edge"
	custhttp "github.com/custodian-crm/custodian/http"
	"github.com/custodian-crm/custodian/ratelimit"
	"github.com/custodian-crm/custodian/webhooks"
	"github.com/nyaruka/phonenumbers"
)

// serveSettings are the serve command's settings; check reads the same
// ones, so that it judges exactly what serve would run.
type serveSettings struct {
	addr, httpAddr   *string
	storage          *storageConfig
	keys             *keyFlags
	phoneRegion      *string
	logLevel         *string
	production       *bool
	trustedProxies   *listFlag
	allowedHosts     *listFlag
	tlsCert, tlsKey  *string
	acmeHosts        *listFlag
	acmeCacheDir     *string
	acmeEmail        *string
	redisURL         *string
	redisURLFile     *string
	redisPrefix      *string
	redisTimeout     *time.Duration
	rateLimitAPI     *string
	rateLimitSignIn  *string
	rateLimitPages   *string
	maxConnsPerAddr  *int
	publicURL        *string
	metricsAddr      *string
	metricsTokenFile *string
	pprofAddr        *string
	pprofTokenFile   *string
	sessionIdle      *time.Duration
	sessionMaxAge    *time.Duration
	authCacheTTL     *time.Duration
	memoryLimitMiB   *int
	alerts           *alertSettings
	privacy          *privacyFlags
	ops              *opsFlags
	backups          *backupFlags
	webhookAllow     *listFlag
	webhookPoll      *time.Duration
	webhookRetry     *time.Duration

	// Derived by resolve.
	level        slog.Level
	apiLimit     ratelimit.Limit
	signInLimit  ratelimit.Limit
	pageLimit    ratelimit.Limit
	proxies      *edge.TrustedProxies
	passkeys     accounts.PasskeyConfig
	webhookGuard *webhooks.Guard
}

// addServeFlags defines serve's flags on fs.
func addServeFlags(fs *flag.FlagSet) *serveSettings {
	return &serveSettings{
		addr:             stringFlag(fs, "addr", "127.0.0.1:8080", "address to listen on (HTTPS when TLS is configured)"),
		httpAddr:         stringFlag(fs, "http-addr", "", "with TLS, a plain-HTTP address that redirects to HTTPS (and answers ACME http-01 challenges)"),
		storage:          addStorageFlags(fs),
		keys:             addKeyFlags(fs),
		phoneRegion:      stringFlag(fs, "phone-region", "", "ISO 3166-1 region assumed for phone numbers written without a country code; empty requires a country code"),
		logLevel:         stringFlag(fs, "log-level", "info", "debug, info, warn or error"),
		production:       fs.Bool("production", false, "refuse to start on any error-level finding of check --deploy (env CUSTODIAN_PRODUCTION or CUSTODIAN_ENV=production)"),
		trustedProxies:   listVar(fs, "trusted-proxies", "reverse-proxy addresses or CIDR ranges whose X-Forwarded-For and X-Forwarded-Proto are believed"),
		allowedHosts:     listVar(fs, "allowed-hosts", "host names this server answers for (\".example.com\" includes subdomains); other Host headers get 400; empty allows any"),
		publicURL:        stringFlag(fs, "public-url", "", "the https:// address people open Custodian at (with the port when not 443): the relying party of passkeys; empty takes the first single name of --allowed-hosts, and with neither passkeys are off"),
		tlsCert:          stringFlag(fs, "tls-cert", "", "PEM certificate chain; serves HTTPS, re-read when it changes"),
		tlsKey:           stringFlag(fs, "tls-key", "", "PEM private key for --tls-cert"),
		acmeHosts:        listVar(fs, "acme-host", "host names to obtain certificates for automatically over ACME"),
		acmeCacheDir:     stringFlag(fs, "acme-cache-dir", "", "ACME account and certificate cache (default <data-dir>/acme)"),
		acmeEmail:        stringFlag(fs, "acme-email", "", "contact address given to the ACME certificate authority"),
		redisURL:         stringFlag(fs, "redis-url", "", "redis:// or rediss:// URL for rate limits shared between instances; local limits when empty or unreachable"),
		redisURLFile:     stringFlag(fs, "redis-url-file", "", "file holding the Redis URL"),
		redisPrefix:      stringFlag(fs, "redis-prefix", "custodian:", "prefix of this deployment's rate-limit keys in Redis"),
		redisTimeout:     fs.Duration("redis-timeout", ratelimit.DefaultPrimaryTimeout, "how long a rate-limit check waits for Redis before this instance answers from its local limits (env CUSTODIAN_REDIS_TIMEOUT)"),
		rateLimitAPI:     stringFlag(fs, "rate-limit-api", custhttp.DefaultAPILimit, "per-client limit on /api/ requests"),
		rateLimitSignIn:  stringFlag(fs, "rate-limit-signin", custhttp.DefaultSignInLimit, "per-client limit on sign-in attempts"),
		rateLimitPages:   stringFlag(fs, "rate-limit-pages", custhttp.DefaultPageLimit, "limit on the web interface's pages, per client and per signed-in session"),
		maxConnsPerAddr:  fs.Int("max-conns-per-addr", edge.DefaultMaxConnsPerAddr, "connections one client address (IPv6: one /64) may hold open at once; more are closed as they arrive; trusted proxies are not limited (env CUSTODIAN_MAX_CONNS_PER_ADDR)"),
		metricsAddr:      stringFlag(fs, "metrics-addr", "", "address of the metrics endpoint; check --deploy requires a token when it is not loopback"),
		metricsTokenFile: stringFlag(fs, "metrics-token-file", "", "file holding the bearer token the metrics endpoint requires"),
		pprofAddr:        stringFlag(fs, "pprof-addr", "", "address of the Go profiling endpoints (/debug/pprof/); off when empty, loopback only unless --pprof-token-file is set"),
		pprofTokenFile:   stringFlag(fs, "pprof-token-file", "", "file holding the bearer token the profiling endpoints require"),
		sessionIdle:      fs.Duration("session-idle-timeout", 30*time.Minute, "a browser session ends after this long unused"),
		sessionMaxAge:    fs.Duration("session-max-age", 12*time.Hour, "a browser session ends this long after sign-in, used or not"),
		memoryLimitMiB:   fs.Int("memory-limit", defaultMemoryLimitMiB, "soft limit in MiB on the Go runtime's memory (heap, stacks), which collects garbage harder as it nears it; SQLite's page caches and the mapped binary come on top. 0: no limit. GOMEMLIMIT in the environment takes precedence (env CUSTODIAN_MEMORY_LIMIT)"),
		authCacheTTL:     fs.Duration("auth-cache-ttl", accounts.DefaultAuthCacheTTL, "how long an authenticated access token or session is trusted without a database read, and so the longest a change made elsewhere can go unseen if its notification is lost; 0 reads the database on every request (env CUSTODIAN_AUTH_CACHE_TTL)"),
		alerts:           addAlertFlags(fs),
		privacy:          addPrivacyFlags(fs),
		ops:              addOpsFlags(fs),
		backups:          addBackupFlags(fs),
		webhookAllow:     listVar(fs, "webhook-allow", "CIDR ranges, addresses or host names that webhook endpoints may reach although they are loopback, private, link-local or metadata addresses (plain http is then allowed too)"),
		webhookPoll:      fs.Duration("webhook-poll-interval", time.Second, "how often queued webhook deliveries are looked for (env CUSTODIAN_WEBHOOK_POLL_INTERVAL)"),
		webhookRetry:     fs.Duration("webhook-retry-base", 30*time.Second, "wait before a failed webhook delivery's first retry; it doubles for every further one, up to 4h, and retries end after 24h (env CUSTODIAN_WEBHOOK_RETRY_BASE)"),
	}
}

// parse parses the command's flags (after the command has defined its
// own) with parseConfig's precedence, then resolves them. It treats -h as
// success.
func (s *serveSettings) parse(fs *flag.FlagSet, args []string, getenv func(string) string) (help bool, err error) {
	if help, err := parseConfig(fs, args, getenv); help || err != nil {
		return help, err
	}
	return false, s.resolve(getenv)
}

// resolve reads secret files and the keyring in the environment, fills
// derived defaults and validates everything that can be validated without
// side effects.
func (s *serveSettings) resolve(getenv func(string) string) error {
	if *s.sessionIdle < time.Minute || *s.sessionMaxAge < *s.sessionIdle || *s.sessionMaxAge > 30*24*time.Hour {
		return fmt.Errorf("%w: sessions need --session-idle-timeout of at least 1m and --session-max-age between it and 720h", ErrConfig)
	}
	// The TTL is how long a lost invalidation can leave a revoked token
	// working elsewhere: it stays short.
	if *s.authCacheTTL < 0 || *s.authCacheTTL > maxAuthCacheTTL {
		return fmt.Errorf("%w: --auth-cache-ttl must be between 0 (no cache) and %s", ErrConfig, maxAuthCacheTTL)
	}
	if *s.memoryLimitMiB < 0 {
		return fmt.Errorf("%w: --memory-limit must not be negative (0: no limit)", ErrConfig)
	}
	if *s.maxConnsPerAddr < 1 {
		return fmt.Errorf("%w: --max-conns-per-addr must be at least 1", ErrConfig)
	}
	if err := s.storage.resolve(); err != nil {
		return err
	}
	s.keys.resolve(getenv)
	if err := s.alerts.resolve(); err != nil {
		return err
	}
	if err := s.privacy.resolve(); err != nil {
		return err
	}
	if err := s.ops.resolve(*s.storage.dataDir); err != nil {
		return err
	}
	if err := s.backups.resolve(); err != nil {
		return err
	}
	if *s.webhookPoll < 10*time.Millisecond || *s.webhookPoll > time.Hour {
		return fmt.Errorf("%w: --webhook-poll-interval must be between 10ms and 1h", ErrConfig)
	}
	if *s.webhookRetry < 10*time.Millisecond || *s.webhookRetry > time.Hour {
		return fmt.Errorf("%w: --webhook-retry-base must be between 10ms and 1h", ErrConfig)
	}
	g, err := webhooks.NewGuard(*s.webhookAllow)
	if err != nil {
		return fmt.Errorf("%w: --webhook-allow: %w", ErrConfig, err)
	}
	s.webhookGuard = g
	v, err := secretValue("redis-url", *s.redisURL, *s.redisURLFile)
	if err != nil {
		return err
	}
	*s.redisURL = v
	// Without a known region, numbers written without a country code would
	// all be refused.
	if *s.phoneRegion != "" && !phonenumbers.GetSupportedRegions()[*s.phoneRegion] {
		return fmt.Errorf("--phone-region %q is not a region", *s.phoneRegion)
	}
	if err := s.level.UnmarshalText([]byte(*s.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if s.apiLimit, err = ratelimit.ParseLimit(*s.rateLimitAPI); err != nil {
		return fmt.Errorf("--rate-limit-api: %w", err)
	}
	if s.signInLimit, err = ratelimit.ParseLimit(*s.rateLimitSignIn); err != nil {
		return fmt.Errorf("--rate-limit-signin: %w", err)
	}
	if s.pageLimit, err = ratelimit.ParseLimit(*s.rateLimitPages); err != nil {
		return fmt.Errorf("--rate-limit-pages: %w", err)
	}
	if len(*s.trustedProxies) > 0 {
		if s.proxies, err = edge.ParseTrustedProxies(*s.trustedProxies); err != nil {
			return fmt.Errorf("--trusted-proxies: %w", err)
		}
	}
	// Passkeys are bound to the site's name for good: it comes from the
	// configuration, never from a request's Host header.
	if s.passkeys, err = accounts.PasskeyConfigFor(*s.publicURL, *s.allowedHosts); err != nil {
		return fmt.Errorf("%w: --public-url: %w", ErrConfig, err)
	}
	files := *s.tlsCert != "" || *s.tlsKey != ""
	switch {
	case files && (*s.tlsCert == "" || *s.tlsKey == ""):
		return errors.New("--tls-cert and --tls-key must be given together")
	case files && len(*s.acmeHosts) > 0:
		return errors.New("--tls-cert/--tls-key and --acme-host are mutually exclusive")
	case *s.httpAddr != "" && !s.tls():
		return errors.New("--http-addr redirects to HTTPS and needs --tls-cert/--tls-key or --acme-host")
	}
	if *s.acmeCacheDir == "" {
		*s.acmeCacheDir = filepath.Join(*s.storage.dataDir, "acme")
	}
	if *s.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(*s.metricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
	}
	if *s.pprofAddr != "" {
		if _, _, err := net.SplitHostPort(*s.pprofAddr); err != nil {
			return fmt.Errorf("--pprof-addr: %w", err)
		}
	}
	return nil
}

// maxAuthCacheTTL is the longest --auth-cache-ttl accepted.
const maxAuthCacheTTL = time.Minute

// authCacheConfig is --auth-cache-ttl as accounts.Config takes it, where
// a negative TTL, not zero, turns the cache off.
func (s *serveSettings) authCacheConfig() time.Duration {
	if *s.authCacheTTL == 0 {
		return -1
	}
	return *s.authCacheTTL
}

// tls reports whether the server speaks HTTPS itself.
func (s *serveSettings) tls() bool {
	return *s.tlsCert != "" || len(*s.acmeHosts) > 0
}

// appConfig is the configuration openApp opens the application from, as
// serve runs it.
func (s *serveSettings) appConfig() appConfig {
	return appConfig{
		storage:    s.storage,
		keys:       s.keys,
		production: *s.production,
		accounts:   accounts.Config{IdleTimeout: *s.sessionIdle, AbsoluteTimeout: *s.sessionMaxAge, AuthCacheTTL: s.authCacheConfig(), Passkeys: s.passkeys},
		customers:  customers.Options{Validator: custodian.Validator{PhoneRegion: *s.phoneRegion}, ConsentPurposes: s.privacy.purposeNames},
		leaseRetry: *s.ops.leaseInterval,
		webhooks:   webhooks.Options{Guard: s.webhookGuard, PollInterval: *s.webhookPoll, Retry: webhooks.Retry{Base: *s.webhookRetry}},
	}
}
