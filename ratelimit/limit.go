package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limiter decides whether one more request for key may proceed now.
//
// Implementations must be safe for concurrent use. An error means the
// limiter could not decide (for example its store is unreachable); callers
// decide whether to fail open or closed.
type Limiter interface {
	Allow(ctx context.Context, key string) (Decision, error)
}

// Decision is the outcome of one Allow call.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Remaining is how many further requests the key could make right now.
	Remaining int
	// RetryAfter is how long a refused client must wait before one more
	// request would be allowed; it is zero when Allowed is true.
	RetryAfter time.Duration
}

// Limit is a GCRA rate: a sustained Rate in requests per second and a Burst
// of requests that may be made at once after a quiet period.
//
// Typical values are 10/s with burst 20 for the API and 1/s with burst 3
// for sign-in.
type Limit struct {
	// Rate is the sustained number of requests per second; it must be > 0.
	Rate float64
	// Burst is the number of requests allowed back to back; it must be >= 1.
	Burst int
}

// ErrInvalidLimit is returned (wrapped) for a Limit that cannot be enforced
// or a configuration string that does not describe one.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// Bounds that keep the GCRA arithmetic in int64 nanoseconds exact and free
// of overflow.
const (
	maxRate  = 1e9     // one request per nanosecond
	minRate  = 1e-6    // about one request per 11.6 days
	maxBurst = 1 << 20 // ~1M requests at once
	// maxWindow bounds Burst/Rate, the time a full burst takes to refill,
	// to about 31 years so that a TAT in nanoseconds cannot overflow.
	maxWindow = 1e9 // seconds
)

// Validate reports whether l can be enforced. It checks that the rate is a
// finite number within [1e-6, 1e9] per second and the burst within
// [1, 1048576], and that refilling a full burst takes at most 1e9 seconds,
// so that all internal arithmetic stays in range.
func (l Limit) Validate() error {
	if math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate < minRate || l.Rate > maxRate {
		return fmt.Errorf("%w: rate must be between %g and %g per second", ErrInvalidLimit, minRate, maxRate)
	}
	if l.Burst < 1 || l.Burst > maxBurst {
		return fmt.Errorf("%w: burst must be between 1 and %d", ErrInvalidLimit, maxBurst)
	}
	if float64(l.Burst)/l.Rate > maxWindow {
		return fmt.Errorf("%w: burst/rate must not exceed %g seconds", ErrInvalidLimit, float64(maxWindow))
	}
	return nil
}

// Interval is the GCRA emission interval: the time one request "costs".
func (l Limit) Interval() time.Duration {
	return time.Duration(float64(time.Second) / l.Rate)
}

// String formats l in the syntax ParseLimit accepts, for example
// "10/s,burst=20". ParseLimit(l.String()) returns l again.
func (l Limit) String() string {
	return strconv.FormatFloat(l.Rate, 'g', -1, 64) + "/s,burst=" + strconv.Itoa(l.Burst)
}

// ParseLimit reads a Limit from a configuration string such as
// "10/s,burst=20", "1/s, burst=3" or "600/m". The unit after the slash is
// s (second), m (minute) or h (hour); the rate is converted to requests per
// second. When the burst is omitted it defaults to the count per unit,
// rounded up (so "600/m" allows 600 at once), which is what an operator
// writing "N per unit" expects.
func ParseLimit(s string) (Limit, error) {
	ratePart, burstPart, hasBurst := strings.Cut(s, ",")
	countStr, unitStr, ok := strings.Cut(strings.TrimSpace(ratePart), "/")
	if !ok {
		return Limit{}, fmt.Errorf("%w: want COUNT/UNIT[,burst=N], e.g. 10/s,burst=20", ErrInvalidLimit)
	}
	count, err := strconv.ParseFloat(strings.TrimSpace(countStr), 64)
	if err != nil || math.IsNaN(count) || math.IsInf(count, 0) || count <= 0 {
		return Limit{}, fmt.Errorf("%w: count must be a positive number", ErrInvalidLimit)
	}
	var per float64
	switch strings.TrimSpace(unitStr) {
	case "s":
		per = 1
	case "m":
		per = 60
	case "h":
		per = 3600
	default:
		return Limit{}, fmt.Errorf("%w: unit must be s, m or h", ErrInvalidLimit)
	}
	l := Limit{Rate: count / per}
	if hasBurst {
		name, value, ok := strings.Cut(strings.TrimSpace(burstPart), "=")
		if !ok || strings.TrimSpace(name) != "burst" {
			return Limit{}, fmt.Errorf("%w: want burst=N after the comma", ErrInvalidLimit)
		}
		b, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			return Limit{}, fmt.Errorf("%w: burst must be an integer", ErrInvalidLimit)
		}
		l.Burst = b
	} else {
		c := math.Ceil(count)
		if c > maxBurst {
			return Limit{}, fmt.Errorf("%w: default burst too large, give burst=N", ErrInvalidLimit)
		}
		l.Burst = int(c)
	}
	if err := l.Validate(); err != nil {
		return Limit{}, err
	}
	return l, nil
}
