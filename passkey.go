package custodian

import (
	"context"
	"encoding/json"
	"time"
)

// Audited passkey actions.
const (
	ActionPasskeyRegister = "passkey.registered"
	ActionPasskeyRename   = "passkey.renamed"
	ActionPasskeyRemove   = "passkey.removed"
)

// PasskeyIDPrefix starts every passkey's public id.
const PasskeyIDPrefix = "pk_"

// NewPasskeyID returns a new random passkey id.
func NewPasskeyID() string { return PasskeyIDPrefix + randomID() }

// Passkey is a WebAuthn public-key credential registered to a user: the
// public key and what the authenticator said about it. No secret is kept;
// the private key never leaves the authenticator.
type Passkey struct {
	ID     string `json:"id"`
	UserID string `json:"-"`
	// Name is the person's label for it ("Laptop", "Phone").
	Name         string `json:"name"`
	CredentialID []byte `json:"-"`
	PublicKey    []byte `json:"-"` // COSE key
	// SignCount is the authenticator's signature counter at its last use;
	// an assertion whose counter does not exceed it (when either is not
	// zero) comes from a clone and is refused.
	SignCount uint32 `json:"-"`
	// AAGUID names the authenticator's model (a UUID, all zeros when the
	// authenticator does not say).
	AAGUID            string   `json:"aaguid"`
	Transports        []string `json:"transports"`
	AttestationType   string   `json:"-"`
	AttestationFormat string   `json:"-"`
	UserVerified      bool     `json:"-"`
	// BackupEligible says the credential may be synced to other devices
	// (a synced passkey); BackedUp that it currently is.
	BackupEligible bool      `json:"backup_eligible"`
	BackedUp       bool      `json:"backed_up"`
	CreatedAt      time.Time `json:"created_at"`
	LastUsedAt     time.Time `json:"last_used_at"` // zero: never used to sign in
}

// Ceremony purposes: what a WebAuthn challenge was issued for.
const (
	CeremonyRegister     = "register"      // add a passkey to the signed-in user
	CeremonySignIn       = "signin"        // username-less sign-in with a passkey
	CeremonySecondFactor = "second_factor" // a passkey after the password
)

// Ceremony is the server's half of a WebAuthn ceremony under way: the
// challenge and what it was issued for, kept until the browser answers,
// for a few minutes, and usable once. Only a hash of its token is stored.
type Ceremony struct {
	Hash      []byte
	Purpose   string
	UserID    string // the user it is for; "" for a username-less sign-in
	Data      []byte // the WebAuthn library's session data (JSON)
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PasskeyCeremony is what starts a ceremony in the browser: a token naming
// it, to send back with the answer, and the options for
// navigator.credentials.create or .get, as WebAuthn JSON.
type PasskeyCeremony struct {
	Token     string          `json:"ceremony"`
	Options   json.RawMessage `json:"options"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// PasskeySignInRequest is a browser's answer to a sign-in ceremony.
type PasskeySignInRequest struct {
	Ceremony   string
	Credential json.RawMessage // the PublicKeyCredential, as WebAuthn JSON
	ClientAddr string
	UserAgent  string
}

// PasskeyService registers and manages people's passkeys and signs them in
// with one. It is available only when the server knows the origin browsers
// reach it at (its relying-party id); otherwise every method answers
// EUNAVAILABLE.
type PasskeyService interface {
	// PasskeysEnabled reports whether passkeys can be used.
	PasskeysEnabled() bool
	// BeginPasskeyRegistration starts adding a passkey to p's account,
	// after checking the current password. Passkeys are added, renamed
	// and removed from a browser session only, never with an access
	// token.
	BeginPasskeyRegistration(ctx context.Context, p *Principal, current string) (*PasskeyCeremony, error)
	// FinishPasskeyRegistration verifies the authenticator's answer and
	// stores the passkey under name. The first passkey of an account
	// without two-factor authentication comes with ten recovery codes,
	// shown once; otherwise codes is nil.
	FinishPasskeyRegistration(ctx context.Context, p *Principal, ceremony, name string, credential json.RawMessage) (k *Passkey, codes []string, err error)
	// ListPasskeys lists a user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// RenamePasskey renames one of p's passkeys.
	RenamePasskey(ctx context.Context, p *Principal, id, name string) (*Passkey, error)
	// RemovePasskey removes one of p's passkeys.
	RemovePasskey(ctx context.Context, p *Principal, id string) error
	// BeginPasskeySignIn starts a username-less sign-in: any passkey
	// registered here may answer. With secondFactor, the ceremony is for
	// SignInRequest.PasskeyCeremony instead: a passkey of the account
	// whose password comes with it.
	BeginPasskeySignIn(ctx context.Context, secondFactor bool) (*PasskeyCeremony, error)
	// SignInWithPasskey verifies a sign-in ceremony's answer and starts a
	// session, as SignIn does.
	SignInWithPasskey(ctx context.Context, in PasskeySignInRequest) (string, *User, error)
	// RequiredPasskeyRoles lists the roles that must sign in with a
	// passkey.
	RequiredPasskeyRoles(ctx context.Context) ([]Role, error)
	// SetRequiredPasskeyRoles replaces that list.
	SetRequiredPasskeyRoles(ctx context.Context, roles []Role) error
	// ResetPasskeys removes every passkey of a user, for an
	// administrator, and ends the user's sessions.
	ResetPasskeys(ctx context.Context, userID string) error
}

// PasskeyRepository persists passkeys and ceremonies under way. Every call
// is atomic.
type PasskeyRepository interface {
	// CreatePasskey stores a passkey; ECONFLICT when its credential id is
	// registered already, ENOTFOUND when its user does not exist.
	CreatePasskey(ctx context.Context, k *Passkey) error
	// PasskeyByCredentialID returns the passkey with the credential id,
	// or ENOTFOUND.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// ListPasskeys returns a user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// RecordPasskeyUse stores a verified assertion: the new signature
	// counter, backup state and time, only when the stored counter is
	// still prev (ECONFLICT otherwise: another use, or a clone, came
	// first); ENOTFOUND when the passkey is gone.
	RecordPasskeyUse(ctx context.Context, id string, prev, count uint32, backedUp bool, at time.Time) error
	// RenamePasskey renames one of the user's passkeys; ENOTFOUND when
	// the user has no passkey id.
	RenamePasskey(ctx context.Context, userID, id, name string) error
	// DeletePasskey removes one of the user's passkeys, or all of them
	// when id is empty; ENOTFOUND when the user has no passkey id.
	DeletePasskey(ctx context.Context, userID, id string) error

	// CreateCeremony stores a ceremony under way, dropping those expired
	// by its CreatedAt.
	CreateCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony returns and deletes an unexpired ceremony of the
	// purpose, so that it answers once; ENOTFOUND otherwise.
	TakeCeremony(ctx context.Context, hash []byte, purpose string, now time.Time) (*Ceremony, error)
	// MarkSessionPasskey records that the session with the hash proved a
	// passkey (see Session.Passkey).
	MarkSessionPasskey(ctx context.Context, hash []byte) error
}
