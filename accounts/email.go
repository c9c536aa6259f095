package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/token"
)

// EmailChangeTTL is how long the link that confirms a new sign-in address
// stays valid.
const EmailChangeTTL = 30 * time.Minute

// Address-change throttle: at most emailPerUser confirmation links are
// mailed for one account, and emailPerSource asked for from one client
// address, per emailWindow. It bounds the mail one account (or one
// attacker with many accounts' passwords) can send to addresses it does
// not control.
const (
	emailPerUser   = 3
	emailPerSource = 10
	emailWindow    = time.Hour
)

// reasonTaken is recorded with an address-change request whose new
// address already belongs to an account: no link is mailed.
const reasonTaken = "address_taken"

// errNoMail refuses an address change on a server that mails nothing:
// the new address could not be confirmed.
var errNoMail = custodian.Errorf(custodian.EUNAVAILABLE, "This server does not send e-mail, so a new sign-in address cannot be confirmed; an administrator can set up mail (the alert SMTP settings and the public URL).")

// errEmailThrottled refuses an address change past the throttle.
var errEmailThrottled = &custodian.RetryError{Err: custodian.Errorf(custodian.ETOOMANY, "Too many address changes were asked for; try again in an hour."), After: emailWindow}

// RequestEmailChange asks to move p's sign-in address to email, after the
// current password (counted like a sign-in). Nothing changes yet: a
// single-use link, valid for EmailChangeTTL, is mailed to the new address,
// and a notice without link (naming the new address only masked) to the
// current one. A new request replaces the pending one: its link stops
// working. It returns when the link expires.
//
// Whether the new address belongs to another account is not told: the
// answer, and the database work behind it, are the same (a lookup, the
// throttle's counts, the replaced and the new token and one
// user.email_request event, in one transaction). The holder of a taken
// address is mailed that it already has an account, instead of a link;
// the audit event records the reason. Requests are throttled per account
// and per client address (ETOOMANY past either, recorded with reason
// throttled). Without mail it answers EUNAVAILABLE.
func (s *Service) RequestEmailChange(ctx context.Context, p *custodian.Principal, current, email string) (time.Time, error) {
	if err := sessionOnly(p); err != nil {
		return time.Time{}, err
	}
	if !s.MailsLinks() {
		return time.Time{}, errNoMail
	}
	email, err := custodian.NormalizeUserEmail(email)
	if err != nil {
		return time.Time{}, err
	}
	u, err := s.user(ctx, p.User.ID)
	if err != nil {
		return time.Time{}, err
	}
	if email == u.Email {
		return time.Time{}, &custodian.Error{Code: custodian.EINVALID, Message: "The address is not a new one.", Fields: []custodian.FieldError{{Field: "email", Message: "This is already your sign-in address."}}}
	}
	if err := s.reauthenticate(ctx, u, current, forEmail); err != nil {
		return time.Time{}, err
	}
	other, err := s.repo.UserByEmail(ctx, email)
	if err != nil && custodian.ErrorCode(err) != custodian.ENOTFOUND {
		return time.Time{}, err
	}
	taken := other != nil
	plain, hash, err := token.New(token.PrefixEmail)
	if err != nil {
		return time.Time{}, err
	}
	now := s.now()
	t := custodian.OneTimeToken{Hash: hash, Purpose: custodian.PurposeEmail, Email: email, UserID: u.ID, CreatedBy: u.ID, CreatedAt: now, ExpiresAt: now.Add(EmailChangeTTL)}
	userKey, srcKey := s.keyed("email change", u.ID), s.keyed("email change source", sourceName(custodian.OriginFrom(ctx).ClientAddr))
	throttled := false
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		over, err := s.throttled(ctx, now, emailWindow, throttle{userKey, emailPerUser}, throttle{srcKey, emailPerSource})
		if err != nil {
			return nil, err
		}
		data := map[string]any{}
		if throttled = over; throttled {
			data["reason"] = reasonThrottled
			return []custodian.AuditEntry{event(custodian.ActionEmailRequest, u.ID, data)}, nil
		}
		replaced, err := s.repo.RevokeUserTokens(ctx, u.ID, custodian.PurposeEmail, now)
		if err != nil {
			return nil, err
		}
		data["expires_at"], data["replaced"] = t.ExpiresAt, replaced
		if taken {
			data["reason"] = reasonTaken
		}
		return []custodian.AuditEntry{event(custodian.ActionEmailRequest, u.ID, data)}, s.repo.CreateOneTimeToken(ctx, t)
	})
	if err != nil {
		return time.Time{}, err
	}
	if throttled {
		return time.Time{}, errEmailThrottled
	}
	s.mailEmailChange(ctx, u, email, plain, t.ExpiresAt, taken)
	return t.ExpiresAt, nil
}

// mailEmailChange mails the confirmation link to the new address (or,
// when it is taken, a message that it already has an account) and a
// notice to the current address. The notice has no link and names the
// new address only masked: whoever reads the old mailbox learns that a
// change was asked for, and can act on it (sign in, change the password,
// end the other sessions), without being handed the new address. The
// page that asked says as little: the same answer whether the address is
// taken or not. Delivery is best effort; failures are logged.
func (s *Service) mailEmailChange(ctx context.Context, u *custodian.UserRecord, email, plain string, expires time.Time, taken bool) {
	until := expires.UTC().Format(time.RFC1123)
	var subject, body string
	if taken {
		subject = "Custodian: this address already has an account"
		body = "Someone asked to make this address the sign-in address of a Custodian account, but it already belongs to an account. Nothing was changed.\r\n\r\n" +
			"If you did not ask, ignore this message.\r\n"
	} else {
		subject = "Confirm your new Custodian sign-in address"
		body = fmt.Sprintf("Someone, probably you, asked to make this address the sign-in address of their Custodian account.\r\n\r\n"+
			"To confirm, open this link before %s (it works once):\r\n\r\n%s\r\n\r\n"+
			"Until it is opened, nothing changes. If you did not ask, ignore this message.\r\n", until, s.link("/account/email?token="+plain))
	}
	if err := s.cfg.Notifier.NotifyAccount(ctx, email, subject, body); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "could not send an address confirmation", "user", u.ID, "err", err)
	}
	notice := fmt.Sprintf("Someone signed in to your Custodian account asked to change its sign-in address to %s.\r\n\r\n"+
		"Nothing changes unless the link sent to that address is opened before %s.\r\n\r\n"+
		"If this was not you, sign in now, change your password and sign out your other sessions, and tell an administrator.\r\n", MaskEmail(email), until)
	if err := s.cfg.Notifier.NotifyAccount(ctx, u.Email, "Your Custodian sign-in address is about to change", notice); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "could not send an address-change notice", "user", u.ID, "err", err)
	}
}

// MaskEmail shows an address only by the first character of its local
// part and of its domain, and the domain's last label:
// "ann@example.com" is "a***@e***.com". The owner recognises their own
// address; nobody else learns it.
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" {
		return "***"
	}
	first := func(s string) string {
		r, _ := utf8.DecodeRuneInString(s)
		return string(r)
	}
	tld := ""
	if i := strings.LastIndexByte(domain, '.'); i > 0 {
		tld = domain[i:]
	}
	return first(local) + "***@" + first(domain) + "***" + tld
}

// ConfirmEmailChange redeems the link mailed to a new address: in one
// transaction it consumes the link, sets the account's sign-in address
// (ECONFLICT, and the link stays unused, if another account has taken
// the address meanwhile), ends every session of the account but p's (p
// is the session the link was opened in, if it is the account's own;
// nil or another user's keeps none) and records user.email. The link
// works whether or not its opener is signed in: it proves control of the
// new address, and the change was already confirmed with the password.
func (s *Service) ConfirmEmailChange(ctx context.Context, p *custodian.Principal, confirmToken string) (*custodian.User, error) {
	hash, t, err := s.peekLink(ctx, token.PrefixEmail, custodian.PurposeEmail, confirmToken)
	if err != nil {
		return nil, err
	}
	var keep []byte
	if p != nil && p.User.ID == t.UserID {
		keep = p.SessionHash
	}
	ctx = custodian.WithActor(ctx, t.UserID)
	var out custodian.User
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: t.UserID})
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if _, err := s.repo.RedeemToken(ctx, hash, custodian.PurposeEmail, s.now()); err != nil {
			return nil, err
		}
		err := s.repo.UpdateUser(ctx, t.UserID, func(r *custodian.UserRecord) error {
			if !r.Active {
				return invalidLink
			}
			r.Email, r.UpdatedAt, r.Version = t.Email, s.now(), r.Version+1
			out = r.User
			return nil
		})
		if err != nil {
			return nil, err
		}
		ev := event(custodian.ActionEmailChange, t.UserID, map[string]any{"via": custodian.PurposeEmail, "ended_other_sessions": true}, "email")
		return []custodian.AuditEntry{ev}, s.repo.DeleteUserSessions(ctx, t.UserID, keep)
	})
	switch custodian.ErrorCode(err) {
	case "":
		return &out, nil
	case custodian.ENOTFOUND:
		return nil, invalidLink
	case custodian.ECONFLICT:
		return nil, custodian.Errorf(custodian.ECONFLICT, "This address now belongs to another account; your address was not changed.")
	default:
		return nil, err
	}
}

// viaOperator is the "via" of a user.email event recorded by SetEmail: an
// operator changed the address, nobody confirmed it by a link.
const viaOperator = "operator"

// SetEmail changes a user's sign-in address without a confirmation link,
// for the operator (custodian user set-email), who has vouched for the new
// address, on servers that mail nothing or for a user who lost the old
// mailbox. In one transaction it sets the address (EINVALID for an
// address that is not valid or not new, ECONFLICT if another account has
// it), revokes a pending address-change link (which would otherwise move
// the address again), ends every session of the account, as
// ConfirmEmailChange does, and records user.email with via "operator"
// under the context's actor.
func (s *Service) SetEmail(ctx context.Context, userID, email string) (*custodian.User, error) {
	email, err := custodian.NormalizeUserEmail(email)
	if err != nil {
		return nil, err
	}
	var out custodian.User
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: userID})
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		err := s.repo.UpdateUser(ctx, userID, func(r *custodian.UserRecord) error {
			if r.Email == email {
				return &custodian.Error{Code: custodian.EINVALID, Message: "The address is not a new one.", Fields: []custodian.FieldError{{Field: "email", Message: "This is already the user's sign-in address."}}}
			}
			r.Email, r.UpdatedAt, r.Version = email, s.now(), r.Version+1
			out = r.User
			return nil
		})
		if err != nil {
			return nil, err
		}
		replaced, err := s.repo.RevokeUserTokens(ctx, userID, custodian.PurposeEmail, s.now())
		if err != nil {
			return nil, err
		}
		ev := event(custodian.ActionEmailChange, userID, map[string]any{"via": viaOperator, "ended_other_sessions": true, "revoked_link": replaced > 0}, "email")
		return []custodian.AuditEntry{ev}, s.repo.DeleteUserSessions(ctx, userID, nil)
	})
	if custodian.ErrorCode(err) == custodian.ECONFLICT {
		return nil, &custodian.Error{Code: custodian.ECONFLICT, Message: "The address belongs to another account; the address was not changed.", Fields: []custodian.FieldError{{Field: "email", Message: "Another account signs in with this address."}}, Err: err}
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}
