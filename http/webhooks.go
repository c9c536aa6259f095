package http

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/custodian-crm/custodian"
)

// webhookWithSecret is a webhook with its signing secret: the answer of
// the two calls that make one, the only time it is shown.
type webhookWithSecret struct {
	*custodian.Webhook
	Secret string `json:"secret"`
}

func webhookPath(id string) string { return "/api/webhooks/" + url.PathEscape(id) + "/" }

func handleListWebhooks(logger *slog.Logger, svc custodian.WebhookService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		hooks, err := svc.Webhooks(r.Context())
		if hooks == nil {
			hooks = []*custodian.Webhook{}
		}
		return http.StatusOK, map[string]any{"items": hooks}, err
	})
}

func handleCreateWebhook(logger *slog.Logger, svc custodian.WebhookService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in custodian.WebhookInput
		if err := decodeBody(w, r, &in); err != nil {
			writeError(w, r, logger, err)
			return
		}
		hook, secret, err := svc.CreateWebhook(r.Context(), in)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeVersioned(w, http.StatusCreated, webhookPath(hook.ID), hook.Version, webhookWithSecret{hook, secret})
	})
}

func handleGetWebhook(logger *slog.Logger, svc custodian.WebhookService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hook, err := svc.Webhook(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeVersioned(w, http.StatusOK, "", hook.Version, hook)
	})
}

// handleUpdateWebhook applies a partial update; If-Match is optional.
func handleUpdateWebhook(logger *slog.Logger, svc custodian.WebhookService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p custodian.WebhookPatch
		err := decodeBody(w, r, &p)
		var version int64
		if err == nil {
			version, err = optionalIfMatch(r, "webhook")
		}
		var hook *custodian.Webhook
		if err == nil {
			hook, err = svc.UpdateWebhook(r.Context(), r.PathValue("id"), version, p)
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeVersioned(w, http.StatusOK, "", hook.Version, hook)
	})
}

func handleDeleteWebhook(logger *slog.Logger, svc custodian.WebhookService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		return http.StatusNoContent, nil, svc.DeleteWebhook(r.Context(), r.PathValue("id"))
	})
}

func handleRotateWebhookSecret(logger *slog.Logger, svc custodian.WebhookService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		hook, secret, err := svc.RotateWebhookSecret(r.Context(), r.PathValue("id"))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, webhookWithSecret{hook, secret}, nil
	})
}

// maxDeliveriesListed bounds a page of deliveries.
const maxDeliveriesListed = 500

func handleListDeliveries(logger *slog.Logger, svc custodian.WebhookService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values, fields, err := query(r, "limit")
		limit := 100
		if err == nil && values.Get("limit") != "" {
			n, perr := strconv.Atoi(values.Get("limit"))
			if perr != nil || n < 1 || n > maxDeliveriesListed {
				fields = append(fields, custodian.FieldError{Field: "limit", Message: "Limit must be between 1 and 500."})
			}
			limit = n
		}
		if err == nil && len(fields) > 0 {
			err = errorf(custodian.EINVALID, "The query has invalid parameters.", fields...)
		}
		var ds []custodian.WebhookDelivery
		if err == nil {
			ds, err = svc.WebhookDeliveries(r.Context(), r.PathValue("id"), limit)
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if ds == nil {
			ds = []custodian.WebhookDelivery{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": ds})
	})
}
