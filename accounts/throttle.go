package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
)

// The sign-in policy (package lockout, docs/security/sign-in.md) counts
// failures per account and source and per account, in the database
// (custodian.SignInFailureRepository), under keyed hashes: an account is a
// user id, or an email address that has no account, so that both are
// throttled alike and a restart or another instance resets neither; a
// source is a client address (IPv6: its /64).

// hardLockRetry is the Retry-After of an account locked until unlocked:
// waiting alone does not lift the lock, but clients need a bound.
const hardLockRetry = time.Hour

// errHardLocked answers every attempt on an account at the hard limit
// (and on an email address without an account at it: the same words).
var errHardLocked = &custodian.RetryError{
	Err:   custodian.Errorf(custodian.ETOOMANY, "This account is locked after too many failed attempts. Use the link sent to its email address to set a new password, or ask an administrator to unlock it."),
	After: hardLockRetry,
}

// Reasons recorded with refused attempts.
const reasonHardLocked = "hard_locked"

// newFailureKey returns the key the failure counts are kept under: derived
// from the keyring, so that every instance and every restart uses the same;
// without a sealer (tests), a random one.
func newFailureKey(sealer *crypto.Sealer) ([]byte, error) {
	if sealer != nil {
		return sealer.DerivedKey("sign-in failure counts")
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("accounts: failure key: %w", err)
	}
	return k, nil
}

// keyed is the keyed hash of a name in a domain.
func (s *Service) keyed(domain, name string) []byte {
	m := hmac.New(sha256.New, s.failKey)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(name))
	return m.Sum(nil)
}

// accountKey names the account u in the failure counts, or, when u is
// nil, the email address without an account.
func (s *Service) accountKey(u *custodian.UserRecord, email string) []byte {
	if u != nil {
		return s.keyed("user", u.ID)
	}
	return s.keyed("email", email)
}

// sourceKey names a client address in the failure counts: IPv6 addresses
// by their /64, which one client usually holds.
func (s *Service) sourceKey(addr string) []byte {
	return s.keyed("source", sourceName(addr))
}

// sourceName is the name a client address is counted under: IPv6
// addresses by their /64.
func sourceName(addr string) string {
	if a, err := netip.ParseAddr(strings.TrimSpace(addr)); err == nil {
		a = a.Unmap().WithZone("")
		if a.Is6() {
			p, _ := a.Prefix(64)
			return p.String()
		}
		return a.String()
	}
	return "?" + truncate(addr, 64)
}

// attempt is one attempt to prove who one is (a sign-in, or the current
// password before a change), for the policy.
type attempt struct {
	acct, src []byte
	subject   string // the user id, or "" for an address without an account
	account   string // the name the attack detector and the trail know the account by
	action    string // the audit action of a failure
	purpose   string // for checks of the current password: what they were for
	addr      string // the client address, for the attack detector
	user      *custodian.UserRecord
}

// data is the audit data of a failure or refusal of a.
func (a attempt) data(reason string) map[string]any {
	d := map[string]any{"reason": reason}
	if a.subject == "" {
		d["account"] = a.account
	}
	if a.purpose != "" {
		d["for"] = a.purpose
	}
	return d
}

// admit decides, before any password work, whether a may go on: not when
// its account is at the hard limit, nor while its source waits after its
// own failures. A refusal is recorded in the audit trail and returned as a
// *custodian.SignInError; the attempt is not counted.
func (s *Service) admit(ctx context.Context, a attempt, now time.Time) error {
	acct, src, err := s.repo.SignInFailures(ctx, a.acct, a.src)
	if err != nil {
		return err
	}
	if s.cfg.Lockout.HardLocked(acct.Failures) {
		return s.refuse(ctx, a, reasonHardLocked, errHardLocked)
	}
	if s.cfg.Lockout.Forgotten(src.Failures, src.LastFailedAt, now) {
		return nil
	}
	if wait, _, allowed := s.cfg.Lockout.Check(src.Failures, src.LastFailedAt, now); !allowed {
		return s.refuse(ctx, a, reasonLocked, tooMany(wait))
	}
	return nil
}

// refuse records an attempt refused without checking the password and
// returns answer for it.
func (s *Service) refuse(ctx context.Context, a attempt, reason string, answer error) error {
	if err := s.repo.AppendAudit(ctx, event(a.action, a.subject, a.data(reason))); err != nil {
		return err
	}
	return &custodian.SignInError{Account: a.account, Err: answer}
}

// failed records a failure of a: both counts and the audit event, in one
// transaction. The failure that brings the account to the hard limit
// raises an alert and, for an account, mails its owner a link to unlock
// it. It returns answer as a *custodian.SignInError.
func (s *Service) failed(ctx context.Context, a attempt, reason string, now time.Time, answer error) error {
	var acct custodian.FailureCount
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		var err error
		acct, _, err = s.repo.RecordSignInFailure(ctx, a.acct, a.src, now, func(c custodian.FailureCount) bool {
			return s.cfg.Lockout.Forgotten(c.Failures, c.LastFailedAt, now)
		})
		return []custodian.AuditEntry{event(a.action, a.subject, a.data(reason))}, err
	})
	if err != nil {
		return err
	}
	if acct.Failures == s.cfg.Lockout.Limit() {
		s.hardLocked(ctx, a, now)
	}
	return &custodian.SignInError{Account: a.account, Err: answer}
}

// succeeded clears the account's consecutive failures and the source's
// after a proof of identity from it; other sources' counts stay.
func (s *Service) succeeded(ctx context.Context, a attempt) error {
	return s.repo.ResetSignInFailures(ctx, a.acct, a.src)
}

// hardLocked reports an account that has just reached the hard limit: an
// alert through the attack detector, and, when mail is configured, a
// password-reset link to its owner, which unlocks it. Failures here are
// logged: the lock itself is recorded.
func (s *Service) hardLocked(ctx context.Context, a attempt, now time.Time) {
	sig := custodian.Signal{Kind: custodian.SignalAccountLocked, Account: a.account, Time: now, Detail: "hard limit of consecutive failed sign-ins"}
	if ip, err := netip.ParseAddr(a.addr); err == nil {
		sig.Addr = ip
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.Observe(sig)
	}
	s.cfg.Logger.WarnContext(ctx, "account locked after the hard limit of consecutive failures", "user", a.subject, "account", a.account, "limit", s.cfg.Lockout.Limit())
	if a.user == nil || s.cfg.Notifier == nil || s.cfg.PublicURL == "" {
		return
	}
	plain, expires, err := s.resetLink(custodian.WithActor(ctx, custodian.ActorSignInPolicy), a.user.ID, "locked", UnlockTTL)
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "could not make the unlock link of a locked account", "user", a.user.ID, "err", err)
		return
	}
	link := strings.TrimSuffix(s.cfg.PublicURL, "/") + "/reset?token=" + plain
	body := fmt.Sprintf("Your Custodian account was locked after %d failed attempts to sign in or to confirm its password.\r\n\r\n"+
		"To unlock it, set a new password before %s:\r\n\r\n%s\r\n\r\n"+
		"If these attempts were not yours, someone is guessing your password: tell your administrator. "+
		"An administrator can also unlock the account.\r\n", s.cfg.Lockout.Limit(), expires.UTC().Format(time.RFC1123), link)
	if err := s.cfg.Notifier.NotifyAccount(ctx, a.user.Email, "Your Custodian account is locked", body); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "could not send the unlock link of a locked account", "user", a.user.ID, "err", err)
	}
}
