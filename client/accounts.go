package client

import (
	"context"
	"net/http"
	"time"
)

// Login signs in with an email address and password (and in.OTP, a
// one-time or recovery code, when the account uses two-factor
// authentication). The server answers with a session cookie, which an
// http.Client with a cookie jar keeps for the requests that follow (see
// WithHTTPClient); a personal access token needs no sign-in.
func (c *Client) Login(ctx context.Context, in LoginInput) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "login"), body: in}))
}

// Logout ends the session of the cookie the client sends.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("auth", "logout")}, nil)
}

// Session returns the signed-in user: the owner of the token, or of the
// session.
func (c *Client) Session(ctx context.Context) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodGet, path: pathOf("auth", "session")}))
}

// Setup creates the first administrator with the one-time setup token
// that `custodian serve` prints on its first start.
func (c *Client) Setup(ctx context.Context, in SetupInput) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "setup"), body: in}))
}

// Register accepts an invitation: it creates the invited account, with
// the name and password in in.
func (c *Client) Register(ctx context.Context, in RegisterInput) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "register"), body: in}))
}

// CompleteReset sets a new password with the one-time token of a reset
// link (ResetLink). Every session of the user ends.
func (c *Client) CompleteReset(ctx context.Context, in ResetInput) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("auth", "reset"), body: in}, nil)
}

// ForgotPassword asks for a password-reset link mailed to in.Email. The
// answer is the same whether or not the address has an account; a server
// that sends no mail answers 503 (ask an administrator for a link).
func (c *Client) ForgotPassword(ctx context.Context, in ForgotInput) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("auth", "forgot"), body: in}, nil)
}

// ChangePassword changes the caller's password.
func (c *Client) ChangePassword(ctx context.Context, in PasswordChange) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("auth", "password"), body: in}, nil)
}

// ChangeName changes the caller's own display name.
func (c *Client) ChangeName(ctx context.Context, in NameChange) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "name"), body: in}))
}

// ChangePreferences sets the caller's own web interface language and time
// zone; empty strings clear them.
func (c *Client) ChangePreferences(ctx context.Context, in PreferencesChange) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "preferences"), body: in}))
}

// RequestEmailChange asks to change the caller's sign-in address to
// in.Email, with the current password. Nothing changes yet: a link is
// mailed to the new address (ConfirmEmailChange redeems its token) and a
// notice to the current one. It returns when the link expires. The answer
// is the same whether or not the address belongs to another account; a
// server that sends no mail answers 503.
func (c *Client) RequestEmailChange(ctx context.Context, in EmailChange) (time.Time, error) {
	r, err := answer[EmailChangeRequested](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "email"), body: in})
	if err != nil {
		return time.Time{}, err
	}
	return r.ExpiresAt, nil
}

// ConfirmEmailChange redeems the token of the link mailed to a new
// address: the address changes, and every session of the account but the
// caller's own ends. It needs no sign-in.
func (c *Client) ConfirmEmailChange(ctx context.Context, token string) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "email", "confirm"), body: EmailConfirmInput{Token: token}}))
}

// BeginTOTP starts two-factor enrolment: the secret, the otpauth URL and
// a QR code (PNG) to add the account to an authenticator app. It is shown
// once; EnableTOTP finishes.
func (c *Client) BeginTOTP(ctx context.Context, currentPassword string) (*TOTPEnrolment, error) {
	return answer[TOTPEnrolment](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "2fa", "setup"), body: Reauthentication{CurrentPassword: currentPassword}})
}

// EnableTOTP finishes enrolment with a code from the app, and returns ten
// single-use recovery codes, shown once.
func (c *Client) EnableTOTP(ctx context.Context, code string) ([]string, error) {
	r, err := answer[RecoveryCodes](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "2fa", "enable"), body: TOTPCode{Code: code}})
	if err != nil {
		return nil, err
	}
	return r.RecoveryCodes, nil
}

// DisableTOTP turns the caller's two-factor authentication off, with the
// current password and a current one-time code (or a recovery code);
// refused when their role requires it, and with an access token alone.
func (c *Client) DisableTOTP(ctx context.Context, currentPassword, code string) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("auth", "2fa", "disable"), body: TOTPDisable{CurrentPassword: currentPassword, Code: code}}, nil)
}

// Tokens lists the caller's personal access tokens (never the tokens
// themselves).
func (c *Client) Tokens(ctx context.Context) ([]APIToken, error) {
	r, err := answer[APITokenList](ctx, c, call{method: http.MethodGet, path: pathOf("tokens")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// CreateToken creates a personal access token for the caller; the token
// itself is in this answer only.
func (c *Client) CreateToken(ctx context.Context, in TokenInput) (*NewAPIToken, error) {
	return answer[NewAPIToken](ctx, c, call{method: http.MethodPost, path: pathOf("tokens"), body: in})
}

// RevokeToken revokes one of the caller's tokens.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: pathOf("tokens", id)}, nil)
}

// Sessions lists the caller's live browser sessions.
func (c *Client) Sessions(ctx context.Context) ([]SessionInfo, error) {
	r, err := answer[SessionList](ctx, c, call{method: http.MethodGet, path: pathOf("auth", "sessions")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// EndSession signs out one of the caller's sessions.
func (c *Client) EndSession(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: pathOf("auth", "sessions", id)}, nil)
}

// EndOtherSessions signs out every session of the caller but the one
// making the request.
func (c *Client) EndOtherSessions(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("auth", "sessions", "end-others")}, nil)
}

// Users lists every user (administrators).
func (c *Client) Users(ctx context.Context) ([]User, error) {
	r, err := answer[UserList](ctx, c, call{method: http.MethodGet, path: pathOf("users")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// UpdateUser changes a user's role or active state (administrators): a
// role change ends their sessions, deactivation their sessions and tokens.
func (c *Client) UpdateUser(ctx context.Context, id string, in UserUpdate) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodPatch, path: pathOf("users", id), body: in}))
}

// ResetUserTOTP turns a user's two-factor authentication off, for a lost
// device (administrators).
func (c *Client) ResetUserTOTP(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("users", id, "reset-2fa")}, nil)
}

// UnlockUser lifts a user's temporary sign-in lock (administrators).
func (c *Client) UnlockUser(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("users", id, "unlock")}, nil)
}

// ResetLink issues a one-time password-reset token for a user, valid for
// an hour (administrators); CompleteReset uses it.
func (c *Client) ResetLink(ctx context.Context, id string) (*ResetLink, error) {
	return answer[ResetLink](ctx, c, call{method: http.MethodPost, path: pathOf("users", id, "reset-link")})
}

// Invite invites a person by email address with a role (administrators);
// the invitation token, for Register, is in this answer only.
func (c *Client) Invite(ctx context.Context, in InviteInput) (*Invitation, error) {
	return answer[Invitation](ctx, c, call{method: http.MethodPost, path: pathOf("invites"), body: in})
}

// Invitations lists every invitation with its state (pending, accepted,
// expired, revoked), newest first (administrators); never a link.
func (c *Client) Invitations(ctx context.Context) ([]InvitationInfo, error) {
	r, err := answer[InvitationList](ctx, c, call{method: http.MethodGet, path: pathOf("invitations")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// RevokeInvitation revokes a pending invitation: its link stops working
// (administrators).
func (c *Client) RevokeInvitation(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("invitations", id, "revoke")}, nil)
}

// ResendInvitation replaces a pending or expired invitation with a new
// link, whose token is in this answer only (administrators).
func (c *Client) ResendInvitation(ctx context.Context, id string) (*Invitation, error) {
	return answer[Invitation](ctx, c, call{method: http.MethodPost, path: pathOf("invitations", id, "resend")})
}

// Settings returns the security settings (administrators).
func (c *Client) Settings(ctx context.Context) (*Settings, error) {
	return answer[Settings](ctx, c, call{method: http.MethodGet, path: pathOf("settings")})
}

// SetSettings replaces the security settings and returns those in force.
// RequireTOTPRoles must be set: an empty, non-nil list requires two-factor
// authentication of no role.
func (c *Client) SetSettings(ctx context.Context, s Settings) (*Settings, error) {
	if s.RequireTOTPRoles == nil {
		s.RequireTOTPRoles = []Role{}
	}
	return answer[Settings](ctx, c, call{method: http.MethodPut, path: pathOf("settings"), body: s})
}

// user returns the user of an answer that holds one.
func user(r *UserResult, err error) (*User, error) {
	if err != nil {
		return nil, err
	}
	return &r.User, nil
}
