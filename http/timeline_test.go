package http

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

func TestActivitiesAPI(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Alan Activity"}`)["id"].(string)
	path := "/api/customers/" + id + "/activities/"

	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"unknown type", `{"type":"fax","text":"hello"}`, []string{"type"}},
		{"no text", `{"type":"call","text":"  "}`, []string{"text"}},
		{"future date", `{"type":"call","text":"x","date":"2999-01-01T00:00:00Z"}`, []string{"date"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, s.do("POST", path, tc.body), 400, custodian.EINVALID, tc.fields...)
		})
	}
	if r := s.do("GET", path, ""); r.StatusCode != 200 || !strings.Contains(string(r.body), `"activities":[]`) {
		t.Fatalf("bad input was stored: %d %s", r.StatusCode, r.body)
	}

	r := s.do("POST", path, `{"type":"call","date":"2026-11-30T14:00:00Z","text":"Wants the premium plan."}`)
	if r.StatusCode != 201 {
		t.Fatalf("log: %d %s", r.StatusCode, r.body)
	}
	if got := r.json(t); got["type"] != "call" || got["text"] != "Wants the premium plan." || got["date"] != "2026-11-30T14:00:00Z" || got["author"] == "" {
		t.Fatalf("logged %v", got)
	}
	s.do("POST", path, `{"type":"note","date":"2026-12-01T09:00:00Z","text":"Sent the brochure."}`)
	r = s.do("GET", path, "")
	var list struct{ Activities []custodian.Activity }
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Activities) != 2 || list.Activities[0].Type != "note" || list.Activities[1].Text != "Wants the premium plan." {
		t.Fatalf("list %+v", list)
	}
	if evs := s.events(custodian.AuditQuery{Subject: id, Action: custodian.ActionActivityLog}); len(evs) != 2 || strings.Contains(string(evs[0].Data), "brochure") {
		t.Fatalf("audit events %+v", evs)
	}

	// The export holds them; after erasure they are gone.
	x := s.do("GET", "/api/customers/"+id+"/export/", "")
	if x.StatusCode != 200 || !strings.Contains(string(x.body), "Wants the premium plan.") {
		t.Fatalf("export: %d %s", x.StatusCode, x.body)
	}
	if r := s.do("POST", "/api/customers/"+id+"/erase/", `{"reason":"asked"}`); r.StatusCode != 200 {
		t.Fatalf("erase: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("GET", path, ""), 410, custodian.EGONE)
	wantProblem(t, s.do("POST", path, `{"type":"note","text":"too late"}`), 410, custodian.EGONE)
	x = s.do("GET", "/api/customers/"+id+"/export/", "")
	if x.StatusCode != 200 || strings.Contains(string(x.body), "premium") || !strings.Contains(string(x.body), `"activities":[]`) {
		t.Fatalf("export after erasure: %d %s", x.StatusCode, x.body)
	}
	wantProblem(t, s.do("GET", "/api/customers/"+custodian.NewCustomerID()+"/activities/", ""), 404, custodian.ENOTFOUND)
}

func TestUITimeline(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Tina Timeline","email":"tina@example.com"}`)["id"].(string)
	if r := s.do("PATCH", "/api/customers/"+id+"/", `{"email":"tina.new@example.com"}`, "If-Match", "*"); r.StatusCode != 200 {
		t.Fatalf("update: %d %s", r.StatusCode, r.body)
	}
	page := "/customers/" + id
	c, u := s.webAs(0, custodian.RoleAgent)

	// Without the form's token nothing is logged.
	if p := c.do("POST", page+"/activities", url.Values{"type": {"call"}, "text": {"x"}}); p.code != 403 {
		t.Fatalf("no token: %d", p.code)
	}
	hostile := `<script>alert("call")</script>`
	p := c.post(page, page+"/activities", url.Values{"type": {"fax"}, "date": {"yesterday"}, "text": {hostile}})
	if p.code != 400 || !strings.Contains(p.body, `id="activity-date-error"`) || !strings.Contains(p.body, "&lt;script&gt;") || strings.Contains(p.body, "<script>alert") {
		t.Fatalf("invalid date: %d %s", p.code, p.body)
	}
	p = c.post(page, page+"/activities", url.Values{"type": {"fax"}, "date": {"2026-12-01T10:00"}, "text": {""}})
	if p.code != 400 || !strings.Contains(p.body, `id="activity-type-error"`) || !strings.Contains(p.body, `id="activity-text-error"`) {
		t.Fatalf("invalid activity: %d", p.code)
	}
	if evs := s.events(custodian.AuditQuery{Subject: id, Action: custodian.ActionActivityLog}); len(evs) != 0 {
		t.Fatalf("an invalid activity was logged: %d", len(evs))
	}

	p = c.post(page, page+"/activities", url.Values{"type": {"call"}, "date": {"2026-12-01T10:00"}, "text": {"Called: " + hostile}})
	if p.code != 303 || p.loc != page+"#timeline" {
		t.Fatalf("log: %d %q", p.code, p.loc)
	}
	p = c.get(page)
	tl := regexp.MustCompile(`(?s)<ol class="timeline".*?</ol>`).FindString(p.body)
	if !strings.Contains(p.body, "Activity logged.") || !strings.Contains(tl, "Called: &lt;script&gt;") || !strings.Contains(tl, u.Name) {
		t.Fatalf("timeline: %s", tl)
	}
	// The change shows by field name, never by value; newest first: the
	// change (now) above the call dated 1 December 2026 only if later.
	if !strings.Contains(tl, "<strong>Changed</strong>") || !strings.Contains(tl, "Fields: Email") || strings.Contains(tl, "tina.new@example.com") ||
		!strings.Contains(tl, "<strong>Created</strong>") {
		t.Fatalf("trail entries: %s", tl)
	}
	if strings.Index(tl, "<strong>Created</strong>") < strings.Index(tl, "<strong>Changed</strong>") {
		t.Fatalf("not newest first: %s", tl)
	}

	// Paged 20 to a page, with links both ways.
	for i := range 20 {
		if r := s.do("POST", "/api/customers/"+id+"/activities/", fmt.Sprintf(`{"type":"note","date":"2026-10-%02dT08:00:00Z","text":"note %d"}`, i+1, i)); r.StatusCode != 201 {
			t.Fatalf("log %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	p = c.get(page)
	if n := strings.Count(p.body, `<li class="timeline-entry`); n != custodian.TimelinePageSize || !strings.Contains(p.body, `href="`+page+`?timeline=2#timeline" rel="next"`) || strings.Contains(p.body, `rel="prev"`) {
		t.Fatalf("page 1: %d entries", n)
	}
	p = c.get(page + "?timeline=2")
	if n := strings.Count(p.body, `<li class="timeline-entry`); n != 3 || !strings.Contains(p.body, `rel="prev"`) || strings.Contains(p.body, `rel="next"`) || !strings.Contains(p.body, "note 0") {
		t.Fatalf("page 2: %d entries", n)
	}

	// A viewer sees the timeline but not the form.
	v, _ := s.webAs(1, custodian.RoleViewer)
	if p := v.get(page); p.code != 200 || !strings.Contains(p.body, `id="timeline-entries"`) || strings.Contains(p.body, `action="`+page+`/activities"`) {
		t.Fatalf("viewer: %d", p.code)
	}
}
