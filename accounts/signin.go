package accounts

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/token"
	"github.com/custodian-crm/custodian/totp"
)

// SignInRequest is what a person types to sign in, and where from.
type SignInRequest struct {
	Email      string
	Password   string
	OTP        string
	ClientAddr string
	UserAgent  string
}

// maxPasswordBytes bounds what is hashed at sign-in, so an enormous
// "password" cannot cost more than a real one.
const maxPasswordBytes = 4096

// SignIn checks an email and password and starts a session, returning its
// token (for the cookie) and the user. Every failure (unknown email, wrong
// password, deactivated account) answers the same error after the same
// work, one password hash. After repeated failures an account (or an
// unknown email address) must wait before the next attempt: ETOOMANY with
// RetryAfter, answered without checking the password.
func (s *Service) SignIn(ctx context.Context, in SignInRequest) (string, *custodian.User, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if len(in.Password) > maxPasswordBytes || !utf8.ValidString(email) || len(email) > custodian.MaxEmailLen {
		return "", nil, errBadCredentials
	}
	now := s.now()
	u, err := s.repo.UserByEmail(ctx, email)
	if err != nil && custodian.ErrorCode(err) != custodian.ENOTFOUND {
		return "", nil, err
	}
	if u == nil {
		return "", nil, s.failUnknown(ctx, email, in.Password, now)
	}
	if wait, _, allowed := s.cfg.Lockout.Check(u.FailedSignins, u.LastFailedAt, now); !allowed {
		return "", nil, tooMany(wait)
	}
	ok, rehash, err := s.hasher.Verify(ctx, in.Password, u.PasswordHash)
	if err != nil {
		return "", nil, err
	}
	if !ok || !u.Active {
		return "", nil, s.fail(ctx, u.ID, now)
	}
	if u.TOTPEnabled && !s.checkSecondFactor(ctx, u, in.OTP, now) {
		if in.OTP == "" {
			return "", nil, &custodian.Error{Code: custodian.EUNAUTHORIZED, Message: "Enter the code from your authenticator app.", Fields: []custodian.FieldError{{Field: "otp", Message: "A one-time code is required."}}}
		}
		return "", nil, s.fail(ctx, u.ID, now)
	}
	err = s.repo.UpdateUser(ctx, u.ID, func(r *custodian.UserRecord) error {
		r.FailedSignins, r.LastFailedAt = 0, time.Time{}
		if rehash {
			if h, err := s.hasher.Hash(ctx, in.Password); err == nil {
				r.PasswordHash = h
			}
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	plain, hash, err := token.New(token.PrefixSession)
	if err != nil {
		return "", nil, err
	}
	se := custodian.Session{TokenHash: hash, UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.AbsoluteTimeout),
		ClientAddr: truncate(in.ClientAddr, 64), UserAgent: truncate(in.UserAgent, 256)}
	if err := s.repo.CreateSession(ctx, se); err != nil {
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

func tooMany(wait time.Duration) error {
	return &custodian.Error{Code: custodian.ETOOMANY, Message: "Too many failed sign-ins; wait before trying again.", RetryAfter: wait}
}

// fail records a failed sign-in against an account.
func (s *Service) fail(ctx context.Context, userID string, now time.Time) error {
	err := s.repo.UpdateUser(ctx, userID, func(r *custodian.UserRecord) error {
		r.FailedSignins++
		r.LastFailedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	return errBadCredentials
}

// failUnknown does for an email without an account what SignIn does for
// one: the same throttling and the same password work, so neither the
// answer nor its timing tells whether the account exists.
func (s *Service) failUnknown(ctx context.Context, email, pw string, now time.Time) error {
	s.mu.Lock()
	f, _ := s.unknown.Get(email)
	s.mu.Unlock()
	if wait, _, allowed := s.cfg.Lockout.Check(f.count, f.last, now); !allowed {
		return tooMany(wait)
	}
	_ = s.hasher.VerifyDummy(ctx, pw) // always fails; spends the same time
	s.mu.Lock()
	f, _ = s.unknown.Get(email)
	s.unknown.Add(email, failures{count: f.count + 1, last: now})
	s.mu.Unlock()
	return errBadCredentials
}

// Authenticate returns the principal of a session token, ending the
// session when it is past its idle or absolute limit or its user is
// deactivated. It answers EUNAUTHORIZED for any token that is not a live
// session.
func (s *Service) Authenticate(ctx context.Context, sessionToken string) (*custodian.Principal, error) {
	unauthorized := custodian.Errorf(custodian.EUNAUTHORIZED, "Sign in to continue.")
	if token.Parse(token.PrefixSession, sessionToken) != nil {
		return nil, unauthorized
	}
	hash := token.Hash(sessionToken)
	se, u, err := s.repo.SessionByHash(ctx, hash)
	if custodian.ErrorCode(err) == custodian.ENOTFOUND {
		return nil, unauthorized
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !u.Active || now.After(se.ExpiresAt) || now.Sub(se.LastSeenAt) > s.cfg.IdleTimeout {
		_ = s.repo.DeleteSession(ctx, hash)
		return nil, unauthorized
	}
	if now.Sub(se.LastSeenAt) > touchEvery {
		if err := s.repo.TouchSession(ctx, hash, now); err != nil {
			return nil, err
		}
	}
	p := &custodian.Principal{User: &u.User, SessionHash: hash}
	if !u.TOTPEnabled {
		if p.MustEnrollTOTP, err = s.totpRequired(ctx, u.Role); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// AuthenticateToken returns the principal of a personal access token.
func (s *Service) AuthenticateToken(ctx context.Context, bearer string) (*custodian.Principal, error) {
	unauthorized := custodian.Errorf(custodian.EUNAUTHORIZED, "The access token is invalid, expired or revoked.")
	if token.Parse(token.PrefixPersonalAccess, bearer) != nil {
		return nil, unauthorized
	}
	t, u, err := s.repo.APITokenByHash(ctx, token.Hash(bearer))
	if custodian.ErrorCode(err) == custodian.ENOTFOUND {
		return nil, unauthorized
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !u.Active || !t.RevokedAt.IsZero() || now.After(t.ExpiresAt) {
		return nil, unauthorized
	}
	if now.Sub(t.LastUsedAt) > touchEvery {
		if err := s.repo.TouchAPIToken(ctx, t.ID, now); err != nil {
			return nil, err
		}
	}
	p := &custodian.Principal{User: &u.User}
	if !u.TOTPEnabled {
		if p.MustEnrollTOTP, err = s.totpRequired(ctx, u.Role); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// SignOut ends the session of a token; an unknown token is not an error.
func (s *Service) SignOut(ctx context.Context, sessionToken string) error {
	if token.Parse(token.PrefixSession, sessionToken) != nil {
		return nil
	}
	return s.repo.DeleteSession(ctx, token.Hash(sessionToken))
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
	if err := s.repo.CreateAPIToken(ctx, t, hash); err != nil {
		return "", nil, err
	}
	return plain, &t, nil
}

// ListAPITokens lists a user's tokens (never the tokens themselves).
func (s *Service) ListAPITokens(ctx context.Context, userID string) ([]custodian.APIToken, error) {
	return s.repo.ListAPITokens(ctx, userID)
}

// RevokeAPIToken revokes one of a user's tokens.
func (s *Service) RevokeAPIToken(ctx context.Context, userID, id string) error {
	return s.repo.RevokeAPIToken(ctx, userID, id, s.now())
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
