package client

import (
	"context"
	"iter"
	"net/http"

	"github.com/oapi-codegen/nullable"
)

// Healthz asks whether the server process is up.
func (c *Client) Healthz(ctx context.Context) (*Health, error) {
	return answer[Health](ctx, c, call{method: http.MethodGet, path: "/healthz"})
}

// Readyz asks whether the server can serve: its database answers. A 503
// is retried like any other safe request (see Retry).
func (c *Client) Readyz(ctx context.Context) (*Health, error) {
	return answer[Health](ctx, c, call{method: http.MethodGet, path: "/readyz"})
}

// OpenAPI returns the OpenAPI document the server serves, as it is.
func (c *Client) OpenAPI(ctx context.Context) ([]byte, error) {
	var doc []byte
	if err := c.do(ctx, call{method: http.MethodGet, path: "/api/openapi.json"}, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// ListAuditEvents returns one page of the audit trail, newest first
// (administrators and auditors).
func (c *Client) ListAuditEvents(ctx context.Context, p ListAuditEventsParams) (*AuditPage, error) {
	return answer[AuditPage](ctx, c, call{method: http.MethodGet, path: pathOf("audit"), query: queryOf(p)})
}

// AuditEvents iterates over every audit event p selects, newest first,
// page after page.
func (c *Client) AuditEvents(ctx context.Context, p ListAuditEventsParams) iter.Seq2[AuditEvent, error] {
	return pages(p.Cursor, func(cursor string) ([]AuditEvent, nullable.Nullable[string], error) {
		p.Cursor = cursor
		page, err := c.ListAuditEvents(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		return page.Items, page.NextCursor, nil
	})
}

// ListAlerts returns one page of security alerts, most recently seen first
// (administrators and auditors).
func (c *Client) ListAlerts(ctx context.Context, p ListAlertsParams) (*AlertPage, error) {
	return answer[AlertPage](ctx, c, call{method: http.MethodGet, path: pathOf("alerts"), query: queryOf(p)})
}

// Alerts iterates over every alert p selects, page after page.
func (c *Client) Alerts(ctx context.Context, p ListAlertsParams) iter.Seq2[Alert, error] {
	return pages(p.Cursor, func(cursor string) ([]Alert, nullable.Nullable[string], error) {
		p.Cursor = cursor
		page, err := c.ListAlerts(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		return page.Items, page.NextCursor, nil
	})
}

// ResolveAlert marks an alert resolved (administrators).
func (c *Client) ResolveAlert(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodPost, path: pathOf("alerts", id, "resolve")}, nil)
}
