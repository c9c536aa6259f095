// Package monitor correlates security signals into alerts and delivers them.
//
// Request handlers report what they see (failed sign-ins, suspicious
// requests, rate-limit refusals) as Signals to a Correlator. The
// Correlator counts them per address or account over sliding windows and,
// when a rule's threshold is reached, raises one Alert per attack, which it
// keeps updating (count, last seen) instead of raising thousands. Alerts
// are handed to an AlertSink on a background goroutine through a bounded
// queue, so Observe never blocks the request path, and the memory used for
// counting is capped however many distinct addresses send traffic.
//
// Webhook and Mailer are AlertSinks that deliver alerts to an HTTP endpoint
// and by e-mail, each with its own bounded retry queue.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Kind is the type of a security signal.
type Kind uint8

// Signal kinds.
const (
	// FailedSignIn is a rejected sign-in attempt (bad password, bad OTP).
	FailedSignIn Kind = iota + 1
	// SuspiciousRequest is a request that looks like probing: unknown
	// admin paths, malformed input, CSRF failures, path traversal.
	SuspiciousRequest
	// RateLimited is a request refused by the rate limiter.
	RateLimited
	numKinds
)

// String returns the kind's name as used in configuration and alerts.
func (k Kind) String() string {
	switch k {
	case FailedSignIn:
		return "failed_sign_in"
	case SuspiciousRequest:
		return "suspicious_request"
	case RateLimited:
		return "rate_limited"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Signal is one security-relevant observation from the request path.
type Signal struct {
	// Kind says what was observed.
	Kind Kind
	// Addr is the client address; the zero Addr means unknown.
	Addr netip.Addr
	// Account identifies the targeted account by its stable id. Use an id,
	// not an e-mail address: it ends up in alerts sent off the machine.
	// Only its first 256 bytes are used.
	Account string
	// Time is when it happened; zero means now.
	Time time.Time
	// Detail is a short description for humans; it is not used for
	// correlation and must not contain secrets or personal data.
	Detail string
}

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
	Kind Kind
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
// rate-limit refusals from one address within 5 minutes). None blocks;
// set Block to enable blocking.
func DefaultRules() []Rule {
	return []Rule{
		{Name: "brute_force", Kind: FailedSignIn, By: ByAddr, Threshold: 5, Window: 15 * time.Minute},
		{Name: "brute_force", Kind: FailedSignIn, By: ByAccount, Threshold: 5, Window: 15 * time.Minute},
		{Name: "scanning", Kind: SuspiciousRequest, By: ByAddr, Threshold: 10, Window: 5 * time.Minute},
		{Name: "abuse", Kind: RateLimited, By: ByAddr, Threshold: 3, Window: 5 * time.Minute},
	}
}

// Status is the lifecycle state of an alert.
type Status string

// Alert states.
const (
	// StatusOpen: the attack is ongoing or was seen within the window.
	StatusOpen Status = "open"
	// StatusClosed: no signal for a whole window; a renewed attack raises a
	// new alert.
	StatusClosed Status = "closed"
)

// Alert is one detected attack. Sinks receive it when it is raised and
// again, with the same ID, whenever it is updated or closed.
type Alert struct {
	// ID is random and stays the same across updates.
	ID string `json:"id"`
	// Rule is the name of the rule that fired.
	Rule string `json:"rule"`
	// Key is what the rule counted per: "addr:<address or prefix>" or
	// "account:<account id>".
	Key string `json:"key"`
	// FirstSeen is the time of the earliest signal counted.
	FirstSeen time.Time `json:"first_seen"`
	// LastSeen is the time of the latest signal counted.
	LastSeen time.Time `json:"last_seen"`
	// Count is the number of signals attributed to the attack.
	Count int `json:"count"`
	// Status says whether the attack is ongoing.
	Status Status `json:"status"`
}

// AlertSink receives alerts. Implementations store, log or forward them;
// Notify is called from the correlator's delivery goroutine, one alert at a
// time.
type AlertSink interface {
	Notify(ctx context.Context, a Alert) error
}

// SinkFunc adapts a function to an AlertSink.
type SinkFunc func(ctx context.Context, a Alert) error

// Notify calls f.
func (f SinkFunc) Notify(ctx context.Context, a Alert) error { return f(ctx, a) }

// Fanout is an AlertSink that notifies every sink in turn and joins their
// errors.
type Fanout []AlertSink

// Notify passes a to every sink.
func (f Fanout) Notify(ctx context.Context, a Alert) error {
	var errs []error
	for _, s := range f {
		if err := s.Notify(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
