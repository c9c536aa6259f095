package client

import (
	"context"
	"net/http"
)

// Webhooks lists the registered webhook endpoints (administrators).
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	r, err := answer[WebhookList](ctx, c, call{method: http.MethodGet, path: pathOf("webhooks")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// CreateWebhook registers an endpoint; its signing secret is in this
// answer only.
func (c *Client) CreateWebhook(ctx context.Context, in WebhookInput) (*NewWebhook, error) {
	return answer[NewWebhook](ctx, c, call{method: http.MethodPost, path: pathOf("webhooks"), body: in})
}

// GetWebhook returns one endpoint, without its secret.
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	return answer[Webhook](ctx, c, call{method: http.MethodGet, path: pathOf("webhooks", id)})
}

// UpdateWebhook changes the settings p sets, if the endpoint is still at
// the version pre names (the zero Precondition: any version).
func (c *Client) UpdateWebhook(ctx context.Context, id string, pre Precondition, p WebhookPatch) (*Webhook, error) {
	return answer[Webhook](ctx, c, call{method: http.MethodPatch, path: pathOf("webhooks", id), body: p, ifMatch: pre})
}

// DeleteWebhook removes an endpoint and its deliveries.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: pathOf("webhooks", id)}, nil)
}

// RotateWebhookSecret replaces an endpoint's signing secret; the new one
// is in this answer only, and the old one keeps signing for a grace
// period.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string) (*NewWebhook, error) {
	return answer[NewWebhook](ctx, c, call{method: http.MethodPost, path: pathOf("webhooks", id, "rotate-secret")})
}

// WebhookDeliveries lists an endpoint's deliveries, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, id string, p ListWebhookDeliveriesParams) ([]WebhookDelivery, error) {
	r, err := answer[WebhookDeliveryList](ctx, c, call{method: http.MethodGet, path: pathOf("webhooks", id, "deliveries"), query: queryOf(p)})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// BulkCustomers acts on many customers at once: by Ids (each with an
// optional IfMatch) or by Filter, in batches; the result counts what was
// changed and lists each customer that was not, with the reason.
func (c *Client) BulkCustomers(ctx context.Context, in BulkInput) (*BulkResult, error) {
	return answer[BulkResult](ctx, c, call{method: http.MethodPost, path: pathOf("customers", "bulk"), body: in})
}
