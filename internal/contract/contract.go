// Package contract holds the API to its OpenAPI document in tests: every
// request a test sends under the document's paths, and every answer the
// server gives, is checked against the document the server serves.
//
// Wrap a server's handler with [Contract.Handler] and each exchange is
// checked as it passes; a violation fails the test with t.Errorf. An answer
// the document does not describe is a violation: a status the operation
// does not declare, a body that does not match its schema (or a body where
// none is declared, or none where one is), a member of a JSON body the
// document does not name, or one of the headers clients act on (ETag,
// Location, Retry-After, RateLimit, WWW-Authenticate, Content-Disposition,
// Deprecation, Sunset) that the response does not declare.
//
// Requests are checked too, but a request the document forbids is not
// itself a violation: tests send bad requests on purpose, to see them
// refused. Such a request must be answered with a 4xx status the
// operation declares, in its declared shape; a request the document
// forbids that the server accepts (2xx or 3xx) is a violation, because the
// document and the server then disagree on what is allowed.
//
// Requests the document has no operation for are held to the server's
// generic answers: a path it does not know answers a 404 problem, a method
// a path does not have a 405 problem with Allow. Requests the edge refuses
// before routing (scanner probes, TRACE and TRACK, request targets over
// edge.DefaultMaxURL bytes) are not part of the API: only their status is
// checked. Web pages (paths outside /api/ that the document does not list)
// are not checked at all.
//
// Response schemas in the document are open, so that new members can be
// added to answers without breaking clients; the checks here close every
// object schema that lists its properties, so the server never sends a
// member the document does not describe (see prepare).
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian/edge"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Headers are the response headers clients act on: a response that sends
// one must declare it.
var Headers = []string{"ETag", "Location", "Retry-After", "RateLimit", "WWW-Authenticate", "Content-Disposition", "Deprecation", "Sunset"}

// Contract is an OpenAPI document loaded for checking exchanges against it.
// It is safe for concurrent use.
type Contract struct {
	doc     *openapi3.T
	router  routers.Router
	paths   map[string]bool // the document's paths without parameters
	problem *openapi3.Schema
}

// JSON Lines bodies (application/x-ndjson, the customer export) are read
// as text: the validator has no decoder of its own for them.
func init() {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
}

// Load parses and validates an OpenAPI document.
func Load(document []byte) (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(document)
	if err != nil {
		return nil, fmt.Errorf("contract: parse the document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("contract: the document is not valid OpenAPI: %w", err)
	}
	problem := doc.Components.Schemas["Problem"]
	if problem == nil || problem.Value == nil {
		return nil, errors.New("contract: the document has no Problem schema")
	}
	prepare(doc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("contract: route the document: %w", err)
	}
	c := &Contract{doc: doc, router: router, paths: map[string]bool{}, problem: problem.Value}
	for path := range doc.Paths.Map() {
		if !strings.Contains(path, "{") {
			c.paths[path] = true
		}
	}
	return c, nil
}

// Document returns the loaded document, prepared for the checks (see
// prepare).
func (c *Contract) Document() *openapi3.T { return c.doc }

// Handler returns next with every exchange it serves under the document's
// paths checked by Check; a violation is reported with t.Errorf, naming
// the request. The answer reaches the caller unchanged, once checked.
func (c *Contract) Handler(t testing.TB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.Covers(r) {
			next.ServeHTTP(w, r)
			return
		}
		var body []byte
		if r.Body != nil {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("contract: %s %s: read the request body: %v", r.Method, target(r), err)
				return
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		sent := r.Clone(context.WithoutCancel(r.Context()))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if err := c.Check(sent, body, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Errorf("contract: %s %s answered %d: %v", r.Method, target(r), rec.Code, err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// Operation returns the operationId of the document's operation r
// matches, or "" when it matches none.
func (c *Contract) Operation(r *http.Request) string {
	route, _, err := c.router.FindRoute(r)
	if err != nil {
		return ""
	}
	return route.Operation.OperationID
}

// Covers reports whether r is an API request: its path is under /api/ or
// one of the document's paths.
func (c *Contract) Covers(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || c.paths[r.URL.Path]
}

// Check checks one exchange against the document: req as it was sent, with
// reqBody its body, answered with status, header and body. It returns
// every violation found, joined.
func (c *Contract) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	if want, refused := edgeRefusal(req); refused {
		if status != want {
			return fmt.Errorf("the edge refuses this request with %d", want)
		}
		return nil
	}
	if req.Method == http.MethodHead {
		return nil // a GET without the body; net/http discards it
	}
	req = req.Clone(req.Context())
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return c.checkUnrouted(err, status, header, body)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:      authenticate,
		MultiError:              true,
		IncludeResponseStatus:   true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	requestErr := openapi3filter.ValidateRequest(req.Context(), in)
	var errs []error
	if requestErr != nil && status < 400 {
		errs = append(errs, fmt.Errorf("the server accepted a request the document forbids: %w", requestErr))
	}
	op := route.Operation
	ref := op.Responses.Status(status)
	if ref == nil {
		ref = op.Responses.Default()
	}
	if ref == nil || ref.Value == nil {
		return errors.Join(append(errs, fmt.Errorf("%s does not declare status %d (body %s)", op.OperationID, status, clip(body)))...)
	}
	declared := ref.Value
	for _, name := range Headers {
		if header.Get(name) != "" && declaredHeader(declared, name) == nil {
			errs = append(errs, fmt.Errorf("%s %d sends %s, which it does not declare", op.OperationID, status, name))
		}
	}
	switch {
	case len(declared.Content) == 0 && len(body) > 0:
		errs = append(errs, fmt.Errorf("%s %d declares no body but sent %s", op.OperationID, status, clip(body)))
	case len(declared.Content) > 0 && len(body) == 0:
		errs = append(errs, fmt.Errorf("%s %d declares a body but sent none", op.OperationID, status))
	}
	if status == http.StatusNotModified {
		return errors.Join(errs...) // the validator skips 304; its headers are checked above
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w (body %s)", op.OperationID, err, clip(body)))
	}
	return errors.Join(errs...)
}

// checkUnrouted checks the answer to a request no operation matches: a
// 404 problem for a path the document does not have, a 405 problem with
// Allow for a method a documented path does not have.
func (c *Contract) checkUnrouted(err error, status int, header http.Header, body []byte) error {
	want := http.StatusNotFound
	if errors.Is(err, routers.ErrMethodNotAllowed) {
		want = http.StatusMethodNotAllowed
	} else if !errors.Is(err, routers.ErrPathNotFound) {
		return fmt.Errorf("route the request: %w", err)
	}
	if status != want {
		return fmt.Errorf("no operation matches (%v), so the answer must be %d", err, want)
	}
	if want == http.StatusMethodNotAllowed && header.Get("Allow") == "" {
		return errors.New("a 405 without Allow")
	}
	return c.checkProblem(header, body)
}

// checkProblem checks a problem answer against the Problem schema.
func (c *Contract) checkProblem(header http.Header, body []byte) error {
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Errorf("Content-Type %q, want application/problem+json", header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("a problem that is not JSON: %w", err)
	}
	if err := c.problem.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("the body does not match Problem: %w", err)
	}
	return nil
}

// declaredHeader returns the header name a response declares, matched
// without regard to case, or nil.
func declaredHeader(r *openapi3.Response, name string) *openapi3.HeaderRef {
	for k, h := range r.Headers {
		if strings.EqualFold(k, name) {
			return h
		}
	}
	return nil
}

// authenticate holds a request to the document's security schemes by the
// credentials it carries: a bearer token, or the session cookie.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case "bearer":
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			return nil
		}
	case "session":
		if c, err := r.Cookie("__Host-custodian_session"); err == nil && c.Value != "" {
			return nil
		}
	}
	return fmt.Errorf("no %s credentials", in.SecuritySchemeName)
}

// edgeRefusal returns the status the edge refuses r with before routing,
// if it does.
func edgeRefusal(r *http.Request) (int, bool) {
	switch {
	case r.Method == "TRACE" || r.Method == "TRACK":
		return http.StatusMethodNotAllowed, true
	case len(target(r)) > edge.DefaultMaxURL:
		return http.StatusRequestURITooLong, true
	case edge.IsProbe(r):
		return http.StatusNotFound, true
	}
	return 0, false
}

// target returns the request target as sent.
func target(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// clip shortens a body for a message.
func clip(b []byte) string {
	const max = 300
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// prepare readies a validated document for the checks:
//
//   - every object schema that lists properties and says nothing about
//     others gets additionalProperties false, so that a member the
//     document does not describe fails validation;
//   - const becomes the equivalent one-value enum, and the document is
//     then validated as OpenAPI 3.0: for a 3.1 document, kin-openapi
//     compiles a JSON Schema 2020-12 validator for every value it checks
//     (milliseconds each, tens under the race detector, for hundreds of
//     exchanges per test run), only to fall back to its built-in
//     validator for schemas with references; the built-in validator
//     knows every other keyword the document uses (type lists with null,
//     oneOf, enum, pattern, bounds), and const once it is an enum.
func prepare(doc *openapi3.T) {
	doc.OpenAPI = "3.0.3"
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil && len(s.AllOf) == 0 {
			s.AdditionalProperties.Has = new(false)
		}
		if s.Const != nil && len(s.Enum) == 0 {
			s.Enum, s.Const = []any{s.Const}, nil
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, list := range [][]*openapi3.SchemaRef{s.OneOf, s.AnyOf} {
			for _, x := range list {
				walk(x)
			}
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					walk(mt.Schema)
				}
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					for _, mt := range r.Value.Content {
						walk(mt.Schema)
					}
				}
			}
			for _, p := range op.Parameters {
				if p.Value != nil {
					walk(p.Value.Schema)
				}
			}
		}
	}
}
