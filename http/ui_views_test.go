package http

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestUIViewForms: the save, rename and delete forms need the session's
// CSRF token; a refused name, a plain user asking to share, another
// user's view or a shared one the user may not change are answered on the
// page and change nothing; the search is never in an address.
func TestUIViewForms(t *testing.T) {
	s := newTestServer(t)
	agent, au := s.webAs(1, custodian.RoleAgent)
	other, _ := s.webAs(2, custodian.RoleAgent)
	manager, mu := s.webAs(3, custodian.RoleManager)
	views := func(u *custodian.User) []custodian.View {
		t.Helper()
		vs, err := s.acc.Views(t.Context(), &custodian.Principal{User: u})
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}

	// The list's search, sealed to the session as the list's form hands
	// it on.
	p := agent.post("/customers", "/customers", url.Values{"q": {"alice@example.com"}, "status": {"lead"}})
	if p.code != http.StatusSeeOther || strings.Contains(p.loc, "alice") {
		t.Fatalf("search: %d %q", p.code, p.loc)
	}
	sealed, _ := url.ParseQuery(strings.TrimPrefix(p.loc, "/customers?"))

	// Without the CSRF token nothing is saved.
	p = agent.do("POST", "/customers/views", url.Values{"name": {"Forged"}, "s": {sealed.Get("s")}})
	if p.code != http.StatusForbidden || len(views(au)) != 0 {
		t.Fatalf("no token: %d, %d views", p.code, len(views(au)))
	}
	// A plain user asking to share is refused on the page.
	p = agent.post("/customers", "/customers/views", url.Values{"name": {"Everyone"}, "shared": {"on"}, "status": {"lead"}, "s": {sealed.Get("s")}})
	if p.code != http.StatusForbidden || !strings.Contains(p.body, "Only managers and administrators save shared views.") || len(views(au)) != 0 {
		t.Fatalf("share as an agent: %d, %d views", p.code, len(views(au)))
	}
	// A bad name is shown on the form, with the list as it was.
	p = agent.post("/customers", "/customers/views", url.Values{"name": {"<b>"}, "status": {"lead"}, "s": {sealed.Get("s")}})
	if p.code != http.StatusBadRequest || !strings.Contains(p.body, `id="view-name-error"`) || !strings.Contains(p.body, `<details class="view-save" id="view-save" open>`) ||
		!strings.Contains(p.body, `value="alice@example.com"`) || len(views(au)) != 0 {
		t.Fatalf("bad name: %d %s", p.code, p.body)
	}
	p = agent.post("/customers", "/customers/views", url.Values{"name": {"Alice"}, "status": {"lead"}, "size": {"50"}, "s": {sealed.Get("s")}})
	vs := views(au)
	if p.code != http.StatusSeeOther || len(vs) != 1 || p.loc != "/customers?view="+vs[0].ID ||
		vs[0].State != (custodian.ViewState{Search: "alice@example.com", Status: custodian.StatusLead, Sort: custodian.DefaultSort, PageSize: 50}) {
		t.Fatalf("save: %d %q %+v", p.code, p.loc, vs)
	}
	id := vs[0].ID
	page := agent.get(p.loc)
	if page.code != http.StatusOK || !strings.Contains(page.body, `aria-current="page"><bdi>Alice</bdi>`) || !strings.Contains(page.body, `value="alice@example.com"`) {
		t.Fatalf("open: %d %s", page.code, page.body)
	}

	// Another user cannot open, rename or delete it; nor can a manager.
	if page := other.get("/customers?view=" + id); page.code != http.StatusOK || strings.Contains(page.body, "alice@example.com") || !strings.Contains(page.body, "That view does not exist") {
		t.Fatalf("another user opens it: %d", page.code)
	}
	for _, c := range []*webClient{other, manager} {
		if p := c.post("/customers", "/customers/views/"+id+"/rename", url.Values{"name": {"Mine"}}); p.code != http.StatusNotFound {
			t.Fatalf("rename another's: %d", p.code)
		}
		if p := c.post("/customers", "/customers/views/"+id+"/delete", url.Values{}); p.code != http.StatusNotFound {
			t.Fatalf("delete another's: %d", p.code)
		}
	}
	if vs := views(au); len(vs) != 1 || vs[0].Name != "Alice" {
		t.Fatalf("after others' attempts: %+v", vs)
	}
	// Rename without the token, or to an empty name, changes nothing.
	if p := agent.do("POST", "/customers/views/"+id+"/rename", url.Values{"name": {"Forged"}}); p.code != http.StatusForbidden {
		t.Fatalf("rename without token: %d", p.code)
	}
	if p := agent.post("/customers", "/customers/views/"+id+"/rename", url.Values{"name": {" "}}); p.code != http.StatusBadRequest || !strings.Contains(p.body, `id="view-manage-error"`) {
		t.Fatalf("empty name: %d %s", p.code, p.body)
	}
	if p := agent.post("/customers", "/customers/views/"+id+"/rename", url.Values{"name": {"Alice, leads"}}); p.code != http.StatusSeeOther || views(au)[0].Name != "Alice, leads" {
		t.Fatalf("rename: %d", p.code)
	}

	// A manager shares a view; the agent sees it but cannot delete it.
	if p := manager.post("/customers", "/customers/views", url.Values{"name": {"Team"}, "shared": {"on"}, "tag": {"vip"}}); p.code != http.StatusSeeOther {
		t.Fatalf("share: %d %s", p.code, p.body)
	}
	shared := views(mu)[0]
	if !shared.Shared || !strings.Contains(agent.get("/customers").body, `href="/customers?view=`+shared.ID+`"`) {
		t.Fatalf("shared view %+v not on the agent's list", shared)
	}
	if p := agent.post("/customers", "/customers/views/"+shared.ID+"/delete", url.Values{}); p.code != http.StatusForbidden {
		t.Fatalf("agent deletes the shared view: %d", p.code)
	}
	if p := agent.post("/customers", "/customers/views/"+id+"/delete", url.Values{}); p.code != http.StatusSeeOther || len(views(au)) != 1 {
		t.Fatalf("delete own: %d, %+v", p.code, views(au))
	}
	if p := manager.post("/customers", "/customers/views/"+shared.ID+"/delete", url.Values{}); p.code != http.StatusSeeOther || len(views(au)) != 0 {
		t.Fatalf("manager deletes the shared view: %d, %+v", p.code, views(au))
	}

	// A view that does not open (its state tampered with, or under a
	// master key gone from the keyring) leaves the customer list usable,
	// and says so.
	if p := agent.post("/customers", "/customers/views", url.Values{"name": {"Broken"}, "s": {sealed.Get("s")}}); p.code != http.StatusSeeOther {
		t.Fatalf("save: %d", p.code)
	}
	if _, err := s.store.DB().ExecContext(t.Context(), `UPDATE saved_views SET state_ct = X'00'`); err != nil {
		t.Fatal(err)
	}
	page = agent.get("/customers")
	if page.code != http.StatusOK || !strings.Contains(page.body, "Your saved views could not be read") || !strings.Contains(page.body, `id="customers"`) && !strings.Contains(page.body, "No customers yet") {
		t.Fatalf("list with a broken view: %d %s", page.code, page.body)
	}
	if strings.Contains(s.logs.String(), "alice") {
		t.Fatal("the search is in the log")
	}
}
