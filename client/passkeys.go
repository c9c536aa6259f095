package client

import (
	"context"
	"net/http"
)

// PasskeyChallenge starts a sign-in with a passkey: username-less, or,
// with secondFactor, the passkey that confirms a password (send its
// answer in LoginInput.PasskeyCeremony and PasskeyCredential). Hand
// Options to the authenticator (navigator.credentials.get in a browser)
// and send its answer with Ceremony before ExpiresAt.
func (c *Client) PasskeyChallenge(ctx context.Context, secondFactor bool) (*PasskeyCeremony, error) {
	return answer[PasskeyCeremony](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "passkeys", "challenge"), body: PasskeyChallengeInput{SecondFactor: secondFactor}})
}

// PasskeyLogin signs in with an authenticator's answer to a
// PasskeyChallenge; the session cookie is kept as Login's is.
func (c *Client) PasskeyLogin(ctx context.Context, in PasskeyAnswer) (*User, error) {
	return user(answer[UserResult](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "passkeys", "login"), body: in}))
}

// Passkeys lists the caller's passkeys, oldest first.
func (c *Client) Passkeys(ctx context.Context) ([]Passkey, error) {
	r, err := answer[PasskeyList](ctx, c, call{method: http.MethodGet, path: pathOf("auth", "passkeys")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// BeginPasskeyRegistration starts registering a passkey, after the
// caller's current password; from a session (Login), never with an
// access token. RegisterPasskey finishes.
func (c *Client) BeginPasskeyRegistration(ctx context.Context, currentPassword string) (*PasskeyCeremony, error) {
	return answer[PasskeyCeremony](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "passkeys", "registration"), body: Reauthentication{CurrentPassword: currentPassword}})
}

// RegisterPasskey stores the passkey of an authenticator's answer to
// BeginPasskeyRegistration under a name. The account's first second
// factor comes with ten recovery codes, in this answer only.
func (c *Client) RegisterPasskey(ctx context.Context, in PasskeyRegistration) (*NewPasskey, error) {
	return answer[NewPasskey](ctx, c, call{method: http.MethodPost, path: pathOf("auth", "passkeys"), body: in})
}

// RenamePasskey renames one of the caller's passkeys.
func (c *Client) RenamePasskey(ctx context.Context, id, name string) (*Passkey, error) {
	return answer[Passkey](ctx, c, call{method: http.MethodPatch, path: pathOf("auth", "passkeys", id), body: PasskeyName{Name: name}})
}

// RemovePasskey removes one of the caller's passkeys.
func (c *Client) RemovePasskey(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: pathOf("auth", "passkeys", id)}, nil)
}

// ResetUserPasskeys removes every passkey of a user, for a lost
// authenticator, and ends their sessions (administrators).
func (c *Client) ResetUserPasskeys(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("users", id, "reset-passkeys")}, nil)
}
