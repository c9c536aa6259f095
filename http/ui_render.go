package http

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/ratelimit"
	"github.com/nyaruka/phonenumbers"
)

//go:embed templates/ui
var uiTemplateFiles embed.FS

// uiFuncs are the helpers templates may call. None of them marks user data
// as safe: html/template's contextual escaping is the defence against
// markup in customer records.
var uiFuncs = template.FuncMap{
	"asset": staticAssets.url,
	"can": func(u *custodian.User, perm string) bool {
		return u != nil && u.Role.Can(custodian.Permission(perm))
	},
	// datetime is the machine-readable form for <time datetime>.
	"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	// when is the readable form shown until the script localises it.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2 Jan 2006 15:04 UTC")
	},
	"hasPrefix": strings.HasPrefix,
	// phone shows a stored (E.164) number in the international format of
	// its region, as people write it: +44 20 7946 0958.
	"phone": formatPhone,
	// label shows a key such as a consent purpose as words:
	// marketing_email reads "Marketing email". The key stays in the API.
	"label": keyLabel,
}

// formatPhone formats an E.164 number for reading; anything it cannot
// parse is shown as stored.
func formatPhone(s string) string {
	n, err := phonenumbers.Parse(s, "")
	if err != nil {
		return s
	}
	return phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
}

// keyLabel turns a snake_case key into a sentence-case label.
func keyLabel(key string) string {
	s := strings.ReplaceAll(key, "_", " ")
	if s == "" {
		return s
	}
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[size:]
}

// uiPages are the web interface's templates, one per page, each parsed
// with the layout and the shared partials. They are parsed once and never
// changed.
var uiPages = mustParsePages("login", "forgot", "error", "customers", "customers_bulk", "customer", "customer_form", "account", "users",
	"customer_erase", "customer_erased", "customer_delete", "audit", "security", "import", "webhooks", "tasks")

// pageParts are further template files of a page, parsed after it: they
// define the blocks the page leaves open.
var pageParts = map[string][]string{"customer": {"customer_privacy"}}

func mustParsePages(names ...string) map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, n := range names {
		files := []string{"templates/ui/layout.html", "templates/ui/partials.html", "templates/ui/" + n + ".html"}
		for _, p := range pageParts[n] {
			files = append(files, "templates/ui/"+p+".html")
		}
		out[n] = template.Must(template.New(n).Funcs(uiFuncs).ParseFS(uiTemplateFiles, files...))
	}
	return out
}

// ui holds what the web interface's handlers share.
type ui struct {
	logger    *slog.Logger
	customers custodian.CustomerService
	bulk      custodian.BulkCustomerService
	webhooks  custodian.WebhookService
	acc       custodian.AccountService
	privacy   custodian.PrivacyService
	activity  custodian.ActivityService
	task      custodian.TaskService
	audit     custodian.AuditTrail
	names     custodian.CustomerNamer
	alerts    custodian.AlertService
	now       func() time.Time
	sig       signals
	keys      *formKeys
	assets    *assets
	nav       []navLink
	imports   custodian.ImportService
	exports   custodian.CustomerExporter
	transfers ratelimit.Limiter
}

// navLink is one entry of the navigation bar, shown to roles with Perm.
type navLink struct {
	Path, Label, Section string
	Perm                 custodian.Permission
}

// navCandidates are the navigation entries in order. An entry appears only
// when the route table has a GET route for its path, and takes that
// route's permission, so the bar offers exactly the pages a role may open.
var navCandidates = []navLink{
	{Path: "/customers", Label: "Customers", Section: "customers"},
	{Path: "/tasks", Label: "My tasks", Section: "tasks"},
	{Path: "/audit", Label: "Audit trail", Section: "audit"},
	{Path: "/security", Label: "Security", Section: "security"},
	{Path: "/admin/users", Label: "Users", Section: "users"},
	{Path: "/settings/webhooks", Label: "Webhooks", Section: "webhooks"},
	{Path: "/account", Label: "Account", Section: "account"},
}

func newUI(d Deps) *ui {
	keys, err := newFormKeys(d.FormKey)
	if err != nil {
		panic(err) // HKDF and AES-GCM with a 32-byte key cannot fail
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	return &ui{logger: d.Logger, customers: d.Customers, bulk: d.Bulk, webhooks: d.Webhooks, acc: d.Accounts, privacy: d.Privacy, activity: d.Activities, task: d.Tasks, audit: d.Audit, names: d.Names, alerts: d.Alerts, now: now,
		sig: d.signals(), keys: keys, assets: staticAssets, imports: d.Imports, exports: d.Exports, transfers: d.TransferLimiter}
}

// navLinks returns the navigation entries whose pages table serves, each
// with its route's permission.
func navLinks(table []Route) []navLink {
	var nav []navLink
	for _, c := range navCandidates {
		for _, rt := range table {
			if rt.Method == http.MethodGet && rt.Path == c.Path {
				c.Perm = rt.Perm
				nav = append(nav, c)
				break
			}
		}
	}
	return nav
}

// uiPage marks a route's handler as a web page, so that the authorization
// check answers a refusal the way a browser expects: a redirect to the
// sign-in page, or a readable 403 page, instead of a JSON problem.
type uiPage struct {
	http.Handler
	ui *ui
}

func (u *ui) page(h http.Handler) uiPage { return uiPage{Handler: h, ui: u} }

// uiView is what every page template gets: the layout's parts and the
// page's own Data.
type uiView struct {
	Title   string
	Section string
	User    *custodian.User
	CSRF    string
	Flash   string
	Notice  string
	Nav     []navLink
	Data    any
}

// render writes a page with status. The session's CSRF token, the signed-in
// user, the navigation the user's role may use and a pending flash message
// are filled in here.
func (u *ui) render(w http.ResponseWriter, r *http.Request, status int, name string, v uiView) {
	if p := principal(r); p != nil {
		v.User = p.User
		if v.CSRF == "" {
			v.CSRF = u.keys.token("session", p.SessionHash)
		}
		for _, n := range u.nav {
			if p.User.Role.Can(n.Perm) && (!confined(p) || n.Perm == custodian.PermSignedIn) {
				v.Nav = append(v.Nav, n)
			}
		}
		if p.MustEnrollTOTP && v.Notice == "" {
			v.Notice = "Your role requires two-factor authentication. Set it up below to reach the rest of Custodian."
		}
		if p.MustUsePasskey && v.Notice == "" {
			v.Notice = "Your role requires signing in with a passkey. Add one below, or sign out and sign in with yours, to reach the rest of Custodian."
		}
	}
	if v.Flash == "" {
		v.Flash = takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := uiPages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		u.logger.ErrorContext(r.Context(), "render page", "request_id", requestID(r.Context()), "page", name, "err", err)
		http.Error(w, "An internal error occurred.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client may be gone; nothing to do
}

// errorData is the error page's content.
type errorData struct {
	Heading string
	Message string
}

// errorPage renders a readable error page.
func (u *ui) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	u.render(w, r, status, "error", uiView{Title: heading, Data: errorData{Heading: heading, Message: msg}})
}

// fail renders err: its own message for the errors a person can act on,
// a generic page (and a log line with the cause) for the rest.
func (u *ui) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, ok := clientStatus(err)
	if !ok {
		u.logger.ErrorContext(r.Context(), "page failed", "request_id", requestID(r.Context()), "code", custodian.ErrorCode(err), "err", err)
		u.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "An internal error occurred. Try again; if it keeps happening, give your administrator the request id "+requestID(r.Context())+".")
		return
	}
	heading := http.StatusText(status)
	if status == http.StatusNotFound {
		heading = "Not found"
	}
	u.errorPage(w, r, status, heading, custodian.ErrorMessage(err))
}

// clientStatus returns the status of an error a person can act on (one
// that statusOf maps below 500), and false for any other, which fail
// answers with the generic page.
func clientStatus(err error) (int, bool) {
	status, _ := problemStatus(err)
	return status, status < 500
}

// fieldErrors maps field names to their first message.
func fieldErrors(err error) map[string]string {
	out := map[string]string{}
	for _, fe := range custodian.ErrorFields(err) {
		if _, ok := out[fe.Field]; !ok {
			out[fe.Field] = fe.Message
		}
	}
	return out
}

// signInFirst answers a signed-out request for a page: back to the same
// place after signing in, for a GET.
func (u *ui) signInFirst(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet {
		if next := localPath(r.URL.RequestURI()); next != "" {
			target += "?next=" + url.QueryEscape(next)
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// enrolFirst sends a user whose role requires two-factor authentication,
// and who has not set it up, to the account page.
func (u *ui) enrolFirst(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// forbiddenMessage is the policy's refusal, in the API's problem detail and
// on the 403 page alike.
const forbiddenMessage = "Your role does not allow this."

// forbidden renders the 403 page.
func (u *ui) forbidden(w http.ResponseWriter, r *http.Request) {
	u.errorPage(w, r, http.StatusForbidden, "No access", forbiddenMessage+" Ask an administrator if you need it.")
}

// tooManyPages answers a page request over the page rate limit: 429 with
// Retry-After, as a page.
func (u *ui) tooManyPages(w http.ResponseWriter, r *http.Request, d ratelimit.Decision) {
	secs := strconv.Itoa(ratelimit.RetryAfterSeconds(d.RetryAfter))
	w.Header().Set("Retry-After", secs)
	u.errorPage(w, r, http.StatusTooManyRequests, "Too many requests", "Pages are being requested faster than a person reads them. Wait "+secs+" seconds and try again.")
}

// home is where a signed-in user starts.
func home(p *custodian.Principal) string {
	if p != nil && !confined(p) && p.User.Role.Can(custodian.PermCustomersRead) {
		return "/customers"
	}
	return "/account"
}

// confined reports whether p may reach only its own account: its role
// requires two-factor authentication or passkeys it has not set up or
// used.
func confined(p *custodian.Principal) bool { return p.MustEnrollTOTP || p.MustUsePasskey }

// flashCookie carries a one-line confirmation to the next page. It holds
// a message code, never text or personal data, and lives a minute.
const flashCookie = "__Host-custodian_flash"

// flashMessages are the confirmations a flash code stands for.
var flashMessages = map[string]string{
	"customer-created":    "Customer created.",
	"customer-saved":      "Customer saved.",
	"signed-out":          "You have signed out.",
	"password-changed":    "Your password has been changed.",
	"name-changed":        "Your name has been changed.",
	"email-link-sent":     "A link to confirm your new address has been sent to it. It works once, for 30 minutes; your address changes only when it is opened.",
	"session-ended":       "That session has been signed out.",
	"sessions-ended":      "Your other sessions have been signed out.",
	"totp-disabled":       "Two-factor authentication is off.",
	"token-revoked":       "The access token has been revoked.",
	"passkey-added":       "Passkey added.",
	"passkey-renamed":     "Passkey renamed.",
	"passkey-removed":     "Passkey removed.",
	"user-passkeys-reset": "Passkeys removed; the user's sessions have ended.",
	"user-role":           "Role changed; the user's sessions have ended.",
	"user-activated":      "User activated.",
	"user-deactivated":    "User deactivated; their sessions and access tokens have ended.",
	"user-unlocked":       "User unlocked.",
	"invite-revoked":      "Invitation revoked; its link no longer works.",
	"user-totp-reset":     "Two-factor authentication reset; the user's sessions have ended.",
	"search-expired":      "That search has expired; search again.",
	"signed-in-already":   "You are already signed in.",

	"consent-recorded":        "Consent change recorded.",
	"activity-logged":         "Activity logged.",
	"task-added":              "Task added.",
	"task-updated":            "Task updated.",
	"hold-set":                "Legal hold set: erasure, deletion and retention are suspended.",
	"hold-lifted":             "Legal hold lifted.",
	"customer-erased":         "The customer's personal data has been erased.",
	"customer-deleted":        "Customer deleted.",
	"customer-erased-already": "This customer had already been erased; nothing changed.",
	"alert-resolved":          "Alert resolved.",
	"webhook-saved":           "Webhook saved.",
	"webhook-deleted":         "Webhook removed, with its deliveries.",
	"view-saved":              "View saved.",
	"view-renamed":            "View renamed.",
	"view-deleted":            "View deleted.",
	"view-not-found":          "That view does not exist, or is not yours; showing all customers.",
}

// setFlash makes the next page show the message with code.
func setFlash(w http.ResponseWriter, code string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: code, Path: "/", MaxAge: 60, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the pending message, if any, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return flashMessages[c.Value]
}

// redirectWithFlash answers a successful form post: a flash message, then
// a redirect (post/redirect/get), so reloading the page repeats nothing.
func redirectWithFlash(w http.ResponseWriter, r *http.Request, path, code string) {
	if code != "" {
		setFlash(w, code)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// maxFormBytes bounds a form body; customer forms take notes of up to
// 20,000 characters.
const maxFormBytes = 256 << 10

// formPost returns the handler of a form post, which runs act once
// checkForm has read the form and accepted its CSRF token.
func (u *ui) formPost(act func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u.checkForm(w, r) {
			act(w, r)
		}
	})
}

// checkForm reads a posted form and checks its CSRF token against the
// session. On failure it answers with a 403 page and returns false.
// Requests without a browser session (access tokens) have no token and
// cannot post forms.
func (u *ui) checkForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		u.errorPage(w, r, http.StatusBadRequest, "The form could not be read", "Go back and try again.")
		return false
	}
	p := principal(r)
	if p == nil || !u.keys.check("session", p.SessionHash, r.PostForm.Get(csrfField)) {
		u.logger.WarnContext(r.Context(), "form refused: bad CSRF token", "request_id", requestID(r.Context()), "path", r.URL.EscapedPath())
		u.errorPage(w, r, http.StatusForbidden, "This form has expired", "The form was too old or did not come from this site, so nothing was changed. Go back, reload the page and try again.")
		return false
	}
	return true
}
