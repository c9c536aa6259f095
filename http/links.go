package http

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/custodian-crm/custodian"
)

//go:embed templates/link.html templates/ui/partials.html
var linkTemplates embed.FS

// linkPage renders the pages behind one-time links, with the web
// interface's partials. html/template escapes every value by context;
// there is no inline script or style, so the strict
// Content-Security-Policy holds.
var linkPage = template.Must(template.New("link.html").Funcs(uiFuncs).ParseFS(linkTemplates, "templates/link.html", "templates/ui/partials.html"))

type linkField struct {
	Name, Label, Type, Value, Autocomplete, Message string
}

type linkView struct {
	Title, Intro, Action, Token, Submit, Error, Done string
	Fields                                           []linkField
}

// linkForm describes one one-time-link page: its fields and what a valid
// submission does.
type linkForm struct {
	title, intro, action, submit, done string
	fields                             []linkField
	submitFn                           func(r *http.Request, token string, values map[string]string) error
}

// handleLinkPage serves a one-time link: GET shows the form, POST (a form
// from this site: cross-site posts are refused before this runs) acts and
// either confirms or shows the form again with the entered values (never
// the password) and a message next to each field at fault.
func handleLinkPage(logger *slog.Logger, f linkForm) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		view := linkView{Title: f.title, Intro: f.intro, Action: f.action, Submit: f.submit, Token: r.URL.Query().Get("token")}
		fields := append([]linkField(nil), f.fields...)
		status := http.StatusOK
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				view.Error = "The form could not be read."
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
					view.Done = f.done
				} else {
					if status, _ = problemStatus(err); status >= 500 {
						logger.ErrorContext(r.Context(), "one-time link failed", "request_id", requestID(r.Context()), "err", err)
						status = http.StatusInternalServerError
					}
					view.Error = custodian.ErrorMessage(err)
					for _, fe := range custodian.ErrorFields(err) {
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
		if err := linkPage.Execute(w, view); err != nil {
			logger.ErrorContext(r.Context(), "render", "err", err)
		}
	})
}

var (
	fieldEmail    = linkField{Name: "email", Label: "Email address", Type: "email", Autocomplete: "username"}
	fieldName     = linkField{Name: "name", Label: "Your name", Type: "text", Autocomplete: "name"}
	fieldPassword = linkField{Name: "password", Label: "Password (at least 15 characters; a few unrelated words work well)", Type: "password", Autocomplete: "new-password"}
)

func setupPage(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return handleLinkPage(logger, linkForm{
		title: "Create the first administrator", action: "/setup", submit: "Create administrator",
		intro:  "This link works once and for an hour after the server printed it.",
		done:   "The administrator account is ready. Sign in with it.",
		fields: []linkField{fieldEmail, fieldName, fieldPassword},
		submitFn: func(r *http.Request, token string, v map[string]string) error {
			_, err := acc.CompleteSetup(r.Context(), token, v["email"], v["name"], v["password"])
			return err
		},
	})
}

func registerPage(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return handleLinkPage(logger, linkForm{
		title: "Accept your invitation", action: "/register", submit: "Create account",
		intro:  "Choose your name and a password to join.",
		done:   "Your account is ready. Sign in with it.",
		fields: []linkField{fieldName, fieldPassword},
		submitFn: func(r *http.Request, token string, v map[string]string) error {
			_, err := acc.Register(r.Context(), token, v["name"], v["password"])
			return err
		},
	})
}

func resetPage(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return handleLinkPage(logger, linkForm{
		title: "Choose a new password", action: "/reset", submit: "Set password",
		intro:  "Two-factor authentication, if you use it, stays as it is.",
		done:   "Your password is set; every session has ended. Sign in again.",
		fields: []linkField{fieldPassword},
		submitFn: func(r *http.Request, token string, v map[string]string) error {
			return acc.CompleteReset(r.Context(), token, v["password"])
		},
	})
}

// emailConfirmPage confirms a new sign-in address with the link mailed to
// it. Opening the link shows a button; only the post changes the address,
// so a mail scanner that fetches the link changes nothing.
func emailConfirmPage(logger *slog.Logger, acc custodian.AccountService) http.Handler {
	return handleLinkPage(logger, linkForm{
		title: "Confirm your new sign-in address", action: "/account/email", submit: "Confirm address",
		intro: "Confirming makes this address the one you sign in with and where your account's mail goes. Your other sessions end.",
		done:  "Your sign-in address is changed; your other sessions have ended.",
		submitFn: func(r *http.Request, token string, _ map[string]string) error {
			_, err := acc.ConfirmEmailChange(r.Context(), principal(r), token)
			return err
		},
	})
}
