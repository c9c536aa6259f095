// Package accounts signs people in and out and manages who may do what:
// the first administrator, invitations, password sign-in with throttling,
// browser sessions and personal access tokens. Secrets are stored only as
// hashes; every sign-in failure answers the same way, in the same time,
// whether the account exists or not.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/crypto"
	"github.com/custodian-crm/custodian/lockout"
	"github.com/custodian-crm/custodian/password"
	"github.com/custodian-crm/custodian/token"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Config holds the account policies. Zero fields take the defaults.
type Config struct {
	IdleTimeout     time.Duration // a session ends after this long unused (30 min)
	AbsoluteTimeout time.Duration // and this long after sign-in in any case (12 h)
	TokenTTL        time.Duration // default lifetime of a personal access token (90 days)
	MaxTokenTTL     time.Duration // longest lifetime a token may be given (1 year)
	InviteTTL       time.Duration // how long an invitation stays valid (7 days)
	SetupTTL        time.Duration // how long the first-run setup link stays valid (1 h)
	Lockout         lockout.Policy
	// Passkeys is the relying party passkeys are bound to; passkeys are
	// off while its RPID is empty.
	Passkeys PasskeyConfig
	Policy   password.Policy
	Now      func() time.Time

	// AuthCacheTTL is how long an authenticated access token or session
	// is trusted without reading the database again (DefaultAuthCacheTTL);
	// negative turns the cache off. Changes made through this service take
	// effect at once whatever it is; it bounds how long a change made
	// elsewhere (another instance whose invalidation was lost, or a
	// command against the same SQLite file) can go unseen.
	AuthCacheTTL time.Duration
	// AuthCacheSize bounds the number of cached tokens and sessions
	// (DefaultAuthCacheSize); the least recently used go first.
	AuthCacheSize int
	// Publisher tells the other instances sharing the database about the
	// changes this service makes; nil when there are none (SQLite).
	Publisher custodian.AuthPublisher
	// Logger reports what fails in the background: invalidations that
	// could not be published and last-used times that could not be
	// written. Nil discards.
	Logger *slog.Logger
	// Observer is told of the failures the attack detector needs beyond
	// those the transport reports: an account reaching the sign-in
	// policy's hard limit (custodian.SignalAccountLocked). Nil tells
	// nobody.
	Observer custodian.Observer
	// Notifier mails the owner of an account that reached the hard limit
	// a link (under PublicURL) to unlock it by setting a new password.
	// Without both, only an administrator unlocks it.
	Notifier  custodian.AccountNotifier
	PublicURL string
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.IdleTimeout, 30*time.Minute)
	set(&c.AbsoluteTimeout, 12*time.Hour)
	set(&c.TokenTTL, 90*24*time.Hour)
	set(&c.MaxTokenTTL, 365*24*time.Hour)
	set(&c.InviteTTL, 7*24*time.Hour)
	set(&c.SetupTTL, time.Hour)
	set(&c.AuthCacheTTL, DefaultAuthCacheTTL)
	if c.AuthCacheSize == 0 {
		c.AuthCacheSize = DefaultAuthCacheSize
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// touchEvery bounds how often a session's last-seen time, or a token's
// last-used time, is written.
const touchEvery = time.Minute

// touchTimeout bounds a last-seen or last-used write made in the
// background, after the request that caused it has been answered.
const touchTimeout = 10 * time.Second

// publishTimeout bounds telling the other instances about a change.
const publishTimeout = 5 * time.Second

// Service implements account management on a repository.
type Service struct {
	repo   custodian.AccountRepository
	hasher *password.Hasher
	cfg    Config
	// failKey keys the hashes that name accounts and sources in the
	// failure counts (see throttle.go).
	failKey []byte
	mu      sync.Mutex
	sealer  *crypto.Sealer // seals TOTP secrets

	requiredRoles []custodian.Role // cached SettingRequireTOTP, under mu
	requiredAt    time.Time

	passkeyRoles   []custodian.Role // cached SettingRequirePasskey, under mu
	passkeyRolesAt time.Time
	webauthn       *webauthn.WebAuthn // the relying party; nil when passkeys are off

	cache   *authCache     // authenticated tokens and sessions; nil when off
	touches sync.WaitGroup // last-seen and last-used writes under way
}

// fieldTOTP is the field name a TOTP secret is sealed under.
const fieldTOTP = "totp"

// New returns a Service. The sealer protects TOTP secrets at rest.
func New(repo custodian.AccountRepository, hasher *password.Hasher, sealer *crypto.Sealer, cfg Config) (*Service, error) {
	cfg.defaults()
	if err := cfg.Lockout.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	if cfg.AuthCacheSize < 0 {
		return nil, fmt.Errorf("accounts: the authentication cache size %d is negative", cfg.AuthCacheSize)
	}
	wa, err := newWebAuthn(cfg.Passkeys)
	if err != nil {
		return nil, err
	}
	failKey, err := newFailureKey(sealer)
	if err != nil {
		return nil, err
	}
	return &Service{repo: repo, hasher: hasher, cfg: cfg, failKey: failKey, sealer: sealer,
		cache: newAuthCache(cfg.AuthCacheTTL, cfg.AuthCacheSize), webauthn: wa}, nil
}

// Close waits for the last-seen and last-used times being written in the
// background, so that none is lost; call it before closing the
// repository.
func (s *Service) Close() {
	s.touches.Wait()
}

// Forget drops what this instance has cached about inv: the
// authenticated tokens and sessions of its user, or, for every user, all of
// them and the cached two-factor requirement too. The listener of another
// instances' invalidations calls it; changes made through this service
// call it themselves.
func (s *Service) Forget(inv custodian.AuthInvalidation) {
	s.cache.invalidate(inv)
	if inv.All() {
		s.mu.Lock()
		s.requiredAt, s.passkeyRolesAt = time.Time{}, time.Time{}
		s.mu.Unlock()
	}
}

// invalidate makes a change to inv's user (or to every user) take effect:
// it drops this instance's cached authentication at once and tells the
// other instances. It is called once the change is committed, or once it
// failed (an uncertain commit must not leave stale entries either). A
// failure to tell the others is logged, not returned: the change is made,
// and the others' entries end within the cache's staleness bound.
func (s *Service) invalidate(ctx context.Context, inv custodian.AuthInvalidation) {
	s.Forget(inv)
	if s.cfg.Publisher == nil {
		return
	}
	// A request that ends now must not keep the others from hearing of
	// the change it made.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	if err := s.cfg.Publisher.Publish(pctx, inv); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "could not tell the other instances about an account change; they see it within the authentication cache's TTL",
			"user", inv.UserID, "ttl", s.cfg.AuthCacheTTL.String(), "err", err)
	}
}

// SessionTTL returns the absolute session lifetime, for the cookie.
func (s *Service) SessionTTL() time.Duration { return s.cfg.AbsoluteTimeout }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

var errBadCredentials = custodian.Errorf(custodian.EUNAUTHORIZED, "The email address or password is incorrect.")

// checkNewPassword applies the password policy with the person's own
// details as context words, answering with a field error that explains.
func (s *Service) checkNewPassword(pw, email, name string) error {
	if err := s.cfg.Policy.Check(pw, email, name); err != nil {
		var weak *password.WeakPasswordError
		msg := "This password is not allowed."
		if errors.As(err, &weak) {
			msg = strings.TrimSpace(weak.Explanation + " " + weak.Suggestion)
		}
		return &custodian.Error{Code: custodian.EINVALID, Message: "The password is too weak.", Fields: []custodian.FieldError{{Field: "password", Message: msg}}}
	}
	return nil
}

// badRole is the field error for a role that is not one of the roles.
var badRole = custodian.FieldError{Field: "role", Message: "Role must be admin, manager, agent, viewer or auditor."}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 || strings.ContainsAny(name, "<>") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &custodian.Error{Code: custodian.EINVALID, Message: "The name is not valid.", Fields: []custodian.FieldError{{Field: "name", Message: "A name is 1 to 200 characters, without < or >."}}}
	}
	return name, nil
}

// newUser validates a new account and hashes its password.
func (s *Service) newUser(ctx context.Context, email, name string, role custodian.Role, pw string) (*custodian.UserRecord, error) {
	var fields []custodian.FieldError
	email, err := custodian.NormalizeUserEmail(email)
	fields = append(fields, custodian.ErrorFields(err)...)
	name, err = checkName(name)
	fields = append(fields, custodian.ErrorFields(err)...)
	if !role.Valid() {
		fields = append(fields, badRole)
	}
	// The password is checked even when other fields are wrong, so that a
	// person sees every problem at once.
	fields = append(fields, custodian.ErrorFields(s.checkNewPassword(pw, email, name))...)
	if len(fields) > 0 {
		return nil, &custodian.Error{Code: custodian.EINVALID, Message: "The account has invalid fields.", Fields: fields}
	}
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	now := s.now()
	return &custodian.UserRecord{
		User:         custodian.User{ID: custodian.NewUserID(), Email: email, Name: name, Role: role, Active: true, CreatedAt: now, UpdatedAt: now, Version: 1},
		PasswordHash: hash,
	}, nil
}

// newUserFields are the fields every new account is created with.
var newUserFields = []string{"email", "name", "role", "password"}

// event returns an audit entry about subject. data holds detail that is
// never a personal value: ids, roles, reasons; nil for none.
func event(action, subject string, data map[string]any, fields ...string) custodian.AuditEntry {
	var b []byte
	if len(data) > 0 {
		b, _ = json.Marshal(data) // maps of strings, bools and times always encode
	}
	return custodian.AuditEntry{Action: action, Subject: subject, Fields: fields, Data: b}
}

// CreateUser creates an account directly, for the command line.
func (s *Service) CreateUser(ctx context.Context, email, name string, role custodian.Role, pw string) (*custodian.User, error) {
	u, err := s.newUser(ctx, email, name, role, pw)
	if err != nil {
		return nil, err
	}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionUserCreate, u.ID, map[string]any{"role": role}, newUserFields...)}, s.repo.CreateUser(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	return &u.User, nil
}

// SetupLink returns a fresh one-time token for creating the first
// administrator when no user exists yet, and "" otherwise.
func (s *Service) SetupLink(ctx context.Context) (string, time.Time, error) {
	n, err := s.repo.CountUsers(ctx)
	if err != nil || n > 0 {
		return "", time.Time{}, err
	}
	plain, hash, err := token.New(token.PrefixSetup)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	t := custodian.OneTimeToken{Hash: hash, Purpose: custodian.PurposeSetup, Role: custodian.RoleAdmin, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SetupTTL)}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionUserInvite, "", map[string]any{"purpose": custodian.PurposeSetup, "role": t.Role, "expires_at": t.ExpiresAt})}, s.repo.CreateOneTimeToken(ctx, t)
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return plain, t.ExpiresAt, nil
}

// invalidLink is the answer for any token that is malformed, unknown,
// expired or used: they are not told apart.
var invalidLink = custodian.Errorf(custodian.ENOTFOUND, "This link is invalid, expired or already used.")

// peekLink checks the one-time link token plain, of the prefix and
// purpose, without consuming it, and returns its hash and its stored
// form; invalidLink for a token that is malformed, unknown, expired or
// used.
func (s *Service) peekLink(ctx context.Context, prefix, purpose, plain string) ([]byte, *custodian.OneTimeToken, error) {
	if token.Parse(prefix, plain) != nil {
		return nil, nil, invalidLink
	}
	hash := token.Hash(plain)
	t, err := s.repo.PeekToken(ctx, hash, purpose, s.now())
	if err != nil {
		return nil, nil, invalidLink
	}
	return hash, t, nil
}

// CompleteSetup creates the first administrator with a setup token. The
// token is consumed in the same transaction; it works only while no user
// exists.
func (s *Service) CompleteSetup(ctx context.Context, setupToken, email, name, pw string) (*custodian.User, error) {
	hash, _, err := s.peekLink(ctx, token.PrefixSetup, custodian.PurposeSetup, setupToken)
	if err != nil {
		return nil, err
	}
	if n, err := s.repo.CountUsers(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, invalidLink
	}
	u, err := s.newUser(ctx, email, name, custodian.RoleAdmin, pw)
	if err != nil {
		return nil, err
	}
	if err := s.redeemForUser(ctx, hash, custodian.PurposeSetup, u); err != nil {
		return nil, err
	}
	return &u.User, nil
}

// Invite creates an invitation for an email address and role, returning
// the token to send to the invitee; when mail is configured, the link is
// also mailed to the invitee.
func (s *Service) Invite(ctx context.Context, email string, role custodian.Role) (string, time.Time, error) {
	var fields []custodian.FieldError
	email, err := custodian.NormalizeUserEmail(email)
	fields = append(fields, custodian.ErrorFields(err)...)
	if !role.Valid() {
		fields = append(fields, badRole)
	}
	if len(fields) > 0 {
		return "", time.Time{}, &custodian.Error{Code: custodian.EINVALID, Message: "The invitation has invalid fields.", Fields: fields}
	}
	if _, err := s.repo.UserByEmail(ctx, email); err == nil {
		return "", time.Time{}, custodian.Errorf(custodian.ECONFLICT, "A user with this email address already exists.")
	}
	plain, hash, err := token.New(token.PrefixInvitation)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	t := custodian.OneTimeToken{Hash: hash, Purpose: custodian.PurposeInvite, Email: email, Role: role, CreatedBy: custodian.ActorFrom(ctx), CreatedAt: now, ExpiresAt: now.Add(s.cfg.InviteTTL)}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		// The invitee has no account yet: the email is named as a field,
		// never recorded.
		return []custodian.AuditEntry{event(custodian.ActionUserInvite, "", map[string]any{"purpose": custodian.PurposeInvite, "role": role, "expires_at": t.ExpiresAt}, "email", "role")}, s.repo.CreateOneTimeToken(ctx, t)
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.mailInvitation(ctx, email, role, plain, t.ExpiresAt)
	return plain, t.ExpiresAt, nil
}

// mailInvitation mails an invitation's link to the invitee when mail is
// configured. Delivery is best effort: a failure is logged, and the
// administrator still has the link to pass on.
func (s *Service) mailInvitation(ctx context.Context, email string, role custodian.Role, plain string, expires time.Time) {
	if !s.MailsLinks() {
		return
	}
	body := fmt.Sprintf("You are invited to join Custodian as %s.\r\n\r\n"+
		"To accept, choose your name and a password before %s (the link works once):\r\n\r\n%s\r\n\r\n"+
		"If you did not expect this invitation, ignore this message.\r\n", role, expires.UTC().Format(time.RFC1123), s.link("/register?token="+plain))
	if err := s.cfg.Notifier.NotifyAccount(ctx, email, "You are invited to Custodian", body); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "could not send an invitation", "err", err)
	}
}

// ListInvitations lists every invitation with its state, newest first.
func (s *Service) ListInvitations(ctx context.Context) ([]custodian.Invitation, error) {
	return s.repo.ListInvitations(ctx, s.now())
}

// RevokeInvitation revokes a pending invitation: its link stops working.
func (s *Service) RevokeInvitation(ctx context.Context, id string) error {
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		inv, err := s.repo.RevokeInvitation(ctx, id, s.now())
		if err != nil {
			return nil, err
		}
		return []custodian.AuditEntry{event(custodian.ActionInviteRevoke, "", map[string]any{"invitation": inv.ID, "role": inv.Role})}, nil
	})
}

// ResendInvitation replaces a pending or expired invitation with a new
// one for the same address and role, in one transaction: the old link
// stops working (a pending one is revoked) and the new one is mailed
// when mail is configured. It returns the new link's token.
func (s *Service) ResendInvitation(ctx context.Context, id string) (string, time.Time, error) {
	now := s.now()
	invs, err := s.repo.ListInvitations(ctx, now)
	if err != nil {
		return "", time.Time{}, err
	}
	var old *custodian.Invitation
	for i := range invs {
		if invs[i].ID == id && (invs[i].State == custodian.InvitationPending || invs[i].State == custodian.InvitationExpired) {
			old = &invs[i]
		}
	}
	if old == nil {
		return "", time.Time{}, custodian.Errorf(custodian.ENOTFOUND, "No pending or expired invitation has this id.")
	}
	if _, err := s.repo.UserByEmail(ctx, old.Email); err == nil {
		return "", time.Time{}, custodian.Errorf(custodian.ECONFLICT, "A user with this email address already exists.")
	}
	plain, hash, err := token.New(token.PrefixInvitation)
	if err != nil {
		return "", time.Time{}, err
	}
	t := custodian.OneTimeToken{Hash: hash, Purpose: custodian.PurposeInvite, Email: old.Email, Role: old.Role, CreatedBy: custodian.ActorFrom(ctx), CreatedAt: now, ExpiresAt: now.Add(s.cfg.InviteTTL)}
	err = s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		if old.State == custodian.InvitationPending {
			if _, err := s.repo.RevokeInvitation(ctx, id, now); err != nil {
				return nil, err
			}
		}
		return []custodian.AuditEntry{event(custodian.ActionUserInvite, "", map[string]any{"purpose": custodian.PurposeInvite, "role": t.Role, "expires_at": t.ExpiresAt, "replaces": id}, "email", "role")}, s.repo.CreateOneTimeToken(ctx, t)
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.mailInvitation(ctx, t.Email, t.Role, plain, t.ExpiresAt)
	return plain, t.ExpiresAt, nil
}

// Register accepts an invitation: it creates the account with the invited
// email and role, a name and a password, consuming the invitation.
func (s *Service) Register(ctx context.Context, inviteToken, name, pw string) (*custodian.User, error) {
	hash, inv, err := s.peekLink(ctx, token.PrefixInvitation, custodian.PurposeInvite, inviteToken)
	if err != nil {
		return nil, err
	}
	u, err := s.newUser(ctx, inv.Email, name, inv.Role, pw)
	if err != nil {
		return nil, err
	}
	if err := s.redeemForUser(ctx, hash, custodian.PurposeInvite, u); err != nil {
		if custodian.ErrorCode(err) == custodian.ENOTFOUND {
			return nil, invalidLink
		}
		return nil, err
	}
	return &u.User, nil
}

// redeemForUser consumes a setup or invitation token and creates u, with
// its audit event, in one transaction. The new user is the actor: the
// holder of the link created their own account.
func (s *Service) redeemForUser(ctx context.Context, hash []byte, purpose string, u *custodian.UserRecord) error {
	ctx = custodian.WithActor(ctx, u.ID)
	return s.repo.Audited(ctx, func(ctx context.Context) ([]custodian.AuditEntry, error) {
		return []custodian.AuditEntry{event(custodian.ActionUserCreate, u.ID, map[string]any{"role": u.Role, "via": purpose}, newUserFields...)},
			s.repo.RedeemForUser(ctx, hash, purpose, s.now(), u)
	})
}
