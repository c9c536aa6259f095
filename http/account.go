package http

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/custodian-crm/custodian"
)

func handleChangePassword(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		CurrentPassword  string `json:"current_password"`
		NewPassword      string `json:"new_password"`
		EndOtherSessions bool   `json:"end_other_sessions"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		err := acc.ChangePassword(r.Context(), principal(r), b.CurrentPassword, b.NewPassword, b.EndOtherSessions)
		return http.StatusNoContent, nil, renameField(err, "password", "new_password")
	})
}

// renameField names a field error after the request's own field.
func renameField(err error, from, to string) error {
	fields := custodian.ErrorFields(err)
	for i := range fields {
		if fields[i].Field == from {
			fields[i].Field = to
		}
	}
	return err
}

// handleRequestEmailChange asks to move the caller's sign-in address: a
// link to confirm it is mailed to the new address. The answer is the same
// whether or not the address belongs to another account.
func handleRequestEmailChange(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		CurrentPassword string `json:"current_password"`
		Email           string `json:"email"`
		// EndOtherSessions is accepted from clients older than the
		// confirmation link, and ignored: every other session ends when
		// the new address is confirmed.
		EndOtherSessions bool `json:"end_other_sessions"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		exp, err := acc.RequestEmailChange(r.Context(), principal(r), b.CurrentPassword, b.Email)
		return http.StatusAccepted, map[string]any{"expires_at": exp}, err
	})
}

// handleConfirmEmailChange redeems the link mailed to a new address. It
// needs no session: the token is the proof.
func handleConfirmEmailChange(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		Token string `json:"token"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		u, err := acc.ConfirmEmailChange(r.Context(), principal(r), b.Token)
		return http.StatusOK, map[string]any{"user": u}, err
	})
}

// handleChangeName sets the caller's own display name.
func handleChangeName(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		Name string `json:"name"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		u, err := acc.ChangeName(r.Context(), principal(r), b.Name)
		return http.StatusOK, map[string]any{"user": u}, err
	})
}

// handleChangePreferences sets the caller's own interface language and
// time zone; empty strings clear them.
func handleChangePreferences(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		Language string `json:"language"`
		TimeZone string `json:"time_zone"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		u, err := acc.ChangePreferences(r.Context(), principal(r), b.Language, b.TimeZone)
		return http.StatusOK, map[string]any{"user": u}, err
	})
}

func handleBeginTOTP(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		CurrentPassword string `json:"current_password"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		e, err := acc.BeginTOTP(r.Context(), principal(r), b.CurrentPassword)
		return http.StatusOK, e, err
	})
}

func handleEnableTOTP(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		Code string `json:"code"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		codes, err := acc.EnableTOTP(r.Context(), principal(r), b.Code)
		return http.StatusOK, map[string]any{"recovery_codes": codes}, err
	})
}

func handleDisableTOTP(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		CurrentPassword string `json:"current_password"`
		Code            string `json:"code"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		return http.StatusNoContent, nil, acc.DisableTOTP(r.Context(), principal(r), b.CurrentPassword, b.Code)
	})
}

func handleCompleteReset(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		return http.StatusNoContent, nil, acc.CompleteReset(r.Context(), b.Token, b.Password)
	})
}

// handleForgotPassword asks for a password-reset link by e-mail; the
// answer is the same whether or not the address has an account.
func handleForgotPassword(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		Email string `json:"email"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		return http.StatusNoContent, nil, acc.ForgotPassword(r.Context(), b.Email, clientAddr(r))
	})
}

// handleUpdateUser changes a user's role or active state (administrators).
func handleUpdateUser(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	type body struct {
		Role   *custodian.Role `json:"role"`
		Active *bool           `json:"active"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		id := r.PathValue("id")
		if p := principal(r); p.User.ID == id && (b.Active != nil && !*b.Active || b.Role != nil && *b.Role != p.User.Role) {
			return 0, nil, errorf(custodian.ECONFLICT, "You cannot change your own role or deactivate yourself; ask another administrator.")
		}
		var u *custodian.User
		var err error
		if b.Role != nil {
			if u, err = acc.SetRole(r.Context(), id, *b.Role); err != nil {
				return 0, nil, err
			}
		}
		if b.Active != nil {
			if u, err = acc.SetActive(r.Context(), id, *b.Active); err != nil {
				return 0, nil, err
			}
		}
		if u == nil {
			return 0, nil, errorf(custodian.EINVALID, "Send role or active.")
		}
		return http.StatusOK, map[string]any{"user": u}, nil
	})
}

func handleUserAction(logger *slog.Logger, act func(ctx context.Context, userID string) error) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		return http.StatusNoContent, nil, act(r.Context(), r.PathValue("id"))
	})
}

func handleResetLink(logger *slog.Logger, acc custodian.AccountSettings) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		tok, expires, err := acc.ResetLink(r.Context(), r.PathValue("id"))
		return http.StatusCreated, map[string]any{"token": tok, "expires_at": expires, "reset_path": "/reset?token=" + tok}, err
	})
}

type settingsJSON struct {
	RequireTOTPRoles    []custodian.Role `json:"require_totp_roles"`
	RequirePasskeyRoles []custodian.Role `json:"require_passkey_roles"`
}

// settingsAnswer answers with the settings in force.
func settingsAnswer(r *http.Request, acc custodian.AccountService) (int, any, error) {
	roles, err := acc.RequiredTOTPRoles(r.Context())
	if err != nil {
		return 0, nil, err
	}
	passkeyRoles, err := acc.RequiredPasskeyRoles(r.Context())
	if roles == nil {
		roles = []custodian.Role{}
	}
	if passkeyRoles == nil {
		passkeyRoles = []custodian.Role{}
	}
	return http.StatusOK, settingsJSON{roles, passkeyRoles}, err
}

func handleGetSettings(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		return settingsAnswer(r, acc)
	})
}

// handlePutSettings replaces the settings. The two-factor roles are
// required, [] for none: a body that leaves them out (or sends null) is
// refused rather than read as turning two-factor authentication
// requirements off. The passkey roles, added later, are left as they are
// when absent, so that clients written before them change nothing.
func handlePutSettings(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	type body struct {
		RequireTOTPRoles    *[]custodian.Role `json:"require_totp_roles"`
		RequirePasskeyRoles *[]custodian.Role `json:"require_passkey_roles"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		if b.RequireTOTPRoles == nil {
			return 0, nil, errorf(custodian.EINVALID, "The request has invalid fields.",
				custodian.FieldError{Field: "require_totp_roles", Message: "Give the roles that must use two-factor authentication, [] for none."})
		}
		if b.RequirePasskeyRoles != nil {
			if err := checkRoles("require_passkey_roles", *b.RequirePasskeyRoles); err != nil {
				return 0, nil, err
			}
		}
		if err := acc.SetRequiredTOTPRoles(r.Context(), *b.RequireTOTPRoles); err != nil {
			return 0, nil, err
		}
		if b.RequirePasskeyRoles != nil {
			if err := acc.SetRequiredPasskeyRoles(r.Context(), *b.RequirePasskeyRoles); err != nil {
				return 0, nil, err
			}
		}
		return settingsAnswer(r, acc)
	})
}

// checkRoles refuses a list with an unknown role before anything is
// changed, so that a PUT of several settings changes all or none.
func checkRoles(field string, roles []custodian.Role) error {
	for _, r := range roles {
		if !r.Valid() {
			return errorf(custodian.EINVALID, "Unknown role.", custodian.FieldError{Field: field, Message: "Roles are admin, manager, agent, viewer and auditor."})
		}
	}
	return nil
}
