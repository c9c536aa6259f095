package http

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
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
