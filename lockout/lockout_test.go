package lockout

import (
	"errors"
	"testing"
	"time"
)

func TestDecideDefaults(t *testing.T) {
	var l Policy
	tests := []struct {
		failures int
		want     Decision
	}{
		{0, Decision{}},
		{1, Decision{}},
		{2, Decision{}},
		{3, Decision{Delay: time.Second}},
		{4, Decision{Delay: 2 * time.Second}},
		{8, Decision{Delay: 32 * time.Second}},
		{9, Decision{Delay: time.Minute}},
		{10, Decision{Delay: 15 * time.Minute, Locked: true}},
		{11, Decision{Delay: 30 * time.Minute, Locked: true}},
		{12, Decision{Delay: time.Hour, Locked: true}},
		{16, Decision{Delay: 16 * time.Hour, Locked: true}},
		{17, Decision{Delay: 24 * time.Hour, Locked: true}},
		{1 << 40, Decision{Delay: 24 * time.Hour, Locked: true}},
		{-1, Decision{}},
	}
	for _, tt := range tests {
		if got := l.Decide(tt.failures); got != tt.want {
			t.Errorf("Decide(%d) = %+v, want %+v", tt.failures, got, tt.want)
		}
	}
}

func TestDecideConfigured(t *testing.T) {
	l := Policy{FreeFailures: 2, BaseDelay: 500 * time.Millisecond, MaxDelay: 5 * time.Second, LockAfter: 100, LockDuration: time.Hour}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		failures int
		want     Decision
	}{
		{1, Decision{}},
		{2, Decision{}},
		{3, Decision{Delay: 500 * time.Millisecond}},
		{4, Decision{Delay: time.Second}},
		{7, Decision{Delay: 5 * time.Second}},
		{99, Decision{Delay: 5 * time.Second}},
		{100, Decision{Delay: time.Hour, Locked: true}},
	}
	for _, tt := range tests {
		if got := l.Decide(tt.failures); got != tt.want {
			t.Errorf("Decide(%d) = %+v, want %+v", tt.failures, got, tt.want)
		}
	}
}

// TestDecideNeverBeyondNIST checks that even a policy that fails Validate
// locks by the 100th failure and only for a bounded time.
func TestDecideNeverBeyondNIST(t *testing.T) {
	l := Policy{LockAfter: 1000, LockDuration: 30 * 24 * time.Hour, MaxDelay: time.Hour}
	if err := l.Validate(); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("Validate = %v, want ErrInvalidPolicy", err)
	}
	if d := l.Decide(MaxLockAfter - 1); d.Locked {
		t.Fatalf("locked after %d failures", MaxLockAfter-1)
	}
	d := l.Decide(MaxLockAfter)
	if !d.Locked || d.Delay != MaxLockDuration {
		t.Fatalf("Decide(100) = %+v, want a lock of %s", d, MaxLockDuration)
	}
}

// TestDecideMonotonic checks, for several valid policies, that the wait
// never shrinks as failures grow and that a lock comes by LockAfter.
func TestDecideMonotonic(t *testing.T) {
	policies := []Policy{
		{},
		{FreeFailures: 3},
		{BaseDelay: 3 * time.Second, MaxDelay: 10 * time.Minute, LockAfter: 100, LockDuration: time.Hour},
		{LockAfter: 1, FreeFailures: -1},
		{BaseDelay: time.Minute, MaxDelay: time.Minute, LockAfter: 5, LockDuration: time.Minute, FreeFailures: -1},
	}
	for i, l := range policies {
		if err := l.Validate(); err != nil {
			t.Fatalf("policy %d: %v", i, err)
		}
		lockAfter := l.effective().LockAfter
		prev := time.Duration(0)
		for f := 0; f <= 200; f++ {
			d := l.Decide(f)
			if d.Delay < prev {
				t.Fatalf("policy %d: delay fell from %s to %s at %d failures", i, prev, d.Delay, f)
			}
			if d.Locked != (f >= lockAfter) {
				t.Fatalf("policy %d: locked=%v at %d failures, lock after %d", i, d.Locked, f, lockAfter)
			}
			prev = d.Delay
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		l     Policy
		valid bool
	}{
		{"zero takes defaults", Policy{}, true},
		{"NIST maximum", Policy{LockAfter: 100}, true},
		{"one day lock", Policy{LockDuration: 24 * time.Hour}, true},
		{"over 100 failures", Policy{LockAfter: 101}, false},
		{"lock over a day", Policy{LockDuration: 25 * time.Hour}, false},
		{"no free failures", Policy{FreeFailures: -1}, true},
		{"negative delay", Policy{BaseDelay: -time.Second}, false},
		{"cap below base", Policy{BaseDelay: time.Minute, MaxDelay: time.Second}, false},
		{"delay longer than lock", Policy{MaxDelay: time.Hour, LockDuration: time.Minute}, false},
		{"free failures reach the lock", Policy{FreeFailures: 10, LockAfter: 10}, false},
		{"hard limit at NIST maximum", Policy{HardLimit: 100}, true},
		{"hard limit over 100", Policy{HardLimit: 101}, false},
		{"negative hard limit", Policy{HardLimit: -1}, false},
		{"forget within a month", Policy{Forget: 30 * 24 * time.Hour}, true},
		{"forget over a month", Policy{Forget: 31 * 24 * time.Hour}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate()
			if tt.valid && err != nil {
				t.Fatalf("Validate = %v", err)
			}
			if !tt.valid && !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("Validate = %v, want ErrInvalidPolicy", err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	l := Policy{FreeFailures: -1}
	last := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		failures   int
		now        time.Time
		allowed    bool
		locked     bool
		retryAfter time.Duration
	}{
		{"no failures", 0, last, true, false, 0},
		{"third failure, too soon", 3, last.Add(3 * time.Second), false, false, time.Second},
		{"third failure, exactly on time", 3, last.Add(4 * time.Second), true, false, 0},
		{"third failure, clock went back", 3, last.Add(-time.Second), false, false, 5 * time.Second},
		{"locked, just after", 10, last.Add(time.Second), false, true, 15*time.Minute - time.Second},
		{"locked, one minute left", 10, last.Add(14 * time.Minute), false, true, time.Minute},
		{"lock expired", 10, last.Add(15 * time.Minute), true, false, 0},
		{"lock long expired", 25, last.Add(48 * time.Hour), true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, locked, allowed := l.Check(tt.failures, last, tt.now)
			if allowed != tt.allowed || locked != tt.locked || retry != tt.retryAfter {
				t.Fatalf("Check = %s, locked=%v, allowed=%v; want %s, %v, %v", retry, locked, allowed, tt.retryAfter, tt.locked, tt.allowed)
			}
		})
	}
}

// TestLockIsTemporary simulates an attacker who keeps guessing as fast as
// the policy allows, on an injected clock: the owner can always try again
// within LockDuration of the last failure.
func TestLockIsTemporary(t *testing.T) {
	l := Policy{LockAfter: 5, LockDuration: 10 * time.Minute, MaxDelay: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var failures int
	var last time.Time
	locks := 0
	for range 50 {
		retry, locked, allowed := l.Check(failures, last, now)
		if !allowed {
			if retry > MaxLockDuration {
				t.Fatalf("wait %s exceeds the longest lock", retry)
			}
			if locked {
				locks++
			}
			now = now.Add(retry)
			continue
		}
		failures++ // the attacker guesses wrong
		last = now
	}
	if locks == 0 {
		t.Fatal("attacker was never locked")
	}
	if failures >= 50 {
		t.Fatalf("attacker made %d guesses in 50 tries: throttling did nothing", failures)
	}
}

// TestForgottenAfterTheWait checks that a source's failures age out
// Forget after its wait ends, and not before.
func TestForgottenAfterTheWait(t *testing.T) {
	l := Policy{FreeFailures: -1}
	last := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		failures int
		after    time.Duration
		want     bool
	}{
		{0, 0, true},
		{1, 0, false},
		{1, 24 * time.Hour, false}, // the 1 s wait has not quite passed with it
		{1, 24*time.Hour + time.Second, true},
		{10, 24 * time.Hour, false}, // locked 15 min, then a day
		{10, 24*time.Hour + 15*time.Minute, true},
		{40, 47 * time.Hour, false}, // locked a day, then a day
		{40, 48 * time.Hour, true},
	}
	for _, tt := range tests {
		if got := l.Forgotten(tt.failures, last, last.Add(tt.after)); got != tt.want {
			t.Errorf("Forgotten(%d, +%v) = %v, want %v", tt.failures, tt.after, got, tt.want)
		}
	}
}

// TestHardLimitNeverBeyondNIST checks the hard limit: 100 by default,
// lower when configured, never above 100 even for a policy that fails
// Validate.
func TestHardLimitNeverBeyondNIST(t *testing.T) {
	tests := []struct {
		l    Policy
		want int
	}{
		{Policy{}, 100},
		{Policy{HardLimit: 30}, 30},
		{Policy{HardLimit: 1000}, 100},
	}
	for _, tt := range tests {
		if tt.l.HardLocked(tt.want-1) || !tt.l.HardLocked(tt.want) || tt.l.Limit() != tt.want {
			t.Errorf("%+v: hard limit is not %d", tt.l, tt.want)
		}
	}
}
