package http

import (
	"bytes"
	"embed"
	"fmt"
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
	"github.com/custodian-crm/custodian/locale"
	"github.com/custodian-crm/custodian/ratelimit"
	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed templates/ui
var uiTemplateFiles embed.FS

// uiFuncs are the helpers templates may call. None of them marks user data
// as safe: html/template's contextual escaping is the defence against
// markup in customer records.
//
// t, tr, when, label and scriptMessages are the English defaults the
// templates are parsed with; localFuncs replaces them per language.
var uiFuncs = template.FuncMap{
	"asset": staticAssets.url,
	// t translates a message id, formatting args into it: {{t "Sign in"}},
	// {{t "%d customers" .N}}.
	"t":              func(id string, args ...any) string { return fmt.Sprintf(id, args...) },
	"tr":             func(s string) string { return s },
	"scriptMessages": func() map[string]string { return nil },
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
	// isolate wraps a name given to a message in Unicode's first-strong
	// isolate, as <bdi> would, so that a right-to-left name does not
	// reorder the words around it.
	"isolate": func(s string) string { return "\u2068" + s + "\u2069" },
	// phone shows a stored (E.164) number in the international format of
	// its region, as people write it: +44 20 7946 0958.
	"phone": formatPhone,
	// label shows a key such as a consent purpose as words:
	// marketing_email reads "Marketing email". The key stays in the API.
	"label": keyLabel,
}

// localFuncs are the template functions that speak the language of p:
// messages, the text of a date before the script localises it, and
// labels made from keys.
func localFuncs(p *message.Printer, ids map[string]bool) template.FuncMap {
	return template.FuncMap{
		"t": p.Sprintf,
		// tr translates a value that may be a message id (a label or an
		// error chosen in Go) and shows any other text as it is.
		"tr": func(s string) string { return translateKnown(p, ids, s) },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return p.Sprintf("never")
			}
			return t.UTC().Format(p.Sprintf("2 Jan 2006 15:04 UTC"))
		},
		"label": func(key any) string { return translateKnown(p, ids, keyLabel(fmt.Sprint(key))) },
		// scriptMessages are the scripts' messages in p's language, for
		// the page's JSON block (#ui-messages) they read.
		"scriptMessages": func() map[string]string {
			out := make(map[string]string, len(scriptMessageIDs))
			for _, id := range scriptMessageIDs {
				out[id] = p.Sprintf(id)
			}
			return out
		},
	}
}

// translateKnown translates s with p when ids (p's catalogue) holds it as
// a message id, and returns it unchanged otherwise: for text that may be a
// message id or may already be words.
func translateKnown(p *message.Printer, ids map[string]bool, s string) string {
	if !ids[s] {
		return s
	}
	return p.Sprintf(s)
}

// scriptMessageIDs are the messages the scripts under static/ show, by
// their English text: each script calls t('…') with one of them.
var scriptMessageIDs = []string{
	msg("The server refused to start."),
	msg("This browser cannot use passkeys."),
	msg("No passkey was chosen."),
	msg("The passkey request was cancelled or timed out. Try again."),
	msg("The passkey did not work. Try again."),
}

// msg marks s as a message id of the catalogues, translated where it is
// shown (a page title, a flash, a label passed to a template); it returns
// s unchanged. The catalogue tests find message ids by it.
func msg(s string) string { return s }

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

// uiPageNames are the web interface's templates, one per page.
var uiPageNames = []string{"login", "forgot", "error", "customers", "customers_bulk", "customer", "customer_form", "account", "users",
	"customer_erase", "customer_erased", "customer_delete", "audit", "security", "import", "webhooks", "tasks"}

// pageParts are further template files of a page, parsed after it: they
// define the blocks the page leaves open.
var pageParts = map[string][]string{"customer": {"customer_privacy"}}

// mustParsePages parses the layout and the shared partials once, then
// each page (with its parts) on a clone of them, with the English
// functions; localPages gives each language its copy.
func mustParsePages(names ...string) map[string]*template.Template {
	base := template.Must(template.New("ui").Funcs(uiFuncs).ParseFS(uiTemplateFiles, "templates/ui/layout.html", "templates/ui/partials.html"))
	out := map[string]*template.Template{}
	for _, n := range names {
		files := []string{"templates/ui/" + n + ".html"}
		for _, p := range pageParts[n] {
			files = append(files, "templates/ui/"+p+".html")
		}
		out[n] = template.Must(template.Must(base.Clone()).ParseFS(uiTemplateFiles, files...))
	}
	return out
}

// localPages returns a copy of pages whose functions are funcs (one
// language's): the parse trees are shared, not parsed again, and each
// copy is escaped on its first use.
func localPages(pages map[string]*template.Template, funcs template.FuncMap) map[string]*template.Template {
	out := make(map[string]*template.Template, len(pages))
	for n, t := range pages {
		out[n] = template.Must(t.Clone()).Funcs(funcs)
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
	locales   *locale.Catalogs
	// pages holds each language's parsed pages; printers its printer.
	pages    map[language.Tag]map[string]*template.Template
	printers map[language.Tag]*message.Printer
	// linkPages is each language's page behind one-time links.
	linkPages map[language.Tag]*template.Template
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
	{Path: "/customers", Label: msg("Customers"), Section: "customers"},
	{Path: "/tasks", Label: msg("My tasks"), Section: "tasks"},
	{Path: "/audit", Label: msg("Audit trail"), Section: "audit"},
	{Path: "/security", Label: msg("Security"), Section: "security"},
	{Path: "/admin/users", Label: msg("Users"), Section: "users"},
	{Path: "/settings/webhooks", Label: msg("Webhooks"), Section: "webhooks"},
	{Path: "/account", Label: msg("Account"), Section: "account"},
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
	locales := d.Locales
	if locales == nil {
		if locales, err = locale.Load(); err != nil {
			panic(err) // the embedded catalogues are checked by the tests
		}
	}
	// The templates are parsed once; each language gets clones that call
	// its functions.
	parsed, link := mustParsePages(uiPageNames...), mustParseLinkPage()
	pages := map[language.Tag]map[string]*template.Template{}
	printers := map[language.Tag]*message.Printer{}
	linkPages := map[language.Tag]*template.Template{}
	for _, l := range locales.Languages() {
		printers[l.Tag] = locales.Printer(l.Tag)
		funcs := localFuncs(printers[l.Tag], locales.IDs(l.Tag))
		pages[l.Tag] = localPages(parsed, funcs)
		linkPages[l.Tag] = template.Must(link.Clone()).Funcs(funcs)
	}
	return &ui{locales: locales, pages: pages, printers: printers, linkPages: linkPages, logger: d.Logger, customers: d.Customers, bulk: d.Bulk, webhooks: d.Webhooks, acc: d.Accounts, privacy: d.Privacy, activity: d.Activities, task: d.Tasks, audit: d.Audit, names: d.Names, alerts: d.Alerts, now: now,
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
	// Lang is the page's language; Zone the time zone the user chose
	// for dates, empty for the browser's own.
	Lang    string
	Zone    string
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
	tag := u.lang(r)
	v.Lang = tag.String()
	if p := principal(r); p != nil {
		v.Zone = p.User.TimeZone
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
			v.Notice = msg("Your role requires two-factor authentication. Set it up below to reach the rest of Custodian.")
		}
		if p.MustUsePasskey && v.Notice == "" {
			v.Notice = msg("Your role requires signing in with a passkey. Add one below, or sign out and sign in with yours, to reach the rest of Custodian.")
		}
	}
	if v.Flash == "" {
		v.Flash = takeFlash(w, r)
	}
	// Titles come translated (they may hold a name); flashes and notices
	// are message ids.
	v.Flash, v.Notice = u.known(r, v.Flash), u.known(r, v.Notice)
	var buf bytes.Buffer
	if err := u.pages[tag][name].ExecuteTemplate(&buf, "layout", v); err != nil {
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

// lang returns the language of r's pages: the signed-in user's own
// setting, else the browser's Accept-Language, else English.
func (u *ui) lang(r *http.Request) language.Tag {
	setting := ""
	if p := principal(r); p != nil {
		setting = p.User.Language
	}
	return u.locales.Choose(setting, r.Header.Get("Accept-Language"))
}

// t translates a message id for r's reader, formatting args into it.
func (u *ui) t(r *http.Request, id string, args ...any) string {
	return u.printers[u.lang(r)].Sprintf(id, args...)
}

// known translates s for r's reader when s is a message id of the
// catalogues, and returns it unchanged otherwise: for text that may be a
// message id or may already be words (a domain error's message, which the
// API gives in English, or a message translated with its values).
func (u *ui) known(r *http.Request, s string) string {
	tag := u.lang(r)
	return translateKnown(u.printers[tag], u.locales.IDs(tag), s)
}

// errorData is the error page's content.
type errorData struct {
	Heading string
	Message string
}

// errorPage renders a readable error page.
func (u *ui) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	u.render(w, r, status, "error", uiView{Title: u.known(r, heading), Data: errorData{Heading: u.known(r, heading), Message: u.known(r, msg)}})
}

// fail renders err: its own message for the errors a person can act on,
// a generic page (and a log line with the cause) for the rest.
func (u *ui) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, ok := clientStatus(err)
	if !ok {
		u.logger.ErrorContext(r.Context(), "page failed", "request_id", requestID(r.Context()), "code", custodian.ErrorCode(err), "err", err)
		u.errorPage(w, r, http.StatusInternalServerError, msg("Something went wrong"), u.t(r, "An internal error occurred. Try again; if it keeps happening, give your administrator the request id %s.", requestID(r.Context())))
		return
	}
	heading := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		heading = msg("Not found")
	case http.StatusBadRequest:
		heading = msg("Bad Request")
	case http.StatusConflict:
		heading = msg("Conflict")
	case http.StatusForbidden:
		heading = msg("Forbidden")
	case http.StatusUnprocessableEntity:
		heading = msg("Unprocessable Entity")
	case http.StatusTooManyRequests:
		heading = msg("Too Many Requests")
	case http.StatusGone:
		heading = msg("Gone")
	}
	u.errorPage(w, r, status, heading, u.errorMessage(r, err))
}

// clientStatus returns the status of an error a person can act on (one
// that statusOf maps below 500), and false for any other, which fail
// answers with the generic page.
func clientStatus(err error) (int, bool) {
	status, _ := problemStatus(err)
	return status, status < 500
}

// errorMessage is err's message for r's reader: translated when the
// catalogues know it.
func (u *ui) errorMessage(r *http.Request, err error) string {
	return u.known(r, custodian.ErrorMessage(err))
}

// errorFields are err's field errors for r's reader: each message
// translated when the catalogues know it or the format it was made from.
func (u *ui) errorFields(r *http.Request, err error) []custodian.FieldError {
	fes := custodian.ErrorFields(err)
	if len(fes) == 0 {
		return fes
	}
	tag := u.lang(r)
	out := make([]custodian.FieldError, len(fes))
	for i, fe := range fes {
		switch {
		case fe.Format != "" && u.locales.IDs(tag)[fe.Format]:
			fe.Message = u.printers[tag].Sprintf(fe.Format, fe.Args...)
		default:
			fe.Message = u.known(r, fe.Message)
		}
		out[i] = fe
	}
	return out
}

// fieldErrors maps field names to their first message, for r's reader.
func (u *ui) fieldErrors(r *http.Request, err error) map[string]string {
	out := map[string]string{}
	for _, fe := range u.errorFields(r, err) {
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
	u.errorPage(w, r, http.StatusForbidden, msg("No access"), msg("Your role does not allow this. Ask an administrator if you need it."))
}

// tooManyPages answers a page request over the page rate limit: 429 with
// Retry-After, as a page.
func (u *ui) tooManyPages(w http.ResponseWriter, r *http.Request, d ratelimit.Decision) {
	secs := strconv.Itoa(ratelimit.RetryAfterSeconds(d.RetryAfter))
	w.Header().Set("Retry-After", secs)
	u.errorPage(w, r, http.StatusTooManyRequests, msg("Too many requests"), u.t(r, "Pages are being requested faster than a person reads them. Wait %s seconds and try again.", secs))
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
	"customer-created":    msg("Customer created."),
	"customer-saved":      msg("Customer saved."),
	"signed-out":          msg("You have signed out."),
	"password-changed":    msg("Your password has been changed."),
	"name-changed":        msg("Your name has been changed."),
	"preferences-saved":   msg("Your language and time zone have been saved."),
	"session-ended":       msg("That session has been signed out."),
	"sessions-ended":      msg("Your other sessions have been signed out."),
	"totp-disabled":       msg("Two-factor authentication is off."),
	"token-revoked":       msg("The access token has been revoked."),
	"passkey-added":       msg("Passkey added."),
	"passkey-renamed":     msg("Passkey renamed."),
	"passkey-removed":     msg("Passkey removed."),
	"user-passkeys-reset": msg("Passkeys removed; the user's sessions have ended."),
	"user-role":           msg("Role changed; the user's sessions have ended."),
	"user-activated":      msg("User activated."),
	"user-deactivated":    msg("User deactivated; their sessions and access tokens have ended."),
	"user-unlocked":       msg("User unlocked."),
	"invite-revoked":      msg("Invitation revoked; its link no longer works."),
	"user-totp-reset":     msg("Two-factor authentication reset; the user's sessions have ended."),
	"search-expired":      msg("That search has expired; search again."),
	"signed-in-already":   msg("You are already signed in."),

	"consent-recorded":        msg("Consent change recorded."),
	"activity-logged":         msg("Activity logged."),
	"task-added":              msg("Task added."),
	"task-updated":            msg("Task updated."),
	"hold-set":                msg("Legal hold set: erasure, deletion and retention are suspended."),
	"hold-lifted":             msg("Legal hold lifted."),
	"customer-erased":         msg("The customer's personal data has been erased."),
	"customer-deleted":        msg("Customer deleted."),
	"customer-erased-already": msg("This customer had already been erased; nothing changed."),
	"alert-resolved":          msg("Alert resolved."),
	"webhook-saved":           msg("Webhook saved."),
	"webhook-deleted":         msg("Webhook removed, with its deliveries."),
	"email-link-sent":         msg("A link to confirm your new address has been sent to it. It works once, for 30 minutes; your address changes only when it is opened."),
	"view-saved":              msg("View saved."),
	"view-renamed":            msg("View renamed."),
	"view-deleted":            msg("View deleted."),
	"view-not-found":          msg("That view does not exist, or is not yours; showing all customers."),
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
		u.errorPage(w, r, http.StatusBadRequest, msg("The form could not be read"), msg("Go back and try again."))
		return false
	}
	p := principal(r)
	if p == nil || !u.keys.check("session", p.SessionHash, r.PostForm.Get(csrfField)) {
		u.logger.WarnContext(r.Context(), "form refused: bad CSRF token", "request_id", requestID(r.Context()), "path", r.URL.EscapedPath())
		u.errorPage(w, r, http.StatusForbidden, msg("This form has expired"), msg("The form was too old or did not come from this site, so nothing was changed. Go back, reload the page and try again."))
		return false
	}
	return true
}
