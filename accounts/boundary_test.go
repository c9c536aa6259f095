package accounts_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	otptotp "github.com/pquerna/otp/totp"
)

// TestSignInWithTheLongestEmail: an address of exactly the longest length
// an account may have signs in like any other.
func TestSignInWithTheLongestEmail(t *testing.T) {
	e := newEnv(t)
	domain := "@example.com"
	email := strings.Repeat("a", 64) + "." + strings.Repeat("b", custodian.MaxEmailLen-64-1-len(domain)) + domain
	if len(email) != custodian.MaxEmailLen {
		t.Fatalf("test address is %d bytes", len(email))
	}
	if _, err := e.svc.CreateUser(context.Background(), email, "Long", custodian.RoleViewer, pw); err != nil {
		t.Fatalf("create with a %d-byte address: %v", len(email), err)
	}
	if _, err := e.signIn(email, pw, ""); err != nil {
		t.Fatalf("sign in with a %d-byte address: %v", len(email), err)
	}
}

// TestTOTPCodeOnceUnderConcurrency: one code sent by several sign-ins at
// the same moment opens one session. Each attempt checks the code against
// the last step used before it takes the user's row; the row update must
// refuse the step the first one stored.
func TestTOTPCodeOnceUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, _ := e.svc.CreateUser(ctx, "c@example.com", "C", custodian.RoleAdmin, pw)
	key := e.enableTOTP(t, u)
	e.clock.Advance(2 * time.Second)
	code, err := otptotp.GenerateCode(key.Secret(), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	const attempts = 8
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range attempts {
		wg.Go(func() {
			<-start
			if _, err := e.signIn("c@example.com", pw, code); err == nil {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := ok.Load(); n != 1 {
		t.Fatalf("one code opened %d sessions, want 1", n)
	}
}

// TestLongestUserAgentAndTokenName: a browser name of exactly the length a
// session keeps, and a token name of exactly 100 characters, are taken as
// they are.
func TestLongestUserAgentAndTokenName(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, err := e.svc.CreateUser(ctx, "ua@example.com", "UA", custodian.RoleViewer, pw)
	if err != nil {
		t.Fatal(err)
	}
	agent := strings.Repeat("A", 256)
	if _, _, err := e.svc.SignIn(ctx, custodian.SignInRequest{Email: "ua@example.com", Password: pw, UserAgent: agent, ClientAddr: strings.Repeat("1", 64)}); err != nil {
		t.Fatalf("sign in with a %d-byte user agent: %v", len(agent), err)
	}
	name := strings.Repeat("n", 100)
	if _, tok, err := e.svc.CreateAPIToken(ctx, u.ID, name, 0); err != nil || tok.Name != name {
		t.Fatalf("a %d-character token name: %v", len(name), err)
	}
	if _, _, err := e.svc.CreateAPIToken(ctx, u.ID, name+"n", 0); custodian.ErrorCode(err) != custodian.EINVALID {
		t.Fatalf("a 101-character token name: %v", err)
	}
}

// TestUnknownAddressesAreToldApart: failed sign-ins on an address without
// an account are recorded under a keyed token of the address, the same for
// every attempt on it and different for another address.
func TestUnknownAddressesAreToldApart(t *testing.T) {
	e := newEnv(t)
	subject := func(email string) string {
		t.Helper()
		_, err := e.signIn(email, "wrong password for nobody", "")
		var se *custodian.SignInError
		if !errors.As(err, &se) {
			t.Fatalf("sign-in error %T %v", err, err)
		}
		return se.Account
	}
	a1, a2, b := subject("nobody@example.com"), subject("nobody@example.com"), subject("someone@example.com")
	if !strings.HasPrefix(a1, "unknown:") || a1 != a2 || a1 == b {
		t.Fatalf("unknown addresses recorded as %q, %q and %q", a1, a2, b)
	}
}
