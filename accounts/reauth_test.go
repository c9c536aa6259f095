package accounts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/fakeclock"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/lockout"
	otptotp "github.com/pquerna/otp/totp"
)

// TestCurrentPasswordGuessesAreLimited reproduces unlimited guessing of
// the current password through the changes that ask for it: each wrong
// guess is counted by the sign-in policy (the source waits, the account
// nears its hard limit), recorded as auth.reauth_failed and reported to
// the attack detector, for every change that asks for it.
func TestCurrentPasswordGuessesAreLimited(t *testing.T) {
	changes := []struct {
		name string
		try  func(svc *accounts.Service, ctx context.Context, p *custodian.Principal, current string) error
	}{
		{"password", func(svc *accounts.Service, ctx context.Context, p *custodian.Principal, cur string) error {
			return svc.ChangePassword(ctx, p, cur, "a new password of several words", false)
		}},
		{"email", func(svc *accounts.Service, ctx context.Context, p *custodian.Principal, cur string) error {
			_, err := svc.RequestEmailChange(ctx, p, cur, "elsewhere@example.com")
			return err
		}},
		{"2fa setup", func(svc *accounts.Service, ctx context.Context, p *custodian.Principal, cur string) error {
			_, err := svc.BeginTOTP(ctx, p, cur)
			return err
		}},
		{"2fa off", func(svc *accounts.Service, ctx context.Context, p *custodian.Principal, cur string) error {
			return svc.DisableTOTP(ctx, p, cur, "123456")
		}},
	}
	for _, ch := range changes {
		t.Run(ch.name, func(t *testing.T) {
			store, _ := testdb.SQLite(t)
			k, _ := crypto.NewKeyring()
			sealer, _ := crypto.NewSealer(k, 0)
			clock := fakeclock.New(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
			signals := &signalList{}
			const limit = 8
			svc := policyEnv(t, store, sealer, clock, func(c *accounts.Config) {
				c.Lockout = lockout.Policy{HardLimit: limit, FreeFailures: -1}
				c.Observer = signals
				c.Notifier, c.PublicURL = &mailbox{}, "https://crm.example.test/"
			})
			ctx := context.Background()
			u, err := svc.CreateUser(ctx, "victim@example.com", "Victim", custodian.RoleAgent, pw)
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := svc.SignIn(ctx, custodian.SignInRequest{Email: "victim@example.com", Password: pw, ClientAddr: "192.0.2.10"})
			if err != nil {
				t.Fatal(err)
			}
			p, err := svc.Authenticate(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			// Someone at the victim's unlocked screen, or holding a stolen
			// session, guesses from 203.0.113.5.
			stolen := custodian.WithOrigin(ctx, custodian.Origin{ClientAddr: "203.0.113.5"})
			if err := ch.try(svc, stolen, p, "first guess"); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED || len(custodian.ErrorFields(err)) != 1 {
				t.Fatalf("first wrong guess: %v", err)
			}
			if err := ch.try(svc, stolen, p, pw); custodian.ErrorCode(err) != custodian.ETOOMANY || retryAfter(err) <= 0 {
				t.Fatalf("right away, even the right password must wait: %v", err)
			}
			for i := 1; i < limit; i++ {
				clock.Advance(48 * time.Hour) // every wait over and forgotten
				_ = ch.try(svc, custodian.WithOrigin(ctx, custodian.Origin{ClientAddr: fmt.Sprintf("198.51.100.%d", i)}), p, "another guess")
			}
			// The guesses brought the account to its hard limit.
			if err := signInFrom(svc, "victim@example.com", pw, "192.0.2.10"); custodian.ErrorCode(err) != custodian.ETOOMANY {
				t.Fatalf("sign-in after %d guesses of the current password: %v", limit, err)
			}
			events, err := store.AuditEvents(ctx, custodian.AuditQuery{Action: custodian.ActionReauthFailed})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) < limit {
				t.Fatalf("%d auth.reauth_failed events, want at least %d", len(events), limit)
			}
			var d map[string]any
			_ = json.Unmarshal(events[0].Data, &d)
			if events[0].Subject != u.ID || d["for"] == nil || d["reason"] == nil {
				t.Fatalf("event %+v %v", events[0], d)
			}
			failed := 0
			for _, s := range signals.all() {
				if s.Kind == custodian.SignalFailedSignIn && s.Account == u.ID {
					failed++
				}
			}
			if failed < limit {
				t.Fatalf("%d failures reported to the attack detector, want at least %d", failed, limit)
			}
		})
	}
}

// TestAccessTokenCannotChangeCredentials checks that a personal access
// token alone changes none of its owner's credentials.
func TestAccessTokenCannotChangeCredentials(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, err := e.svc.CreateUser(ctx, "owner@example.com", "Owner", custodian.RoleAgent, pw)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.svc.CreateAPIToken(ctx, u.ID, "script", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.AuthenticateToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	tries := map[string]error{
		"password": e.svc.ChangePassword(ctx, p, pw, "a new password of several words", false),
		"2fa off":  e.svc.DisableTOTP(ctx, p, pw, "123456"),
	}
	_, tries["email"] = e.svc.RequestEmailChange(ctx, p, pw, "thief@example.com")
	_, tries["2fa setup"] = e.svc.BeginTOTP(ctx, p, pw)
	_, tries["2fa enable"] = e.svc.EnableTOTP(ctx, p, "123456")
	for name, err := range tries {
		if custodian.ErrorCode(err) != custodian.EFORBIDDEN {
			t.Errorf("%s with an access token: %v, want forbidden", name, err)
		}
	}
	if r, _ := e.repo.UserByID(ctx, u.ID); r.Email != "owner@example.com" || len(r.TOTPSecret) != 0 {
		t.Fatalf("an access token changed the account: %+v", r.User)
	}
}

// TestTurningTwoFactorOffNeedsACode checks that turning two-factor
// authentication off takes a current code or an unused recovery code, not
// the password alone.
func TestTurningTwoFactorOffNeedsACode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, "two@example.com", "Two", custodian.RoleAgent, pw); err != nil {
		t.Fatal(err)
	}
	tok, err := e.signIn("two@example.com", pw, "")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.svc.Authenticate(ctx, tok)
	enr, err := e.svc.BeginTOTP(ctx, p, pw)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := otptotp.GenerateCode(enr.Secret, e.clock.Now())
	recovery, err := e.svc.EnableTOTP(ctx, p, code)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "000000"} {
		if err := e.svc.DisableTOTP(ctx, p, pw, bad); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED || custodian.ErrorFields(err)[0].Field != "code" {
			t.Fatalf("code %q: %v", bad, err)
		}
		e.clock.Advance(time.Hour) // past the source's wait
	}
	if err := e.svc.DisableTOTP(ctx, p, pw, recovery[3]); err != nil {
		t.Fatalf("with a recovery code: %v", err)
	}
	if r, _ := e.repo.UserByEmail(ctx, "two@example.com"); r.TOTPEnabled {
		t.Fatal("two-factor authentication is still on")
	}
}
