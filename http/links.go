package http

import (
	"embed"
	"html/template"
	"net/http"

	"github.com/custodian-crm/custodian"
)

//go:embed templates/link.html templates/ui/partials.html
var linkTemplates embed.FS

// mustParseLinkPage parses the page behind one-time links, with the web
// interface's partials and the English functions (each language's copy
// replaces them). html/template escapes every value by context; there is
// no inline script or style, so the strict Content-Security-Policy holds.
func mustParseLinkPage() *template.Template {
	return template.Must(template.New("link.html").Funcs(uiFuncs).ParseFS(linkTemplates, "templates/link.html", "templates/ui/partials.html"))
}

type linkField struct {
	Name, Label, Type, Value, Autocomplete, Message string
}

type linkView struct {
	Lang                                             string
	Title, Intro, Action, Token, Submit, Error, Done string
	Fields                                           []linkField
}

// linkForm describes one one-time-link page: its fields and what a valid
// submission does. Its texts are message ids, shown in the reader's
// language (the browser's: nobody is signed in yet, or the signed-in
// user's own setting).
type linkForm struct {
	title, intro, action, submit, done string
	fields                             []linkField
	submitFn                           func(r *http.Request, token string, values map[string]string) error
}

// handleLinkPage serves a one-time link: GET shows the form, POST (a form
// from this site: cross-site posts are refused before this runs) acts and
// either confirms or shows the form again with the entered values (never
// the password) and a message next to each field at fault.
func handleLinkPage(u *ui, f linkForm) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag := u.lang(r)
		tr := u.printers[tag].Sprintf
		view := linkView{Lang: tag.String(), Title: tr(f.title), Intro: tr(f.intro), Action: f.action, Submit: tr(f.submit), Token: r.URL.Query().Get("token")}
		fields := append([]linkField(nil), f.fields...)
		for i := range fields {
			fields[i].Label = tr(fields[i].Label)
		}
		status := http.StatusOK
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				view.Error = tr(msg("The form could not be read."))
				status = http.StatusBadRequest
			} else {
				view.Token = r.PostForm.Get("token")
				values := map[string]string{}
				for i := range fields {
					values[fields[i].Name] = r.PostForm.Get(fields[i].Name)
					if fields[i].Type != "password" {
						fields[i].Value = values[fields[i].Name]
					}
				}
				err := f.submitFn(r, view.Token, values)
				if err == nil {
					view.Done = tr(f.done)
				} else {
					if status, _ = problemStatus(err); status >= 500 {
						u.logger.ErrorContext(r.Context(), "one-time link failed", "request_id", requestID(r.Context()), "err", err)
						status = http.StatusInternalServerError
					}
					view.Error = u.errorMessage(r, err)
					for _, fe := range u.errorFields(r, err) {
						for i := range fields {
							if fields[i].Name == fe.Field {
								fields[i].Message = fe.Message
							}
						}
					}
				}
			}
		}
		view.Fields = fields
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
		w.WriteHeader(status)
		if err := u.linkPages[tag].Execute(w, view); err != nil {
			u.logger.ErrorContext(r.Context(), "render one-time link page", "request_id", requestID(r.Context()), "err", err)
		}
	})
}

// linkErrors are the accounts service's refusals of a one-time link, by
// their English text: u.known shows them in the reader's language, so the
// catalogues must carry them.
var linkErrors = []string{
	msg("This link is invalid, expired or already used."),
}

var (
	fieldEmail    = linkField{Name: "email", Label: msg("Email address"), Type: "email", Autocomplete: "username"}
	fieldName     = linkField{Name: "name", Label: msg("Your name"), Type: "text", Autocomplete: "name"}
	fieldPassword = linkField{Name: "password", Label: msg("Password (at least 15 characters; a few unrelated words work well)"), Type: "password", Autocomplete: "new-password"}
)

func setupPage(u *ui, acc custodian.AccountService) http.Handler {
	return handleLinkPage(u, linkForm{
		title: msg("Create the first administrator"), action: "/setup", submit: msg("Create administrator"),
		intro:  msg("This link works once and for an hour after the server printed it."),
		done:   msg("The administrator account is ready. Sign in with it."),
		fields: []linkField{fieldEmail, fieldName, fieldPassword},
		submitFn: func(r *http.Request, token string, v map[string]string) error {
			_, err := acc.CompleteSetup(r.Context(), token, v["email"], v["name"], v["password"])
			return err
		},
	})
}

func registerPage(u *ui, acc custodian.AccountService) http.Handler {
	return handleLinkPage(u, linkForm{
		title: msg("Accept your invitation"), action: "/register", submit: msg("Create account"),
		intro:  msg("Choose your name and a password to join."),
		done:   msg("Your account is ready. Sign in with it."),
		fields: []linkField{fieldName, fieldPassword},
		submitFn: func(r *http.Request, token string, v map[string]string) error {
			_, err := acc.Register(r.Context(), token, v["name"], v["password"])
			return err
		},
	})
}

func resetPage(u *ui, acc custodian.AccountService) http.Handler {
	return handleLinkPage(u, linkForm{
		title: msg("Choose a new password"), action: "/reset", submit: msg("Set password"),
		intro:  msg("Two-factor authentication, if you use it, stays as it is."),
		done:   msg("Your password is set; every session has ended. Sign in again."),
		fields: []linkField{fieldPassword},
		submitFn: func(r *http.Request, token string, v map[string]string) error {
			return acc.CompleteReset(r.Context(), token, v["password"])
		},
	})
}

// emailConfirmPage confirms a new sign-in address with the link mailed to
// it. Opening the link shows a button; only the post changes the address,
// so a mail scanner that fetches the link changes nothing.
func emailConfirmPage(u *ui, acc custodian.AccountService) http.Handler {
	return handleLinkPage(u, linkForm{
		title: msg("Confirm your new sign-in address"), action: "/account/email", submit: msg("Confirm address"),
		intro: msg("Confirming makes this address the one you sign in with and where your account's mail goes. Your other sessions end."),
		done:  msg("Your sign-in address is changed; your other sessions have ended."),
		submitFn: func(r *http.Request, token string, _ map[string]string) error {
			_, err := acc.ConfirmEmailChange(r.Context(), principal(r), token)
			return err
		},
	})
}
