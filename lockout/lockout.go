// Package lockout holds the sign-in throttling policy that protects accounts
// against online password guessing, as NIST SP 800-63B-4 (section 3.2.2,
// rate limiting) and OWASP's authentication guidance describe it, without
// letting the throttling be turned against the account's owner.
//
// Failures are counted twice: per account and source (a client address),
// and per account from every source.
//
//   - The count of one source against one account (Decide, Check) turns
//     into a wait before that source's next attempt: an exponentially
//     growing delay, then temporary locks that double with each further
//     failure up to a day. It is the attacker's own wait: the owner,
//     signing in from another source, is not slowed. A source's failures
//     are forgotten Forget after its wait ends with no new failure
//     (Forgotten).
//   - The account's count of consecutive failures from every source is
//     the hard limit NIST SP 800-63B-4 requires (at most 100): at
//     HardLimit the account is locked until it is unlocked (HardLocked) by
//     its owner through a link sent by email, a password reset, or an
//     administrator. A success resets it; it is not forgotten with time.
//
// The package holds no state: the caller keeps the counts and the time of
// the last failure of each (per unknown account name too, so that
// throttling does not reveal which accounts exist).
package lockout

import (
	"errors"
	"fmt"
	"time"
)

// Defaults and bounds of Policy.
const (
	// DefaultFreeFailures is how many failures of a source cost no delay.
	DefaultFreeFailures = 2
	// DefaultBaseDelay is the wait after the first counted failure.
	DefaultBaseDelay = time.Second
	// DefaultMaxDelay caps the exponential delay.
	DefaultMaxDelay = time.Minute
	// DefaultLockAfter is the number of consecutive failures that locks an
	// account.
	DefaultLockAfter = 10
	// DefaultLockDuration is how long a lock lasts.
	DefaultLockDuration = 15 * time.Minute

	// DefaultForget is how long after its wait ends, with no new failure,
	// a source's failures are forgotten.
	DefaultForget = 24 * time.Hour
	// DefaultHardLimit is the number of consecutive failures, from every
	// source, that locks an account until it is unlocked.
	DefaultHardLimit = 100

	// MaxLockAfter is NIST SP 800-63B-4's limit on consecutive failures:
	// the bound of LockAfter and HardLimit.
	MaxLockAfter = 100
	// MaxLockDuration bounds a source's lock, however many its failures.
	MaxLockDuration = 24 * time.Hour
	// MaxForget bounds Forget.
	MaxForget = 30 * 24 * time.Hour
)

// ErrInvalidPolicy means a Policy's fields are out of bounds.
var ErrInvalidPolicy = errors.New("lockout: invalid lockout policy")

// Policy is the account throttling policy. Zero fields take the defaults:
// per source, two free failures, then 1 s, 2 s, 4 s, … capped at 1 minute,
// a 15-minute lock at the 10th failure, 30 minutes at the 11th, and so on
// up to a day, forgotten a day after the wait ends; per account, a lock
// until unlocked at the 100th consecutive failure.
type Policy struct {
	// FreeFailures is how many failures of a source cost no delay, to
	// spare people who mistype once or twice: zero means
	// DefaultFreeFailures, negative means none.
	FreeFailures int
	// BaseDelay is the delay after the first failure past FreeFailures;
	// each further failure doubles it.
	BaseDelay time.Duration
	// MaxDelay caps the delay.
	MaxDelay time.Duration
	// LockAfter is the number of failures of one source that locks it
	// out of the account, at most MaxLockAfter.
	LockAfter int
	// LockDuration is how long the first lock lasts, at most
	// MaxLockDuration; each further failure doubles it, up to
	// MaxLockDuration.
	LockDuration time.Duration
	// Forget is how long after a source's wait ends, with no new failure,
	// its failures are forgotten; at most MaxForget.
	Forget time.Duration
	// HardLimit is the number of consecutive failures of an account, from
	// every source, that locks it until it is unlocked; at most
	// MaxLockAfter.
	HardLimit int
}

// Decision is what the policy says after a number of consecutive failures.
type Decision struct {
	// Delay is how long after the last failure the next attempt is
	// accepted; zero means at once. While Locked it is the lock duration.
	Delay time.Duration
	// Locked reports a temporary lock rather than a throttling delay.
	Locked bool
}

// Validate reports whether the policy is within bounds; call it when
// loading configuration.
func (l Policy) Validate() error {
	e := l.effective()
	switch {
	case l.BaseDelay < 0 || l.MaxDelay < 0 || l.LockAfter < 0 || l.LockDuration < 0 || l.Forget < 0 || l.HardLimit < 0:
		return fmt.Errorf("%w: negative value", ErrInvalidPolicy)
	case e.LockAfter > MaxLockAfter:
		return fmt.Errorf("%w: lock after at most %d failures", ErrInvalidPolicy, MaxLockAfter)
	case e.HardLimit > MaxLockAfter:
		return fmt.Errorf("%w: hard limit of at most %d consecutive failures", ErrInvalidPolicy, MaxLockAfter)
	case e.Forget > MaxForget:
		return fmt.Errorf("%w: forget failures within %s", ErrInvalidPolicy, MaxForget)
	case e.LockDuration > MaxLockDuration:
		return fmt.Errorf("%w: lock for at most %s", ErrInvalidPolicy, MaxLockDuration)
	case e.MaxDelay < e.BaseDelay:
		return fmt.Errorf("%w: maximum delay below base delay", ErrInvalidPolicy)
	case e.MaxDelay > e.LockDuration:
		return fmt.Errorf("%w: maximum delay above lock duration", ErrInvalidPolicy)
	case e.FreeFailures >= e.LockAfter:
		return fmt.Errorf("%w: free failures must be fewer than lock after", ErrInvalidPolicy)
	}
	return nil
}

// effective applies defaults to zero fields and clamps the bounds that
// protect users, so even a policy that fails Validate never allows more
// than MaxLockAfter failures or locks for more than MaxLockDuration.
func (l Policy) effective() Policy {
	if l.BaseDelay <= 0 {
		l.BaseDelay = DefaultBaseDelay
	}
	if l.MaxDelay <= 0 {
		l.MaxDelay = DefaultMaxDelay
	}
	if l.LockAfter <= 0 {
		l.LockAfter = DefaultLockAfter
	}
	if l.LockDuration <= 0 {
		l.LockDuration = DefaultLockDuration
	}
	switch {
	case l.FreeFailures == 0:
		l.FreeFailures = DefaultFreeFailures
	case l.FreeFailures < 0:
		l.FreeFailures = 0
	}
	if l.Forget <= 0 {
		l.Forget = DefaultForget
	}
	if l.HardLimit <= 0 {
		l.HardLimit = DefaultHardLimit
	}
	return l
}

// Decide returns the wait imposed on a source after failures failed
// sign-ins of it against an account: a delay, then locks that double with
// each failure past LockAfter, up to MaxLockDuration.
func (l Policy) Decide(failures int) Decision {
	e := l.effective()
	lockAfter := min(e.LockAfter, MaxLockAfter)
	if failures >= lockAfter {
		d := min(e.LockDuration, MaxLockDuration)
		for i := lockAfter; i < failures && d < MaxLockDuration; i++ {
			d *= 2
		}
		return Decision{Delay: min(d, MaxLockDuration), Locked: true}
	}
	n := failures - e.FreeFailures
	if n <= 0 {
		return Decision{}
	}
	d := e.BaseDelay
	for i := 1; i < n && d < e.MaxDelay; i++ {
		d *= 2
	}
	return Decision{Delay: min(d, e.MaxDelay)}
}

// Check reports whether an attempt at now may proceed after failures
// consecutive failures, the last at lastFailure; if not, retryAfter is how
// long to wait (for a Retry-After header). A refused attempt must be
// answered without checking the password and without counting as a
// failure.
func (l Policy) Check(failures int, lastFailure, now time.Time) (retryAfter time.Duration, locked, allowed bool) {
	d := l.Decide(failures)
	if d.Delay == 0 {
		return 0, false, true
	}
	until := lastFailure.Add(d.Delay)
	if !now.Before(until) {
		return 0, false, true
	}
	return until.Sub(now), d.Locked, false
}

// Forgotten reports whether a source's failures, the last at lastFailure,
// are forgotten at now: Forget has passed since its wait ended.
func (l Policy) Forgotten(failures int, lastFailure, now time.Time) bool {
	if failures <= 0 {
		return true
	}
	e := l.effective()
	return !now.Before(lastFailure.Add(l.Decide(failures).Delay + min(e.Forget, MaxForget)))
}

// HardLocked reports whether an account with consecutive failed sign-ins
// from every source is locked until unlocked.
func (l Policy) HardLocked(consecutive int) bool {
	return consecutive >= min(l.effective().HardLimit, MaxLockAfter)
}

// Limit returns the effective hard limit.
func (l Policy) Limit() int { return min(l.effective().HardLimit, MaxLockAfter) }
