package http

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestUIWebhooks: an administrator registers an endpoint on the settings
// page and sees its secret once; a blocked target comes back with the
// message next to the field; allowing personal data, rotating and
// removing work from the page; other roles get 403.
func TestUIWebhooks(t *testing.T) {
	s := newTestServer(t)
	c := s.web()
	c.signIn("hooks.admin@example.com", custodian.RoleAdmin)
	p := c.post("/settings/webhooks", "/settings/webhooks", url.Values{"url": {"https://10.0.0.8/hook"}, "events": {"customer.created"}})
	if p.code != 400 || !strings.Contains(p.body, `id="wh-url-error"`) || !strings.Contains(p.body, `value="https://10.0.0.8/hook"`) || !strings.Contains(p.body, `value="customer.created" checked`) {
		t.Fatalf("blocked target: %d", p.code)
	}
	p = c.post("/settings/webhooks", "/settings/webhooks", url.Values{"url": {"https://93.184.216.34/hook"}, "description": {"Mailing <tool>"}, "events": {"customer.created", "customer.updated"}})
	if p.code != 400 || !strings.Contains(p.body, "must not contain &lt; or &gt;") {
		t.Fatalf("markup in the description: %d", p.code)
	}
	p = c.post("/settings/webhooks", "/settings/webhooks", url.Values{"url": {"https://93.184.216.34/hook"}, "description": {"Mailing tool"}, "events": {"customer.created", "customer.updated"}})
	secret := regexp.MustCompile(`id="webhook-secret">(whsec_[^<]+)<`).FindStringSubmatch(p.body)
	if p.code != 201 || secret == nil {
		t.Fatalf("register: %d", p.code)
	}
	hooks := s.webhooks()
	if len(hooks) != 1 || hooks[0].PersonalData {
		t.Fatalf("stored %+v", hooks)
	}
	id := hooks[0].ID
	if p := c.get("/settings/webhooks"); p.code != 200 || strings.Contains(p.body, secret[1]) || !strings.Contains(p.body, "Mailing tool") {
		t.Fatalf("the page shows the secret again, or not the endpoint: %d", p.code)
	}
	if p := c.post("/settings/webhooks", "/settings/webhooks/"+id+"/update", url.Values{"active": {"on"}, "personal_data": {"on"}}); p.code != 303 {
		t.Fatalf("update: %d", p.code)
	}
	if h := s.webhooks()[0]; !h.PersonalData || !h.Active {
		t.Fatalf("after update %+v", h)
	}
	p = c.post("/settings/webhooks", "/settings/webhooks/"+id+"/rotate", url.Values{})
	rotated := regexp.MustCompile(`id="webhook-secret">(whsec_[^<]+)<`).FindStringSubmatch(p.body)
	if p.code != 200 || rotated == nil || rotated[1] == secret[1] {
		t.Fatalf("rotate: %d", p.code)
	}
	if p := c.post("/settings/webhooks", "/settings/webhooks/"+id+"/delete", url.Values{}); p.code != 303 {
		t.Fatalf("delete: %d", p.code)
	}
	if hooks := s.webhooks(); len(hooks) != 0 {
		t.Fatal("not removed")
	}
	m := s.web()
	m.addr = "192.0.2.61"
	m.signIn("manager@example.com", custodian.RoleManager)
	if p := m.get("/settings/webhooks"); p.code != 403 {
		t.Fatalf("a manager opened the webhooks page: %d", p.code)
	}
}

// webhooks lists the endpoints through the API.
func (s *testServer) webhooks() []custodian.Webhook {
	s.t.Helper()
	r := s.do("GET", "/api/webhooks/", "")
	var list struct{ Items []custodian.Webhook }
	if err := json.Unmarshal(r.body, &list); err != nil {
		s.t.Fatal(err)
	}
	return list.Items
}
