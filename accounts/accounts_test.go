package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/fakeclock"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/lockout"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/totp"
	otptotp "github.com/pquerna/otp/totp"
)

const pw = "correct horse battery staple orbit"

type env struct {
	// box keeps the mail of a service configured with it; nil otherwise.
	box    *mailbox
	svc    *accounts.Service
	repo   custodian.AccountRepository
	sealer *crypto.Sealer
	clock  *fakeclock.Clock
}

// newEnv returns an env over a fresh SQLite store.
func newEnv(t *testing.T) *env {
	t.Helper()
	store, _ := testdb.SQLite(t)
	return envOn(t, store)
}

// strictEnv is newEnv with no free failures: the first one makes its
// source wait.
func strictEnv(t *testing.T) *env {
	t.Helper()
	store, _ := testdb.SQLite(t)
	return envWith(t, store, func(c *accounts.Config) { c.Lockout.FreeFailures = -1 })
}

// envOn returns an env whose service runs over store.
func envOn(t *testing.T, store custodian.AccountRepository) *env {
	t.Helper()
	return envWith(t, store, nil)
}

// envWith returns an env whose service runs over store, with its
// configuration adjusted by adjust (when not nil). The service's
// background writes are waited for when the test ends.
func envWith(t testing.TB, store custodian.AccountRepository, adjust func(*accounts.Config)) *env {
	t.Helper()
	k, _ := crypto.NewKeyring()
	sealer, _ := crypto.NewSealer(k, 0)
	hasher, err := password.NewHasher(password.Config{Params: password.Params{Memory: password.MinMemoryKiB, Time: 2, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	c := fakeclock.New(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	cfg := accounts.Config{Now: c.Now, Lockout: lockout.Policy{LockAfter: 5, LockDuration: 15 * time.Minute}}
	if adjust != nil {
		adjust(&cfg)
	}
	svc, err := accounts.New(store, hasher, sealer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return &env{svc: svc, repo: store, sealer: sealer, clock: c}
}

func (e *env) signIn(email, password, otp string) (string, error) {
	tok, _, err := e.svc.SignIn(context.Background(), custodian.SignInRequest{Email: email, Password: password, OTP: otp})
	return tok, err
}

// retryAfter returns how long a refusal asks the caller to wait: the wait
// of the *custodian.RetryError in err's chain, or 0.
func retryAfter(err error) time.Duration {
	if retry, ok := errors.AsType[*custodian.RetryError](err); ok {
		return retry.After
	}
	return 0
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, "a@example.com", "A", custodian.RoleAgent, pw); err != nil {
		t.Fatal(err)
	}
	tok, err := e.signIn("A@Example.com ", pw, "")
	if err != nil {
		t.Fatal(err)
	}
	// Used every 20 minutes, never idle, the session lives until its
	// absolute limit of 12 hours and not a request longer.
	ended := time.Duration(0)
	for elapsed := 20 * time.Minute; elapsed <= 13*time.Hour; elapsed += 20 * time.Minute {
		e.clock.Advance(20 * time.Minute)
		p, err := e.svc.Authenticate(ctx, tok)
		if elapsed <= 12*time.Hour && (err != nil || p == nil || p.User == nil) {
			t.Fatalf("active session ended after %s: %v %v", elapsed, p, err)
		}
		if elapsed > 12*time.Hour {
			if custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
				t.Fatalf("session outlived its absolute limit: still valid after %s", elapsed)
			}
			ended = elapsed
			break
		}
	}
	if ended != 12*time.Hour+20*time.Minute {
		t.Fatalf("the absolute limit was not reached (ended at %s)", ended)
	}
	// Idle for 31 minutes, a session ends.
	tok, _ = e.signIn("a@example.com", pw, "")
	e.clock.Advance(31 * time.Minute)
	if _, err := e.svc.Authenticate(ctx, tok); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("idle session still valid: %v", err)
	}
}

func TestLockoutGrowsThenEnds(t *testing.T) {
	e := strictEnv(t)
	ctx := context.Background()
	e.svc.CreateUser(ctx, "b@example.com", "B", custodian.RoleViewer, pw)
	_, err := e.signIn("b@example.com", "wrong guess number one", "")
	if custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("first failure: %v", err)
	}
	// Right away, even the right password must wait.
	_, err = e.signIn("b@example.com", pw, "")
	if custodian.ErrorCode(err) != custodian.ETOOMANY || retryAfter(err) <= 0 {
		t.Fatalf("immediate retry: %v", err)
	}
	var lastWait time.Duration
	for i := 0; i < 4; i++ {
		e.clock.Advance(retryAfter(err) + time.Millisecond)
		if _, err := e.signIn("b@example.com", "wrong guess again", ""); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
			t.Fatalf("a wrong guess after the wait: %v", err)
		}
		_, err = e.signIn("b@example.com", pw, "")
		wait := retryAfter(err)
		if wait < lastWait {
			t.Fatalf("delay shrank: %s after %s", wait, lastWait)
		}
		lastWait = wait
	}
	if lastWait < 10*time.Minute {
		t.Fatalf("after 5 failures the account should be locked, wait is %s", lastWait)
	}
	e.clock.Advance(lastWait + time.Second)
	if _, err := e.signIn("b@example.com", pw, ""); err != nil {
		t.Fatalf("the lock did not end: %v", err)
	}
	// Success resets the count.
	if _, err := e.signIn("b@example.com", "wrong", ""); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("after reset: %v", err)
	}
}

func TestUnknownEmailIsThrottledLikeAnAccount(t *testing.T) {
	e := strictEnv(t)
	_, err := e.signIn("ghost@example.com", "whatever it is", "")
	if custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatal(err)
	}
	_, err = e.signIn("ghost@example.com", "whatever it is", "")
	if custodian.ErrorCode(err) != custodian.ETOOMANY {
		t.Fatalf("unknown email not throttled: %v", err)
	}
}

func TestDeactivatedUserCannotSignInOrUseSessions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, _ := e.svc.CreateUser(ctx, "c@example.com", "C", custodian.RoleAgent, pw)
	tok, _ := e.signIn("c@example.com", pw, "")
	pat, _, _ := e.svc.CreateAPIToken(ctx, u.ID, "x", 0)
	e.repo.UpdateUser(ctx, u.ID, func(r *custodian.UserRecord) error { r.Active = false; return nil })
	if _, err := e.svc.Authenticate(ctx, tok); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("session of a deactivated user: %v", err)
	}
	if _, err := e.svc.AuthenticateToken(ctx, pat); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("token of a deactivated user: %v", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.signIn("c@example.com", pw, ""); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("deactivated sign-in: %v", err)
	}
}

func TestTokenExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, _ := e.svc.CreateUser(ctx, "d@example.com", "D", custodian.RoleAgent, pw)
	pat, _, err := e.svc.CreateAPIToken(ctx, u.ID, "short", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateToken(ctx, pat); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2*time.Hour + time.Second)
	if _, err := e.svc.AuthenticateToken(ctx, pat); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
		t.Fatalf("expired token accepted: %v", err)
	}
}

// TestDefaultLifetimes pins the lifetimes a service configured with
// nothing gives: the setup link 1 hour, an invitation 7 days, an access
// token 90 days unless asked otherwise, from 1 hour to at most 1 year.
func TestDefaultLifetimes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	if _, exp, err := e.svc.SetupLink(ctx); err != nil || !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("setup link expires %v (%v), want in 1 hour", exp, err)
	}
	u, _ := e.svc.CreateUser(ctx, "e@example.com", "E", custodian.RoleAdmin, pw)
	if _, exp, err := e.svc.Invite(ctx, "f@example.com", custodian.RoleViewer); err != nil || !exp.Equal(now.Add(7*24*time.Hour)) {
		t.Fatalf("invitation expires %v (%v), want in 7 days", exp, err)
	}
	for _, tt := range []struct {
		ttl, want time.Duration
	}{
		{0, 90 * 24 * time.Hour},
		{time.Hour, time.Hour},
		{365 * 24 * time.Hour, 365 * 24 * time.Hour},
		{time.Hour - time.Second, -1},
		{365*24*time.Hour + time.Second, -1},
	} {
		_, tok, err := e.svc.CreateAPIToken(ctx, u.ID, "t", tt.ttl)
		if tt.want < 0 {
			if custodian.ErrorCode(err) != custodian.EINVALID {
				t.Errorf("token for %v: %v, want EINVALID", tt.ttl, err)
			}
			continue
		}
		if err != nil || !tok.ExpiresAt.Equal(now.Add(tt.want)) {
			t.Errorf("token for %v: %v, want expiry in %v", tt.ttl, err, tt.want)
		}
	}
}

// TestUserNameBounds: a name is 1 to 200 characters, without markup or
// control characters.
func TestUserNameBounds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, tt := range []struct {
		name string
		ok   bool
	}{
		{strings.Repeat("é", 200), true},
		{strings.Repeat("é", 201), false},
		{" ", false},
		{"A <b>", false},
		{"A\x7fB", false},
	} {
		_, err := e.svc.CreateUser(ctx, fmt.Sprintf("n%d@example.com", i), tt.name, custodian.RoleViewer, pw)
		if tt.ok != (err == nil) {
			t.Errorf("CreateUser(name %q) = %v, want accepted %v", tt.name, err, tt.ok)
		}
	}
}

// enableTOTP turns two-factor authentication on for u, as enrolment
// leaves it, and returns the key its codes come from.
func (e *env) enableTOTP(t *testing.T, u *custodian.User) *totp.Key {
	t.Helper()
	key, err := totp.Generate("Custodian", u.Email)
	if err != nil {
		t.Fatal(err)
	}
	dk, keyID, wrapped, err := e.sealer.NewDataKey(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.repo.UpdateUser(context.Background(), u.ID, func(r *custodian.UserRecord) error {
		r.TOTPEnabled, r.TOTPKeyID, r.TOTPDataKey, r.TOTPSecret = true, keyID, wrapped, dk.Seal("totp", []byte(key.Secret()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestTOTPSecondFactorAndReplay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, _ := e.svc.CreateUser(ctx, "e@example.com", "E", custodian.RoleAdmin, pw)
	key := e.enableTOTP(t, u)
	_, err := e.signIn("e@example.com", pw, "")
	if fe := custodian.ErrorFields(err); len(fe) != 1 || fe[0].Field != "otp" {
		t.Fatalf("without a code: %v", err)
	}
	e.clock.Advance(2 * time.Second)
	code, err := otptotp.GenerateCode(key.Secret(), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.signIn("e@example.com", pw, code); err != nil {
		t.Fatalf("with a valid code: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.signIn("e@example.com", pw, code); err == nil {
		t.Fatal("a TOTP code was accepted twice")
	}
}
