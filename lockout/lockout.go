// Package lockout holds the sign-in throttling policy that protects accounts
// against online password guessing.
//
// Policy turns the number of consecutive failed sign-ins for an account
// into a wait before the next attempt is considered: an exponentially
// growing delay, then a temporary lock. NIST SP 800-63B-4 requires that no
// more than 100 consecutive failures be allowed; this package never allows
// more, and every lock is temporary so that an attacker who knows an
// account name cannot lock its owner out for good.
//
// The package holds no state: the caller keeps, per account (and per
// unknown account name, so that throttling does not reveal which accounts
// exist), the count of consecutive failures and the time of the last one,
// and resets the count after a successful sign-in.
package lockout

import (
	"errors"
	"fmt"
	"time"
)

// Defaults and bounds of Policy.
const (
	// DefaultBaseDelay is the wait after the first counted failure.
	DefaultBaseDelay = time.Second
	// DefaultMaxDelay caps the exponential delay.
	DefaultMaxDelay = time.Minute
	// DefaultLockAfter is the number of consecutive failures that locks an
	// account.
	DefaultLockAfter = 10
	// DefaultLockDuration is how long a lock lasts.
	DefaultLockDuration = 15 * time.Minute

	// MaxLockAfter is NIST SP 800-63B-4's limit on consecutive failures.
	MaxLockAfter = 100
	// MaxLockDuration bounds a lock so no account stays locked for long.
	MaxLockDuration = 24 * time.Hour
)

// ErrInvalidPolicy means a Policy's fields are out of bounds.
var ErrInvalidPolicy = errors.New("lockout: invalid lockout policy")

// Policy is the account throttling policy. Zero fields take the defaults:
// no free failures, then 1 s, 2 s, 4 s, … capped at 1 minute, and a
// 15-minute lock from the 10th consecutive failure.
type Policy struct {
	// FreeFailures is how many consecutive failures cost no delay, to
	// spare people who mistype once or twice.
	FreeFailures int
	// BaseDelay is the delay after the first failure past FreeFailures;
	// each further failure doubles it.
	BaseDelay time.Duration
	// MaxDelay caps the delay.
	MaxDelay time.Duration
	// LockAfter is the number of consecutive failures that locks the
	// account, at most MaxLockAfter.
	LockAfter int
	// LockDuration is how long a lock lasts, at most MaxLockDuration.
	LockDuration time.Duration
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
	case l.FreeFailures < 0 || l.BaseDelay < 0 || l.MaxDelay < 0 || l.LockAfter < 0 || l.LockDuration < 0:
		return fmt.Errorf("%w: negative value", ErrInvalidPolicy)
	case e.LockAfter > MaxLockAfter:
		return fmt.Errorf("%w: lock after at most %d failures", ErrInvalidPolicy, MaxLockAfter)
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
	if l.FreeFailures < 0 {
		l.FreeFailures = 0
	}
	return l
}

// Decide returns the wait imposed after failures consecutive failed
// sign-ins.
func (l Policy) Decide(failures int) Decision {
	e := l.effective()
	lockAfter := min(e.LockAfter, MaxLockAfter)
	if failures >= lockAfter {
		return Decision{Delay: min(e.LockDuration, MaxLockDuration), Locked: true}
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
