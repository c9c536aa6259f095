package http

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/contract"
)

// TestOpenAPIMatchesRoutes keeps the OpenAPI document true: every route is
// documented, and every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range routes(Deps{}, newUI(Deps{})) {
		if !strings.HasPrefix(r.Path, "/api/") && r.Path != "/healthz" && r.Path != "/readyz" {
			continue // a page for people, not part of the API
		}
		served = append(served, r.Method+" "+strings.TrimSuffix(r.Path, "{$}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("OpenAPI and routes differ:\ndocumented %v\nserved     %v", documented, served)
	}
}

// TestOpenAPIDocumentsPersonalFields keeps the customer schemas in step
// with the personal field table: every field is a property of
// CustomerInput, CustomerPatch and Customer, and a part of a unit (the
// address) is a property of the schema the unit's property refers to.
func TestOpenAPIDocumentsPersonalFields(t *testing.T) {
	type schema struct {
		Properties map[string]struct {
			Ref string `json:"$ref"`
		} `json:"properties"`
	}
	var doc struct {
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas
	for _, name := range []string{"CustomerInput", "CustomerPatch", "Customer"} {
		for _, pf := range custodian.PersonalFields() {
			prop, ok := schemas[name].Properties[pf.Unit]
			if !ok {
				t.Errorf("schema %s does not document %s", name, pf.Unit)
				continue
			}
			if pf.Part() == "" || prop.Ref == "" {
				continue // a patch's address is any object
			}
			ref := strings.TrimPrefix(prop.Ref, "#/components/schemas/")
			if _, ok := schemas[ref].Properties[pf.Part()]; !ok {
				t.Errorf("schema %s (%s of %s) does not document %s", ref, pf.Unit, name, pf.Name)
			}
		}
	}
}

// servedContract is the served OpenAPI document, loaded once for checked.
var servedContract = sync.OnceValues(func() (*contract.Contract, error) { return contract.Load(openAPI) })

// checked returns h with every API request and answer it serves checked
// against the served OpenAPI document (internal/contract says how): a test
// fails on an answer the document does not describe, and on a request the
// document forbids that the server accepts. Requests refused by design
// are still sent: their answers must be declared refusals.
func checked(t testing.TB, h http.Handler) http.Handler {
	t.Helper()
	c, err := servedContract()
	if err != nil {
		t.Fatal(err)
	}
	return c.Handler(t, h)
}

// TestOpenAPIDeclaresEveryAnswer keeps the document's answers complete for
// what every route can answer whatever it does, because of the chain every
// request passes (pipeline.go): a refused Host or Custodian-Purpose header
// (400), a bad bearer token (401), a blocked address (403), a panic (500),
// an unreachable database (503, even while authenticating); under /api/,
// the rate limit (429 with Retry-After, and RateLimit on every answer); a
// request body too large or not JSON (413, 415); a path id that names
// nothing (404); If-Match (412, and 428 where it is required). Every error
// answer is a problem.
func TestOpenAPIDeclaresEveryAnswer(t *testing.T) {
	c, err := servedContract()
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range c.Document().Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			want := []int{400, 401, 403, 500, 503}
			api := strings.HasPrefix(path, "/api/")
			if api {
				want = append(want, 429)
			}
			if op.RequestBody != nil {
				want = append(want, 413, 415)
			}
			if strings.Contains(path, "{id}") {
				want = append(want, 404)
			}
			for _, p := range op.Parameters {
				if p.Value.In == "header" && p.Value.Name == "If-Match" {
					want = append(want, 412)
					if p.Value.Required {
						want = append(want, 428)
					}
				}
			}
			for _, status := range want {
				if op.Responses.Status(status) == nil {
					t.Errorf("%s does not declare %d", name, status)
				}
			}
			for code, ref := range op.Responses.Map() {
				r := ref.Value
				if api && r.Headers["RateLimit"] == nil {
					t.Errorf("%s %s does not declare RateLimit", name, code)
				}
				if code[0] == '4' || code[0] == '5' {
					mt := r.Content.Get("application/problem+json")
					if len(r.Content) != 1 || mt == nil || mt.Schema.Ref != "#/components/schemas/Problem" {
						t.Errorf("%s %s is not a problem", name, code)
					}
				}
				if h := r.Headers["Retry-After"]; code == "429" && (h == nil || !h.Value.Required) {
					t.Errorf("%s 429 does not require Retry-After", name)
				}
				if mt := r.Content.Get("application/json"); code[0] == '2' && mt != nil && mt.Schema.Ref == "#/components/schemas/Customer" && r.Headers["ETag"] == nil {
					t.Errorf("%s %s answers a customer without its ETag", name, code)
				}
			}
		}
	}
}

// TestOpenAPINamesEveryProblemCode keeps the document's list of problem
// codes complete: clients branch on them.
func TestOpenAPINamesEveryProblemCode(t *testing.T) {
	c, err := servedContract()
	if err != nil {
		t.Fatal(err)
	}
	desc := c.Document().Components.Schemas["Problem"].Value.Properties["code"].Value.Description
	for code := range statusOf {
		if !regexp.MustCompile(`\b` + code + `\b`).MatchString(desc) {
			t.Errorf("the Problem schema does not name the code %s", code)
		}
	}
}
