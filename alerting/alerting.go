// Package alerting correlates security signals into alerts and delivers them.
//
// Request handlers report what they see (failed sign-ins, suspicious
// requests, rate-limit refusals) as Signals to a Correlator. The
// Correlator counts them per address or account over sliding windows and,
// when a rule's threshold is reached, raises one custodian.Alert per attack, which it
// keeps updating (count, last seen) instead of raising thousands. Alerts
// are handed to an AlertSink on a background goroutine through a bounded
// queue, so Observe never blocks the request path, and the memory used for
// counting is capped however many distinct addresses send traffic.
//
// Webhook and Mailer are AlertSinks that deliver alerts to an HTTP endpoint
// and by e-mail, each with its own bounded retry queue.
package alerting

import (
	"context"
	"errors"
	"time"

	"github.com/custodian-crm/custodian"
)

// KeyBy selects what a rule counts per.
type KeyBy uint8

// Counting keys.
const (
	// ByAddr counts per client address (IPv6 per configured prefix).
	ByAddr KeyBy = iota + 1
	// ByAccount counts per targeted account.
	ByAccount
)

// Rule raises an alert when Threshold signals of Kind arrive for one key
// within a sliding Window.
type Rule struct {
	// Name identifies the rule in alerts, e.g. "brute_force".
	Name string
	// Kind is the signal kind the rule counts.
	Kind custodian.SignalKind
	// By selects the counting key.
	By KeyBy
	// Threshold is the number of signals that raises an alert.
	Threshold int
	// Window is the sliding window the threshold applies to; an alert
	// that sees no signal for a Window is closed.
	Window time.Duration
	// Block, when positive and By is ByAddr, makes Blocked report the
	// address for this long after the alert's last signal.
	Block time.Duration
}

// DefaultRules returns the standard rules: brute force (5 failed sign-ins
// from one address or against one account within 15 minutes), scanning (10
// suspicious requests from one address within 5 minutes) and abuse (3
// rate-limit refusals from one address within 5 minutes) and a locked
// account (one account reaching the sign-in policy's hard limit, alerted
// at once). None blocks; set Block to enable blocking.
func DefaultRules() []Rule {
	return []Rule{
		{Name: "brute_force", Kind: custodian.SignalFailedSignIn, By: ByAddr, Threshold: 5, Window: 15 * time.Minute},
		{Name: "brute_force", Kind: custodian.SignalFailedSignIn, By: ByAccount, Threshold: 5, Window: 15 * time.Minute},
		{Name: "scanning", Kind: custodian.SignalSuspicious, By: ByAddr, Threshold: 10, Window: 5 * time.Minute},
		{Name: "abuse", Kind: custodian.SignalRateLimited, By: ByAddr, Threshold: 3, Window: 5 * time.Minute},
		{Name: "account_locked", Kind: custodian.SignalAccountLocked, By: ByAccount, Threshold: 1, Window: 24 * time.Hour},
	}
}

// AlertSink receives alerts. Implementations store, log or forward them;
// Notify is called from the correlator's delivery goroutine, one alert at a
// time.
type AlertSink interface {
	Notify(ctx context.Context, a custodian.Alert) error
}

// SinkFunc adapts a function to an AlertSink.
type SinkFunc func(ctx context.Context, a custodian.Alert) error

// Notify calls f.
func (f SinkFunc) Notify(ctx context.Context, a custodian.Alert) error { return f(ctx, a) }

// Fanout is an AlertSink that notifies every sink in turn and joins their
// errors.
type Fanout []AlertSink

// Notify passes a to every sink.
func (f Fanout) Notify(ctx context.Context, a custodian.Alert) error {
	var errs []error
	for _, s := range f {
		if err := s.Notify(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
