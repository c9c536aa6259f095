package client

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"strconv"

	"github.com/oapi-codegen/nullable"
)

// Precondition is the If-Match of an update: the ETag of the version the
// change is based on, or "*" for whatever version is there. The server
// refuses a change whose precondition names a version that is no longer
// current (412), so that nobody overwrites a change they have not seen.
type Precondition string

// AnyVersion changes the customer whatever its version.
const AnyVersion Precondition = "*"

// IfVersion is the precondition that the customer is still at version v.
func IfVersion(v int64) Precondition { return Precondition(`"` + strconv.FormatInt(v, 10) + `"`) }

// IfMatch is the precondition that c is still the customer's current
// version (its ETag).
func IfMatch(c *Customer) Precondition { return IfVersion(c.Version) }

// Set is a member of a patch (CustomerPatch, AddressPatch) that sets a
// field to v.
func Set[T any](v T) nullable.Nullable[T] { return nullable.NewNullableWithValue(v) }

// Clear is a member of a patch that clears a field (JSON null).
func Clear[T any]() nullable.Nullable[T] { return nullable.NewNullNullable[T]() }

// ListCustomers returns one page of customers: p filters, sorts and pages
// (p.Cursor is the NextCursor of the page before).
func (c *Client) ListCustomers(ctx context.Context, p ListCustomersParams) (*CustomerPage, error) {
	var page CustomerPage
	err := c.do(ctx, call{method: http.MethodGet, path: pathOf("customers"), query: queryOf(p)}, &page)
	if err != nil {
		return nil, err
	}
	return &page, nil
}

// Customers iterates over every customer p selects, from p.Cursor on (the
// first page when empty), fetching page after page as the loop goes on.
// An error ends the iteration with it.
func (c *Client) Customers(ctx context.Context, p ListCustomersParams) iter.Seq2[Customer, error] {
	return pages(p.Cursor, func(cursor string) ([]Customer, nullable.Nullable[string], error) {
		p.Cursor = cursor
		page, err := c.ListCustomers(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		return page.Items, page.NextCursor, nil
	})
}

// pages iterates over the items of a paged listing, starting at cursor;
// next fetches one page.
func pages[T any](cursor string, next func(cursor string) ([]T, nullable.Nullable[string], error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			items, nextCursor, err := next(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			cursor = nextCursor.GetOrEmpty()
			if cursor == "" {
				return
			}
		}
	}
}

// CreateCustomer creates a customer; the server normalizes the fields
// (email case, E.164 phone numbers, country codes) and answers with it.
func (c *Client) CreateCustomer(ctx context.Context, in CustomerInput) (*Customer, error) {
	return answer[Customer](ctx, c, call{method: http.MethodPost, path: pathOf("customers"), body: in})
}

// GetCustomer returns a customer. The read is recorded in the audit trail,
// with the purpose of ctx (WithPurpose). An erased customer is an *Error
// with CodeGone and the tombstone.
func (c *Client) GetCustomer(ctx context.Context, id string) (*Customer, error) {
	return answer[Customer](ctx, c, call{method: http.MethodGet, path: pathOf("customers", id)})
}

// ReplaceCustomer replaces every editable field of a customer with in (a
// field left empty is cleared), if the customer is still at the version
// pre names.
func (c *Client) ReplaceCustomer(ctx context.Context, id string, pre Precondition, in CustomerInput) (*Customer, error) {
	cl := call{method: http.MethodPut, path: pathOf("customers", id), body: in, ifMatch: pre}
	return answer[Customer](ctx, c, cl)
}

// PatchCustomer changes the fields p names (a JSON merge patch: Set sets a
// field, Clear clears it, what p leaves out stays), if the customer is
// still at the version pre names.
func (c *Client) PatchCustomer(ctx context.Context, id string, pre Precondition, p CustomerPatch) (*Customer, error) {
	cl := call{method: http.MethodPatch, path: pathOf("customers", id), body: p, contentType: "application/merge-patch+json", ifMatch: pre}
	return answer[Customer](ctx, c, cl)
}

// DeleteCustomer deletes a customer (no tombstone: EraseCustomer is the
// data-protection erasure). With a precondition, only if the customer is
// still at that version; the zero Precondition deletes whatever version.
func (c *Client) DeleteCustomer(ctx context.Context, id string, pre Precondition) error {
	return c.do(ctx, call{method: http.MethodDelete, path: pathOf("customers", id), ifMatch: pre}, nil)
}

// editTries bounds the reads EditCustomer makes.
const editTries = 3

// EditCustomer changes a customer with optimistic concurrency: it reads
// the customer, asks change for a patch of what it read, and sends the
// patch with the read version as If-Match. When someone else changed the
// customer in between (412), it reads again and asks again, three times at
// most. An error from change ends the edit with it, unchanged.
func (c *Client) EditCustomer(ctx context.Context, id string, change func(*Customer) (CustomerPatch, error)) (*Customer, error) {
	var err error
	for range editTries {
		var cur *Customer
		if cur, err = c.GetCustomer(ctx, id); err != nil {
			return nil, err
		}
		p, cerr := change(cur)
		if cerr != nil {
			return nil, cerr
		}
		var out *Customer
		out, err = c.PatchCustomer(ctx, id, IfMatch(cur), p)
		if ErrorCode(err) != CodePreconditionFailed {
			return out, err
		}
	}
	return nil, fmt.Errorf("client: the customer kept changing while being edited: %w", err)
}

// answer sends cl and returns its answer, decoded.
func answer[T any](ctx context.Context, c *Client, cl call) (*T, error) {
	v := new(T)
	if err := c.do(ctx, cl, v); err != nil {
		return nil, err
	}
	return v, nil
}
