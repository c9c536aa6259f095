package custodian

import (
	"context"
	"encoding/hex"
	"time"
)

// Role is what a user may do. Roles map to permissions in one table,
// rolePermissions, which every route's check goes through.
type Role string

// The roles.
const (
	RoleAdmin   Role = "admin"   // users, settings, audit, everything
	RoleManager Role = "manager" // customers including delete, export and erasure
	RoleAgent   Role = "agent"   // read, create and edit customers
	RoleViewer  Role = "viewer"  // read customers
	RoleAuditor Role = "auditor" // the audit trail and security alerts, no customer data
)

// Roles lists every role, most powerful first.
func Roles() []Role { return []Role{RoleAdmin, RoleManager, RoleAgent, RoleViewer, RoleAuditor} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	_, ok := rolePermissions[r]
	return ok
}

// Permission names one kind of action a route performs.
type Permission string

// The permissions. PermPublic routes need no sign-in; PermSignedIn routes
// need one and nothing more (a user's own session, tokens and password).
const (
	PermPublic          Permission = "public"
	PermSignedIn        Permission = "signed_in"
	PermCustomersRead   Permission = "customers:read"
	PermCustomersWrite  Permission = "customers:write"
	PermCustomersDelete Permission = "customers:delete"
	// PermCustomersErase covers data-protection decisions about a
	// customer: erasure, legal holds and full exports.
	PermCustomersErase Permission = "customers:erase"
	PermUsersManage    Permission = "users:manage"
	PermSettingsManage Permission = "settings:manage"
	PermAuditRead      Permission = "audit:read"
	// PermCustomersImport creates and updates customers in bulk from a
	// file (import jobs).
	PermCustomersImport Permission = "customers:import"
	// PermCustomersExport takes a whole customer list out as a file.
	PermCustomersExport Permission = "customers:export"
	// PermWebhooksManage covers registering webhook endpoints, allowing
	// them personal data, rotating their secrets and reading their
	// deliveries.
	PermWebhooksManage Permission = "webhooks:manage"
	// PermViewsShare makes, changes and deletes the shared saved views of
	// the customer list that everyone sees.
	PermViewsShare Permission = "views:share"
)

// Permissions lists every permission, in the order of the constants.
func Permissions() []Permission {
	return []Permission{PermPublic, PermSignedIn, PermCustomersRead, PermCustomersWrite, PermCustomersDelete,
		PermCustomersErase, PermUsersManage, PermSettingsManage, PermAuditRead, PermCustomersImport, PermCustomersExport, PermWebhooksManage, PermViewsShare}
}

// rolePermissions is the policy: what each role may do. It is read-only.
var rolePermissions = map[Role][]Permission{
	RoleAdmin:   {PermSignedIn, PermCustomersRead, PermCustomersWrite, PermCustomersDelete, PermCustomersErase, PermUsersManage, PermSettingsManage, PermAuditRead, PermCustomersImport, PermCustomersExport, PermWebhooksManage, PermViewsShare},
	RoleManager: {PermSignedIn, PermCustomersRead, PermCustomersWrite, PermCustomersDelete, PermCustomersErase, PermCustomersImport, PermCustomersExport, PermViewsShare},
	RoleAgent:   {PermSignedIn, PermCustomersRead, PermCustomersWrite},
	RoleViewer:  {PermSignedIn, PermCustomersRead},
	RoleAuditor: {PermSignedIn, PermAuditRead},
}

// Can reports whether role r has permission p. Every role has PermPublic.
func (r Role) Can(p Permission) bool {
	if p == PermPublic {
		return true
	}
	for _, q := range rolePermissions[r] {
		if q == p {
			return true
		}
	}
	return false
}

// UserIDPrefix starts every user id.
const UserIDPrefix = "usr_"

// NewUserID returns a new random user id.
func NewUserID() string { return UserIDPrefix + randomID() }

// User is a person who signs in to Custodian.
type User struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Role        Role      `json:"role"`
	Active      bool      `json:"active"`
	TOTPEnabled bool      `json:"totp_enabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
	// Language is the web interface's language the user chose, a BCP 47
	// tag such as "de"; empty lets the browser's Accept-Language decide.
	Language string `json:"language"`
	// TimeZone is the IANA zone dates are shown in, such as
	// "Europe/Berlin"; empty lets the browser's own zone decide.
	TimeZone string `json:"time_zone"`
}

// UserRecord is a user with the secrets and state kept about them: the
// password hash, the sealed TOTP secret and the sign-in failure count.
type UserRecord struct {
	User
	PasswordHash  string
	TOTPKeyID     string
	TOTPDataKey   []byte
	TOTPSecret    []byte
	TOTPLastStep  int64
	FailedSignins int
	LastFailedAt  time.Time
}

// Session is a signed-in browser session. Only a hash of its token is
// stored.
type Session struct {
	TokenHash  []byte
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	ClientAddr string
	UserAgent  string
	// Passkey is set when the sign-in that started the session proved a
	// passkey (alone, or after the password), or when the session
	// registered its user's first passkey: what roles that require
	// passkeys need.
	Passkey bool
}

// APIToken is a personal access token. Only a hash of it is stored; the
// token itself is shown once, when it is created.
type APIToken struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	UserID     string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	RevokedAt  time.Time `json:"revoked_at"`
}

// One-time token purposes.
const (
	PurposeSetup  = "setup"  // create the first administrator
	PurposeInvite = "invite" // join with a given email and role
	PurposeReset  = "reset"  // set a new password
	PurposeEmail  = "email"  // confirm a new sign-in address (Email) for UserID
)

// OneTimeToken is a single-use link: first-run setup, an invitation, a
// password reset or the confirmation of a new sign-in address. Only a hash of it is stored.
type OneTimeToken struct {
	Hash      []byte
	Purpose   string
	Email     string
	Role      Role
	UserID    string
	CreatedBy string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Invitation states.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationExpired  = "expired"
	InvitationRevoked  = "revoked"
)

// Invitation is an invitation as administrators see it: never its link.
type Invitation struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"-"`
	RevokedAt time.Time `json:"-"`
	// State is pending, accepted, expired or revoked, at the time it
	// was read.
	State string `json:"state"`
}

// InvitationID is the public id of a one-time token with the given hash:
// the first 8 bytes of the hash, in hex.
func InvitationID(hash []byte) string {
	return hex.EncodeToString(hash[:min(8, len(hash))])
}

// AccountRepository persists users, sessions, tokens and one-time links.
// Every call is atomic.
type AccountRepository interface {
	// AuditRepository records sign-ins and account changes, each with
	// the change itself.
	AuditRepository
	// PasskeyRepository keeps passkeys and their ceremonies.
	PasskeyRepository
	// ViewRepository keeps saved views of the customer list.
	ViewRepository
	CountUsers(ctx context.Context) (int, error)
	// CreateUser stores a new user; ECONFLICT when the email is taken.
	CreateUser(ctx context.Context, u *UserRecord) error
	// RedeemForUser consumes an unused, unexpired one-time token of the
	// purpose and stores u, in one transaction: both happen or neither.
	RedeemForUser(ctx context.Context, hash []byte, purpose string, now time.Time, u *UserRecord) error
	// ResetPassword consumes an unused, unexpired password-reset token and,
	// in the same transaction, sets its user's password hash, clears the
	// failed sign-ins and ends every session: all of it or none.
	ResetPassword(ctx context.Context, hash []byte, now time.Time, passwordHash string) error
	// PeekToken returns an unused, unexpired one-time token without
	// consuming it; ENOTFOUND otherwise.
	PeekToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*OneTimeToken, error)
	// RedeemToken consumes an unused, unexpired one-time token of the
	// purpose and returns it; ENOTFOUND otherwise.
	RedeemToken(ctx context.Context, hash []byte, purpose string, now time.Time) (*OneTimeToken, error)
	// RevokeUserTokens revokes the user's one-time tokens of the purpose
	// that are still pending at now, returning how many there were.
	RevokeUserTokens(ctx context.Context, userID, purpose string, now time.Time) (int, error)
	CreateOneTimeToken(ctx context.Context, t OneTimeToken) error
	// ListInvitations lists every invitation, newest first, its state as
	// of now.
	ListInvitations(ctx context.Context, now time.Time) ([]Invitation, error)
	// RevokeInvitation revokes an invitation that is still pending at
	// now and returns it; ENOTFOUND when there is none.
	RevokeInvitation(ctx context.Context, id string, now time.Time) (*Invitation, error)

	UserByEmail(ctx context.Context, email string) (*UserRecord, error)
	UserByID(ctx context.Context, id string) (*UserRecord, error)
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser runs fn on the stored user inside a write transaction
	// and stores the result.
	UpdateUser(ctx context.Context, id string, fn func(*UserRecord) error) error

	CreateSession(ctx context.Context, s Session) error
	// SessionByHash returns the session and its user, or ENOTFOUND.
	SessionByHash(ctx context.Context, hash []byte) (*Session, *UserRecord, error)
	TouchSession(ctx context.Context, hash []byte, seen time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error
	// ListSessions lists the user's sessions, newest first.
	ListSessions(ctx context.Context, userID string) ([]Session, error)
	// DeleteUserSessions ends every session of the user except the one
	// with the hash except (nil for all).
	DeleteUserSessions(ctx context.Context, userID string, except []byte) error

	CreateAPIToken(ctx context.Context, t APIToken, hash []byte) error
	// APITokenByHash returns the token and its user, or ENOTFOUND.
	APITokenByHash(ctx context.Context, hash []byte) (*APIToken, *UserRecord, error)
	TouchAPIToken(ctx context.Context, id string, used time.Time) error
	ListAPITokens(ctx context.Context, userID string) ([]APIToken, error)
	// RevokeAPIToken revokes one of the user's tokens, or all of them
	// when id is empty.
	RevokeAPIToken(ctx context.Context, userID, id string, at time.Time) error

	// SetRecoveryCodes replaces the user's recovery code hashes.
	SetRecoveryCodes(ctx context.Context, userID string, hashes []string) error
	// RecoveryCodes returns the user's unused recovery code hashes.
	RecoveryCodes(ctx context.Context, userID string) ([]string, error)
	// UseRecoveryCode consumes one code; ENOTFOUND when already used.
	UseRecoveryCode(ctx context.Context, userID, hash string) error

	// Setting returns a setting's value ("" when unset); SetSetting
	// stores one.
	Setting(ctx context.Context, name string) (string, error)
	SetSetting(ctx context.Context, name, value string) error

	SignInFailureRepository
}

// FailureCount is a count of failed sign-ins (or failed checks of the
// current password) and the time of the last one.
type FailureCount struct {
	Failures     int
	LastFailedAt time.Time
}

// SignInFailureRepository keeps the counts of failed sign-ins that the
// sign-in policy throttles on: per account (its consecutive failures from
// every source) and per account and source. Accounts and sources are
// named by keyed hashes chosen by the caller, never by an email or client
// address; an account need not exist, so that an address without one is
// counted the same way. Inside Audited, every method joins its
// transaction.
type SignInFailureRepository interface {
	// SignInFailures returns the account's count and the count of source
	// against it (zero counts when there are none).
	SignInFailures(ctx context.Context, account, source []byte) (acct, src FailureCount, err error)
	// RecordSignInFailure adds a failure at at to both counts, in one
	// transaction, first resetting the source's count when forget says
	// it has aged out, and returns the new counts.
	RecordSignInFailure(ctx context.Context, account, source []byte, at time.Time, forget func(FailureCount) bool) (acct, src FailureCount, err error)
	// ResetSignInFailures clears the account's count and the count of
	// source against it (after a success from there); the counts of other
	// sources stay.
	ResetSignInFailures(ctx context.Context, account, source []byte) error
	// ClearSignInFailures clears every count of the account (an unlock).
	ClearSignInFailures(ctx context.Context, account []byte) error
}

// Principal is the authenticated caller of a request.
type Principal struct {
	User *User
	// MustEnrollTOTP is set when the user's role requires two-factor
	// authentication and the user has not enrolled: until they do, only
	// their own account routes answer.
	MustEnrollTOTP bool
	// MustUsePasskey is set when the user's role requires passkeys and
	// this session did not sign in with one (for an access token: its
	// user has none): until then, only their own account routes answer,
	// where a user without a passkey enrols one.
	MustUsePasskey bool
	// SessionHash is set for browser sessions (cookie authentication);
	// empty for bearer tokens.
	SessionHash []byte
}
