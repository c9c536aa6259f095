package accounts_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/totp"
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
	key, err := totp.Generate("Custodian", "c@example.com")
	if err != nil {
		t.Fatal(err)
	}
	dk, keyID, wrapped, _ := e.sealer.NewDataKey(u.ID)
	e.repo.UpdateUser(ctx, u.ID, func(r *custodian.UserRecord) error {
		r.TOTPEnabled, r.TOTPKeyID, r.TOTPDataKey, r.TOTPSecret = true, keyID, wrapped, dk.Seal("totp", []byte(key.Secret()))
		return nil
	})
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
