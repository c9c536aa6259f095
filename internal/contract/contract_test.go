package contract

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// doc is a small API: a thing to get (with an ETag) and create.
const doc = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1.0.0"},
  "paths": {
    "/api/things/{id}/": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^t_[a-z]+$"}}],
      "get": {
        "operationId": "getThing",
        "responses": {
          "200": {"description": "A thing.", "headers": {"ETag": {"schema": {"type": "string"}}},
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
          "404": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/api/things/": {
      "post": {
        "operationId": "createThing",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
        "responses": {
          "204": {"description": "Created."},
          "400": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/healthz": {"get": {"operationId": "healthz", "security": [], "responses": {"200": {"description": "Up."}}}}
  },
  "components": {
    "responses": {
      "Problem": {"description": "An error.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    },
    "schemas": {
      "Thing": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}, "note": {"type": ["string", "null"]}, "kind": {"type": "string", "const": "thing/v1"}}},
      "Problem": {"type": "object", "required": ["status", "code"], "properties": {"status": {"type": "integer"}, "code": {"type": "string"}}}
    },
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
  },
  "security": [{"bearer": []}]
}`

func load(t *testing.T) *Contract {
	t.Helper()
	c, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exchange is one request and the answer a server gave it.
type exchange struct {
	method, target, body string
	bearer               bool
	status               int
	header               map[string]string
	answer               string
}

func (e exchange) check(c *Contract) error {
	req := httptest.NewRequest(e.method, e.target, strings.NewReader(e.body))
	if e.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.bearer {
		req.Header.Set("Authorization", "Bearer x")
	}
	h := http.Header{}
	for k, v := range e.header {
		h.Set(k, v)
	}
	if h.Get("Content-Type") == "" && strings.HasPrefix(e.answer, "{") {
		h.Set("Content-Type", "application/json")
	}
	return c.Check(req, []byte(e.body), e.status, h, []byte(e.answer))
}

const problem = `{"status":404,"code":"not_found"}`

func TestCheckAcceptsWhatTheDocumentDescribes(t *testing.T) {
	c := load(t)
	for _, e := range []exchange{
		{method: "GET", target: "/api/things/t_a/", bearer: true, status: 200, header: map[string]string{"ETag": `"1"`}, answer: `{"name":"a","note":null,"kind":"thing/v1"}`},
		{method: "POST", target: "/api/things/", body: `{"name":"a"}`, bearer: true, status: 204},
		// Refused by design: a request the document forbids, answered
		// with a declared refusal.
		{method: "POST", target: "/api/things/", body: `{"name":""}`, bearer: true, status: 400, header: map[string]string{"Content-Type": "application/problem+json"}, answer: `{"status":400,"code":"invalid"}`},
		{method: "GET", target: "/api/things/bad/", bearer: true, status: 404, header: map[string]string{"Content-Type": "application/problem+json"}, answer: problem},
		// Routing answers, edge refusals and pages.
		{method: "GET", target: "/api/nothing/", status: 404, header: map[string]string{"Content-Type": "application/problem+json"}, answer: problem},
		{method: "DELETE", target: "/api/things/", status: 405, header: map[string]string{"Content-Type": "application/problem+json", "Allow": "POST"}, answer: `{"status":405,"code":"method_not_allowed"}`},
		{method: "GET", target: "/api/.env", status: 404},
		{method: "TRACE", target: "/healthz", status: 405},
		{method: "GET", target: "/api/things/?q=" + strings.Repeat("a", 9000), status: 414, answer: "URI Too Long"},
		{method: "GET", target: "/healthz", status: 200},
	} {
		if err := e.check(c); err != nil {
			t.Errorf("%s %.40s %d: %v", e.method, e.target, e.status, err)
		}
	}
}

func TestCheckFindsViolations(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		e    exchange
		want string
	}{
		{exchange{method: "GET", target: "/api/things/t_a/", bearer: true, status: 409, header: map[string]string{"Content-Type": "application/problem+json"}, answer: problem}, "does not declare status 409"},
		{exchange{method: "GET", target: "/api/things/t_a/", bearer: true, status: 200, answer: `{"note":"no name"}`}, `property "name" is missing`},
		{exchange{method: "GET", target: "/api/things/t_a/", bearer: true, status: 200, answer: `{"name":"a","colour":"red"}`}, `"colour"`},
		{exchange{method: "GET", target: "/api/things/t_a/", bearer: true, status: 200, answer: `{"name":"a","kind":"thing/v2"}`}, `"/kind": value is not one of`},
		{exchange{method: "GET", target: "/api/things/t_a/", bearer: true, status: 200, answer: `{"name":"a","note":5}`}, `"/note": value must be one of string, null`},
		{exchange{method: "GET", target: "/api/things/t_a/", bearer: true, status: 200, answer: `{"name":"a"}`, header: map[string]string{"Retry-After": "1"}}, "sends Retry-After, which it does not declare"},
		{exchange{method: "GET", target: "/api/things/t_a/", bearer: true, status: 200}, "declares a body but sent none"},
		{exchange{method: "GET", target: "/api/things/t_a/", bearer: true, status: 404, answer: problem}, "Content-Type"},
		{exchange{method: "POST", target: "/api/things/", body: `{"name":"a"}`, bearer: true, status: 204, answer: `{"name":"a"}`}, "declares no body"},
		{exchange{method: "POST", target: "/api/things/", body: `{"name":""}`, bearer: true, status: 204}, "accepted a request the document forbids"},
		{exchange{method: "POST", target: "/api/things/", body: `{"name":"a"}`, status: 204}, "accepted a request the document forbids"},
		{exchange{method: "GET", target: "/api/nothing/", status: 200, answer: `{}`}, "must be 404"},
		{exchange{method: "DELETE", target: "/api/things/", status: 405, header: map[string]string{"Content-Type": "application/problem+json"}, answer: `{"status":405,"code":"x"}`}, "without Allow"},
		{exchange{method: "GET", target: "/api/nothing/", status: 404, header: map[string]string{"Content-Type": "application/problem+json"}, answer: `{"status":"404"}`}, "does not match Problem"},
		{exchange{method: "GET", target: "/api/.env", status: 200}, "edge refuses"},
	} {
		err := tc.e.check(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s %d %s: error %v, want one saying %q", tc.e.method, tc.e.target, tc.e.status, tc.e.answer, err, tc.want)
		}
	}
}

// recordingTB records what a test would be failed with.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestHandlerChecksAndPassesTheAnswerOn(t *testing.T) {
	c := load(t)
	server := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"7"`)
		if r.URL.Path == "/api/things/t_bad/" {
			w.Header().Set("Location", "/elsewhere")
		}
		fmt.Fprint(w, `{"name":"a"}`)
	})
	rec := &recordingTB{TB: t}
	h := c.Handler(rec, server)
	for _, target := range []string{"/api/things/t_ok/", "/api/things/t_bad/", "/page"} {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "Bearer x")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || w.Body.String() != `{"name":"a"}` || w.Header().Get("ETag") != `"7"` {
			t.Fatalf("%s: the answer was changed: %d %v %s", target, w.Code, w.Header(), w.Body)
		}
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "GET /api/things/t_bad/ answered 200") || !strings.Contains(rec.errs[0], "Location") {
		t.Fatalf("reported %q, want one violation: the undeclared Location", rec.errs)
	}
}
