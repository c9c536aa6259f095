package accounts_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/accounts"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/internal/fakeclock"
	"github.com/custodian-crm/custodian/internal/testdb"
	"github.com/custodian-crm/custodian/lockout"
	"github.com/custodian-crm/custodian/password"
)

// mailbox is an AccountNotifier that keeps what it is asked to send.
type mailbox struct {
	mu   sync.Mutex
	sent []string // "to\nsubject\nbody"
}

func (m *mailbox) NotifyAccount(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, to+"\n"+subject+"\n"+body)
	return nil
}

func (m *mailbox) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.sent...)
}

// policyEnv is a service with the default sign-in policy (but a lower
// hard limit when asked), over store, sealed by sealer, on clock.
func policyEnv(t *testing.T, store custodian.AccountRepository, sealer *crypto.Sealer, clock *fakeclock.Clock, adjust func(*accounts.Config)) *accounts.Service {
	t.Helper()
	hasher, err := password.NewHasher(password.Config{Params: password.Params{Memory: password.MinMemoryKiB, Time: 2, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := accounts.Config{Now: clock.Now}
	if adjust != nil {
		adjust(&cfg)
	}
	svc, err := accounts.New(store, hasher, sealer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

func signInFrom(svc *accounts.Service, email, pw, addr string) error {
	_, _, err := svc.SignIn(context.Background(), custodian.SignInRequest{Email: email, Password: pw, ClientAddr: addr})
	return err
}

// TestOneGuessAfterEachLockDoesNotLockTheOwnerOut reproduces the attack
// that kept an account locked for good: an attacker who knows the email
// guesses until locked out, then once more each time the lock ends. The
// owner, signing in from another address with the right password, must
// get in at every moment of the attack.
func TestOneGuessAfterEachLockDoesNotLockTheOwnerOut(t *testing.T) {
	store, _ := testdb.SQLite(t)
	k, _ := crypto.NewKeyring()
	sealer, _ := crypto.NewSealer(k, 0)
	clock := fakeclock.New(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	svc := policyEnv(t, store, sealer, clock, nil)
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, "admin@example.com", "Admin", custodian.RoleAdmin, pw); err != nil {
		t.Fatal(err)
	}
	const attacker, owner = "203.0.113.66", "192.0.2.10"
	var lastWait time.Duration
	for round := range 30 {
		err := signInFrom(svc, "admin@example.com", "a wrong guess", attacker)
		switch custodian.ErrorCode(err) {
		case custodian.EUNAUTHORIZED:
		case custodian.ETOOMANY:
			lastWait = retryAfter(err)
			clock.Advance(lastWait) // the attacker waits for the lock to end
			if err := signInFrom(svc, "admin@example.com", "a wrong guess", attacker); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
				t.Fatalf("round %d: the attacker's guess after the wait: %v", round, err)
			}
		default:
			t.Fatalf("round %d: %v", round, err)
		}
		// The owner, elsewhere, right now.
		if err := signInFrom(svc, "admin@example.com", pw, owner); err != nil {
			t.Fatalf("round %d: the owner was kept out: %v", round, err)
		}
	}
	// The attacker, meanwhile, waits longer and longer.
	if lastWait < time.Hour {
		t.Fatalf("the attacker's wait is only %v after 30 rounds", lastWait)
	}
}

// TestHardLimitLocksUntilUnlockedByMail checks the hard limit: failures
// from many addresses (each within its own wait) lock the account, even
// for the right password, at the limit and not before; the lock raises an
// alert and mails the owner a link that unlocks the account by setting a
// new password; an administrator can unlock it too.
func TestHardLimitLocksUntilUnlockedByMail(t *testing.T) {
	const limit = 12
	store, _ := testdb.SQLite(t)
	k, _ := crypto.NewKeyring()
	sealer, _ := crypto.NewSealer(k, 0)
	clock := fakeclock.New(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	box := &mailbox{}
	signals := &signalList{}
	svc := policyEnv(t, store, sealer, clock, func(c *accounts.Config) {
		c.Lockout = lockout.Policy{HardLimit: limit}
		c.Notifier, c.PublicURL, c.Observer = box, "https://crm.example.test/", signals
	})
	ctx := context.Background()
	u, err := svc.CreateUser(ctx, "owner@example.com", "Owner", custodian.RoleAgent, pw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range limit {
		if err := signInFrom(svc, "owner@example.com", "distributed guess", fmt.Sprintf("198.51.100.%d", i+1)); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
			t.Fatalf("guess %d: %v", i, err)
		}
		if i == limit-2 && len(box.all()) != 0 {
			t.Fatal("mailed before the hard limit")
		}
	}
	err = signInFrom(svc, "owner@example.com", pw, "192.0.2.10")
	if custodian.ErrorCode(err) != custodian.ETOOMANY || retryAfter(err) <= 0 {
		t.Fatalf("right password on a hard-locked account: %v", err)
	}
	if got := signals.kinds(); len(got) != 1 || got[0] != custodian.SignalAccountLocked {
		t.Fatalf("signals %v, want one account_locked", got)
	}
	mails := box.all()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	m := regexp.MustCompile(`https://crm\.example\.test/reset\?token=(cst_\S+)`).FindStringSubmatch(mails[0])
	if m == nil || mails[0][:len("owner@example.com")] != "owner@example.com" {
		t.Fatalf("mail: %q", mails[0])
	}
	const next = "a brand new password for the owner"
	if err := svc.CompleteReset(ctx, m[1], next); err != nil {
		t.Fatalf("unlock by reset: %v", err)
	}
	if err := signInFrom(svc, "owner@example.com", next, "192.0.2.10"); err != nil {
		t.Fatalf("after the reset link: %v", err)
	}

	// An administrator's unlock lifts it too.
	for i := range limit {
		_ = signInFrom(svc, "owner@example.com", "distributed guess", fmt.Sprintf("198.51.100.%d", 100+i))
	}
	clock.Advance(48 * time.Hour) // the hard lock does not end with time
	if err := signInFrom(svc, "owner@example.com", next, "192.0.2.10"); custodian.ErrorCode(err) != custodian.ETOOMANY {
		t.Fatalf("second hard lock: %v", err)
	}
	if err := svc.Unlock(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := signInFrom(svc, "owner@example.com", next, "192.0.2.10"); err != nil {
		t.Fatalf("after the administrator's unlock: %v", err)
	}
}

// TestFailureCountsSurviveARestart reproduces the side channel of counts
// kept in memory: for an address without an account they were reset by a
// restart (or absent on a second instance) while those of an account were
// not. Both now live in the database and behave the same.
func TestFailureCountsSurviveARestart(t *testing.T) {
	store, _ := testdb.SQLite(t)
	k, _ := crypto.NewKeyring()
	sealer, _ := crypto.NewSealer(k, 0)
	clock := fakeclock.New(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	first := policyEnv(t, store, sealer, clock, nil)
	if _, err := first.CreateUser(context.Background(), "known@example.com", "Known", custodian.RoleViewer, pw); err != nil {
		t.Fatal(err)
	}
	const addr = "203.0.113.7"
	for _, email := range []string{"known@example.com", "ghost@example.com"} {
		for range 3 {
			if err := signInFrom(first, email, "wrong guess", addr); custodian.ErrorCode(err) != custodian.EUNAUTHORIZED {
				t.Fatalf("%s: %v", email, err)
			}
			clock.Advance(time.Minute)
		}
	}
	restarted := policyEnv(t, store, sealer, clock, func(c *accounts.Config) {
		c.Lockout = lockout.Policy{BaseDelay: time.Hour, MaxDelay: time.Hour, LockDuration: time.Hour}
	})
	var waits []time.Duration
	for _, email := range []string{"known@example.com", "ghost@example.com"} {
		err := signInFrom(restarted, email, "wrong guess", addr)
		if custodian.ErrorCode(err) != custodian.ETOOMANY {
			t.Fatalf("%s after a restart: %v, want the wait to go on", email, err)
		}
		waits = append(waits, retryAfter(err))
	}
	if acct, src := accounts.Failures(restarted, "", "ghost@example.com", addr); acct != 3 || src != 3 {
		t.Fatalf("unknown address's counts after a restart: %d, %d", acct, src)
	}
	if waits[0] <= 0 || waits[1] <= 0 {
		t.Fatalf("waits %v", waits)
	}
}

type signalList struct {
	mu   sync.Mutex
	sigs []custodian.Signal
}

func (l *signalList) Observe(s custodian.Signal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sigs = append(l.sigs, s)
}

func (l *signalList) kinds() []custodian.SignalKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []custodian.SignalKind
	for _, s := range l.sigs {
		out = append(out, s.Kind)
	}
	return out
}

func (l *signalList) all() []custodian.Signal {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]custodian.Signal(nil), l.sigs...)
}
