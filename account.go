package custodian

import (
	"context"
	"encoding/json"
	"time"
)

// SignInRequest is what a person types to sign in, and where from.
type SignInRequest struct {
	Email    string
	Password string
	OTP      string
	// PasskeyCeremony and PasskeyCredential answer a second-factor
	// ceremony (BeginPasskeySignIn with secondFactor) instead of OTP.
	PasskeyCeremony   string
	PasskeyCredential json.RawMessage
	ClientAddr        string
	UserAgent         string
}

// SignInError is the error of a refused sign-in attempt. It answers as
// the failure it wraps (the one answer for every bad credential, or the
// lockout's ETOOMANY) and names the account the attempt was against, for
// the attack detector: a user id, "unknown:" and a keyed 32-bit token of an
// email address that has no account (never the address itself), or "" when
// the attempt named no usable address.
type SignInError struct {
	Account string
	Err     error
}

// Error returns the wrapped error's text.
func (e *SignInError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *SignInError) Unwrap() error { return e.Err }

// TOTPEnrolment is what a person needs to add the account to an
// authenticator app. It is shown once.
type TOTPEnrolment struct {
	Secret string `json:"secret"`
	URL    string `json:"otpauth_url"`
	QRCode string `json:"qr_code_png"` // base64
}

// AccountService signs people in and out, authenticates their requests,
// and manages joining, access tokens and the list of users. Every failure
// is an *Error; sign-in refusals are a *SignInError wrapping one.
type AccountService interface {
	// SignIn checks the credentials and starts a session, returning its
	// token (for the cookie) and the user.
	SignIn(ctx context.Context, in SignInRequest) (string, *User, error)
	// SignOut ends the session with the given token.
	SignOut(ctx context.Context, sessionToken string) error
	// Authenticate returns the principal of a session token;
	// EUNAUTHORIZED when it is unknown, expired or idle too long.
	Authenticate(ctx context.Context, sessionToken string) (*Principal, error)
	// AuthenticateToken returns the principal of a personal access token;
	// EUNAUTHORIZED when it is unknown, expired or revoked.
	AuthenticateToken(ctx context.Context, bearer string) (*Principal, error)
	// SessionTTL is the absolute lifetime of a session, for the cookie.
	SessionTTL() time.Duration
	// CompleteSetup redeems the first-run link and creates the first
	// administrator.
	CompleteSetup(ctx context.Context, setupToken, email, name, pw string) (*User, error)
	// Invite returns a single-use invitation link token for email to join
	// with role, and when it expires.
	Invite(ctx context.Context, email string, role Role) (string, time.Time, error)
	// ListInvitations lists every invitation with its state (pending,
	// accepted, expired or revoked), newest first; never a link.
	ListInvitations(ctx context.Context) ([]Invitation, error)
	// RevokeInvitation revokes a pending invitation; ENOTFOUND when there
	// is none with the id.
	RevokeInvitation(ctx context.Context, id string) error
	// ResendInvitation replaces a pending or expired invitation with a
	// new link (the old one stops working), mailed when mail is
	// configured, and returns its token and when it expires.
	ResendInvitation(ctx context.Context, id string) (string, time.Time, error)
	// Register redeems an invitation and creates its user.
	Register(ctx context.Context, inviteToken, name, pw string) (*User, error)
	// CreateAPIToken issues a personal access token, shown only now.
	CreateAPIToken(ctx context.Context, userID, name string, ttl time.Duration) (string, *APIToken, error)
	// ListAPITokens lists a user's tokens (never the tokens themselves).
	ListAPITokens(ctx context.Context, userID string) ([]APIToken, error)
	// RevokeAPIToken revokes one of the user's tokens.
	RevokeAPIToken(ctx context.Context, userID, id string) error
	// ListUsers lists every user.
	ListUsers(ctx context.Context) ([]*User, error)
	AccountSettings
	PasskeyService
	ViewService
}

// SessionInfo is a browser session as its owner sees it: never its token.
type SessionInfo struct {
	// ID is the first 8 bytes of the token's hash, in hex.
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ClientAddr string    `json:"client_addr"`
	UserAgent  string    `json:"user_agent"`
	// Current marks the session the request came with.
	Current bool `json:"current"`
}

// AccountSettings changes accounts: people's own credentials and two-factor
// authentication, administrators' changes to users, and the security
// settings kept in the database. Changes to one's own credentials ask for
// the current password (counted like sign-ins by the sign-in policy) and
// need a browser session: a personal access token alone is refused.
type AccountSettings interface {
	// ChangePassword sets p's password, optionally ending p's other
	// sessions.
	ChangePassword(ctx context.Context, p *Principal, current, next string, endOthers bool) error
	// RequestEmailChange asks to move p's sign-in address to email,
	// after the current password: a single-use link is mailed to the new
	// address and a notice to the current one; nothing changes until the
	// link is opened. It answers alike whether or not the new address
	// belongs to another account, and returns when the link expires.
	// EUNAVAILABLE when mail is not configured; ETOOMANY past the
	// throttle.
	RequestEmailChange(ctx context.Context, p *Principal, current, email string) (time.Time, error)
	// ConfirmEmailChange redeems the link mailed to the new address: it
	// sets the address and ends the account's sessions but p's (the
	// session the link was opened in, when it is the account's own; p
	// may be nil).
	ConfirmEmailChange(ctx context.Context, p *Principal, confirmToken string) (*User, error)
	// ListSessions lists p's live sessions, newest first, the one p
	// uses marked Current.
	ListSessions(ctx context.Context, p *Principal) ([]SessionInfo, error)
	// EndSession signs out one of p's sessions, by its id; ENOTFOUND when
	// p has none with it.
	EndSession(ctx context.Context, p *Principal, id string) error
	// EndOtherSessions signs out every session of p but the one p uses.
	EndOtherSessions(ctx context.Context, p *Principal) error
	// ChangeName sets p's own display name (no password needed; an
	// access token may do it).
	ChangeName(ctx context.Context, p *Principal, name string) (*User, error)
	// ChangePreferences sets p's own interface language (a tag the web
	// interface offers, such as "de") and time zone (an IANA name such as
	// "Europe/Berlin"); empty clears either, leaving it to the browser.
	ChangePreferences(ctx context.Context, p *Principal, language, timeZone string) (*User, error)
	// BeginTOTP starts two-factor enrolment: a new secret, not yet in force.
	BeginTOTP(ctx context.Context, p *Principal, current string) (*TOTPEnrolment, error)
	// EnableTOTP puts the enrolment in force once code proves it, and
	// returns ten single-use recovery codes.
	EnableTOTP(ctx context.Context, p *Principal, code string) ([]string, error)
	// DisableTOTP turns two-factor authentication off for p, after the
	// current password and a current one-time code (or a recovery code).
	DisableTOTP(ctx context.Context, p *Principal, current, code string) error
	// CompleteReset redeems a password-reset link.
	CompleteReset(ctx context.Context, resetToken, next string) error
	// ForgotPassword mails a short-lived, single-use password-reset link
	// to the account of email, if there is one, answering alike either
	// way; requests are throttled per address and per client address.
	// EUNAVAILABLE when mail is not configured.
	ForgotPassword(ctx context.Context, email, clientAddr string) error
	// MailsLinks reports whether links (password resets, invitations,
	// address confirmations) are mailed to people.
	MailsLinks() bool
	// SetRole changes a user's role and ends their sessions.
	SetRole(ctx context.Context, userID string, role Role) (*User, error)
	// SetActive deactivates (ending sessions and tokens at once) or
	// reactivates a user.
	SetActive(ctx context.Context, userID string, active bool) (*User, error)
	// ResetTOTP turns a user's two-factor authentication off.
	ResetTOTP(ctx context.Context, userID string) error
	// Unlock clears a user's failed sign-ins.
	Unlock(ctx context.Context, userID string) error
	// ResetLink returns a single-use password-reset link token for a user
	// and when it expires.
	ResetLink(ctx context.Context, userID string) (string, time.Time, error)
	// RequiredTOTPRoles lists the roles that must use two-factor
	// authentication.
	RequiredTOTPRoles(ctx context.Context) ([]Role, error)
	// SetRequiredTOTPRoles replaces that list.
	SetRequiredTOTPRoles(ctx context.Context, roles []Role) error
}

// AuthInvalidation says that what a server instance may have cached about
// authenticated callers is no longer true: every access token and session
// of the user UserID (after a revoked token, a deactivation, a new role, a
// new password...), or, with UserID empty, of every user (after a changed
// setting, or when invalidations may have been missed). Instances cache
// authentication so that a request costs no database read; an invalidation
// makes the next request read the database again.
//
// The same channel carries one other change every instance must act on at
// once: Keyring says that the keyring was changed (a master key added by a
// rotation, or retired), so that every instance rereads it and wraps new
// data keys under the new active key at once, rather than within the
// sealer's refresh interval. It concerns no user's authentication.
type AuthInvalidation struct {
	UserID  string
	Keyring bool
}

// All reports whether inv concerns every user.
func (inv AuthInvalidation) All() bool { return inv.UserID == "" && !inv.Keyring }

// AuthPublisher tells the other server instances that share the database
// about an authentication change made by this one, so that they stop
// accepting what it ended. Delivery is best effort: an invalidation that
// is lost is covered by the cache's staleness bound (--auth-cache-ttl).
type AuthPublisher interface {
	// Publish sends inv to every instance listening, this one included.
	Publish(ctx context.Context, inv AuthInvalidation) error
}

// AuthListener receives the invalidations that instances publish.
type AuthListener interface {
	// Listen calls fn with each invalidation published by any instance,
	// until ctx ends, and with an invalidation of every user each time it
	// starts listening and each time it loses its connection (whatever
	// was published meanwhile is lost). It returns when ctx ends.
	Listen(ctx context.Context, fn func(AuthInvalidation)) error
}

// AccountNotifier sends people messages about their own account, such as
// the link that unlocks it after the sign-in policy's hard limit. Notify
// queues the message and returns at once; delivery is best effort.
type AccountNotifier interface {
	NotifyAccount(ctx context.Context, to, subject, body string) error
}
