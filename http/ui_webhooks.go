package http

import (
	"net/http"
	"slices"

	"github.com/custodian-crm/custodian"
)

// webhookRow is one endpoint on the settings page, with its latest
// deliveries.
type webhookRow struct {
	*custodian.Webhook
	Deliveries []custodian.WebhookDelivery
}

// webhooksData is the webhook settings page's content.
type webhooksData struct {
	Hooks  []webhookRow
	Events []eventChoice
	// The registration form's values and errors.
	URL, Description string
	Chosen           []string
	PersonalData     bool
	Errors           map[string]string
	Error            string
	// NewSecret is shown once, after a registration or a rotation, for
	// the endpoint SecretFor.
	NewSecret string
	SecretFor string
}

// uiDeliveries is how many recent deliveries the page shows per endpoint.
const uiDeliveries = 5

func (u *ui) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, d webhooksData) {
	hooks, err := u.webhooks.Webhooks(r.Context())
	if err != nil {
		u.fail(w, r, err)
		return
	}
	for _, h := range hooks {
		ds, err := u.webhooks.WebhookDeliveries(r.Context(), h.ID, uiDeliveries)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Hooks = append(d.Hooks, webhookRow{Webhook: h, Deliveries: ds})
	}
	for _, e := range custodian.WebhookEventTypes() {
		d.Events = append(d.Events, eventChoice{Name: e, Checked: slices.Contains(d.Chosen, e)})
	}
	u.render(w, r, status, "webhooks", uiView{Title: u.t(r, "Webhooks"), Section: "webhooks", Data: d})
}

func (u *ui) handleWebhooks() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.renderWebhooks(w, r, http.StatusOK, webhooksData{})
	})
}

// webhooksError shows the page with err's message, or fails.
func (u *ui) webhooksError(w http.ResponseWriter, r *http.Request, err error, d webhooksData) {
	status, ok := clientStatus(err)
	if !ok {
		u.fail(w, r, err)
		return
	}
	d.Error, d.Errors = u.errorMessage(r, err), u.fieldErrors(r, err)
	u.renderWebhooks(w, r, status, d)
}

// handleCreateWebhookForm registers an endpoint and shows its secret once.
func (u *ui) handleCreateWebhookForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		f := r.PostForm
		in := custodian.WebhookInput{URL: f.Get("url"), Description: f.Get("description"), Events: f["events"], PersonalData: f.Get("personal_data") == "on"}
		hook, secret, err := u.webhooks.CreateWebhook(r.Context(), in)
		if err != nil {
			u.webhooksError(w, r, err, webhooksData{URL: in.URL, Description: in.Description, Chosen: in.Events, PersonalData: in.PersonalData})
			return
		}
		u.renderWebhooks(w, r, http.StatusCreated, webhooksData{NewSecret: secret, SecretFor: hook.URL})
	})
}

// handleRotateWebhookForm replaces an endpoint's secret and shows the new
// one once.
func (u *ui) handleRotateWebhookForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		hook, secret, err := u.webhooks.RotateWebhookSecret(r.Context(), r.PathValue("id"))
		if err != nil {
			u.webhooksError(w, r, err, webhooksData{})
			return
		}
		u.renderWebhooks(w, r, http.StatusOK, webhooksData{NewSecret: secret, SecretFor: hook.URL})
	})
}

// handleUpdateWebhookForm switches an endpoint on or off and allows or
// withdraws personal data.
func (u *ui) handleUpdateWebhookForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		active, personal := r.PostForm.Get("active") == "on", r.PostForm.Get("personal_data") == "on"
		if _, err := u.webhooks.UpdateWebhook(r.Context(), r.PathValue("id"), 0, custodian.WebhookPatch{Active: &active, PersonalData: &personal}); err != nil {
			u.webhooksError(w, r, err, webhooksData{})
			return
		}
		redirectWithFlash(w, r, "/settings/webhooks", "webhook-saved")
	})
}

func (u *ui) handleDeleteWebhookForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		if err := u.webhooks.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
			u.webhooksError(w, r, err, webhooksData{})
			return
		}
		redirectWithFlash(w, r, "/settings/webhooks", "webhook-deleted")
	})
}

// eventChoice is one event's checkbox in the registration form.
type eventChoice struct {
	Name    string
	Checked bool
}
