package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
)

// ForgotTTL is how long a link asked for on the forgotten-password page
// stays valid.
const ForgotTTL = 30 * time.Minute

// Forgotten-password throttle: at most forgotPerEmail links are mailed to
// one address, and forgotPerSource asked for from one client address, per
// forgotWindow. Requests past either are answered like the others and
// recorded, but mail nothing.
const (
	forgotPerEmail  = 3
	forgotPerSource = 10
	forgotWindow    = time.Hour
)

// Reasons recorded with forgotten-password requests that mail nothing.
const (
	reasonThrottled = "throttled"
)

// MailsLinks reports whether the service can mail people links about
// their own account (a mailer and the public address are configured).
func (s *Service) MailsLinks() bool {
	return s.cfg.Notifier != nil && s.cfg.PublicURL != ""
}

// link is the address of path under the public URL.
func (s *Service) link(path string) string {
	return strings.TrimSuffix(s.cfg.PublicURL, "/") + path
}

// ForgotPassword mails a single-use password-reset link, valid for
// ForgotTTL, to the active account whose address is email. It answers
// alike whether or not there is one, doing the same database work (one
// lookup, the throttle's counts and an audit event, all in one
// transaction; the mail is sent in the background): the caller learns
// nothing about which addresses have accounts. Requests are throttled
// per address and per client address; a throttled request is answered
// the same way but mails nothing. The audit event names an address
// without an account only by its keyed token, never the address itself.
// Without mail configured it answers EUNAVAILABLE.
func (s *Service) ForgotPassword(ctx context.Context, email, clientAddr string) error {
	if !s.MailsLinks() {
		return custodian.Errorf(custodian.EUNAVAILABLE, "Password reset by e-mail is not available on this server; ask an administrator for a reset link.")
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || !utf8.ValidString(email) || len(email) > custodian.MaxEmailLen || !strings.Contains(email, "@") || strings.ContainsAny(email, "\r\n<>,; ") {
		return &custodian.Error{Code: custodian.EINVALID, Message: "The email address is not valid.", Fields: []custodian.FieldError{{Field: "email", Message: "Enter an email address."}}}
	}
	u, err := s.repo.UserByEmail(ctx, email)
	if err != nil && custodian.ErrorCode(err) != custodian.ENOTFOUND {
		return err
	}
	now := s.now()
	acctKey, srcKey := s.keyed("forgot", email), s.keyed("forgot source", sourceName(clientAddr))
	var plain string
	var expires time.Time
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		over, err := s.throttled(ctx, now, forgotWindow, throttle{acctKey, forgotPerEmail}, throttle{srcKey, forgotPerSource})
		if err != nil {
			return nil, err
		}
		data := map[string]any{}
		subject := ""
		if u != nil {
			subject = u.ID
		} else {
			data["account"] = s.unknownAccount(email)
		}
		switch {
		case over:
			data["reason"] = reasonThrottled
		case u == nil:
			data["reason"] = reasonUnknown
		case !u.Active:
			data["reason"] = reasonInactive
		default:
			p, t, err := s.newResetToken(custodian.WithActor(ctx, u.ID), u.ID, ForgotTTL)
			if err != nil {
				return nil, err
			}
			plain, expires = p, t.ExpiresAt
			data["expires_at"] = t.ExpiresAt
			return []custodian.AuditEntry{event(custodian.ActionPasswordForgot, subject, data)}, s.repo.CreateOneTimeToken(ctx, t)
		}
		return []custodian.AuditEntry{event(custodian.ActionPasswordForgot, subject, data)}, nil
	})
	if err != nil || plain == "" {
		return err
	}
	body := fmt.Sprintf("Someone, probably you, asked to reset the password of your Custodian account.\r\n\r\n"+
		"To choose a new password, open this link before %s (it works once):\r\n\r\n%s\r\n\r\n"+
		"If you did not ask, ignore this message: your password stays as it is.\r\n", expires.UTC().Format(time.RFC1123), s.link("/reset?token="+plain))
	if err := s.cfg.Notifier.NotifyAccount(ctx, u.Email, "Reset your Custodian password", body); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "could not send a password-reset link", "user", u.ID, "err", err)
	}
	return nil
}

// throttle is one count a request is held to: at most limit requests
// under key in the window.
type throttle struct {
	key   []byte
	limit int
}

// throttled counts the request under every one of ts (each is counted
// even when an earlier one is already past its limit, so that a source
// cannot spare its own count by exhausting another) and reports whether
// any is past its limit in the window ending now.
func (s *Service) throttled(ctx context.Context, now time.Time, window time.Duration, ts ...throttle) (bool, error) {
	over := false
	for _, t := range ts {
		n, err := s.countWithin(ctx, t.key, now, window)
		if err != nil {
			return false, err
		}
		over = over || n > t.limit
	}
	return over, nil
}

// countWithin counts one more request under key in the failure counts
// and returns how many there were in the window ending now (the count
// starts again once its last request is older than window).
func (s *Service) countWithin(ctx context.Context, key []byte, now time.Time, window time.Duration) (int, error) {
	c, _, err := s.repo.SignInFailures(ctx, key, key)
	if err != nil {
		return 0, err
	}
	if c.Failures > 0 && now.Sub(c.LastFailedAt) >= window {
		if err := s.repo.ClearSignInFailures(ctx, key); err != nil {
			return 0, err
		}
	}
	c, _, err = s.repo.RecordSignInFailure(ctx, key, key, now, func(custodian.FailureCount) bool { return false })
	return c.Failures, err
}
