package http

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

// countingNamer counts the calls of the real CustomerNamer it wraps and
// the ids each asked for, so that a test can tell that a page names its
// customers in one batch.
type countingNamer struct {
	custodian.CustomerNamer
	mu    sync.Mutex
	calls [][]string
}

func (c *countingNamer) CustomerNames(ctx context.Context, ids []string) (map[string]custodian.CustomerName, error) {
	c.mu.Lock()
	c.calls = append(c.calls, slices.Clone(ids))
	c.mu.Unlock()
	return c.CustomerNamer.CustomerNames(ctx, ids)
}

func (c *countingNamer) take() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// auditLineRE finds the first cell of each line of the audit table: a
// trail sequence number, or R and a read log one.
var auditLineRE = regexp.MustCompile(`<td data-label="#">(?:<span class="muted" title="Read log record \d+">)?(R?\d+)`)

func auditLines(body string) []string {
	var out []string
	for _, m := range auditLineRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func auditLink(body, rel string) string {
	m := regexp.MustCompile(`href="(/audit\?[^"]*)" rel="` + rel + `"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// auditFixture is a server with three customers an agent has read (one
// on its own page, all three on the list page), one erased and one
// deleted customer, and a counter of the name lookups.
type auditFixture struct {
	s                *testServer
	namer            *countingNamer
	ann, bea, cat    string
	erased, deleted  string
	agent            *custodian.User
	admin, auditor   *webClient
	adminU, auditorU *custodian.User
}

func newAuditFixture(t *testing.T) *auditFixture {
	f := &auditFixture{}
	f.s = newTestServer(t, func(d *Deps) {
		f.namer = &countingNamer{CustomerNamer: d.Names}
		d.Names = f.namer
	})
	s := f.s
	f.ann = s.create(`{"name":"Ann Audited","email":"ann@example.com"}`)["id"].(string)
	f.bea = s.create(`{"name":"Bea Audited"}`)["id"].(string)
	f.cat = s.create(`{"name":"Cat Audited"}`)["id"].(string)
	f.erased = s.create(`{"name":"Ernie Erased"}`)["id"].(string)
	f.deleted = s.create(`{"name":"Dora Deleted"}`)["id"].(string)
	if r := s.do("POST", "/api/customers/"+f.erased+"/erase/", `{"reason":"asked"}`); r.StatusCode != 200 {
		t.Fatalf("erase: %d %s", r.StatusCode, r.body)
	}
	if r := s.do("DELETE", "/api/customers/"+f.deleted+"/", ""); r.StatusCode != 204 {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	agent, agentU := s.webAs(1, custodian.RoleAgent)
	f.agent = agentU
	if p := agent.get("/customers/" + f.ann); p.code != 200 {
		t.Fatalf("customer page: %d", p.code)
	}
	if p := agent.get("/customers?q=audited"); p.code != 200 || !strings.Contains(p.body, "Cat Audited") {
		t.Fatalf("list page: %d", p.code)
	}
	f.admin, f.adminU = s.webAs(2, custodian.RoleAdmin)
	f.auditor, f.auditorU = s.webAs(3, custodian.RoleAuditor)
	return f
}

// TestUIAuditReadsHiddenThenOneLinePerRequest: the page shows no reads
// until asked; then the agent's customer page is one line and the list
// page, which read three customers, one line saying so, with the three
// listed inside it.
func TestUIAuditReadsHiddenThenOneLinePerRequest(t *testing.T) {
	f := newAuditFixture(t)
	// A read recorded in the trail itself (as older versions did) is
	// hidden with the others.
	if err := f.s.store.AppendAudit(custodian.WithActor(context.Background(), "usr_legacy"), custodian.AuditEntry{Action: custodian.ActionCustomerRead, Subject: f.bea}); err != nil {
		t.Fatal(err)
	}
	p := f.auditor.get("/audit")
	if p.code != 200 || strings.Contains(p.body, "Read log record") || strings.Contains(p.body, "Listed ") || strings.Contains(p.body, "<code>customer.read</code>") ||
		!strings.Contains(p.body, "Reads of customers are hidden") {
		t.Fatalf("default page shows reads: %d %s", p.code, p.body)
	}
	trail := len(auditLines(p.body))
	if trail == 0 || slices.ContainsFunc(auditLines(p.body), func(l string) bool { return strings.HasPrefix(l, "R") }) {
		t.Fatalf("default lines: %v", auditLines(p.body))
	}
	toggle := regexp.MustCompile(`href="([^"]*reads=1[^"]*)">Show reads`).FindStringSubmatch(p.body)
	if toggle == nil {
		t.Fatal("no link to show reads")
	}
	p = f.auditor.get(strings.ReplaceAll(toggle[1], "&amp;", "&"))
	lines := auditLines(p.body)
	reads := slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return !strings.HasPrefix(l, "R") })
	if len(reads) != 2 || len(lines) != trail+3 || !strings.Contains(p.body, "<code>customer.read</code>") {
		t.Fatalf("with reads: %v (trail alone %d lines)", lines, trail)
	}
	if strings.Count(p.body, "Listed 3 customers") != 1 || strings.Count(p.body, "Read a customer") != 1 {
		t.Fatalf("reads not grouped: %s", p.body)
	}
	list := regexp.MustCompile(`(?s)<summary>Listed 3 customers</summary><ul>(.*?)</ul>`).FindStringSubmatch(p.body)
	if list == nil {
		t.Fatal("the list read does not say which customers")
	}
	for _, id := range []string{f.ann, f.bea, f.cat} {
		if !strings.Contains(list[1], id) {
			t.Errorf("list read does not name %s: %s", id, list[1])
		}
	}
	if !strings.Contains(p.body, "Hide reads") {
		t.Error("no link to hide reads")
	}
	// The checkbox does the same as the link, and action=customer.read
	// shows only reads.
	if q := f.auditor.get("/audit?action=customer.read"); len(auditLines(q.body)) != 3 || strings.Contains(q.body, "<code>customer.create</code>") {
		t.Errorf("customer.read: %v", auditLines(q.body))
	}
	if q := f.auditor.get("/audit?action=customer.create&reads=1"); strings.Contains(q.body, "Read log record") {
		t.Error("reads shown under another action")
	}
}

// TestUIAuditNamesCustomersForThoseAllowed: an administrator (who may
// read customers) sees names, erased and deleted customers as such, in one
// batched lookup recorded as a read; an auditor sees ids only, and no
// lookup or read happens. No name is ever written to the trail.
func TestUIAuditNamesCustomersForThoseAllowed(t *testing.T) {
	f := newAuditFixture(t)
	f.namer.take()
	p := f.admin.get("/audit?reads=1")
	if p.code != 200 {
		t.Fatalf("admin: %d", p.code)
	}
	for _, want := range []string{
		`<bdi class="customer-name">Ann Audited</bdi>`, `<bdi class="customer-name">Bea Audited</bdi>`, `<bdi class="customer-name">Cat Audited</bdi>`,
		`Erased customer</span> <span class="ident">` + f.erased, `Deleted customer</span> <span class="ident">` + f.deleted,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("admin page lacks %s", want)
		}
	}
	if strings.Contains(p.body, "Ernie Erased") || strings.Contains(p.body, "Dora Deleted") {
		t.Error("a gone customer's name is shown")
	}
	calls := f.namer.take()
	if len(calls) != 1 {
		t.Fatalf("%d name lookups for one page, want 1", len(calls))
	}
	for _, id := range []string{f.ann, f.bea, f.cat, f.erased, f.deleted} {
		if !slices.Contains(calls[0], id) {
			t.Errorf("lookup lacks %s: %v", id, calls[0])
		}
	}
	// Showing the names was a read, by the administrator, of the three
	// customers that have names, stated as the audit page's purpose.
	reads := f.s.reads(f.ann)
	if len(reads) == 0 || reads[0].Actor != f.adminU.ID || reads[0].Purpose != auditPurpose || len(reads[0].Customers) != 3 {
		t.Fatalf("names shown recorded as %+v", reads)
	}
	// The auditor may not read customers: ids only, nothing looked up or
	// recorded.
	before := len(f.s.reads(f.ann))
	p = f.auditor.get("/audit?reads=1")
	if p.code != 200 || strings.Contains(p.body, "Audited</bdi>") || strings.Contains(p.body, "customer-name") || !strings.Contains(p.body, f.ann) {
		t.Fatalf("auditor sees names: %d %s", p.code, p.body)
	}
	if calls := f.namer.take(); len(calls) != 0 {
		t.Fatalf("auditor's page looked names up: %v", calls)
	}
	if n := len(f.s.reads(f.ann)); n != before {
		t.Fatalf("auditor's page recorded %d reads", n-before)
	}
	for _, e := range f.s.events(custodian.AuditQuery{}) {
		if strings.Contains(string(e.Data), "Audited") {
			t.Fatalf("a name in the trail: %+v", e)
		}
	}
}

// TestUIAuditFilters: each filter narrows the trail and the reads alike,
// they combine, the next page's address keeps them, and bad values are
// explained next to their fields.
func TestUIAuditFilters(t *testing.T) {
	f := newAuditFixture(t)
	s := f.s
	// Two events either side of midnight UTC on 10 March: in Berlin the
	// first is already the 11th.
	ctx := custodian.WithActor(context.Background(), "usr_filtered")
	late := time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC)
	if err := s.store.AppendAudit(ctx,
		custodian.AuditEntry{Action: custodian.ActionConsentChange, Subject: f.bea, Time: late},
		custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: f.bea, Time: late.Add(-2 * time.Hour)},
	); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query string
		want        func(lines []string, body string) bool
	}{
		{"actor", "actor=" + f.agent.ID + "&reads=1", func(l []string, b string) bool {
			return len(l) == 3 && strings.Count(b, "Read log record") == 2 // the sign-in and the two reads
		}},
		{"action", "action=customer.erase", func(l []string, b string) bool {
			return len(l) == 1 && strings.Contains(b, "<code>customer.erase</code>")
		}},
		{"action family", "action=consent.", func(l []string, b string) bool {
			return len(l) == 1 && strings.Contains(b, "<code>consent.change</code>")
		}},
		{"customer", "subject=" + f.ann, func(l []string, b string) bool {
			return len(l) == 1 && strings.Contains(b, "<code>customer.create</code>")
		}},
		{"customer with reads", "subject=" + f.cat + "&reads=1", func(l []string, b string) bool {
			return len(l) == 2 && strings.Contains(b, "Listed 3 customers") && !strings.Contains(b, "Read a customer")
		}},
		{"customer and actor", "subject=" + f.ann + "&reads=1&actor=" + f.agent.ID, func(l []string, b string) bool { return len(l) == 2 }},
		{"day in UTC", "since=2026-03-11&until=2026-03-11", func(l []string, b string) bool { return len(l) == 0 && strings.Contains(b, "No events match") }},
		{"day in Berlin", "since=2026-03-11&until=2026-03-11&tz=Europe/Berlin", func(l []string, b string) bool {
			return len(l) == 1 && strings.Contains(b, "<code>consent.change</code>")
		}},
		{"range to the minute", "since=2026-03-10T21:00&until=2026-03-10T21:30", func(l []string, b string) bool {
			return len(l) == 1 && strings.Contains(b, "<code>customer.update</code>")
		}},
		{"all together", "actor=usr_filtered&action=customer.&subject=" + f.bea + "&since=2026-03-10&until=2026-03-10&tz=UTC", func(l []string, b string) bool {
			return len(l) == 1 && strings.Contains(b, "<code>customer.update</code>")
		}},
	} {
		p := f.auditor.get("/audit?" + tc.query)
		if p.code != 200 || !tc.want(auditLines(p.body), p.body) {
			t.Errorf("%s: %d, lines %v", tc.name, p.code, auditLines(p.body))
		}
	}
	// The action filter offers every action and every family of them.
	page := f.auditor.get("/audit").body
	for _, a := range custodian.AuditActions() {
		family, _, _ := strings.Cut(a, ".")
		for _, v := range []string{a, family + "."} {
			if !strings.Contains(page, `<option value="`+v+`"`) {
				t.Errorf("the action filter does not offer %s", v)
			}
		}
	}
	// Bad values: a form error beside the field, 400, no trail listed.
	for q, field := range map[string]string{
		"action=customer.nothing":           "a-action-error",
		"action=customer%25":                "a-action-error",
		"tz=Mars/Olympus":                   "a-tz-error",
		"tz=Local":                          "a-tz-error",
		"since=11/03/2026":                  "a-since-error",
		"since=2026-03-12&until=2026-03-11": "a-until-error",
		"subject=ann@example.com":           "a-subject-error",
		"before=1":                          "",
		"after=x":                           "",
		"before=5&after=3":                  "",
	} {
		p := f.auditor.get("/audit?" + q)
		if p.code != 400 || (field != "" && !strings.Contains(p.body, `id="`+field+`"`)) || (field == "" && !strings.Contains(p.body, "page address is not valid")) ||
			strings.Contains(p.body, `<table class="list audit"`) {
			t.Errorf("%s: %d", q, p.code)
		}
	}
	// The address carries the filters: the next page keeps them.
	for i := range 60 {
		if err := s.store.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: f.cat, Time: late.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	p := f.auditor.get("/audit?actor=usr_filtered&action=customer.update&tz=Europe/Berlin&reads=1")
	next := auditLink(p.body, "next")
	u, err := url.Parse(next)
	if err != nil || next == "" {
		t.Fatalf("no next page: %q", next)
	}
	for k, v := range map[string]string{"actor": "usr_filtered", "action": "customer.update", "tz": "Europe/Berlin", "reads": "1"} {
		if u.Query().Get(k) != v {
			t.Errorf("next page's address lacks %s=%s: %s", k, v, next)
		}
	}
	if p := f.auditor.get(next); len(auditLines(p.body)) != 61-auditPageSize {
		t.Errorf("second page: %v", auditLines(p.body))
	}
}

// TestUIAuditPagesBothWaysWithReads walks a trail with reads among its
// events page by page, down and back up, while events and reads are
// recorded: every line appears once going down, and going back up gives
// the pages seen before.
func TestUIAuditPagesBothWaysWithReads(t *testing.T) {
	s := newTestServer(t)
	auditor, _ := s.webAs(0, custodian.RoleAuditor)
	ctx := custodian.WithActor(context.Background(), "usr_pager")
	id := custodian.NewCustomerID()
	record := func(n int) {
		for range n {
			if err := s.store.AppendAudit(ctx, custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: id}); err != nil {
				t.Fatal(err)
			}
			if err := s.store.RecordRead(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(60) // 120 lines
	start := "/audit?actor=usr_pager&reads=1"
	var pages [][]string
	var seen, urls []string
	for at := start; at != ""; {
		urls = append(urls, at)
		p := auditor.get(at)
		lines := auditLines(p.body)
		if p.code != 200 || len(lines) == 0 {
			t.Fatalf("%s: %d %v", at, p.code, lines)
		}
		pages = append(pages, lines)
		seen = append(seen, lines...)
		at = auditLink(p.body, "next")
		if len(pages) == 1 {
			record(5) // newer lines do not move the pages below
		}
	}
	if len(pages) != 3 || len(pages[0]) != auditPageSize || len(pages[2]) != 120-2*auditPageSize {
		t.Fatalf("pages of %v", pages)
	}
	if len(seen) != 120 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 120 {
		t.Fatalf("%d lines, some twice or missing", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			t.Fatalf("line %s twice", seen[i])
		}
	}
	// Back up from the last page: the second, then the first page as
	// they were (the lines recorded since stay above them).
	last := auditor.get(urls[2])
	back := auditor.get(auditLink(last.body, "prev"))
	if got := auditLines(back.body); !slices.Equal(got, pages[1]) {
		t.Fatalf("back to the second page: %v, want %v", got, pages[1])
	}
	back = auditor.get(auditLink(back.body, "prev"))
	if got := auditLines(back.body); !slices.Equal(got, pages[0]) {
		t.Fatalf("back to the first page: %v, want %v", got, pages[0])
	}
	if next := auditor.get(auditLink(back.body, "next")); !slices.Equal(auditLines(next.body), pages[1]) {
		t.Fatal("down again from a page reached going up differs")
	}
	// Up from that page: the ten lines recorded meanwhile, shown as the
	// newest page.
	top := auditor.get(auditLink(back.body, "prev"))
	if got := auditLines(top.body); len(got) != auditPageSize || got[0] == pages[0][0] || auditLink(top.body, "prev") != "" {
		t.Fatalf("top: %v", got)
	}
	if !slices.Equal(auditLines(top.body)[10:], pages[0][:auditPageSize-10]) {
		t.Fatalf("top page = %v", auditLines(top.body))
	}
	// Blocks: old events, a few reads, newer events. Going back up from
	// the last page passes a page of old events only, with the reads
	// above it still to come.
	bctx := custodian.WithActor(context.Background(), "usr_blocks")
	events := func(n int) {
		for range n {
			if err := s.store.AppendAudit(bctx, custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	events(120)
	for range 10 {
		if err := s.store.RecordRead(bctx, id); err != nil {
			t.Fatal(err)
		}
	}
	events(60)
	var bpages [][]string
	var bp webPage
	for at := "/audit?actor=usr_blocks&reads=1"; at != ""; at = auditLink(bp.body, "next") {
		bp = auditor.get(at)
		bpages = append(bpages, auditLines(bp.body))
	}
	if len(bpages) != 4 || len(bpages[3]) != 190-3*auditPageSize {
		t.Fatalf("block pages: %v", bpages)
	}
	for i := len(bpages) - 2; i >= 0; i-- {
		bp = auditor.get(auditLink(bp.body, "prev"))
		if got := auditLines(bp.body); !slices.Equal(got, bpages[i]) {
			t.Fatalf("back to block page %d: %v, want %v", i+1, got, bpages[i])
		}
	}
	if auditLink(bp.body, "prev") != "" {
		t.Fatal("the first page offers a newer one")
	}
	// Trail alone, pages by its sequence numbers as before.
	p := auditor.get("/audit?actor=usr_pager")
	if l := auditLines(p.body); len(l) != auditPageSize || strings.HasPrefix(l[0], "R") {
		t.Fatalf("trail alone: %v", l)
	}
}
