package custodian

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// SignalKind is the type of a security signal.
type SignalKind uint8

// Signal kinds.
const (
	// SignalFailedSignIn is a rejected sign-in attempt (bad password, bad
	// one-time code).
	SignalFailedSignIn SignalKind = iota + 1
	// SignalSuspicious is a request that looks like probing: unknown
	// admin paths, malformed input, CSRF failures, path traversal.
	SignalSuspicious
	// SignalRateLimited is a request refused by a rate limit.
	SignalRateLimited
	// SignalAccountLocked is an account (or an email address without one)
	// reaching the sign-in policy's hard limit of consecutive failures:
	// it stays locked until unlocked.
	SignalAccountLocked
)

// String returns the kind's name as used in configuration and alerts.
func (k SignalKind) String() string {
	switch k {
	case SignalFailedSignIn:
		return "failed_sign_in"
	case SignalSuspicious:
		return "suspicious_request"
	case SignalRateLimited:
		return "rate_limited"
	case SignalAccountLocked:
		return "account_locked"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Signal is one security-relevant observation from the request path.
type Signal struct {
	// Kind says what was observed.
	Kind SignalKind
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

// Observer receives the security signals the request path reports. The
// attack detector is one; Observe must never block.
type Observer interface {
	Observe(Signal)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(Signal)

// Observe calls f.
func (f ObserverFunc) Observe(s Signal) { f(s) }

// AlertStatus is the lifecycle state of an alert.
type AlertStatus string

// Alert states.
const (
	// AlertOpen: the attack is ongoing or was seen within the window.
	AlertOpen AlertStatus = "open"
	// AlertClosed: no signal for a whole window; a renewed attack raises
	// a new alert.
	AlertClosed AlertStatus = "closed"
)

// Alert is one detected attack. It is raised once and then updated, with
// the same ID, while the attack goes on, and closed after it stops.
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
	Status AlertStatus `json:"status"`
}

// StoredAlert is an alert as kept in the database, with its resolution by
// an administrator, if any.
type StoredAlert struct {
	Alert
	// ResolvedAt is when an administrator marked the alert resolved; nil
	// while it is not.
	ResolvedAt *time.Time `json:"resolved_at"`
	// ResolvedBy is the user id of that administrator.
	ResolvedBy string `json:"resolved_by,omitempty"`
}

// AlertQuery selects stored alerts, most recently seen first. Empty fields
// do not filter; Resolved, when set, keeps only the alerts that someone
// has resolved (true) or that nobody has resolved yet (false).
// BeforeLastSeen continues a listing (with BeforeID for alerts last seen
// at the same instant); Limit bounds the count (0: no bound).
type AlertQuery struct {
	Status         AlertStatus
	Rule           string
	Resolved       *bool
	BeforeLastSeen time.Time
	BeforeID       string
	Limit          int
}

// AlertService lists the stored alerts and resolves them.
type AlertService interface {
	// Alerts returns the alerts q selects.
	Alerts(ctx context.Context, q AlertQuery) ([]StoredAlert, error)
	// ResolveAlert marks an alert resolved by the context's actor, with
	// an audit event; ENOTFOUND when there is no such alert.
	ResolveAlert(ctx context.Context, id string, at time.Time) error
}

// AlertRepository keeps alerts.
type AlertRepository interface {
	AlertService
	// SaveAlert stores a new alert or updates the stored one with the
	// same ID (count, last seen, status), reporting whether it was new.
	// A new alert is also recorded in the audit trail.
	SaveAlert(ctx context.Context, a Alert) (created bool, err error)
}

// AttackWindows is where several instances count signals together, so that an
// attack spread over the instances behind a load balancer is one attack:
// twelve probes split six and six over two instances reach a threshold of
// ten. The attack detector (package alerting) counts through it; package redis implements it.
type AttackWindows interface {
	// Hit records one signal of rule for key at t and returns the state
	// of the key after it. When the key's most recent Threshold signals
	// fall within Window and no alert is open, it opens one with the
	// proposed id and reports Raised, to this caller only. Hit is atomic
	// across instances.
	Hit(ctx context.Context, h AttackHit) (AttackState, error)
	// State returns the open alert of rule for key, or ok false once it
	// has been quiet for its window.
	State(ctx context.Context, rule, key string) (AttackState, bool, error)
	// Block tells every instance that addr is blocked until the given
	// time.
	Block(ctx context.Context, addr netip.Addr, until time.Time) error
	// Blocks calls fn with each block any instance publishes, until ctx
	// ends.
	Blocks(ctx context.Context, fn func(addr netip.Addr, until time.Time)) error
}

// AttackHit is one signal counted in AttackWindows.
type AttackHit struct {
	// Rule and Key name what is counted: the rule's name and kind, and
	// its counting key ("addr:…" or "account:…").
	Rule, Key string
	// Time is when the signal happened.
	Time time.Time
	// Window and Threshold are the rule's.
	Window    time.Duration
	Threshold int
	// ID is the id of the alert to open if this hit raises one.
	ID string
}

// AttackState is the state of a counted key: after a Hit, or as State
// finds it.
type AttackState struct {
	// AlertID is the open alert's id, empty while none is open.
	AlertID string
	// Raised reports that this Hit opened the alert.
	Raised bool
	// Count is the number of signals the open alert has seen.
	Count int
	// FirstSeen and LastSeen bound the open alert's signals.
	FirstSeen, LastSeen time.Time
}
