package http

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/ratelimit"
)

// loginData is the sign-in page's content. With State set, the page asks
// for the second factor: State carries the email and password, sealed and
// bound to the browser's pre-session cookie, for five minutes.
type loginData struct {
	Email string
	Next  string
	State string
	Error string
	// Passkeys offers signing in with a passkey (the server has a
	// relying party).
	Passkeys bool
}

// loginStateTTL is how long the second-factor step may take.
const loginStateTTL = 5 * time.Minute

// handleUIHome sends a signed-in person to their start page and anyone
// else to the sign-in page.
func (u *ui) handleHome() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := principal(r); p != nil {
			http.Redirect(w, r, home(p), http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
}

// handleLoginPage shows the sign-in form, with a CSRF token bound to a
// pre-session cookie.
func (u *ui) handleLoginPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := localPath(r.URL.Query().Get("next"))
		if p := principal(r); p != nil {
			if next == "" {
				next = home(p)
			}
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		u.renderLogin(w, r, http.StatusOK, loginData{Next: next})
	})
}

func (u *ui) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	d.Passkeys = u.acc.PasskeysEnabled()
	pre := preSession(w, r)
	u.render(w, r, status, "login", uiView{Title: u.t(r, "Sign in"), CSRF: u.keys.token("pre", pre), Data: d})
}

// handleLoginSubmit signs in from the form. Every failure of the email or
// password answers the same message; a user with two-factor
// authentication gets a second step asking for the code.
func (u *ui) handleLoginSubmit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			u.renderLogin(w, r, http.StatusBadRequest, loginData{Error: msg("The form could not be read; try again.")})
			return
		}
		f := r.PostForm
		d := loginData{Email: strings.TrimSpace(f.Get("email")), Next: localPath(f.Get("next"))}
		pre, ok := u.checkPreForm(r)
		if !ok {
			d.Error = msg("The sign-in form had expired. Please try again.")
			u.renderLogin(w, r, http.StatusForbidden, d)
			return
		}
		password, otp := f.Get("password"), strings.TrimSpace(f.Get("otp"))
		if s := f.Get("state"); s != "" {
			b, err := u.keys.openState("login", pre, s)
			email, pw, ok := strings.Cut(string(b), "\x00")
			if err != nil || !ok {
				d.Error = msg("The sign-in took too long. Please start again.")
				u.renderLogin(w, r, http.StatusBadRequest, d)
				return
			}
			d.Email, password, d.State = email, pw, s
		}
		tok, user, err := u.acc.SignIn(r.Context(), custodian.SignInRequest{Email: d.Email, Password: password, OTP: otp, ClientAddr: clientAddr(r), UserAgent: r.UserAgent(),
			PasskeyCeremony: f.Get("passkey_ceremony"), PasskeyCredential: formJSON(f.Get("passkey_credential"))})
		if err != nil {
			code := custodian.ErrorCode(err)
			if code == custodian.EUNAUTHORIZED || code == custodian.ETOOMANY {
				u.sig.signInFailed(r, err)
			}
			u.logger.InfoContext(r.Context(), "sign-in failed", "request_id", requestID(r.Context()), "code", code)
			switch {
			case code == custodian.EUNAUTHORIZED && otp == "" && hasField(err, "otp"):
				// The password was right; ask for the second factor.
				d.State = u.keys.sealState("login", pre, []byte(d.Email+"\x00"+password), loginStateTTL)
				u.renderLogin(w, r, http.StatusOK, d)
			case code == custodian.EUNAUTHORIZED && d.State != "":
				d.Error = msg("That code did not work. Enter the current code from your authenticator app, or a recovery code.")
				u.renderLogin(w, r, http.StatusUnauthorized, d)
			case code == custodian.EUNAUTHORIZED:
				d.State, d.Error = "", u.errorMessage(r, err)
				u.renderLogin(w, r, http.StatusUnauthorized, d)
			case code == custodian.ETOOMANY:
				var wait time.Duration
				if retry, ok := errors.AsType[*custodian.RetryError](err); ok {
					wait = retry.After
				}
				u.tooMany(w, r, d, wait)
			case code == custodian.EUNAVAILABLE && isRetry(err):
				u.busy(w, r, d, err)
			default:
				u.fail(w, r, err)
			}
			return
		}
		u.logger.InfoContext(r.Context(), "signed in", "request_id", requestID(r.Context()), "user", user.ID)
		setSessionCookie(w, tok, u.acc.SessionTTL())
		next := d.Next
		if next == "" {
			next = "/"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

func hasField(err error, field string) bool {
	for _, fe := range custodian.ErrorFields(err) {
		if fe.Field == field {
			return true
		}
	}
	return false
}

// tooMany shows the sign-in page, with d's entries, saying how long to
// wait, with the same wait in Retry-After.
func (u *ui) tooMany(w http.ResponseWriter, r *http.Request, d loginData, wait time.Duration) {
	secs := strconv.Itoa(ratelimit.RetryAfterSeconds(wait))
	w.Header().Set("Retry-After", secs)
	d.Error = u.t(r, "Too many sign-in attempts. Wait %s seconds and try again.", secs)
	u.renderLogin(w, r, http.StatusTooManyRequests, d)
}

// isRetry reports whether err says how long to wait before trying again.
func isRetry(err error) bool {
	_, ok := errors.AsType[*custodian.RetryError](err)
	return ok
}

// busy shows the sign-in page, with d's entries, when the server is too
// busy checking other sign-ins (503 with Retry-After): the person is
// answered at once and asked to try again in a moment.
func (u *ui) busy(w http.ResponseWriter, r *http.Request, d loginData, err error) {
	retry, _ := errors.AsType[*custodian.RetryError](err)
	w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(retry.After)))
	d.Error = u.errorMessage(r, err)
	u.renderLogin(w, r, http.StatusServiceUnavailable, d)
}

// handleUILogout ends the session and returns to the sign-in page.
func (u *ui) handleLogout() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(SessionCookie); err == nil {
			if err := u.acc.SignOut(r.Context(), c.Value); err != nil {
				u.fail(w, r, err)
				return
			}
		}
		clearSessionCookie(w)
		w.Header().Set("Clear-Site-Data", `"cache", "storage"`)
		redirectWithFlash(w, r, "/login", "signed-out")
	})
}

// refuseLogin answers a sign-in the rate limit refused with the sign-in
// page and a message, keeping the email entered, and Retry-After.
func (u *ui) refuseLogin(w http.ResponseWriter, r *http.Request, d ratelimit.Decision) {
	u.tooMany(w, r, loginData{Email: strings.TrimSpace(r.PostFormValue("email"))}, d.RetryAfter)
}

// forgotData is the forgotten-password page's content.
type forgotData struct {
	Email, Error, EmailError string
	// Mail says that the server mails links; without it the page says
	// to ask an administrator.
	Mail bool
	// Sent shows the one answer given to every accepted request.
	Sent bool
}

func (u *ui) renderForgot(w http.ResponseWriter, r *http.Request, status int, d forgotData) {
	d.Mail = u.acc.MailsLinks()
	pre := preSession(w, r)
	u.render(w, r, status, "forgot", uiView{Title: u.t(r, "Forgot your password?"), CSRF: u.keys.token("pre", pre), Data: d})
}

// handleForgotPage shows the form that asks for a password-reset link.
func (u *ui) handleForgotPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.renderForgot(w, r, http.StatusOK, forgotData{})
	})
}

// handleForgotSubmit asks for a reset link for the address entered, and
// answers the same whether or not it has an account.
func (u *ui) handleForgotSubmit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			u.renderForgot(w, r, http.StatusBadRequest, forgotData{Error: msg("The form could not be read; try again.")})
			return
		}
		d := forgotData{Email: strings.TrimSpace(r.PostForm.Get("email"))}
		if _, ok := u.checkPreForm(r); !ok {
			d.Error = msg("The form had expired. Please try again.")
			u.renderForgot(w, r, http.StatusForbidden, d)
			return
		}
		err := u.acc.ForgotPassword(r.Context(), d.Email, clientAddr(r))
		switch code := custodian.ErrorCode(err); {
		case err == nil:
			u.renderForgot(w, r, http.StatusOK, forgotData{Sent: true})
		case code == custodian.EINVALID:
			d.Error = u.errorMessage(r, err)
			for _, fe := range u.errorFields(r, err) {
				d.EmailError = fe.Message
			}
			u.renderForgot(w, r, http.StatusBadRequest, d)
		case code == custodian.EUNAVAILABLE && !isRetry(err):
			u.renderForgot(w, r, http.StatusServiceUnavailable, d)
		default:
			u.fail(w, r, err)
		}
	})
}

// refuseForgot answers a request the rate limit refused with the page, a
// message and Retry-After.
func (u *ui) refuseForgot(w http.ResponseWriter, r *http.Request, d ratelimit.Decision) {
	secs := strconv.Itoa(ratelimit.RetryAfterSeconds(d.RetryAfter))
	w.Header().Set("Retry-After", secs)
	u.renderForgot(w, r, http.StatusTooManyRequests, forgotData{Email: strings.TrimSpace(r.PostFormValue("email")), Error: u.t(r, "Too many requests. Wait %s seconds and try again.", secs)})
}
