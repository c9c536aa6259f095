package http

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

// TestTasksAPI sets, lists, changes and deletes a customer's follow-up
// tasks through the API, lists the caller's own due ones, refuses bad
// input and a viewer's changes, and records each change on the trail as
// the web form does (never the title).
func TestTasksAPI(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Tia Tasks"}`)["id"].(string)
	agent, viewer := s.userToken(custodian.RoleAgent), s.userToken(custodian.RoleViewer)
	as := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	base := "/api/customers/" + id + "/tasks/"
	today := time.Now().UTC()

	r := s.do("POST", base, fmt.Sprintf(`{"title":"Send the quote","due":%q}`, today.AddDate(0, 0, -1).Format(time.RFC3339)), as(agent)...)
	if r.StatusCode != 201 {
		t.Fatalf("add: %d %s", r.StatusCode, r.body)
	}
	var k custodian.Task
	if err := json.Unmarshal(r.body, &k); err != nil || k.Title != "Send the quote" || k.Assignee == "" || k.Done || !k.Due.Equal(custodian.DayOf(today.AddDate(0, 0, -1))) {
		t.Fatalf("task %+v %v", k, err)
	}
	wantProblem(t, s.do("POST", base, `{"title":" ","due":"2026-12-01T00:00:00Z"}`, as(agent)...), 400, custodian.EINVALID, "title")
	wantProblem(t, s.do("POST", base, `{"title":"No day"}`, as(agent)...), 400, custodian.EINVALID, "due")
	wantProblem(t, s.do("POST", base, `{"title":"A viewer's","due":"2026-12-01T00:00:00Z"}`, as(viewer)...), 403, custodian.EFORBIDDEN)
	wantProblem(t, s.do("POST", "/api/customers/"+custodian.NewCustomerID()+"/tasks/", `{"title":"x","due":"2026-12-01T00:00:00Z"}`, as(agent)...), 404, custodian.ENOTFOUND)

	// Listed by anyone who reads customers; "mine" is the assignee's.
	if r := s.do("GET", base, "", as(viewer)...); r.StatusCode != 200 || !strings.Contains(string(r.body), "Send the quote") {
		t.Fatalf("list as viewer: %d %s", r.StatusCode, r.body)
	}
	mine := s.do("GET", "/api/tasks/mine/", "", as(agent)...)
	if mine.StatusCode != 200 || !strings.Contains(string(mine.body), `"customer_name":"Tia Tasks"`) || !strings.Contains(string(mine.body), `"overdue":true`) {
		t.Fatalf("mine: %d %s", mine.StatusCode, mine.body)
	}
	if r := s.do("GET", "/api/tasks/mine/", "", as(viewer)...); r.StatusCode != 200 || string(r.body) != `{"items":[]}`+"\n" && string(r.body) != `{"items":[]}` {
		t.Fatalf("the viewer's own: %d %s", r.StatusCode, r.body)
	}

	// Done, then open again with a new title.
	task := fmt.Sprintf("%s%d/", base, k.ID)
	wantProblem(t, s.do("PATCH", task, `{"done":true}`, as(viewer)...), 403, custodian.EFORBIDDEN)
	if r := s.do("PATCH", task, `{"done":true}`, as(agent)...); r.StatusCode != 200 || r.json(t)["done"] != true {
		t.Fatalf("done: %d %s", r.StatusCode, r.body)
	}
	if r := s.do("GET", "/api/tasks/mine/", "", as(agent)...); strings.Contains(string(r.body), "Send the quote") {
		t.Fatalf("a done task is still due: %s", r.body)
	}
	if r := s.do("PATCH", task, `{"done":false,"title":"Send the new quote"}`, as(agent)...); r.StatusCode != 200 || r.json(t)["done"] != false || r.json(t)["title"] != "Send the new quote" {
		t.Fatalf("reopen: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("PATCH", task, `{"title":""}`, as(agent)...), 400, custodian.EINVALID, "title")
	wantProblem(t, s.do("PATCH", task, `{"colour":"red"}`, as(agent)...), 400, custodian.EINVALID, "colour")
	wantProblem(t, s.do("PATCH", base+"999999/", `{"done":true}`, as(agent)...), 404, custodian.ENOTFOUND)
	wantProblem(t, s.do("PATCH", base+"abc/", `{"done":true}`, as(agent)...), 404, custodian.ENOTFOUND)

	// Deleted once; a viewer may not.
	wantProblem(t, s.do("DELETE", task, "", as(viewer)...), 403, custodian.EFORBIDDEN)
	if r := s.do("DELETE", task, "", as(agent)...); r.StatusCode != 204 {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("DELETE", task, "", as(agent)...), 404, custodian.ENOTFOUND)
	if r := s.do("GET", base, "", as(agent)...); string(r.body) != `{"items":[]}`+"\n" && string(r.body) != `{"items":[]}` {
		t.Fatalf("after delete: %s", r.body)
	}

	actions := s.actions(id, "customer.task", "quote") // no title on the trail
	if strings.Join(actions, " ") != "customer.task_delete customer.task_update customer.task_update customer.task" {
		t.Fatalf("task events, newest first: %v", actions)
	}
}

// TestInvitationsAPI lists invitations with their states, revokes and
// re-sends them, as the users page does, for administrators only.
func TestInvitationsAPI(t *testing.T) {
	s := newTestServer(t)
	manager := s.userToken(custodian.RoleManager)
	invite := func(email string) string {
		t.Helper()
		r := s.do("POST", "/api/invites/", `{"email":"`+email+`","role":"agent"}`)
		if r.StatusCode != 201 {
			t.Fatalf("invite: %d %s", r.StatusCode, r.body)
		}
		return r.json(t)["token"].(string)
	}
	accepted := invite("accepted@example.com")
	if r := s.do("POST", "/api/auth/register/", `{"token":"`+accepted+`","name":"Acc Epted","password":"`+testPassword+`"}`); r.StatusCode != 201 {
		t.Fatalf("register: %d %s", r.StatusCode, r.body)
	}
	pending := invite("pending@example.com")
	list := func() []custodian.Invitation {
		t.Helper()
		r := s.do("GET", "/api/invitations/", "")
		var out struct{ Items []custodian.Invitation }
		if r.StatusCode != 200 || json.Unmarshal(r.body, &out) != nil {
			t.Fatalf("list: %d %s", r.StatusCode, r.body)
		}
		if strings.Contains(string(r.body), "cst_inv_") {
			t.Fatalf("a link in the list: %s", r.body)
		}
		return out.Items
	}
	invs := list()
	if len(invs) != 2 || invs[0].Email != "pending@example.com" || invs[0].State != custodian.InvitationPending || invs[1].State != custodian.InvitationAccepted {
		t.Fatalf("invitations %+v", invs)
	}
	wantProblem(t, s.do("GET", "/api/invitations/", "", "Authorization", "Bearer "+manager), 403, custodian.EFORBIDDEN)
	wantProblem(t, s.do("POST", "/api/invitations/"+invs[0].ID+"/revoke/", "", "Authorization", "Bearer "+manager), 403, custodian.EFORBIDDEN)
	wantProblem(t, s.do("POST", "/api/invitations/"+invs[0].ID+"/resend/", "", "Authorization", "Bearer "+manager), 403, custodian.EFORBIDDEN)

	r := s.do("POST", "/api/invitations/"+invs[0].ID+"/resend/", "")
	if r.StatusCode != 201 || r.json(t)["token"] == pending || r.json(t)["mailed"] != false {
		t.Fatalf("resend: %d %s", r.StatusCode, r.body)
	}
	fresh := r.json(t)["token"].(string)
	register := func(tok string) int {
		return s.do("POST", "/api/auth/register/", `{"token":"`+tok+`","name":"Pen Ding","password":"`+testPassword+`"}`).StatusCode
	}
	if code := register(pending); code != 404 {
		t.Fatalf("the replaced link: %d", code)
	}
	invs = list()
	if r := s.do("POST", "/api/invitations/"+invs[0].ID+"/revoke/", ""); r.StatusCode != 204 {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("POST", "/api/invitations/"+invs[0].ID+"/revoke/", ""), 404, custodian.ENOTFOUND)
	wantProblem(t, s.do("POST", "/api/invitations/ffffffffffffffff/resend/", ""), 404, custodian.ENOTFOUND)
	if code := register(fresh); code != 404 {
		t.Fatalf("the revoked link: %d", code)
	}
	states := map[string]int{}
	for _, inv := range list() {
		states[inv.State]++
	}
	if states[custodian.InvitationRevoked] != 2 || states[custodian.InvitationAccepted] != 1 || len(states) != 2 {
		t.Fatalf("states %v", states)
	}
	// The revocation is on the trail; the re-sent one is a new
	// user.invite that names the invitation it replaces.
	if evs, err := s.store.AuditEvents(context.Background(), custodian.AuditQuery{Action: custodian.ActionInviteRevoke}); err != nil || len(evs) != 1 {
		t.Fatalf("revocation events: %d %v", len(evs), err)
	}
}
