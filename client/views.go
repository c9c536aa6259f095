package client

import (
	"context"
	"net/http"
)

// Views lists the caller's saved views of the customer list and the
// shared ones, shared first.
func (c *Client) Views(ctx context.Context) ([]View, error) {
	r, err := answer[ViewList](ctx, c, call{method: http.MethodGet, path: pathOf("views")})
	if err != nil {
		return nil, err
	}
	return r.Items, nil
}

// CreateView saves a view: private to the caller, or shared when
// in.Shared (managers and administrators).
func (c *Client) CreateView(ctx context.Context, in ViewInput) (*View, error) {
	return answer[View](ctx, c, call{method: http.MethodPost, path: pathOf("views"), body: in})
}

// GetView returns one view the caller may see.
func (c *Client) GetView(ctx context.Context, id string) (*View, error) {
	return answer[View](ctx, c, call{method: http.MethodGet, path: pathOf("views", id)})
}

// UpdateView renames a view or replaces its state, if it is still at the
// version pre names (the zero Precondition: any version).
func (c *Client) UpdateView(ctx context.Context, id string, pre Precondition, p ViewPatch) (*View, error) {
	return answer[View](ctx, c, call{method: http.MethodPatch, path: pathOf("views", id), body: p, ifMatch: pre})
}

// DeleteView deletes a view.
func (c *Client) DeleteView(ctx context.Context, id string) error {
	return c.do(ctx, call{method: http.MethodDelete, path: pathOf("views", id)}, nil)
}
