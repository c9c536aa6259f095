package http

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
)

// formJSON is a form field holding an authenticator's answer (the page's
// script writes it as JSON), or nil when the field is empty or not JSON,
// which the accounts service then refuses.
func formJSON(v string) json.RawMessage {
	v = strings.TrimSpace(v)
	if v == "" || !json.Valid([]byte(v)) {
		return nil
	}
	return json.RawMessage(v)
}

// handleLoginPasskey signs in from the sign-in page's passkey form, which
// the page's script completes with the authenticator's answer to a
// challenge from /api/auth/passkeys/challenge/. The form carries the
// pre-session CSRF token, like the password form.
func (u *ui) handleLoginPasskey() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			u.renderLogin(w, r, http.StatusBadRequest, loginData{Error: msg("The form could not be read; try again.")})
			return
		}
		f := r.PostForm
		d := loginData{Next: localPath(f.Get("next"))}
		if _, ok := u.checkPreForm(r); !ok {
			d.Error = msg("The sign-in form had expired. Please try again.")
			u.renderLogin(w, r, http.StatusForbidden, d)
			return
		}
		tok, user, err := u.acc.SignInWithPasskey(r.Context(), custodian.PasskeySignInRequest{Ceremony: f.Get("ceremony"), Credential: formJSON(f.Get("credential")),
			ClientAddr: clientAddr(r), UserAgent: r.UserAgent()})
		if err != nil {
			code := custodian.ErrorCode(err)
			if code == custodian.EUNAUTHORIZED || code == custodian.ETOOMANY {
				u.sig.signInFailed(r, err)
			}
			u.logger.InfoContext(r.Context(), "passkey sign-in failed", "request_id", requestID(r.Context()), "code", code, "err", err)
			if code == custodian.ETOOMANY {
				var wait time.Duration
				if retry, ok := errors.AsType[*custodian.RetryError](err); ok {
					wait = retry.After
				}
				u.tooMany(w, r, d, wait)
				return
			}
			status, ok := clientStatus(err)
			if !ok {
				u.fail(w, r, err)
				return
			}
			d.Error = u.errorMessage(r, err)
			u.renderLogin(w, r, status, d)
			return
		}
		u.logger.InfoContext(r.Context(), "signed in", "request_id", requestID(r.Context()), "user", user.ID, "method", "passkey")
		setSessionCookie(w, tok, u.acc.SessionTTL())
		next := d.Next
		if next == "" {
			next = "/"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

// handleAddPasskeyForm stores the passkey of the account page's form,
// which the page's script completed with the authenticator's answer to
// the registration it began (after the current password) through the
// API. The first second factor's recovery codes are shown once.
func (u *ui) handleAddPasskeyForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		f := r.PostForm
		_, codes, err := u.acc.FinishPasskeyRegistration(r.Context(), principal(r), f.Get("ceremony"), f.Get("name"), formJSON(f.Get("credential")))
		if err != nil {
			u.accountError(w, r, "passkeys", err, accountData{})
			return
		}
		if len(codes) > 0 {
			u.renderAccount(w, r, http.StatusCreated, accountData{Section: "passkeys", PasskeyCodes: codes})
			return
		}
		redirectWithFlash(w, r, "/account", "passkey-added")
	})
}

func (u *ui) handleRenamePasskeyForm() http.Handler {
	return u.accountForm("passkeys", "passkey-renamed", func(r *http.Request) error {
		_, err := u.acc.RenamePasskey(r.Context(), principal(r), r.PathValue("id"), r.PostForm.Get("name"))
		return err
	})
}

func (u *ui) handleRemovePasskeyForm() http.Handler {
	return u.accountForm("passkeys", "passkey-removed", func(r *http.Request) error {
		return u.acc.RemovePasskey(r.Context(), principal(r), r.PathValue("id"))
	})
}
