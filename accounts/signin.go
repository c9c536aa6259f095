package accounts

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/token"
	"github.com/custodian-crm/custodian/totp"
)

// maxPasswordBytes bounds what is hashed at sign-in, so an enormous
// "password" cannot cost more than a real one.
const maxPasswordBytes = 4096

// Reasons recorded with failed sign-ins.
const (
	reasonPassword = "bad_password"
	reasonOTP      = "bad_otp"
	reasonInactive = "inactive"
	reasonLocked   = "locked"
	reasonUnknown  = "unknown_account"
)

// SignIn checks an email and password and starts a session, returning its
// token (for the cookie) and the user. Every failure (unknown email, wrong
// password, deactivated account) answers the same error after the same
// work, one password hash, and is counted the same way (see throttle.go
// and package lockout): per account and source, so that an attacker's
// failures make the attacker wait, and per account, up to the hard limit
// that locks it until unlocked. A refused attempt is answered ETOOMANY in
// a *custodian.RetryError saying how long to wait, without checking the
// password.
//
// Every attempt is in the audit trail: the session and its auth.signin
// event are stored together, and a failure's auth.signin_failed event
// together with its counts. An attempt against an email address without
// an account is recorded with no subject and the keyed token of the
// address (see custodian.SignInError), so the trail holds no address that
// nobody registered, yet repeated attempts on one address can be told
// apart.
func (s *Service) SignIn(ctx context.Context, in custodian.SignInRequest) (string, *custodian.User, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if len(in.Password) > maxPasswordBytes || !utf8.ValidString(email) || len(email) > custodian.MaxEmailLen {
		return "", nil, &custodian.SignInError{Err: errBadCredentials}
	}
	now := s.now()
	u, err := s.repo.UserByEmail(ctx, email)
	if err != nil && custodian.ErrorCode(err) != custodian.ENOTFOUND {
		return "", nil, err
	}
	a := attempt{acct: s.accountKey(u, email), src: s.sourceKey(in.ClientAddr), action: custodian.ActionSignInFailed, addr: in.ClientAddr, user: u}
	if u != nil {
		a.subject, a.account = u.ID, u.ID
	} else {
		a.account = s.unknownAccount(email)
	}
	if err := s.admit(ctx, a, now); err != nil {
		return "", nil, err
	}
	if u == nil {
		if err := s.verifyDummy(ctx, in.Password); err != nil { // always fails; spends the same time
			return "", nil, err // busy or cancelled, as for a known account: not counted
		}
		return "", nil, s.failed(ctx, a, reasonUnknown, now, errBadCredentials)
	}
	ok, rehash, err := s.verify(ctx, in.Password, u.PasswordHash)
	if err != nil {
		return "", nil, err
	}
	if !ok || !u.Active {
		reason := reasonPassword
		if ok {
			reason = reasonInactive
		}
		return "", nil, s.failed(ctx, a, reason, now, errBadCredentials)
	}
	method, passkey := "password", false
	hasPasskeys, err := s.hasPasskeys(ctx, u.ID)
	if err != nil {
		return "", nil, err
	}
	if u.TOTPEnabled || hasPasskeys {
		switch {
		case in.PasskeyCeremony != "":
			if !hasPasskeys || !s.checkPasskeyFactor(ctx, u, in.PasskeyCeremony, in.PasskeyCredential) {
				return "", nil, s.failed(ctx, a, reasonPasskey, now, errBadCredentials)
			}
			method, passkey = "password+passkey", true
		case s.checkSecondFactor(ctx, u, in.OTP, now):
			method = "password+otp"
		case in.OTP == "":
			return "", nil, secondFactorNeeded(u.TOTPEnabled, hasPasskeys)
		default:
			return "", nil, s.failed(ctx, a, reasonOTP, now, errBadCredentials)
		}
	}
	newHash := ""
	if rehash {
		if h, err := s.hash(ctx, in.Password); err == nil {
			newHash = h
		}
	}
	plain, hash, err := token.New(token.PrefixSession)
	if err != nil {
		return "", nil, err
	}
	se := custodian.Session{TokenHash: hash, UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.AbsoluteTimeout),
		ClientAddr: truncate(in.ClientAddr, 64), UserAgent: truncate(in.UserAgent, 256), Passkey: passkey}
	err = s.repo.Audited(custodian.WithActor(ctx, u.ID), func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if err := s.succeeded(ctx, a); err != nil {
			return nil, err
		}
		if newHash != "" {
			if err := s.repo.UpdateUser(ctx, u.ID, func(r *custodian.UserRecord) error {
				r.PasswordHash = newHash
				return nil
			}); err != nil {
				return nil, err
			}
		}
		return []custodian.AuditEntry{event(custodian.ActionSignIn, u.ID, map[string]any{"method": method})}, s.repo.CreateSession(ctx, se)
	})
	if err != nil {
		return "", nil, err
	}
	return plain, &u.User, nil
}

// checkSecondFactor accepts a TOTP code or one of the user's recovery
// codes (each usable once).
func (s *Service) checkSecondFactor(ctx context.Context, u *custodian.UserRecord, otp string, now time.Time) bool {
	if otp == "" {
		return false
	}
	if len(strings.TrimSpace(otp)) > 8 { // longer than any TOTP code: a recovery code
		hashes, err := s.repo.RecoveryCodes(ctx, u.ID)
		if err != nil {
			return false
		}
		i, ok := totp.MatchRecoveryCode(otp, hashes)
		return ok && s.repo.UseRecoveryCode(ctx, u.ID, hashes[i]) == nil
	}
	return s.checkTOTP(ctx, u, otp, now)
}

// checkTOTP checks a TOTP code against the user's sealed secret and
// records its time step, so that the same code cannot be used twice (the
// step is compared and set in one transaction).
func (s *Service) checkTOTP(ctx context.Context, u *custodian.UserRecord, otp string, now time.Time) bool {
	if s.sealer == nil || len(u.TOTPSecret) == 0 {
		return false
	}
	dk, err := s.sealer.OpenDataKey(u.ID, u.TOTPKeyID, u.TOTPDataKey)
	if err != nil {
		return false
	}
	secret, err := dk.Open(fieldTOTP, u.TOTPSecret)
	if err != nil {
		return false
	}
	step, ok := totp.Validate(string(secret), otp, now, u.TOTPLastStep)
	if !ok {
		return false
	}
	err = s.repo.UpdateUser(ctx, u.ID, func(r *custodian.UserRecord) error {
		if r.TOTPLastStep >= step {
			return custodian.Errorf(custodian.EUNAUTHORIZED, "This code was already used.")
		}
		r.TOTPLastStep = step
		return nil
	})
	return err == nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// tooMany is the lockout's refusal: ETOOMANY, and how long to wait.
func tooMany(wait time.Duration) error {
	return &custodian.RetryError{Err: custodian.Errorf(custodian.ETOOMANY, "Too many failed sign-ins; wait before trying again."), After: wait}
}

// unknownAccount names an email address without an account in the audit
// trail and in alerts: a 32-bit token under the index key, the same for
// every attempt on the address, that reveals it only to whoever holds the
// keyring and already suspects the address.
func (s *Service) unknownAccount(email string) string {
	if s.sealer == nil {
		return "unknown"
	}
	return fmt.Sprintf("unknown:%08x", s.sealer.Token("audit signin email", email))
}

// Authenticate returns the principal of a session token, ending the
// session when it is past its idle or absolute limit or its user is
// deactivated. It answers EUNAUTHORIZED for any token that is not a live
// session.
//
// A session that authenticated within the cache's TTL is answered from
// memory, its idle and absolute limits checked against the times it was
// last seen and created with; a session past either by those times is
// judged by the database, as on a first use.
func (s *Service) Authenticate(ctx context.Context, sessionToken string) (*custodian.Principal, error) {
	if token.Parse(token.PrefixSession, sessionToken) != nil {
		return nil, errNoSession
	}
	hash := token.Hash(sessionToken)
	now := s.now()
	if e := s.cache.get(hash, now); e != nil && s.sessionLive(e.expires, e.seen(), now) {
		s.touchLater(ctx, e, now)
		return s.principal(ctx, e.user, hash, e.passkey)
	}
	gen := s.cache.generation()
	se, u, err := s.repo.SessionByHash(ctx, hash)
	if custodian.ErrorCode(err) == custodian.ENOTFOUND {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	if !u.Active || !s.sessionLive(se.ExpiresAt, se.LastSeenAt, now) {
		s.cache.remove(hash)
		_ = s.repo.DeleteSession(ctx, hash)
		return nil, errNoSession
	}
	seen := se.LastSeenAt
	if now.Sub(seen) > touchEvery {
		if err := s.repo.TouchSession(ctx, hash, now); err != nil {
			return nil, err
		}
		seen = now
	}
	e := &authEntry{user: u.User, session: true, hash: hash, expires: se.ExpiresAt, loaded: now, passkey: se.Passkey}
	e.lastSeen.Store(seen.UnixMicro())
	s.cache.put(e, gen)
	return s.principal(ctx, u.User, hash, e.passkey)
}

// sessionLive reports whether a session that ends at expires and was
// last seen at seen is still live at now.
func (s *Service) sessionLive(expires, seen, now time.Time) bool {
	return !now.After(expires) && now.Sub(seen) <= s.cfg.IdleTimeout
}

// AuthenticateToken returns the principal of a personal access token;
// EUNAUTHORIZED when it is unknown, expired or revoked, or its user is
// deactivated. A token that authenticated within the cache's TTL is
// answered from memory, its expiry checked on every use.
func (s *Service) AuthenticateToken(ctx context.Context, bearer string) (*custodian.Principal, error) {
	if token.Parse(token.PrefixPersonalAccess, bearer) != nil {
		return nil, errBadToken
	}
	hash := token.Hash(bearer)
	now := s.now()
	if e := s.cache.get(hash, now); e != nil && !now.After(e.expires) {
		s.touchLater(ctx, e, now)
		return s.principal(ctx, e.user, nil, e.passkey)
	}
	gen := s.cache.generation()
	t, u, err := s.repo.APITokenByHash(ctx, hash)
	if custodian.ErrorCode(err) == custodian.ENOTFOUND {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	if !u.Active || !t.RevokedAt.IsZero() || now.After(t.ExpiresAt) {
		return nil, errBadToken
	}
	used := t.LastUsedAt
	if now.Sub(used) > touchEvery {
		if err := s.repo.TouchAPIToken(ctx, t.ID, now); err != nil {
			return nil, err
		}
		used = now
	}
	e := &authEntry{user: u.User, hash: hash, tokenID: t.ID, expires: t.ExpiresAt, loaded: now}
	if e.passkey, err = s.tokenOwnerHasPasskey(ctx, u.User); err != nil {
		return nil, err
	}
	e.lastSeen.Store(used.UnixMicro())
	s.cache.put(e, gen)
	return s.principal(ctx, u.User, nil, e.passkey)
}

// touchLater records, in the background, that a cached session was seen
// or a cached token used at now, when its stored time is more than
// touchEvery old: at most one write a minute per token, none of them on
// the request's path. Close waits for the writes under way. A write that
// fails is logged and tried again by a later request.
func (s *Service) touchLater(ctx context.Context, e *authEntry, now time.Time) {
	if now.Sub(e.seen()) <= touchEvery || !e.touching.CompareAndSwap(false, true) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	s.touches.Go(func() {
		defer e.touching.Store(false)
		ctx, cancel := context.WithTimeout(ctx, touchTimeout)
		defer cancel()
		var err error
		if e.session {
			err = s.repo.TouchSession(ctx, e.hash, now)
		} else {
			err = s.repo.TouchAPIToken(ctx, e.tokenID, now)
		}
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "could not record when a session or access token was last used", "user", e.user.ID, "err", err)
			return
		}
		e.lastSeen.Store(now.UnixMicro())
	})
}

// The answers for any session or access token that does not authenticate.
var (
	errNoSession = custodian.Errorf(custodian.EUNAUTHORIZED, "Sign in to continue.")
	errBadToken  = custodian.Errorf(custodian.EUNAUTHORIZED, "The access token is invalid, expired or revoked.")
)

// principal is the authenticated caller u (with the hash of its session
// for a browser session), marked when its role requires two-factor
// authentication that it has not enrolled in, or passkeys that it did not
// use (passkey: the session signed in with one; for an access token, its
// user has one). The principal has a copy of u of its own.
func (s *Service) principal(ctx context.Context, u custodian.User, sessionHash []byte, passkey bool) (*custodian.Principal, error) {
	p := &custodian.Principal{User: &u, SessionHash: sessionHash}
	if !u.TOTPEnabled {
		var err error
		if p.MustEnrollTOTP, err = s.totpRequired(ctx, u.Role); err != nil {
			return nil, err
		}
	}
	if !passkey {
		required, err := s.passkeyRequired(ctx, u.Role)
		if err != nil {
			return nil, err
		}
		p.MustUsePasskey = required
	}
	return p, nil
}

// SignOut ends the session of a token, with its auth.signout event; an
// unknown token is not an error.
func (s *Service) SignOut(ctx context.Context, sessionToken string) error {
	if token.Parse(token.PrefixSession, sessionToken) != nil {
		return nil
	}
	hash := token.Hash(sessionToken)
	se, _, err := s.repo.SessionByHash(ctx, hash)
	if custodian.ErrorCode(err) == custodian.ENOTFOUND {
		s.cache.remove(hash)
		return nil
	}
	if err != nil {
		return err
	}
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: se.UserID})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionSignOut, se.UserID, nil)}, s.repo.DeleteSession(ctx, hash)
	})
}

// APITokenIDPrefix starts every access token's public id.
const APITokenIDPrefix = "tok_"

// CreateAPIToken issues a personal access token for the user, valid for
// ttl (the default when 0, at most MaxTokenTTL). The token is returned
// once; only its hash is kept.
func (s *Service) CreateAPIToken(ctx context.Context, userID, name string, ttl time.Duration) (string, *custodian.APIToken, error) {
	name = strings.TrimSpace(name)
	var fields []custodian.FieldError
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.ContainsAny(name, "<>") {
		fields = append(fields, custodian.FieldError{Field: "name", Message: "A token name is 1 to 100 characters, without < or >."})
	}
	if ttl == 0 {
		ttl = s.cfg.TokenTTL
	}
	if ttl < time.Hour || ttl > s.cfg.MaxTokenTTL {
		fields = append(fields, custodian.FieldError{Field: "expires_in_days", Message: "A token lives between 1 hour and 365 days."})
	}
	if len(fields) > 0 {
		return "", nil, &custodian.Error{Code: custodian.EINVALID, Message: "The token has invalid fields.", Fields: fields}
	}
	plain, hash, err := token.New(token.PrefixPersonalAccess)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	t := custodian.APIToken{ID: APITokenIDPrefix + strings.TrimPrefix(custodian.NewUserID(), custodian.UserIDPrefix), Name: name, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionTokenIssue, userID, map[string]any{"token_id": t.ID, "expires_at": t.ExpiresAt}, "name")},
			s.repo.CreateAPIToken(ctx, t, hash)
	})
	if err != nil {
		return "", nil, err
	}
	return plain, &t, nil
}

// ListAPITokens lists a user's tokens (never the tokens themselves).
func (s *Service) ListAPITokens(ctx context.Context, userID string) ([]custodian.APIToken, error) {
	return s.repo.ListAPITokens(ctx, userID)
}

// RevokeAPIToken revokes one of a user's tokens. The token is refused
// from the moment this returns, by every instance that heard of it.
func (s *Service) RevokeAPIToken(ctx context.Context, userID, id string) error {
	defer s.invalidate(ctx, custodian.AuthInvalidation{UserID: userID})
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionTokenRevoke, userID, map[string]any{"token_id": id})}, s.repo.RevokeAPIToken(ctx, userID, id, s.now())
	})
}

// UserByEmail returns the user with an email address.
func (s *Service) UserByEmail(ctx context.Context, email string) (*custodian.User, error) {
	u, err := s.repo.UserByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if err != nil {
		return nil, err
	}
	return &u.User, nil
}

// ListUsers lists every user.
func (s *Service) ListUsers(ctx context.Context) ([]*custodian.User, error) {
	return s.repo.ListUsers(ctx)
}
