package http

import (
	"net/http"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestViewsAPI: an agent saves, lists, renames, changes and deletes a view
// of their own; bad input is refused with field errors and stores
// nothing; another user neither sees nor changes it; only a role that
// may share views saves a shared one, which everyone sees; the trail
// names each change, never the search.
func TestViewsAPI(t *testing.T) {
	s := newTestServer(t)
	agent, other, manager := s.userToken(custodian.RoleAgent), s.userToken(custodian.RoleViewer), s.userToken(custodian.RoleManager)
	as := func(tok, method, path, body string, headers ...string) response {
		t.Helper()
		return s.do(method, path, body, append([]string{"Authorization", "Bearer " + tok}, headers...)...)
	}
	names := func(tok string) string {
		t.Helper()
		r := as(tok, "GET", "/api/views/", "")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("list: %d %s", r.StatusCode, r.body)
		}
		var out []string
		for _, v := range r.json(t)["items"].([]any) {
			out = append(out, v.(map[string]any)["name"].(string))
		}
		return strings.Join(out, ", ")
	}

	r := as(agent, "POST", "/api/views/", `{"name":"VIP leads","state":{"search":"alice@example.com","status":"lead","tag":"VIP","sort":"name","page_size":100}}`)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	v := r.json(t)
	id := v["id"].(string)
	st := v["state"].(map[string]any)
	if r.Header.Get("Location") != "/api/views/"+id+"/" || r.Header.Get("ETag") != `"1"` || v["shared"] != false ||
		st["search"] != "alice@example.com" || st["tag"] != "vip" || st["sort"] != "name" || st["page_size"] != 100.0 {
		t.Fatalf("create answer %s, headers %v", r.body, r.Header)
	}
	// Bad input: field errors, nothing stored.
	wantProblem(t, as(agent, "POST", "/api/views/", `{"name":"","state":{"status":"gone","sort":"age","page_size":201}}`),
		http.StatusBadRequest, custodian.EINVALID, "name", "state.status", "state.sort", "state.page_size")
	wantProblem(t, as(agent, "POST", "/api/views/", `{"name":"`+strings.Repeat("x", custodian.MaxViewNameLen+1)+`"}`), http.StatusBadRequest, custodian.EINVALID, "name")
	wantProblem(t, as(agent, "POST", "/api/views/", `{"name":"x","owner":"someone"}`), http.StatusBadRequest, custodian.EINVALID, "owner")
	wantProblem(t, as(agent, "POST", "/api/views/", `{"name":"vip LEADS"}`), http.StatusConflict, custodian.ECONFLICT, "name")
	// A plain user may not save a shared view.
	wantProblem(t, as(agent, "POST", "/api/views/", `{"name":"For everyone","shared":true}`), http.StatusForbidden, custodian.EFORBIDDEN)
	if got := names(agent); got != "VIP leads" {
		t.Fatalf("agent sees %q", got)
	}

	// Another user neither sees, reads, changes nor deletes it.
	if got := names(other); got != "" {
		t.Fatalf("another user sees %q", got)
	}
	wantProblem(t, as(other, "GET", "/api/views/"+id+"/", ""), http.StatusNotFound, custodian.ENOTFOUND)
	wantProblem(t, as(other, "PATCH", "/api/views/"+id+"/", `{"name":"Mine"}`), http.StatusNotFound, custodian.ENOTFOUND)
	wantProblem(t, as(other, "DELETE", "/api/views/"+id+"/", ""), http.StatusNotFound, custodian.ENOTFOUND)
	wantProblem(t, as(manager, "DELETE", "/api/views/"+id+"/", ""), http.StatusNotFound, custodian.ENOTFOUND)

	// A manager's shared view is seen by everyone, changed by nobody else.
	r = as(manager, "POST", "/api/views/", `{"name":"Team: active","shared":true,"state":{"status":"active"}}`)
	if r.StatusCode != http.StatusCreated || r.json(t)["shared"] != true || r.json(t)["owner"] != "" {
		t.Fatalf("shared create: %d %s", r.StatusCode, r.body)
	}
	shared := r.json(t)["id"].(string)
	if got := names(agent); got != "Team: active, VIP leads" {
		t.Fatalf("agent sees %q", got)
	}
	if got := names(other); got != "Team: active" {
		t.Fatalf("another user sees %q", got)
	}
	wantProblem(t, as(agent, "DELETE", "/api/views/"+shared+"/", ""), http.StatusForbidden, custodian.EFORBIDDEN)
	wantProblem(t, as(agent, "PATCH", "/api/views/"+shared+"/", `{"name":"Hijacked"}`), http.StatusForbidden, custodian.EFORBIDDEN)

	// The owner renames (If-Match honoured) and replaces the state.
	r = as(agent, "PATCH", "/api/views/"+id+"/", `{"name":"Leads, VIP"}`, "If-Match", `"1"`)
	if r.StatusCode != http.StatusOK || r.json(t)["name"] != "Leads, VIP" || r.Header.Get("ETag") != `"2"` {
		t.Fatalf("rename: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, as(agent, "PATCH", "/api/views/"+id+"/", `{"name":"Stale"}`, "If-Match", `"1"`), http.StatusPreconditionFailed, custodian.EPRECONDITION)
	wantProblem(t, as(agent, "PATCH", "/api/views/"+id+"/", `{"state":{"tag":"<b>"}}`), http.StatusBadRequest, custodian.EINVALID, "state.tag")
	r = as(agent, "PATCH", "/api/views/"+id+"/", `{"state":{"search":"ada"}}`)
	if r.StatusCode != http.StatusOK || r.json(t)["state"].(map[string]any)["search"] != "ada" || r.json(t)["state"].(map[string]any)["sort"] != "-created_at" {
		t.Fatalf("new state: %d %s", r.StatusCode, r.body)
	}
	r = as(agent, "GET", "/api/views/"+id+"/", "")
	if r.StatusCode != http.StatusOK || r.json(t)["name"] != "Leads, VIP" || r.Header.Get("ETag") != `"3"` {
		t.Fatalf("get: %d %s", r.StatusCode, r.body)
	}
	if r := as(agent, "DELETE", "/api/views/"+id+"/", ""); r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, as(agent, "GET", "/api/views/"+id+"/", ""), http.StatusNotFound, custodian.ENOTFOUND)
	if r := as(manager, "DELETE", "/api/views/"+shared+"/", ""); r.StatusCode != http.StatusNoContent {
		t.Fatalf("shared delete: %d %s", r.StatusCode, r.body)
	}

	// The trail names every change and the view, never the search.
	evs, err := s.store.AuditEvents(t.Context(), custodian.AuditQuery{Subject: id})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action+" "+strings.Join(ev.Fields, ","))
		if strings.Contains(string(ev.Data), "alice") || strings.Contains(string(ev.Data), "ada") {
			t.Fatalf("the search is on the trail: %s", ev.Data)
		}
	}
	if got := strings.Join(actions, "; "); got != "view.delete ; view.update state; view.update name; view.create name,state" {
		t.Fatalf("audit %s", got)
	}
}
