package accounts

import (
	"context"
	"encoding/base64"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/locale"
	"github.com/custodian-crm/custodian/token"
	"github.com/custodian-crm/custodian/totp"
)

// SettingRequireTOTP names the setting that lists the roles that must use
// two-factor authentication (comma-separated).
const SettingRequireTOTP = "require_totp_roles"

// ResetTTL is how long an administrator's password-reset link stays valid.
const ResetTTL = time.Hour

// UnlockTTL is how long the link mailed to the owner of an account locked
// at the hard limit stays valid: a day to read the mail.
const UnlockTTL = 24 * time.Hour

// totpIssuer is the name authenticator apps show for the account.
const totpIssuer = "Custodian"

// Purposes of a check of the current password, recorded with its
// failures.
const (
	forPassword = "password_change"
	forEmail    = "email_change"
	forTOTP     = "2fa_setup"
	forNoTOTP   = "2fa_disable"
	forPasskey  = "passkey_registration"
)

// errNeedsSession refuses a change to one's own credentials made with a
// personal access token: a token alone must never be enough to take over
// the account it belongs to.
var errNeedsSession = custodian.Errorf(custodian.EFORBIDDEN, "Your password, email address and two-factor authentication are changed from a signed-in browser session, not with an access token.")

// sessionOnly refuses p when it is not a browser session.
func sessionOnly(p *custodian.Principal) error {
	if p == nil || p.SessionHash == nil {
		return errNeedsSession
	}
	return nil
}

// reauthenticate checks the current password before a change to p's own
// credentials (for purpose), as a sign-in attempt: under the same policy
// (the source's wait, the account's hard limit), a failure counted,
// recorded as auth.reauth_failed and reported to the attack detector, a
// success clearing the counts as a sign-in does.
func (s *Service) reauthenticate(ctx context.Context, u *custodian.UserRecord, current, purpose string) error {
	a := s.reauthAttempt(ctx, u, purpose)
	now := s.now()
	if err := s.admit(ctx, a, now); err != nil {
		s.observeFailure(a, now)
		return err
	}
	ok, _, err := s.verify(ctx, current, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		s.observeFailure(a, now)
		return s.failed(ctx, a, reasonPassword, now, &custodian.Error{Code: custodian.EUNAUTHORIZED, Message: "Confirm with your current password.", Fields: []custodian.FieldError{{Field: "current_password", Message: "The current password is incorrect."}}})
	}
	return s.succeeded(ctx, a)
}

// reauthAttempt is the attempt of a check of u's current password (or
// code) for purpose, from the request's client address.
func (s *Service) reauthAttempt(ctx context.Context, u *custodian.UserRecord, purpose string) attempt {
	addr := custodian.OriginFrom(ctx).ClientAddr
	return attempt{acct: s.accountKey(u, ""), src: s.sourceKey(addr), subject: u.ID, account: u.ID,
		action: custodian.ActionReauthFailed, purpose: purpose, addr: addr, user: u}
}

// observeFailure tells the attack detector of a failed or refused check
// of the current password, as the transport does for sign-ins.
func (s *Service) observeFailure(a attempt, now time.Time) {
	if s.cfg.Observer == nil {
		return
	}
	sig := custodian.Signal{Kind: custodian.SignalFailedSignIn, Account: a.account, Time: now, Detail: "current password"}
	if ip, err := netip.ParseAddr(a.addr); err == nil {
		sig.Addr = ip
	}
	s.cfg.Observer.Observe(sig)
}

func (s *Service) user(ctx context.Context, id string) (*custodian.UserRecord, error) {
	return s.repo.UserByID(ctx, id)
}

// ChangePassword sets a new password after checking the current one. With
// endOthers, every other session of the user ends; personal access tokens
// stay (they are revoked separately).
func (s *Service) ChangePassword(ctx context.Context, p *custodian.Principal, current, next string, endOthers bool) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	u, err := s.user(ctx, p.User.ID)
	if err != nil {
		return err
	}
	if err := s.reauthenticate(ctx, u, current, forPassword); err != nil {
		return err
	}
	if err := s.checkNewPassword(next, u.Email, u.Name); err != nil {
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: u.ID})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.repo.UpdateUser(ctx, u.ID, func(r *custodian.UserRecord) error {
			r.PasswordHash, r.UpdatedAt, r.Version = hash, s.now(), r.Version+1
			return nil
		}); err != nil {
			return nil, err
		}
		ev := event(custodian.ActionPasswordChange, u.ID, map[string]any{"ended_other_sessions": endOthers}, "password")
		if endOthers {
			return []custodian.AuditEntry{ev}, s.repo.DeleteUserSessions(ctx, u.ID, p.SessionHash)
		}
		return []custodian.AuditEntry{ev}, nil
	})
}

// ChangeName sets p's own display name. It is no credential: an access
// token may change it too.
func (s *Service) ChangeName(ctx context.Context, p *custodian.Principal, name string) (*custodian.User, error) {
	name, err := checkName(name)
	if err != nil {
		return nil, err
	}
	var out custodian.User
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: p.User.ID})
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		err := s.repo.UpdateUser(ctx, p.User.ID, func(r *custodian.UserRecord) error {
			r.Name, r.UpdatedAt, r.Version = name, s.now(), r.Version+1
			out = r.User
			return nil
		})
		return []custodian.AuditEntry{event(custodian.ActionUserUpdate, p.User.ID, nil, "name")}, err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ChangePreferences sets p's own interface language and time zone. Like
// the name, they are no credential: an access token may change them.
func (s *Service) ChangePreferences(ctx context.Context, p *custodian.Principal, lang, zone string) (*custodian.User, error) {
	lang, zone = strings.TrimSpace(lang), strings.TrimSpace(zone)
	var fields []custodian.FieldError
	if lang != "" && !locale.Offered(lang) {
		fields = append(fields, custodian.FieldError{Field: "language", Message: "Choose one of the languages offered."})
	}
	if zone != "" {
		// LoadLocation also takes "Local" and file paths; only names of
		// the time zone database are accepted.
		if _, err := time.LoadLocation(zone); err != nil || zone == "Local" || len(zone) > 64 || strings.Contains(zone, "..") || strings.HasPrefix(zone, "/") {
			fields = append(fields, custodian.FieldError{Field: "time_zone", Message: "Must be a time zone name such as Europe/Berlin."})
		}
	}
	if len(fields) > 0 {
		return nil, &custodian.Error{Code: custodian.EINVALID, Message: "The preferences are not valid.", Fields: fields}
	}
	var out custodian.User
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: p.User.ID})
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		var changed []string
		err := s.repo.UpdateUser(ctx, p.User.ID, func(r *custodian.UserRecord) error {
			if r.Language != lang {
				changed = append(changed, "language")
			}
			if r.TimeZone != zone {
				changed = append(changed, "time_zone")
			}
			r.Language, r.TimeZone = lang, zone
			if len(changed) > 0 {
				r.UpdatedAt, r.Version = s.now(), r.Version+1
			}
			out = r.User
			return nil
		})
		if err != nil || len(changed) == 0 {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionUserUpdate, p.User.ID, nil, changed...)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// BeginTOTP generates a new TOTP secret for the user, after checking the
// password, and keeps it sealed but not yet in force: EnableTOTP turns it
// on once the person proves their app produces codes for it.
func (s *Service) BeginTOTP(ctx context.Context, p *custodian.Principal, current string) (*custodian.TOTPEnrolment, error) {
	if err := sessionOnly(p); err != nil {
		return nil, err
	}
	u, err := s.user(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	if err := s.reauthenticate(ctx, u, current, forTOTP); err != nil {
		return nil, err
	}
	if u.TOTPEnabled {
		return nil, custodian.Errorf(custodian.ECONFLICT, "Two-factor authentication is already on; turn it off first to enrol a new device.")
	}
	key, err := totp.Generate(totpIssuer, u.Email)
	if err != nil {
		return nil, err
	}
	png, err := key.QRCodePNG(256)
	if err != nil {
		return nil, err
	}
	dk, keyID, wrapped, err := s.sealer.NewDataKey(u.ID)
	if err != nil {
		return nil, err
	}
	sealed := dk.Seal(fieldTOTP, []byte(key.Secret()))
	err = s.repo.UpdateUser(ctx, u.ID, func(r *custodian.UserRecord) error {
		r.TOTPKeyID, r.TOTPDataKey, r.TOTPSecret, r.TOTPEnabled, r.TOTPLastStep = keyID, wrapped, sealed, false, 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &custodian.TOTPEnrolment{Secret: key.Secret(), URL: key.URL(), QRCode: base64.StdEncoding.EncodeToString(png)}, nil
}

// EnableTOTP turns two-factor authentication on when code is valid for
// the pending secret, and returns ten single-use recovery codes (shown
// once; only their hashes are kept).
func (s *Service) EnableTOTP(ctx context.Context, p *custodian.Principal, code string) ([]string, error) {
	if err := sessionOnly(p); err != nil {
		return nil, err
	}
	u, err := s.user(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	if u.TOTPEnabled || len(u.TOTPSecret) == 0 {
		return nil, custodian.Errorf(custodian.ECONFLICT, "Start enrolment first.")
	}
	if !s.checkSecondFactorPending(ctx, u, code) {
		return nil, &custodian.Error{Code: custodian.EINVALID, Message: "The code is not valid.", Fields: []custodian.FieldError{{Field: "code", Message: "Enter the current code from your authenticator app."}}}
	}
	plain, hashes, err := totp.NewRecoveryCodes(totp.DefaultRecoveryCodes)
	if err != nil {
		return nil, err
	}
	// Enrolled, the user is no longer confined to their account routes.
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: u.ID})
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.repo.SetRecoveryCodes(ctx, u.ID, hashes); err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionTOTPEnable, u.ID, nil, "totp")}, s.repo.UpdateUser(ctx, u.ID, func(r *custodian.UserRecord) error {
			r.TOTPEnabled, r.UpdatedAt, r.Version = true, s.now(), r.Version+1
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return plain, nil
}

// checkSecondFactorPending validates a code against a secret not yet in
// force (enrolment), recording its step.
func (s *Service) checkSecondFactorPending(ctx context.Context, u *custodian.UserRecord, code string) bool {
	return s.checkTOTP(ctx, u, code, s.now())
}

// DisableTOTP turns two-factor authentication off after checking the
// password and a current one-time code (or an unused recovery code, which
// it consumes), unless the user's role requires it. A wrong code counts
// as a failure like a wrong password.
func (s *Service) DisableTOTP(ctx context.Context, p *custodian.Principal, current, code string) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	u, err := s.user(ctx, p.User.ID)
	if err != nil {
		return err
	}
	if err := s.reauthenticate(ctx, u, current, forNoTOTP); err != nil {
		return err
	}
	if u.TOTPEnabled && !s.checkSecondFactor(ctx, u, code, s.now()) {
		a, now := s.reauthAttempt(ctx, u, forNoTOTP), s.now()
		s.observeFailure(a, now)
		return s.failed(ctx, a, reasonOTP, now, &custodian.Error{Code: custodian.EUNAUTHORIZED, Message: "Confirm with a current code.", Fields: []custodian.FieldError{{Field: "code", Message: "Enter the current code from your authenticator app, or a recovery code."}}})
	}
	if required, err := s.totpRequired(ctx, u.Role); err != nil {
		return err
	} else if required {
		return custodian.Errorf(custodian.EFORBIDDEN, "Your role requires two-factor authentication.")
	}
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: u.ID})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionTOTPDisable, u.ID, nil, "totp")}, s.clearTOTP(ctx, u.ID)
	})
}

// clearTOTP turns two-factor authentication off and drops the recovery
// codes, unless the user has a passkey, for which they still stand in. Callers run it inside Audited, so both happen or neither; the
// order (2FA off first) also holds on its own: a failure between the two
// leaves unused codes on an account without 2FA, never 2FA without its
// recovery codes.
func (s *Service) clearTOTP(ctx context.Context, userID string) error {
	err := s.repo.UpdateUser(ctx, userID, func(r *custodian.UserRecord) error {
		r.TOTPEnabled, r.TOTPKeyID, r.TOTPDataKey, r.TOTPSecret, r.TOTPLastStep = false, "", nil, nil, 0
		r.UpdatedAt, r.Version = s.now(), r.Version+1
		return nil
	})
	if err != nil {
		return err
	}
	// The recovery codes stand in for passkeys too: an account that has
	// one keeps them.
	if has, err := s.hasPasskeys(ctx, userID); err != nil || has {
		return err
	}
	return s.repo.SetRecoveryCodes(ctx, userID, nil)
}

// RequiredTOTPRoles returns the roles that must use two-factor
// authentication.
func (s *Service) RequiredTOTPRoles(ctx context.Context) ([]custodian.Role, error) {
	return s.rolesSetting(ctx, SettingRequireTOTP)
}

// SetRequiredTOTPRoles sets the roles that must use two-factor
// authentication. Signed-in users of those roles without it can then only
// reach their own account routes until they enrol.
func (s *Service) SetRequiredTOTPRoles(ctx context.Context, roles []custodian.Role) error {
	return s.setRolesSetting(ctx, SettingRequireTOTP, roles)
}

// rolesSetting reads a setting that lists roles.
func (s *Service) rolesSetting(ctx context.Context, name string) ([]custodian.Role, error) {
	v, err := s.repo.Setting(ctx, name)
	if err != nil {
		return nil, err
	}
	var roles []custodian.Role
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, custodian.Role(r))
		}
	}
	return roles, nil
}

// setRolesSetting replaces a setting that lists roles, with its
// setting.change event; the field of a refusal is the setting's name.
func (s *Service) setRolesSetting(ctx context.Context, name string, roles []custodian.Role) error {
	var names []string
	for _, r := range roles {
		if !r.Valid() {
			return &custodian.Error{Code: custodian.EINVALID, Message: "Unknown role.", Fields: []custodian.FieldError{{Field: name, Message: "Roles are admin, manager, agent, viewer and auditor."}}}
		}
		if !slices.Contains(names, string(r)) {
			names = append(names, string(r))
		}
	}
	value := strings.Join(names, ",")
	// Every instance sees the change at once: the cached requirements and
	// every cached principal are dropped.
	defer s.invalidate(ctx, custodian.AuthInvalidation{})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionSettingChange, name, map[string]any{"value": value}, name)},
			s.repo.SetSetting(ctx, name, value)
	})
}

// settingsTTL bounds how stale the cached two-factor requirement may be:
// authentication reads it on every request.
const settingsTTL = 5 * time.Second

func (s *Service) totpRequired(ctx context.Context, role custodian.Role) (bool, error) {
	s.mu.Lock()
	roles, fresh := s.requiredRoles, s.cfg.Now().Sub(s.requiredAt) < settingsTTL
	s.mu.Unlock()
	if !fresh {
		var err error
		if roles, err = s.RequiredTOTPRoles(ctx); err != nil {
			return false, err
		}
		s.mu.Lock()
		s.requiredRoles, s.requiredAt = roles, s.cfg.Now()
		s.mu.Unlock()
	}
	return slices.Contains(roles, role), nil
}

// SetRole changes a user's role and ends their sessions, so a privilege
// change always takes a fresh sign-in.
func (s *Service) SetRole(ctx context.Context, userID string, role custodian.Role) (*custodian.User, error) {
	if !role.Valid() {
		return nil, &custodian.Error{Code: custodian.EINVALID, Message: "Unknown role.", Fields: []custodian.FieldError{badRole}}
	}
	var out custodian.User
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: userID})
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		var from custodian.Role
		err := s.repo.UpdateUser(ctx, userID, func(r *custodian.UserRecord) error {
			from = r.Role
			r.Role, r.UpdatedAt, r.Version = role, s.now(), r.Version+1
			out = r.User
			return nil
		})
		if err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionUserRole, userID, map[string]any{"from": from, "to": role}, "role")},
			s.repo.DeleteUserSessions(ctx, userID, nil)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetActive activates or deactivates a user. Deactivation ends every
// session and revokes every access token at once.
func (s *Service) SetActive(ctx context.Context, userID string, active bool) (*custodian.User, error) {
	var out custodian.User
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: userID})
	err := s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		err := s.repo.UpdateUser(ctx, userID, func(r *custodian.UserRecord) error {
			r.Active, r.UpdatedAt, r.Version = active, s.now(), r.Version+1
			out = r.User
			return nil
		})
		if err != nil {
			return nil, err
		}
		if active {
			return []custodian.AuditEntry{event(custodian.ActionUserActivate, userID, nil, "active")}, nil
		}
		if err := s.repo.DeleteUserSessions(ctx, userID, nil); err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionUserDeactivate, userID, nil, "active")}, s.repo.RevokeAPIToken(ctx, userID, "", s.now())
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ResetTOTP turns a user's two-factor authentication off (for a lost
// device), for an administrator; the user's sessions end.
func (s *Service) ResetTOTP(ctx context.Context, userID string) error {
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: userID})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.clearTOTP(ctx, userID); err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionTOTPReset, userID, nil, "totp")}, s.repo.DeleteUserSessions(ctx, userID, nil)
	})
}

// Unlock clears a user's failed sign-ins from every source, lifting both
// the hard lock and every source's wait.
func (s *Service) Unlock(ctx context.Context, userID string) error {
	u, err := s.user(ctx, userID)
	if err != nil {
		return err
	}
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.repo.ClearSignInFailures(ctx, s.accountKey(u, "")); err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionUserUnlock, userID, nil)}, s.repo.UpdateUser(ctx, userID, func(r *custodian.UserRecord) error {
			r.FailedSignins, r.LastFailedAt = 0, time.Time{}
			return nil
		})
	})
}

// ResetLink issues a one-time password-reset token for a user, valid for
// an hour. A reset sets the password only: two-factor authentication stays
// as it is.
func (s *Service) ResetLink(ctx context.Context, userID string) (string, time.Time, error) {
	if _, err := s.user(ctx, userID); err != nil {
		return "", time.Time{}, err
	}
	return s.resetLink(ctx, userID, "", ResetTTL)
}

// resetLink issues a reset token for userID, valid for ttl, recorded with
// reason (why it was issued without an administrator asking) when not
// empty.
func (s *Service) resetLink(ctx context.Context, userID, reason string, ttl time.Duration) (string, time.Time, error) {
	plain, t, err := s.newResetToken(ctx, userID, ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	data := map[string]any{"expires_at": t.ExpiresAt}
	if reason != "" {
		data["reason"] = reason
	}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionUserResetLink, userID, data)}, s.repo.CreateOneTimeToken(ctx, t)
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return plain, t.ExpiresAt, nil
}

// newResetToken makes (without storing it) a reset token for userID,
// valid for ttl, and returns it with its stored form.
func (s *Service) newResetToken(ctx context.Context, userID string, ttl time.Duration) (string, custodian.OneTimeToken, error) {
	plain, hash, err := token.New(token.PrefixReset)
	if err != nil {
		return "", custodian.OneTimeToken{}, err
	}
	now := s.now()
	return plain, custodian.OneTimeToken{Hash: hash, Purpose: custodian.PurposeReset, UserID: userID, CreatedBy: custodian.ActorFrom(ctx), CreatedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

// CompleteReset sets a new password with a reset token, consuming it, and
// ends every session of the user, all in one transaction.
func (s *Service) CompleteReset(ctx context.Context, resetToken, next string) error {
	hash, t, err := s.peekLink(ctx, token.PrefixReset, custodian.PurposeReset, resetToken)
	if err != nil {
		return err
	}
	u, err := s.user(ctx, t.UserID)
	if err != nil {
		return invalidLink
	}
	if err := s.checkNewPassword(next, u.Email, u.Name); err != nil {
		return err
	}
	ph, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: t.UserID})
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.repo.ResetPassword(ctx, hash, s.now(), ph); err != nil {
			return nil, err
		}
		// Setting a new password through the link unlocks the account.
		return []custodian.AuditEntry{event(custodian.ActionPasswordReset, t.UserID, nil, "password")}, s.repo.ClearSignInFailures(ctx, s.accountKey(u, ""))
	})
	if err != nil {
		if custodian.ErrorCode(err) == custodian.ENOTFOUND {
			return invalidLink
		}
		return err
	}
	return nil
}
