package http

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/custodian-crm/custodian"
)

// passkeyAnswer is a browser's answer to a passkey ceremony: the
// ceremony's token and the PublicKeyCredential, as WebAuthn JSON.
type passkeyAnswer struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
}

// check refuses an answer without both parts, naming the missing ones.
func (a passkeyAnswer) check() error {
	var fields []custodian.FieldError
	if a.Ceremony == "" {
		fields = append(fields, custodian.FieldError{Field: "ceremony", Message: "Send the ceremony token the challenge returned."})
	}
	if len(a.Credential) == 0 || string(a.Credential) == "null" {
		fields = append(fields, custodian.FieldError{Field: "credential", Message: "Send the authenticator's answer (the PublicKeyCredential as JSON)."})
	}
	if len(fields) > 0 {
		return errorf(custodian.EINVALID, "The passkey answer is incomplete.", fields...)
	}
	return nil
}

// handlePasskeyChallenge starts a passkey sign-in: username-less, or the
// second factor after a password. It names no account, so it reveals
// none; it is behind the sign-in rate limit, since each one is stored.
func handlePasskeyChallenge(logger *slog.Logger, acc custodian.PasskeyService) http.Handler {
	type body struct {
		SecondFactor bool `json:"second_factor"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		c, err := acc.BeginPasskeySignIn(r.Context(), b.SecondFactor)
		return http.StatusOK, c, err
	})
}

// handlePasskeyLogin signs in with a passkey's answer to a challenge and
// sets the session cookie, as handleLogin does for a password.
func handlePasskeyLogin(logger *slog.Logger, acc custodian.AccountService, sig signals) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body passkeyAnswer
		if err := decodeBody(w, r, &body); err != nil {
			writeError(w, r, logger, err)
			return
		}
		if err := body.check(); err != nil {
			writeError(w, r, logger, err)
			return
		}
		tok, u, err := acc.SignInWithPasskey(r.Context(), custodian.PasskeySignInRequest{Ceremony: body.Ceremony, Credential: body.Credential,
			ClientAddr: clientAddr(r), UserAgent: r.UserAgent()})
		if err != nil {
			if code := custodian.ErrorCode(err); code == custodian.EUNAUTHORIZED || code == custodian.ETOOMANY {
				sig.signInFailed(r, err)
			}
			logger.InfoContext(r.Context(), "passkey sign-in failed", "request_id", requestID(r.Context()), "code", custodian.ErrorCode(err), "err", err)
			writeError(w, r, logger, err)
			return
		}
		logger.InfoContext(r.Context(), "signed in", "request_id", requestID(r.Context()), "user", u.ID, "method", "passkey")
		setSessionCookie(w, tok, acc.SessionTTL())
		writeJSON(w, http.StatusOK, map[string]any{"user": u})
	})
}

func handleListPasskeys(logger *slog.Logger, acc custodian.PasskeyService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys, err := acc.ListPasskeys(r.Context(), principal(r).User.ID)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if keys == nil {
			keys = []custodian.Passkey{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": keys})
	})
}

func handleBeginPasskeyRegistration(logger *slog.Logger, acc custodian.PasskeyService) http.Handler {
	type body struct {
		CurrentPassword string `json:"current_password"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		c, err := acc.BeginPasskeyRegistration(r.Context(), principal(r), b.CurrentPassword)
		return http.StatusOK, c, err
	})
}

// newPasskeyJSON is a registered passkey, with the recovery codes that
// came with it (the account's first second factor), shown once.
type newPasskeyJSON struct {
	*custodian.Passkey
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
}

func handleFinishPasskeyRegistration(logger *slog.Logger, acc custodian.PasskeyService) http.Handler {
	type body struct {
		Ceremony   string          `json:"ceremony"`
		Credential json.RawMessage `json:"credential"`
		Name       string          `json:"name"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		if err := (passkeyAnswer{b.Ceremony, b.Credential}).check(); err != nil {
			return 0, nil, err
		}
		k, codes, err := acc.FinishPasskeyRegistration(r.Context(), principal(r), b.Ceremony, b.Name, b.Credential)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, newPasskeyJSON{k, codes}, nil
	})
}

func handleRenamePasskey(logger *slog.Logger, acc custodian.PasskeyService) http.Handler {
	type body struct {
		Name string `json:"name"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		k, err := acc.RenamePasskey(r.Context(), principal(r), r.PathValue("id"), b.Name)
		return http.StatusOK, k, err
	})
}

func handleRemovePasskey(logger *slog.Logger, acc custodian.PasskeyService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := acc.RemovePasskey(r.Context(), principal(r), r.PathValue("id")); err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// resetPasskeys binds the administrator's passkey reset (see resetTOTP).
func resetPasskeys(acc custodian.AccountService) func(context.Context, string) error {
	return func(ctx context.Context, id string) error { return acc.ResetPasskeys(ctx, id) }
}
