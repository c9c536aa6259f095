package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/alerting"
	"github.com/custodian-crm/custodian/metrics"
)

// alertSettings configure the attack detector and where its alerts go.
type alertSettings struct {
	bruteForce, scanning, abuse *string
	block                       *time.Duration
	webhookURL                  *string
	webhookSecretFile           *string
	smtpAddr, mailFrom          *string
	mailTo                      *listFlag
	smtpUser, smtpPasswordFile  *string

	// Derived by resolve.
	rules         []alerting.Rule
	webhookSecret string
	smtpPassword  string
}

// addAlertFlags defines the attack detector's flags on fs.
func addAlertFlags(fs *flag.FlagSet) *alertSettings {
	return &alertSettings{
		bruteForce:        stringFlag(fs, "alert-brute-force", "5/15m", "failed sign-ins from one address, or against one account, within a window that raise a brute_force alert (N/window; \"off\" disables)"),
		scanning:          stringFlag(fs, "alert-scanning", "10/5m", "scanner probes from one address within a window that raise a scanning alert"),
		abuse:             stringFlag(fs, "alert-abuse", "3/5m", "rate-limit refusals of one address within a window that raise an abuse alert"),
		block:             fs.Duration("alert-block", 0, "refuse every request (403) from an address with an open brute_force, scanning or abuse alert for this long after its last signal; 0 never blocks"),
		webhookURL:        stringFlag(fs, "alert-webhook-url", "", "POST every alert and its updates as JSON to this URL (retried with backoff)"),
		webhookSecretFile: stringFlag(fs, "alert-webhook-secret-file", "", "file holding the secret that signs webhook bodies (X-Custodian-Signature: sha256=HMAC)"),
		smtpAddr:          stringFlag(fs, "alert-smtp-addr", "", "SMTP server host:port that mails new and closed alerts (STARTTLS when offered)"),
		mailFrom:          stringFlag(fs, "alert-mail-from", "", "sender address of alert mails"),
		mailTo:            listVar(fs, "alert-mail-to", "recipients of alert mails"),
		smtpUser:          stringFlag(fs, "alert-smtp-username", "", "SMTP user name (PLAIN authentication, only over TLS)"),
		smtpPasswordFile:  stringFlag(fs, "alert-smtp-password-file", "", "file holding the SMTP password"),
	}
}

// parseRuleSpec reads "N/window", as in "5/15m"; "off" gives 0.
func parseRuleSpec(name, v string) (int, time.Duration, error) {
	if v == "off" {
		return 0, 0, nil
	}
	n, w, ok := strings.Cut(v, "/")
	threshold, err := strconv.Atoi(n)
	window, werr := time.ParseDuration(w)
	if !ok || err != nil || werr != nil || threshold < 1 || threshold > 1_000_000 || window < time.Second || window > 7*24*time.Hour {
		return 0, 0, fmt.Errorf("%w: --%s %q: want N/window such as 5/15m (N from 1, window from 1s to 168h), or off", ErrConfig, name, v)
	}
	return threshold, window, nil
}

// resolve validates the settings and builds the rules.
func (a *alertSettings) resolve() error {
	if *a.block < 0 || *a.block > 7*24*time.Hour {
		return fmt.Errorf("%w: --alert-block must be between 0 and 168h", ErrConfig)
	}
	a.rules = nil
	for _, r := range []struct {
		flag, name string
		kind       custodian.SignalKind
		by         []alerting.KeyBy
		spec       string
	}{
		{"alert-brute-force", "brute_force", custodian.SignalFailedSignIn, []alerting.KeyBy{alerting.ByAddr, alerting.ByAccount}, *a.bruteForce},
		{"alert-scanning", "scanning", custodian.SignalSuspicious, []alerting.KeyBy{alerting.ByAddr}, *a.scanning},
		{"alert-abuse", "abuse", custodian.SignalRateLimited, []alerting.KeyBy{alerting.ByAddr}, *a.abuse},
	} {
		n, w, err := parseRuleSpec(r.flag, r.spec)
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		for _, by := range r.by {
			rule := alerting.Rule{Name: r.name, Kind: r.kind, By: by, Threshold: n, Window: w}
			if by == alerting.ByAddr {
				rule.Block = *a.block
			}
			a.rules = append(a.rules, rule)
		}
	}
	// An account locked at the sign-in policy's hard limit is always
	// alerted, at once.
	a.rules = append(a.rules, alerting.Rule{Name: "account_locked", Kind: custodian.SignalAccountLocked, By: alerting.ByAccount, Threshold: 1, Window: 24 * time.Hour})
	var err error
	if a.webhookSecret, err = secretValue("alert-webhook-secret", "", *a.webhookSecretFile); err != nil {
		return err
	}
	if *a.webhookURL != "" {
		if _, err := alerting.NewWebhook(alerting.WebhookConfig{URL: *a.webhookURL}); err != nil {
			return fmt.Errorf("%w: --alert-webhook-url: %w", ErrConfig, err)
		}
	}
	if a.smtpPassword, err = secretValue("alert-smtp-password", "", *a.smtpPasswordFile); err != nil {
		return err
	}
	if *a.smtpAddr != "" {
		if _, _, err := net.SplitHostPort(*a.smtpAddr); err != nil || *a.mailFrom == "" || len(*a.mailTo) == 0 {
			return fmt.Errorf("%w: --alert-smtp-addr needs host:port, --alert-mail-from and --alert-mail-to", ErrConfig)
		}
	}
	return nil
}

// detector is the running attack detector and its deliveries.
type detector struct {
	correlator *alerting.Correlator
	// webhook is the alert webhook, nil without --alert-webhook-url; the
	// audit anchors are published to it too.
	webhook *alerting.Webhook
	stop    func()
}

// startAlerting builds the correlator over the configured rules, storing
// every alert (store), logging it, and sending it to the webhook and by
// mail when configured, and runs their delivery until stop. Nothing it
// does blocks a request: signals are counted in bounded memory, and each
// delivery has its own bounded retry queue.
func startAlerting(ctx context.Context, a *alertSettings, store custodian.AlertRepository, limits *limiters, logger *slog.Logger, m *metrics.Metrics) (*detector, error) {
	shared := limits.attacks
	sinks := alerting.Fanout{alerting.Recorder(store, logger)}
	var runners []func(context.Context) error
	var webhook *alerting.Webhook
	if *a.webhookURL != "" {
		wh, err := alerting.NewWebhook(alerting.WebhookConfig{URL: *a.webhookURL, Secret: []byte(a.webhookSecret)})
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, wh)
		runners = append(runners, wh.Run)
		webhook = wh
	}
	if *a.smtpAddr != "" {
		cfg := alerting.MailerConfig{Addr: *a.smtpAddr, From: *a.mailFrom, To: *a.mailTo}
		if *a.smtpUser != "" {
			host, _, _ := net.SplitHostPort(*a.smtpAddr)
			cfg.Auth = smtp.PlainAuth("", *a.smtpUser, a.smtpPassword, host)
			cfg.RequireTLS = true
		}
		mailer, err := alerting.NewMailer(cfg)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, mailer)
		runners = append(runners, mailer.Run)
	}
	rules := a.rules
	if rules == nil {
		rules = []alerting.Rule{} // every rule off: not the defaults
	}
	cfg := alerting.Config{Rules: rules, OnRaise: func(al custodian.Alert) { m.AlertRaised(al.Rule) }}
	if shared != nil {
		cfg.Shared, cfg.SharedTimeout = shared, limits.timeout
		cfg.OnShared = func(degraded bool) {
			if degraded {
				logger.Warn("Redis unreachable; attacks are counted by each instance alone until it answers")
			} else {
				logger.Info("Redis answers again; attacks are counted across instances")
			}
		}
	}
	c, err := alerting.New(sinks, cfg)
	if err != nil {
		return nil, err
	}
	runners = append(runners, c.Run)
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, run := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("alert delivery stopped", "err", err)
			}
		}()
	}
	logger.Info("attack detection on", "rules", len(rules), "shared", shared != nil, "block", a.block.String(), "webhook", *a.webhookURL != "", "mail", *a.smtpAddr != "")
	return &detector{correlator: c, webhook: webhook, stop: func() {
		// Store what is pending before stopping.
		fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.Flush(fctx)
		fcancel()
		cancel()
		wg.Wait()
	}}, nil
}

// signalRelay passes the account service's signals (an account locked at
// the sign-in policy's hard limit, failed checks of the current password)
// to the attack detector, which starts after the service: until it is set,
// they are dropped.
type signalRelay struct {
	to atomic.Pointer[alerting.Correlator]
}

// Observe passes s on to the detector, if any.
func (r *signalRelay) Observe(s custodian.Signal) {
	if c := r.to.Load(); c != nil {
		c.Observe(s)
	}
}

// accountMailer returns the mailer of account mails (the unlock link of a
// locked account) over the alert mails' SMTP server, and the address the
// links point at (the first origin of --public-url, or of the first
// --allowed-hosts name), or nil when mail or that address is missing.
func accountMailer(s *serveSettings, logger *slog.Logger) (*alerting.AccountMailer, string, error) {
	a := s.alerts
	if *a.smtpAddr == "" || len(s.passkeys.Origins) == 0 {
		return nil, "", nil
	}
	cfg := alerting.MailerConfig{Addr: *a.smtpAddr, From: *a.mailFrom}
	if *a.smtpUser != "" {
		host, _, _ := net.SplitHostPort(*a.smtpAddr)
		cfg.Auth = smtp.PlainAuth("", *a.smtpUser, a.smtpPassword, host)
		cfg.RequireTLS = true
	}
	m, err := alerting.NewAccountMailer(cfg, logger)
	return m, s.passkeys.Origins[0], err
}
