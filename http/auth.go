package http

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/edge"
)

// SessionCookie is the session cookie's name. The __Host- prefix makes
// browsers refuse it unless it is Secure, host-only and for the whole site.
const SessionCookie = "__Host-custodian_session"

// clientAddr is the client address recorded with a session: the one the
// edge resolved (behind trusted proxies, from their headers), else the
// socket peer.
func clientAddr(r *http.Request) string {
	if a := edge.ClientAddrFrom(r.Context()); a.IsValid() {
		return a.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authorize lets a request through only when its caller holds perm:
// 401 for an anonymous caller, 403 for a signed-in one without it. Every
// refusal is logged with the user and the route.
func authorize(logger *slog.Logger, perm custodian.Permission, next http.Handler) http.Handler {
	pg, isPage := next.(uiPage) // web pages answer refusals in HTML
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if perm == custodian.PermPublic {
			next.ServeHTTP(w, r)
			return
		}
		p := principal(r)
		if p == nil {
			if isPage {
				pg.ui.signInFirst(w, r)
				return
			}
			writeError(w, r, logger, errorf(custodian.EUNAUTHORIZED, "Sign in, or send a personal access token, to continue."))
			return
		}
		if p.MustEnrollTOTP && perm != custodian.PermSignedIn {
			if isPage {
				pg.ui.enrolFirst(w, r)
				return
			}
			writeError(w, r, logger, errorf(custodian.EFORBIDDEN, "Your role requires two-factor authentication: enrol at /api/auth/2fa/setup/ first."))
			return
		}
		if p.MustUsePasskey && perm != custodian.PermSignedIn {
			if isPage {
				pg.ui.enrolFirst(w, r)
				return
			}
			writeError(w, r, logger, errorf(custodian.EFORBIDDEN, "Your role requires signing in with a passkey: sign in with yours, or register one at /api/auth/passkeys/registration/ first."))
			return
		}
		if !p.User.Role.Can(perm) {
			logger.WarnContext(r.Context(), "authorization refused", "request_id", requestID(r.Context()), "user", p.User.ID, "role", string(p.User.Role), "route", r.Pattern, "permission", string(perm))
			if isPage {
				pg.ui.forbidden(w, r)
				return
			}
			writeError(w, r, logger, errorf(custodian.EFORBIDDEN, forbiddenMessage))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func setSessionCookie(w http.ResponseWriter, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: value, Path: "/", MaxAge: int(ttl.Seconds()), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	OTP      string `json:"otp"`
	// PasskeyCeremony and PasskeyCredential answer a second-factor
	// passkey challenge instead of otp.
	PasskeyCeremony   string          `json:"passkey_ceremony"`
	PasskeyCredential json.RawMessage `json:"passkey_credential"`
}

// handleLogin signs in. The route limits attempts per client address (the
// sign-in limit) before any password work; the lockout policy limits them
// per account.
func handleLogin(logger *slog.Logger, acc custodian.AccountService, sig signals) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := clientAddr(r)
		var body loginBody
		if err := decodeBody(w, r, &body); err != nil {
			writeError(w, r, logger, err)
			return
		}
		tok, u, err := acc.SignIn(r.Context(), custodian.SignInRequest{Email: body.Email, Password: body.Password, OTP: body.OTP,
			PasskeyCeremony: body.PasskeyCeremony, PasskeyCredential: body.PasskeyCredential, ClientAddr: addr, UserAgent: r.UserAgent()})
		if err != nil {
			if code := custodian.ErrorCode(err); code == custodian.EUNAUTHORIZED || code == custodian.ETOOMANY {
				sig.signInFailed(r, err)
			}
			logger.InfoContext(r.Context(), "sign-in failed", "request_id", requestID(r.Context()), "code", custodian.ErrorCode(err))
			writeError(w, r, logger, err)
			return
		}
		logger.InfoContext(r.Context(), "signed in", "request_id", requestID(r.Context()), "user", u.ID)
		setSessionCookie(w, tok, acc.SessionTTL())
		writeJSON(w, http.StatusOK, map[string]any{"user": u})
	})
}

// handleLogout ends the session on the server and tells the browser to
// forget everything the site stored.
func handleLogout(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(SessionCookie); err == nil {
			if err := acc.SignOut(r.Context(), c.Value); err != nil {
				writeError(w, r, logger, err)
				return
			}
		}
		clearSessionCookie(w)
		w.Header().Set("Clear-Site-Data", `"cache", "cookies", "storage"`)
		w.WriteHeader(http.StatusNoContent)
	})
}

func handleSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"user": principal(r).User})
	})
}

func handleSetup(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	type body struct {
		Token    string `json:"token"`
		Email    string `json:"email"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		u, err := acc.CompleteSetup(r.Context(), b.Token, b.Email, b.Name, b.Password)
		return http.StatusCreated, map[string]any{"user": u}, err
	})
}

func handleRegister(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	type body struct {
		Token    string `json:"token"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		u, err := acc.Register(r.Context(), b.Token, b.Name, b.Password)
		return http.StatusCreated, map[string]any{"user": u}, err
	})
}

func handleInvite(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	type body struct {
		Email string         `json:"email"`
		Role  custodian.Role `json:"role"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		tok, expires, err := acc.Invite(r.Context(), b.Email, b.Role)
		return http.StatusCreated, map[string]any{"token": tok, "expires_at": expires, "register_path": "/register?token=" + tok, "mailed": err == nil && acc.MailsLinks()}, err
	})
}

func handleListUsers(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		users, err := acc.ListUsers(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if users == nil {
			users = []*custodian.User{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": users})
	})
}

func handleCreateToken(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	type body struct {
		Name          string `json:"name"`
		ExpiresInDays int    `json:"expires_in_days"`
	}
	return handle(logger, func(r *http.Request, b *body) (int, any, error) {
		if principal(r).MustUsePasskey {
			return 0, nil, errPasskeyFirst
		}
		plain, t, err := acc.CreateAPIToken(r.Context(), principal(r).User.ID, b.Name, time.Duration(b.ExpiresInDays)*24*time.Hour)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, struct {
			*custodian.APIToken
			Token string `json:"token"`
		}{t, plain}, nil
	})
}

func handleListTokens(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		toks, err := acc.ListAPITokens(r.Context(), principal(r).User.ID)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if toks == nil {
			toks = []custodian.APIToken{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": toks})
	})
}

func handleRevokeToken(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := acc.RevokeAPIToken(r.Context(), principal(r).User.ID, r.PathValue("id")); err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleListSessions lists the caller's live sessions.
func handleListSessions(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := acc.ListSessions(r.Context(), principal(r))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if list == nil {
			list = []custodian.SessionInfo{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": list})
	})
}

// handleEndSession signs out one of the caller's sessions.
func handleEndSession(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := acc.EndSession(r.Context(), principal(r), r.PathValue("id")); err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleEndOtherSessions signs out every other session of the caller.
func handleEndOtherSessions(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := acc.EndOtherSessions(r.Context(), principal(r)); err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// errPasskeyFirst refuses a new access token to a session that must sign
// in with a passkey and did not: the token would outlive the confinement.
var errPasskeyFirst = errorf(custodian.EFORBIDDEN, "Your role requires signing in with a passkey before creating access tokens.")

// handleListInvitations lists every invitation with its state (pending,
// accepted, expired, revoked), newest first; never a link.
func handleListInvitations(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		invs, err := acc.ListInvitations(r.Context())
		if invs == nil {
			invs = []custodian.Invitation{}
		}
		return http.StatusOK, map[string]any{"items": invs}, err
	})
}

// handleRevokeInvitation revokes a pending invitation: its link stops
// working.
func handleRevokeInvitation(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		return http.StatusNoContent, nil, acc.RevokeInvitation(r.Context(), r.PathValue("id"))
	})
}

// handleResendInvitation replaces a pending or expired invitation with a
// new link, answered like a new invitation (the link once, and whether it
// was mailed).
func handleResendInvitation(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		tok, expires, err := acc.ResendInvitation(r.Context(), r.PathValue("id"))
		return http.StatusCreated, map[string]any{"token": tok, "expires_at": expires, "register_path": "/register?token=" + tok, "mailed": err == nil && acc.MailsLinks()}, err
	})
}
