package http

import (
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestUIShowsReadableValues: the customer page shows a phone number as
// people write it in its region, and keeps the stored form in the link;
// consent purposes read as words, with the key the API uses kept as the
// title.
func TestUIShowsReadableValues(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Ada Lovelace","phone":"+44 20 7946 0958"}`)["id"].(string)
	c, _ := s.webAs(0, custodian.RoleAgent)
	p := c.get("/customers/" + id)
	for _, want := range []string{
		`<a href="tel:&#43;442079460958"><bdi>&#43;44 20 7946 0958</bdi></a>`,
		`<span title="marketing_email">Marketing email</span>`,
		`<option value="phone_calls">Phone calls</option>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the customer page lacks %s", want)
		}
	}
}

func TestKeyLabelAndPhoneFormat(t *testing.T) {
	for in, want := range map[string]string{"marketing_email": "Marketing email", "profiling": "Profiling", "": "", "a": "A"} {
		if got := keyLabel(in); got != want {
			t.Errorf("keyLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"+442079460958": "+44 20 7946 0958", "+14155550123": "+1 415-555-0123", "not a number": "not a number"} {
		if got := formatPhone(in); got != want {
			t.Errorf("formatPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUIDeleteFromCustomerPage: those allowed see Delete on the customer
// page; the confirmation deletes at the version it showed, and a change
// made meanwhile stops it.
func TestUIDeleteFromCustomerPage(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Grace Hopper"}`)["id"].(string)
	page := "/customers/" + id
	agent, _ := s.webAs(0, custodian.RoleAgent)
	if p := agent.get(page); strings.Contains(p.body, page+"/delete") {
		t.Fatal("an agent, who may not delete, is offered Delete")
	}
	mgr, _ := s.webAs(1, custodian.RoleManager)
	if p := mgr.get(page); !strings.Contains(p.body, `href="`+page+`/delete"`) {
		t.Fatal("a manager is not offered Delete")
	}
	confirm := mgr.get(page + "/delete")
	if confirm.code != 200 || !strings.Contains(confirm.body, `name="version" value="1"`) {
		t.Fatalf("confirmation page: %d", confirm.code)
	}
	// Someone edits the customer while the page is open.
	if r := s.do("PATCH", "/api/customers/"+id+"/", `{"company":"Navy"}`, "If-Match", `"1"`); r.StatusCode != 200 {
		t.Fatalf("edit: %d", r.StatusCode)
	}
	if p := mgr.post(page+"/delete", page+"/delete", url.Values{"version": {"1"}}); p.code != 412 || !strings.Contains(p.body, "nothing was deleted") {
		t.Fatalf("stale delete: %d", p.code)
	}
	if p := mgr.post(page+"/delete", page+"/delete", url.Values{"version": {"2"}}); p.code != 303 || p.loc != "/customers" {
		t.Fatalf("delete: %d %q", p.code, p.loc)
	}
	if r := s.do("GET", "/api/customers/"+id+"/", ""); r.StatusCode != 404 {
		t.Fatalf("after delete: %d", r.StatusCode)
	}
}
