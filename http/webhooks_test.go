package http

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestWebhooksAPI: an administrator registers, reads, changes, rotates
// and removes an endpoint; the secret appears only in the answers that
// make it; a blocked target is refused with a field error.
func TestWebhooksAPI(t *testing.T) {
	s := newTestServer(t)
	r := s.do("POST", "/api/webhooks/", `{"url":"https://93.184.216.34/hook","description":"Billing","events":["customer.updated","customer.created","customer.updated"]}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	created := r.json(t)
	id, secret := created["id"].(string), created["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || r.Header.Get("Location") != "/api/webhooks/"+id+"/" || r.Header.Get("ETag") != `"1"` {
		t.Fatalf("create answer %v, headers %v", created, r.Header)
	}
	if created["personal_data"] != false || created["active"] != true || len(created["events"].([]any)) != 2 {
		t.Fatalf("defaults %v", created)
	}
	for _, path := range []string{"/api/webhooks/", "/api/webhooks/" + id + "/"} {
		r := s.do("GET", path, "")
		if r.StatusCode != http.StatusOK || strings.Contains(string(r.body), secret[6:]) || strings.Contains(string(r.body), `"secret"`) {
			t.Fatalf("GET %s: %d %s", path, r.StatusCode, r.body)
		}
	}
	r = s.do("PATCH", "/api/webhooks/"+id+"/", `{"personal_data":true}`, "If-Match", `"1"`)
	if r.StatusCode != http.StatusOK || r.json(t)["personal_data"] != true || r.Header.Get("ETag") != `"2"` {
		t.Fatalf("patch: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("PATCH", "/api/webhooks/"+id+"/", `{"active":false}`, "If-Match", `"1"`), http.StatusPreconditionFailed, custodian.EPRECONDITION)
	wantProblem(t, s.do("PATCH", "/api/webhooks/"+id+"/", `{"url":"https://169.254.169.254/"}`), http.StatusBadRequest, custodian.EINVALID, "url")
	r = s.do("POST", "/api/webhooks/"+id+"/rotate-secret/", "")
	rotated := r.json(t)
	if r.StatusCode != http.StatusOK || rotated["secret"] == secret || rotated["previous_secret_expires_at"] == nil {
		t.Fatalf("rotate: %d %s", r.StatusCode, r.body)
	}
	r = s.do("GET", "/api/webhooks/"+id+"/deliveries/?limit=10", "")
	if r.StatusCode != http.StatusOK || string(r.body) != "{\"items\":[]}\n" {
		t.Fatalf("deliveries: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("GET", "/api/webhooks/"+id+"/deliveries/?limit=0", ""), http.StatusBadRequest, custodian.EINVALID, "limit")
	// The trail names the changes, never the secret.
	evs, err := s.store.AuditEvents(t.Context(), custodian.AuditQuery{Subject: id})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action+" "+strings.Join(ev.Fields, ","))
		if strings.Contains(string(ev.Data), secret[6:]) {
			t.Fatal("the secret is on the trail")
		}
	}
	if got := strings.Join(actions, "; "); got != "webhook.rotate_secret secret; webhook.update personal_data; webhook.create url,description,events,personal_data,active" {
		t.Fatalf("audit %s", got)
	}
	if r := s.do("DELETE", "/api/webhooks/"+id+"/", ""); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("GET", "/api/webhooks/"+id+"/", ""), http.StatusNotFound, custodian.ENOTFOUND)
	// Refused registrations store nothing.
	for _, body := range []string{
		`{"url":"http://127.0.0.1:9/hook","events":["customer.created"]}`,
		`{"url":"https://[::1]/hook","events":["customer.created"]}`,
		`{"url":"https://93.184.216.34/hook","events":[]}`,
		`{"url":"https://93.184.216.34/hook","events":["customer.created"],"secret":"mine"}`,
	} {
		if r := s.do("POST", "/api/webhooks/", body); r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, r.StatusCode, r.body)
		}
	}
	r = s.do("GET", "/api/webhooks/", "")
	var list struct{ Items []any }
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Items) != 0 {
		t.Fatalf("after refusals: %s", r.body)
	}
}

// TestBulkAPI: agents tag and re-status by ids and by filter, deleting
// needs a manager, and a bad request changes nothing.
func TestBulkAPI(t *testing.T) {
	s := newTestServer(t)
	a := s.create(`{"name":"Ada One","status":"lead"}`)
	b := s.create(`{"name":"Ada Two","status":"lead"}`)
	c := s.create(`{"name":"Bob Three","status":"active"}`)
	agent, manager := s.userToken(custodian.RoleAgent), s.userToken(custodian.RoleManager)
	as := func(tok string) { s.bearer = tok }

	as(agent)
	r := s.do("POST", "/api/customers/bulk/", `{"action":"add_tags","tags":["Q3"],"ids":[{"id":"`+a["id"].(string)+`","if_match":"\"1\""},{"id":"`+b["id"].(string)+`","if_match":"\"7\""}]}`)
	res := r.json(t)
	if r.StatusCode != http.StatusOK || res["changed"] != 1.0 || res["failed"] != 1.0 {
		t.Fatalf("add_tags: %d %s", r.StatusCode, r.body)
	}
	if f := res["failures"].([]any)[0].(map[string]any); f["id"] != b["id"] || f["code"] != custodian.EPRECONDITION {
		t.Fatalf("failure %v", f)
	}
	r = s.do("POST", "/api/customers/bulk/", `{"action":"set_status","status":"inactive","filter":{"search":"ada"}}`)
	if res := r.json(t); r.StatusCode != http.StatusOK || res["matched"] != 2.0 || res["changed"] != 2.0 || res["batches"] != 1.0 {
		t.Fatalf("set_status: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("POST", "/api/customers/bulk/", `{"action":"delete","filter":{"status":"inactive"}}`), http.StatusForbidden, custodian.EFORBIDDEN)
	wantProblem(t, s.do("POST", "/api/customers/bulk/", `{"action":"add_tags","tags":[],"filter":{"status":"nope"}}`), http.StatusBadRequest, custodian.EINVALID, "tags", "filter.status")
	wantProblem(t, s.do("POST", "/api/customers/bulk/", `{"action":"add_tags","tags":["x"],"everything":true}`), http.StatusBadRequest, custodian.EINVALID, "everything")

	as(manager)
	r = s.do("POST", "/api/customers/bulk/", `{"action":"delete","filter":{"status":"inactive"},"dry_run":true}`)
	if res := r.json(t); r.StatusCode != http.StatusOK || res["matched"] != 2.0 || res["changed"] != 0.0 {
		t.Fatalf("dry run: %d %s", r.StatusCode, r.body)
	}
	r = s.do("POST", "/api/customers/bulk/", `{"action":"delete","filter":{"status":"inactive"}}`)
	if res := r.json(t); r.StatusCode != http.StatusOK || res["changed"] != 2.0 {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	for id, want := range map[string]int{a["id"].(string): 404, b["id"].(string): 404, c["id"].(string): 200} {
		if r := s.do("GET", "/api/customers/"+id+"/", ""); r.StatusCode != want {
			t.Errorf("%s: %d, want %d", id, r.StatusCode, want)
		}
	}
}
