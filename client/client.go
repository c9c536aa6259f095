// Package client is the Go client of the Custodian REST API.
//
// Its types are generated from the OpenAPI document the server serves
// (types.gen.go; see generate.go), and every operation of the document has
// a method here:
//
//	c, err := client.New("https://crm.example.com", client.WithToken(os.Getenv("CUSTODIAN_TOKEN")))
//	ada, err := c.CreateCustomer(ctx, client.CustomerInput{Name: "Ada Lovelace", Email: "ada@example.com"})
//	ada, err = c.PatchCustomer(ctx, ada.ID, client.IfMatch(ada), client.CustomerPatch{Notes: client.Set("Prefers email")})
//	for cust, err := range c.Customers(ctx, client.ListCustomersParams{Search: "ada"}) { ... }
//
// Requests carry a personal access token as a bearer token (WithToken), or
// the session cookie of an http.Client with a cookie jar (WithHTTPClient,
// then Login). Requests refused with 429, and with 503 when they are safe
// to repeat, are retried after the server's Retry-After (or a growing
// backoff), a bounded number of times and never past the context (see
// Retry). Every refusal is an *Error carrying the server's problem details
// (RFC 9457), the field errors among them: use errors.As, or ErrorCode.
//
// Updates take an If-Match precondition (IfMatch, IfVersion, AnyVersion):
// a change based on a stale read is refused with 412 and changes nothing,
// and EditCustomer retries such a change on a fresh read. Lists are pages
// (ListCustomers, ListAuditEvents, ListAlerts) or iterators over every
// page (Customers, AuditEvents, Alerts). WithPurpose states in a context
// why the caller reads data, for the audit trail.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// APIVersion is the version of the API document (info.version) the
// client's types were generated from; docs/api.md says what a change of
// each of its parts means.
const APIVersion = "1.3.0"

// Client calls one Custodian server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	http      *http.Client
	token     string
	retry     Retry
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every request with a personal access token
// (cst_pat_...), sent as a bearer token.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sends requests through hc instead of a default
// http.Client: for timeouts, TLS settings, proxies, or a cookie jar to hold
// the session cookie that Login sets.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetry replaces the retry policy (DefaultRetry).
func WithRetry(r Retry) Option { return func(c *Client) { c.retry = r } }

// WithUserAgent sets the User-Agent of every request; the server writes it
// in its request log.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the server at baseURL (such as
// https://crm.example.com).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http:// or https:// and a host", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: &http.Client{}, retry: DefaultRetry, userAgent: "custodian-go-client/" + APIVersion}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// purposeKey carries the Custodian-Purpose of a context.
type purposeKey struct{}

// WithPurpose returns a context whose requests state purpose (printable
// text, at most 100 characters) in the Custodian-Purpose header: the
// server records it with the audit events of reads, consent changes, legal
// holds, exports and erasures.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	return context.WithValue(ctx, purposeKey{}, purpose)
}

// call is one API request.
type call struct {
	method      string
	path        string // escaped
	query       url.Values
	body        any    // sent as JSON when not nil
	raw         []byte // sent as it is when not nil (with contentType)
	contentType string // of the body; application/json when empty
	ifMatch     Precondition
}

// pathOf joins path segments, escaping each, into a path that ends in a
// slash, as the API's paths do.
func pathOf(segments ...string) string {
	var b strings.Builder
	b.WriteString("/api/")
	for _, s := range segments {
		b.WriteString(url.PathEscape(s))
		b.WriteByte('/')
	}
	return b.String()
}

// do sends cl, retrying as the policy allows, and decodes a 2xx answer's
// body into out (when not nil). Any other answer is an *Error.
func (c *Client) do(ctx context.Context, cl call, out any) error {
	var body []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return fmt.Errorf("client: encode the %s %s body: %w", cl.method, cl.path, err)
		}
		body = b
	}
	if cl.raw != nil {
		body = cl.raw
	}
	resp, err := c.send(ctx, cl, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw, err = io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("client: read the answer to %s %s: %w", cl.method, cl.path, err)
		}
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("client: %s %s answered %d with %q, not JSON", cl.method, cl.path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: decode the answer to %s %s: %w", cl.method, cl.path, err)
	}
	return nil
}

// request builds one attempt of cl.
func (c *Client) request(ctx context.Context, cl call, body []byte) (*http.Request, error) {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + cl.path
	path, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", cl.method, cl.path, err)
	}
	u.Path = path
	u.RawQuery = cl.query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", cl.method, cl.path, err)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		ct := cl.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if cl.ifMatch != "" {
		req.Header.Set("If-Match", string(cl.ifMatch))
	}
	if p, ok := ctx.Value(purposeKey{}).(string); ok && p != "" {
		req.Header.Set("Custodian-Purpose", p)
	}
	return req, nil
}
