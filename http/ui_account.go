package http

import (
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/locale"
)

// accountData is the account page's content. Enrolment, RecoveryCodes and
// NewToken are shown once, in the answer to the form that produced them.
type accountData struct {
	Tokens        []custodian.APIToken
	Enrolment     *enrolmentView
	RecoveryCodes []string
	NewToken      string
	Section       string // the form an error belongs to
	Error         string
	FieldErrors   map[string]string
	TokenName     string
	TokenDays     string
	// Passkeys are the user's passkeys; PasskeyCodes the recovery codes
	// that came with the first, shown once.
	Passkeys        []custodian.Passkey
	PasskeysEnabled bool
	PasskeyCodes    []string
	// Sessions are the user's live browser sessions.
	Sessions []custodian.SessionInfo
	// Languages are the languages offered; Language and TimeZone the
	// preferences form's values (the user's, or what was typed when the
	// form comes back with an error); Zones the zones suggested.
	Languages []locale.Language
	Language  string
	TimeZone  string
	Zones     []string
	// MailsLinks says whether the server mails links, which a change of
	// the sign-in address needs; NewEmail is the address entered.
	MailsLinks bool
	NewEmail   string
}

// suggestedZones are the time zones the preferences form suggests; any
// name of the time zone database is accepted.
var suggestedZones = []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Vienna",
	"Europe/Zurich", "Europe/Amsterdam", "Europe/Brussels", "Europe/Madrid", "Europe/Rome", "Europe/Stockholm", "Europe/Warsaw",
	"Europe/Helsinki", "Europe/Athens", "Europe/Istanbul", "America/New_York", "America/Chicago", "America/Denver",
	"America/Los_Angeles", "America/Sao_Paulo", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney",
	"Pacific/Auckland"}

// enrolmentView is a pending 2FA enrolment: the QR code, the secret for
// typing in by hand, and the same sealed to the session so the page can be
// shown again after a mistyped code.
type enrolmentView struct {
	QR     template.URL
	Secret string
	State  string
}

// enrolmentTTL is how long a pending enrolment can be shown again.
const enrolmentTTL = 15 * time.Minute

type enrolmentState struct {
	Secret string `json:"s"`
	QR     string `json:"q"`
}

// qrURL makes the data: URL of a base64 PNG made by the accounts service.
// It is checked to be base64 so that nothing else can reach the page as a
// URL.
func qrURL(b64 string) template.URL {
	if _, err := base64.StdEncoding.DecodeString(b64); err != nil {
		return ""
	}
	return template.URL("data:image/png;base64," + b64) // #nosec G203 -- server-made base64 PNG, checked above
}

func (u *ui) renderAccount(w http.ResponseWriter, r *http.Request, status int, d accountData) {
	toks, err := u.acc.ListAPITokens(r.Context(), principal(r).User.ID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	now := time.Now()
	for _, t := range toks {
		if t.RevokedAt.IsZero() && t.ExpiresAt.After(now) {
			d.Tokens = append(d.Tokens, t)
		}
	}
	if d.TokenDays == "" {
		d.TokenDays = "90"
	}
	if d.Passkeys, err = u.acc.ListPasskeys(r.Context(), principal(r).User.ID); err != nil {
		u.fail(w, r, err)
		return
	}
	d.PasskeysEnabled = u.acc.PasskeysEnabled()
	d.Languages, d.Zones = u.locales.Languages(), suggestedZones
	if d.Section != "preferences" {
		d.Language, d.TimeZone = principal(r).User.Language, principal(r).User.TimeZone
	}
	d.MailsLinks = u.acc.MailsLinks()
	if d.Section == "email" && r.PostForm != nil {
		d.NewEmail = r.PostForm.Get("email")
	}
	if d.Sessions, err = u.acc.ListSessions(r.Context(), principal(r)); err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, status, "account", uiView{Title: u.t(r, "Your account"), Section: "account", Data: d})
}

// accountError shows the account page with err next to the form it came
// from.
func (u *ui) accountError(w http.ResponseWriter, r *http.Request, section string, err error, d accountData) {
	status, ok := clientStatus(err)
	if !ok {
		u.fail(w, r, err)
		return
	}
	d.Section, d.Error, d.FieldErrors = section, u.errorMessage(r, err), u.fieldErrors(r, err)
	u.renderAccount(w, r, status, d)
}

func (u *ui) handleAccount() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.renderAccount(w, r, http.StatusOK, accountData{})
	})
}

// accountForm runs a form of the account page that ends with a flash
// message: act's error comes back next to the form of section.
func (u *ui) accountForm(section, flash string, act func(r *http.Request) error) http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		if err := act(r); err != nil {
			u.accountError(w, r, section, err, accountData{})
			return
		}
		redirectWithFlash(w, r, "/account", flash)
	})
}

func (u *ui) handleChangePasswordForm() http.Handler {
	return u.accountForm("password", "password-changed", func(r *http.Request) error {
		f := r.PostForm
		err := u.acc.ChangePassword(r.Context(), principal(r), f.Get("current_password"), f.Get("new_password"), f.Get("end_others") == "on")
		return renameField(err, "password", "new_password")
	})
}

// handleEndSessionForm signs out one of the person's sessions.
func (u *ui) handleEndSessionForm() http.Handler {
	return u.accountForm("sessions", "session-ended", func(r *http.Request) error {
		return u.acc.EndSession(r.Context(), principal(r), r.PathValue("id"))
	})
}

// handleEndOtherSessionsForm signs out every other session of the person.
func (u *ui) handleEndOtherSessionsForm() http.Handler {
	return u.accountForm("sessions", "sessions-ended", func(r *http.Request) error {
		return u.acc.EndOtherSessions(r.Context(), principal(r))
	})
}

// handlePreferencesForm sets the person's own language and time zone; a
// refused form comes back with what was chosen.
func (u *ui) handlePreferencesForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		lang, zone := r.PostForm.Get("language"), r.PostForm.Get("time_zone")
		if _, err := u.acc.ChangePreferences(r.Context(), principal(r), lang, zone); err != nil {
			u.accountError(w, r, "preferences", err, accountData{Language: lang, TimeZone: zone})
			return
		}
		redirectWithFlash(w, r, "/account", "preferences-saved")
	})
}

// handleRequestEmailChangeForm asks for a link to confirm a new sign-in
// address, mailed to it; the address changes only when it is opened.
// Without mail the page shows no form; a post anyway is answered 503 on
// the page, next to where the form would be.
func (u *ui) handleRequestEmailChangeForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		f := r.PostForm
		_, err := u.acc.RequestEmailChange(r.Context(), principal(r), f.Get("current_password"), f.Get("email"))
		switch {
		case err == nil:
			redirectWithFlash(w, r, "/account", "email-link-sent")
		case custodian.ErrorCode(err) == custodian.EUNAVAILABLE && !isRetry(err):
			u.renderAccount(w, r, http.StatusServiceUnavailable, accountData{Section: "email", Error: u.errorMessage(r, err)})
		default:
			u.accountError(w, r, "email", renameField(err, "current_password", "email_current_password"), accountData{})
		}
	})
}

// handleChangeNameForm sets the person's own name.
func (u *ui) handleChangeNameForm() http.Handler {
	return u.accountForm("profile", "name-changed", func(r *http.Request) error {
		_, err := u.acc.ChangeName(r.Context(), principal(r), r.PostForm.Get("name"))
		return err
	})
}

func (u *ui) handleBeginTOTPForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		e, err := u.acc.BeginTOTP(r.Context(), principal(r), r.PostForm.Get("current_password"))
		if err != nil {
			u.accountError(w, r, "totp", err, accountData{})
			return
		}
		u.renderAccount(w, r, http.StatusOK, accountData{Section: "totp", Enrolment: u.enrolment(r, e.Secret, e.QRCode)})
	})
}

func (u *ui) enrolment(r *http.Request, secret, qr string) *enrolmentView {
	b, _ := json.Marshal(enrolmentState{Secret: secret, QR: qr}) // strings always marshal
	return &enrolmentView{QR: qrURL(qr), Secret: groupSecret(secret), State: u.keys.sealState("enrol", principal(r).SessionHash, b, enrolmentTTL)}
}

// groupSecret writes a base32 secret in groups of four for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (u *ui) handleEnableTOTPForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		codes, err := u.acc.EnableTOTP(r.Context(), principal(r), r.PostForm.Get("code"))
		if err != nil {
			d := accountData{}
			if b, serr := u.keys.openState("enrol", principal(r).SessionHash, r.PostForm.Get("state")); serr == nil {
				var st enrolmentState
				if json.Unmarshal(b, &st) == nil {
					d.Enrolment = u.enrolment(r, st.Secret, st.QR)
				}
			}
			u.accountError(w, r, "totp", err, d)
			return
		}
		u.renderAccount(w, r, http.StatusOK, accountData{Section: "totp", RecoveryCodes: codes})
	})
}

func (u *ui) handleDisableTOTPForm() http.Handler {
	return u.accountForm("totp", "totp-disabled", func(r *http.Request) error {
		return u.acc.DisableTOTP(r.Context(), principal(r), r.PostForm.Get("current_password"), strings.TrimSpace(r.PostForm.Get("code")))
	})
}

func (u *ui) handleCreateTokenForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		if principal(r).MustUsePasskey {
			u.accountError(w, r, "tokens", errPasskeyFirst, accountData{})
			return
		}
		name, days := r.PostForm.Get("name"), strings.TrimSpace(r.PostForm.Get("expires_in_days"))
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 {
			u.accountError(w, r, "tokens", errorf(custodian.EINVALID, msg("The token has invalid fields."), custodian.FieldError{Field: "expires_in_days", Message: msg("Enter a whole number of days from 1 to 365.")}), accountData{TokenName: name, TokenDays: days})
			return
		}
		plain, _, err := u.acc.CreateAPIToken(r.Context(), principal(r).User.ID, name, time.Duration(n)*24*time.Hour)
		if err != nil {
			u.accountError(w, r, "tokens", err, accountData{TokenName: name, TokenDays: days})
			return
		}
		u.renderAccount(w, r, http.StatusCreated, accountData{Section: "tokens", NewToken: plain})
	})
}

func (u *ui) handleRevokeTokenForm() http.Handler {
	return u.accountForm("tokens", "token-revoked", func(r *http.Request) error {
		return u.acc.RevokeAPIToken(r.Context(), principal(r).User.ID, r.PathValue("id"))
	})
}
