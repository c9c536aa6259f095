package http

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

func TestUITasks(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Theo Tasks"}`)["id"].(string)
	page := "/customers/" + id
	c, me := s.webAs(0, custodian.RoleAgent)
	other, them := s.webAs(1, custodian.RoleAgent)

	if p := c.do("POST", page+"/tasks", url.Values{"title": {"x"}, "due": {"2026-12-01"}}); p.code != 403 {
		t.Fatalf("no token: %d", p.code)
	}
	p := c.post(page, page+"/tasks", url.Values{"title": {" "}, "due": {"soon"}})
	if p.code != 400 || !strings.Contains(p.body, `id="task-title-error"`) || !strings.Contains(p.body, `id="task-due-error"`) {
		t.Fatalf("invalid task: %d", p.code)
	}
	today := time.Now().UTC().Format("2006-01-02")
	for _, v := range []url.Values{
		{"title": {"Send the <b>quote</b>"}, "due": {"2020-01-01"}, "assignee": {me.ID}},
		{"title": {"Call back"}, "due": {today}, "assignee": {me.ID}},
		{"title": {"Next year"}, "due": {"2999-01-01"}, "assignee": {me.ID}},
		{"title": {"Their task"}, "due": {today}, "assignee": {them.ID}},
	} {
		if p := c.post(page, page+"/tasks", v); p.code != 303 || p.loc != page+"#tasks" {
			t.Fatalf("add %v: %d %q", v, p.code, p.loc)
		}
	}
	p = c.get(page)
	if !strings.Contains(p.body, "Send the &lt;b&gt;quote&lt;/b&gt;") || !strings.Contains(p.body, "<bdi>"+them.Name+"</bdi>") {
		t.Fatalf("customer tasks: %s", p.body)
	}

	readsBefore := len(s.reads(id))
	p = c.get("/tasks")
	if p.code != 200 || !strings.Contains(p.body, "quote") || !strings.Contains(p.body, "Call back") || strings.Contains(p.body, "Next year") ||
		strings.Contains(p.body, "Their task") || strings.Count(p.body, "status-overdue") != 1 || !strings.Contains(p.body, "Theo Tasks") {
		t.Fatalf("my tasks: %d %s", p.code, p.body)
	}
	// The page showed the customer's name: recorded as a read by this user.
	if reads := s.reads(id); len(reads) != readsBefore+1 || reads[0].Actor != me.ID {
		t.Fatalf("my tasks recorded no read of the customer it names: %d reads before, now %+v", readsBefore, reads)
	}
	if p := other.get("/tasks"); !strings.Contains(p.body, "Their task") || strings.Contains(p.body, "quote") {
		t.Fatalf("their tasks: %s", p.body)
	}
	// The oldest due comes first: the quote.
	done := regexp.MustCompile(`action="(/customers/[^/]+/tasks/\d+/done)"`).FindStringSubmatch(p.body)
	if done == nil {
		t.Fatal("no done form")
	}
	p = c.post("/tasks", done[1], url.Values{"done": {"true"}, "back": {"tasks"}})
	if p.code != 303 || p.loc != "/tasks" {
		t.Fatalf("done: %d %q", p.code, p.loc)
	}
	if p := c.get("/tasks"); strings.Contains(p.body, "quote") || !strings.Contains(p.body, "Call back") {
		t.Fatalf("after done: %s", p.body)
	}
}
