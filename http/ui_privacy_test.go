package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/internal/fakeclock"
)

// webAs signs in a new browser with the role, from its own address (so
// that sign-in budgets stay apart).
func (s *testServer) webAs(n int, role custodian.Role) (*webClient, *custodian.User) {
	s.t.Helper()
	c := s.web()
	c.addr = fmt.Sprintf("198.51.100.%d", 100+n)
	u := c.signIn(fmt.Sprintf("%s%d@example.com", role, n), role)
	return c, u
}

// events returns the audit events q selects.
func (s *testServer) events(q custodian.AuditQuery) []custodian.AuditEvent {
	s.t.Helper()
	ev, err := s.store.AuditEvents(context.Background(), q)
	if err != nil {
		s.t.Fatal(err)
	}
	return ev
}

// actions returns the actions of the trail's events about subject that
// start with prefix, newest first, failing the test when one's data holds
// leak, which the trail must never record.
func (s *testServer) actions(subject, prefix, leak string) []string {
	s.t.Helper()
	var actions []string
	for _, e := range s.events(custodian.AuditQuery{Subject: subject}) {
		if strings.HasPrefix(e.Action, prefix) {
			actions = append(actions, e.Action)
			if strings.Contains(string(e.Data), leak) {
				s.t.Fatalf("%s event with %q on the trail: %s", e.Action, leak, e.Data)
			}
		}
	}
	return actions
}

// reads returns the read log's records of customer id, newest first.
func (s *testServer) reads(id string) []custodian.ReadRecord {
	s.t.Helper()
	reads, err := s.store.Reads(context.Background(), custodian.ReadQuery{Customer: id})
	if err != nil {
		s.t.Fatal(err)
	}
	return reads
}

func TestUICustomerPageByRole(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Role Matrix"}`)["id"].(string)
	page := "/customers/" + id
	for i, tc := range []struct {
		role                             custodian.Role
		consentForm, gdpr, audit, status bool
	}{
		{custodian.RoleViewer, false, false, false, true},
		{custodian.RoleAgent, true, false, false, true},
		{custodian.RoleManager, true, true, false, true},
		{custodian.RoleAdmin, true, true, true, true},
	} {
		c, _ := s.webAs(i, tc.role)
		p := c.get(page)
		if p.code != 200 {
			t.Fatalf("%s: %d", tc.role, p.code)
		}
		for what, want := range map[string]bool{
			`id="consent-current"`:                      tc.status,
			`action="/customers/` + id + `/consents"`:   tc.consentForm,
			`action="/customers/` + id + `/export"`:     tc.gdpr,
			`action="/customers/` + id + `/legal-hold"`: tc.gdpr,
			`href="/customers/` + id + `/erase"`:        tc.gdpr,
			`id="customer-history"`:                     tc.audit,
			`href="/audit"`:                             tc.audit,
			`href="/security"`:                          tc.audit,
		} {
			if strings.Contains(p.body, what) != want {
				t.Errorf("%s: has %s = %v, want %v", tc.role, what, !want, want)
			}
		}
		if !tc.gdpr {
			if p := c.get(page + "/erase"); p.code != 403 {
				t.Errorf("%s: erase page %d", tc.role, p.code)
			}
		}
	}
	// The auditor sees the audit trail and the dashboard, not customers,
	// and cannot erase or resolve alerts.
	a, _ := s.webAs(9, custodian.RoleAuditor)
	for path, want := range map[string]int{"/audit": 200, "/security": 200, page: 403, page + "/erase": 403} {
		if p := a.get(path); p.code != want {
			t.Errorf("auditor GET %s: %d, want %d", path, p.code, want)
		}
	}
	home := a.get("/account")
	if !strings.Contains(home.body, `href="/audit"`) || !strings.Contains(home.body, `href="/security"`) || strings.Contains(home.body, `href="/customers"`) {
		t.Error("the auditor's navigation should offer the audit trail and security, not customers")
	}
	tok := a.token("/security")
	if p := a.do("POST", page+"/erase", url.Values{csrfField: {tok}, "reason": {"x"}, "confirm": {"erase"}}); p.code != 403 || !strings.Contains(p.body, "No access") {
		t.Fatalf("auditor erase: %d", p.code)
	}
	if p := a.do("POST", "/security/alerts/alr_x/resolve", url.Values{csrfField: {tok}}); p.code != 403 {
		t.Fatalf("auditor resolve: %d", p.code)
	}
}

func TestUIDetailReadIsRecordedLikeTheAPI(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Read Recorded"}`)["id"].(string)
	c, u := s.webAs(0, custodian.RoleViewer)
	if p := c.get("/customers/" + id); p.code != 200 {
		t.Fatalf("detail: %d", p.code)
	}
	reads := s.reads(id)
	if len(reads) != 1 || reads[0].Actor != u.ID || reads[0].ClientAddr != c.addr || reads[0].RequestID == "" {
		t.Fatalf("the page's read is not recorded as the user's: %+v", reads)
	}
	// The API's read is recorded the same way.
	if r := s.do("GET", "/api/customers/"+id+"/", ""); r.StatusCode != 200 {
		t.Fatalf("API read: %d", r.StatusCode)
	}
	reads = s.reads(id)
	if len(reads) != 2 || reads[0].Purpose != reads[1].Purpose {
		t.Fatalf("API and page reads differ: %+v", reads)
	}
}

// listCounter is the real account service, counting ListUsers calls.
type listCounter struct {
	custodian.AccountService
	lists atomic.Int32
}

func (c *listCounter) ListUsers(ctx context.Context) ([]*custodian.User, error) {
	c.lists.Add(1)
	return c.AccountService.ListUsers(ctx)
}

// The customer page lists the users for actor names once, however many
// actors it shows: its timeline names at least the customer's creator.
func TestUICustomerPageListsUsersOnlyToNameActors(t *testing.T) {
	var acc *listCounter
	s := newTestServer(t, func(d *Deps) { acc = &listCounter{AccountService: d.Accounts}; d.Accounts = acc })
	id := s.create(`{"name":"Nobody Named"}`)["id"].(string)
	page := "/customers/" + id
	c, u := s.webAs(0, custodian.RoleAgent)
	if p := c.get(page); p.code != 200 || acc.lists.Load() != 1 {
		t.Fatalf("a page naming the creator: %d, %d user listings", p.code, acc.lists.Load())
	}
	if p := c.post(page, page+"/consents", url.Values{"purpose": {"phone_calls"}, "state": {"given"}, "source": {"phone call"}}); p.code != 303 {
		t.Fatalf("record consent: %d", p.code)
	}
	acc.lists.Store(0)
	if p := c.get(page); p.code != 200 || acc.lists.Load() != 1 || !strings.Contains(p.body, "<bdi>"+u.Name+"</bdi>") {
		t.Fatalf("a page naming the consent's recorder: %d, %d user listings", p.code, acc.lists.Load())
	}
}

func TestUIConsentForm(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Consenting Adult"}`)["id"].(string)
	page := "/customers/" + id
	c, u := s.webAs(0, custodian.RoleAgent)

	// Without the form's token nothing is recorded.
	if p := c.do("POST", page+"/consents", url.Values{"purpose": {"marketing_email"}, "state": {"given"}}); p.code != 403 {
		t.Fatalf("no token: %d", p.code)
	}
	// An unknown purpose, no state and overlong evidence: each error next
	// to its field, every value kept.
	hostile := `<script>alert("evidence")</script>`
	p := c.post(page, page+"/consents", url.Values{"purpose": {"newsletter"}, "source": {`"><img src=x onerror=alert(1)>`},
		"evidence": {hostile + strings.Repeat("x", custodian.MaxConsentEvidenceLen)}})
	if p.code != 400 {
		t.Fatalf("invalid consent: %d", p.code)
	}
	for _, want := range []string{
		`id="consent-purpose-error">Unknown consent purpose; use one of marketing_email, phone_calls, profiling.`,
		`id="consent-state-error"`, `id="consent-evidence-error"`,
		`<option value="newsletter" selected>`, `value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"`, "&lt;script&gt;alert(&#34;evidence&#34;)",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if strings.Contains(p.body, "<img src=x") || strings.Contains(p.body, "<script>alert") {
		t.Fatal("input echoed unescaped")
	}
	if got := s.events(custodian.AuditQuery{Subject: id, Action: custodian.ActionConsentChange}); len(got) != 0 {
		t.Fatalf("an invalid consent was recorded: %d", len(got))
	}
	// A valid change is recorded and shown, with who, where from and the
	// evidence as text.
	p = c.post(page, page+"/consents", url.Values{"purpose": {"phone_calls"}, "state": {"given"}, "source": {"phone call"}, "evidence": {hostile}})
	if p.code != 303 || p.loc != page+"#consent" {
		t.Fatalf("record: %d %q %s", p.code, p.loc, p.body)
	}
	p = c.get(page)
	hist := regexp.MustCompile(`(?s)<table class="list" id="consent-history".*?</table>`).FindString(p.body)
	if !strings.Contains(p.body, "Consent change recorded.") || !strings.Contains(hist, "phone call") || !strings.Contains(hist, u.Name) ||
		!strings.Contains(hist, "&lt;script&gt;") || !strings.Contains(hist, `consent-given`) {
		t.Fatalf("history: %s", hist)
	}
	current := regexp.MustCompile(`(?s)id="consent-current".*?</table>`).FindString(p.body)
	if !strings.Contains(current, "<span title=\"phone_calls\">Phone calls</span></td>\n<td data-label=\"State\"><span class=\"consent consent-given\">Given</span>") ||
		strings.Count(current, "not recorded") != 2 {
		t.Fatalf("current state: %s", current)
	}
}

func TestUIEraseFlow(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Erin Erasable","email":"erin@example.com"}`)["id"].(string)
	page := "/customers/" + id
	c, u := s.webAs(0, custodian.RoleManager)

	p := c.get(page + "/erase")
	if p.code != 200 || !strings.Contains(p.body, "This cannot be undone") || !strings.Contains(p.body, "Erin Erasable") {
		t.Fatalf("confirmation page: %d", p.code)
	}
	// Without the token, or without a reason and the confirmation,
	// nothing is erased.
	if p := c.do("POST", page+"/erase", url.Values{"reason": {"GDPR request 42"}, "confirm": {"erase"}}); p.code != 403 {
		t.Fatalf("no token: %d", p.code)
	}
	p = c.post(page+"/erase", page+"/erase", url.Values{"reason": {"  "}})
	if p.code != 400 || !strings.Contains(p.body, `id="erase-reason-error"`) || !strings.Contains(p.body, `id="erase-confirm-error"`) {
		t.Fatalf("missing reason and confirmation: %d %s", p.code, p.body)
	}
	p = c.post(page+"/erase", page+"/erase", url.Values{"reason": {"GDPR request 42"}})
	if p.code != 400 || !strings.Contains(p.body, `id="erase-confirm-error"`) || strings.Contains(p.body, `id="erase-reason-error"`) || !strings.Contains(p.body, ">GDPR request 42</textarea>") {
		t.Fatalf("missing confirmation: %d", p.code)
	}
	p = c.post(page+"/erase", page+"/erase", url.Values{"confirm": {"erase"}})
	if p.code != 400 || !strings.Contains(p.body, `id="erase-reason-error"`) || !strings.Contains(p.body, `value="erase" checked`) {
		t.Fatalf("missing reason: %d", p.code)
	}
	if p := c.get(page); p.code != 200 {
		t.Fatalf("the customer was erased by a refused form: %d", p.code)
	}

	// Under a legal hold, erasure is refused and explained; setting the
	// hold needs the form's token and a reason.
	if p := c.do("POST", page+"/legal-hold", url.Values{"active": {"true"}, "reason": {"Case 2026-17"}}); p.code != 403 {
		t.Fatalf("hold without token: %d", p.code)
	}
	if p := c.post(page, page+"/legal-hold", url.Values{"active": {"true"}}); p.code != 400 || !strings.Contains(p.body, `id="hold-reason-error"`) {
		t.Fatalf("hold without reason: %d", p.code)
	}
	if p := c.post(page, page+"/legal-hold", url.Values{"active": {"true"}, "reason": {"Case 2026-17"}}); p.code != 303 {
		t.Fatalf("set hold: %d %s", p.code, p.body)
	}
	if p := c.get(page); !strings.Contains(p.body, `id="legal-hold"`) || !strings.Contains(p.body, "Case 2026-17") || strings.Contains(p.body, `id="erase-link"`) {
		t.Fatal("the hold is not shown")
	}
	p = c.post(page+"/erase", page+"/erase", url.Values{"reason": {"GDPR request 42"}, "confirm": {"erase"}})
	if p.code != 409 || !strings.Contains(p.body, "legal hold") {
		t.Fatalf("erase under hold: %d", p.code)
	}
	if p := c.post(page, page+"/legal-hold", url.Values{"active": {"false"}, "reason": {"Case closed"}}); p.code != 303 {
		t.Fatalf("lift hold: %d", p.code)
	}

	// Erase: the tombstone is shown (410, readable), not a 404.
	p = c.post(page+"/erase", page+"/erase", url.Values{"reason": {"GDPR request 42"}, "confirm": {"erase"}})
	if p.code != 303 || p.loc != page {
		t.Fatalf("erase: %d %s", p.code, p.body)
	}
	p = c.get(page)
	if p.code != 410 || !strings.Contains(p.body, "The customer&#39;s personal data has been erased.") || !strings.Contains(p.body, `id="tombstone"`) ||
		!strings.Contains(p.body, "GDPR request 42") || !strings.Contains(p.body, u.Name) || strings.Contains(p.body, "Erin") || !strings.HasPrefix(p.hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("erased page: %d %s", p.code, p.body)
	}
	if p := c.get("/customers"); strings.Contains(p.body, id) {
		t.Fatal("the erased customer is still listed")
	}
	for _, path := range []string{page + "/erase", page + "/edit"} {
		if p := c.get(path); p.code != 410 || !strings.Contains(p.body, `id="tombstone"`) {
			t.Errorf("GET %s after erasure: %d", path, p.code)
		}
	}
	// Erasing again changes nothing and says so.
	tok := c.token("/customers")
	p = c.do("POST", page+"/erase", url.Values{csrfField: {tok}, "reason": {"again"}, "confirm": {"erase"}})
	if p.code != 303 {
		t.Fatalf("erase again: %d %s", p.code, p.body)
	}
	if p := c.get(page); p.code != 410 || !strings.Contains(p.body, "had already been erased") || !strings.Contains(p.body, "GDPR request 42") {
		t.Fatalf("after erasing again: %d", p.code)
	}
	if got := s.events(custodian.AuditQuery{Subject: id, Action: custodian.ActionCustomerErase}); len(got) != 1 || got[0].Actor != u.ID {
		t.Fatalf("erase events: %+v", got)
	}
	// The administrator sees the history on the tombstone page.
	admin, _ := s.webAs(1, custodian.RoleAdmin)
	if p := admin.get(page); p.code != 410 || !strings.Contains(p.body, `id="customer-history"`) || !strings.Contains(p.body, "<code>customer.erase</code>") {
		t.Fatalf("admin tombstone: %d", p.code)
	}
}

func TestUIExportIsAFormAndRecorded(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Export Me","email":"export@example.com"}`)["id"].(string)
	page := "/customers/" + id
	c, u := s.webAs(0, custodian.RoleManager)
	if p := c.do("POST", page+"/export", url.Values{}); p.code != 403 {
		t.Fatalf("no token: %d", p.code)
	}
	p := c.post(page, page+"/export", url.Values{})
	if p.code != 200 || !strings.HasPrefix(p.hdr.Get("Content-Type"), "application/json") ||
		p.hdr.Get("Content-Disposition") != `attachment; filename="`+id+`.json"` || p.hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("export: %d %v", p.code, p.hdr)
	}
	var e custodian.Export
	if err := json.Unmarshal([]byte(p.body), &e); err != nil || e.Format != custodian.ExportFormat || e.Customer == nil || e.Customer.Email != "export@example.com" || e.ExportedBy != u.ID {
		t.Fatalf("export body: %v %+v", err, e)
	}
	if got := s.events(custodian.AuditQuery{Subject: id, Action: custodian.ActionCustomerExport}); len(got) != 1 || got[0].Actor != u.ID {
		t.Fatalf("export events: %+v", got)
	}
}

func TestUIAuditPage(t *testing.T) {
	s := newTestServer(t)
	c, u := s.webAs(0, custodian.RoleAuditor)
	ctx := custodian.WithActor(context.Background(), "usr_someoneelse")
	day := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	var entries []custodian.AuditEntry
	for i := range 60 {
		entries = append(entries, custodian.AuditEntry{Action: custodian.ActionCustomerUpdate, Subject: fmt.Sprintf("cus_%026d", i%3), Time: day.Add(time.Duration(i) * time.Hour)})
	}
	entries = append(entries, custodian.AuditEntry{Action: custodian.ActionConsentChange, Subject: "cus_00000000000000000000000001", Fields: []string{"marketing_email"},
		Data: []byte(`{"state":"given"}`), Time: day})
	if err := s.store.AppendAudit(ctx, entries...); err != nil {
		t.Fatal(err)
	}

	p := c.get("/audit")
	rows := func(body string) int { return strings.Count(body, `<td data-label="#">`) }
	next := regexp.MustCompile(`href="(/audit\?[^"]*before=\d+[^"]*)" rel="next"`)
	if p.code != 200 || rows(p.body) != auditPageSize || next.FindStringSubmatch(p.body) == nil {
		t.Fatalf("first page: %d rows %d", p.code, rows(p.body))
	}
	// Filters by GET, kept in the form and in the next page's address.
	p = c.get("/audit?actor=usr_someoneelse&action=customer.&subject=cus_00000000000000000000000001")
	if p.code != 200 || rows(p.body) != 20 || strings.Contains(p.body, "<code>consent.change</code>") || !strings.Contains(p.body, `value="customer."`) {
		t.Fatalf("filtered: %d rows %d", p.code, rows(p.body))
	}
	p = c.get("/audit?action=consent.change")
	if rows(p.body) != 1 || !strings.Contains(p.body, "changed: marketing_email") || !strings.Contains(p.body, "state: given") {
		t.Fatalf("consent filter: %d rows", rows(p.body))
	}
	p = c.get("/audit?action=customer.update&since=2026-03-11&until=2026-03-11")
	if rows(p.body) != 24 {
		t.Fatalf("one day: %d rows", rows(p.body))
	}
	// Paging continues below the last sequence number, with the filters.
	p = c.get("/audit?action=customer.")
	m := next.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(m[1], "action=customer.") {
		t.Fatalf("no next page: %s", p.body)
	}
	p = c.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if p.code != 200 || rows(p.body) != 60-auditPageSize || next.MatchString(p.body) || !strings.Contains(p.body, "Newest events") {
		t.Fatalf("second page: %d rows %d", p.code, rows(p.body))
	}
	// Bad filters are explained next to their fields; an email address is
	// refused as a subject.
	for q, field := range map[string]string{
		"since=yesterday": "a-since-error", "since=2026-03-11&until=2026-03-10": "a-until-error",
		"subject=erin@example.com": "a-subject-error", "action=" + strings.Repeat("x", 201): "a-action-error", "action=customer.nothing": "a-action-error",
	} {
		if p := c.get("/audit?" + q); p.code != 400 || !strings.Contains(p.body, `id="`+field+`"`) {
			t.Errorf("%s: %d", q, p.code)
		}
	}
	if p := c.get("/audit?before=x"); p.code != 400 {
		t.Errorf("bad cursor: %d", p.code)
	}
	// Nothing matches: an empty state that says so. The auditor's own
	// sign-in is in the trail under their name.
	if p := c.get("/audit?action=keys.rotate"); p.code != 200 || !strings.Contains(p.body, "No events match") {
		t.Fatalf("empty: %d", p.code)
	}
	if p := c.get("/audit?actor=" + u.ID + "&action=auth.signin"); rows(p.body) != 1 || !strings.Contains(p.body, "<bdi>"+u.Name+"</bdi>") {
		t.Fatalf("own sign-in: %s", p.body)
	}
}

func TestUISecurityDashboard(t *testing.T) {
	now := time.Date(2026, 5, 4, 15, 20, 0, 0, time.UTC)
	clk := fakeclock.New(now)
	s := newTestServer(t, func(d *Deps) { d.Now = clk.Now })
	ctx := context.Background()
	// Failed sign-ins: 3 in the 13:00 hour, 1 in the 15:00 hour, 2 more
	// than 24 hours ago (not shown).
	var entries []custodian.AuditEntry
	for _, at := range []time.Time{
		now.Add(-2 * time.Hour), now.Add(-2*time.Hour + time.Minute), now.Add(-2*time.Hour + 30*time.Minute),
		now.Add(-time.Minute), now.Add(-25 * time.Hour), now.Add(-30 * time.Hour),
	} {
		entries = append(entries, custodian.AuditEntry{Action: custodian.ActionSignInFailed, Subject: "usr_x", Time: at})
	}
	if err := s.store.AppendAudit(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	for i, rule := range []string{"brute_force", "scanning", "brute_force"} {
		a := custodian.Alert{ID: fmt.Sprintf("alr_%d", i), Rule: rule, Key: "addr:203.0.113." + fmt.Sprint(i), FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-time.Hour + time.Duration(i)*time.Minute), Count: 5 + i, Status: custodian.AlertOpen}
		if _, err := s.store.SaveAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}

	auditor, _ := s.webAs(0, custodian.RoleAuditor)
	p := auditor.get("/security")
	if p.code != 200 || strings.Count(p.body, `<td data-label="Rule">`) != 3 || strings.Contains(p.body, "/resolve") {
		t.Fatalf("auditor dashboard: %d %s", p.code, p.body)
	}
	chart := regexp.MustCompile(`(?s)<figure class="chart" id="chart-signins">.*?</figure>`).FindString(p.body)
	bars := regexp.MustCompile(`<rect class="bar series-0" x="[0-9.]+" y="([0-9.]+)" width="[0-9.]+" height="([0-9.]+)" data-count="(\d+)"><title>([^<]*)</title>`).FindAllStringSubmatch(chart, -1)
	// The scale tops at 3: a bar of 3 fills the plot (200 units), 1 is a third.
	if len(bars) != 2 || bars[0][3] != "3" || bars[0][2] != "200.0" || bars[0][1] != "12.0" || bars[1][3] != "1" || bars[1][2] != "66.7" ||
		bars[0][4] != "13:00–14:00 UTC: 3 failed sign-ins" {
		t.Fatalf("sign-in bars: %v", bars)
	}
	for _, want := range []string{`<title id="signins-title">Failed sign-ins, last 24 hours</title>`, `<desc id="signins-desc">4 failed sign-ins in the 24 hours from 3 May 16:00 UTC`,
		"<th scope=\"row\">13:00</th><td>3</td>", "<th scope=\"row\">15:00</th><td>1</td>", "<th scope=\"row\">16:00</th><td>0</td>"} {
		if !strings.Contains(chart, want) {
			t.Errorf("the sign-in chart lacks %s", want)
		}
	}
	alerts := regexp.MustCompile(`(?s)<figure class="chart" id="chart-alerts">.*?</figure>`).FindString(p.body)
	if !strings.Contains(alerts, `data-count="2"><title>14:00–15:00 UTC: 2 brute_force</title>`) || !strings.Contains(alerts, `class="bar series-1"`) ||
		!strings.Contains(alerts, "brute_force: 2") || !strings.Contains(alerts, "scanning: 1") || !strings.Contains(p.body, "rate_limit_refusals_total") {
		t.Fatalf("alert chart: %s", alerts)
	}
	// The administrator resolves an alert (with the form's token); it
	// leaves the list.
	admin, _ := s.webAs(1, custodian.RoleAdmin)
	if p := admin.do("POST", "/security/alerts/alr_1/resolve", url.Values{}); p.code != 403 {
		t.Fatalf("resolve without token: %d", p.code)
	}
	p = admin.post("/security", "/security/alerts/alr_1/resolve", url.Values{})
	if p.code != 303 || p.loc != "/security" {
		t.Fatalf("resolve: %d %s", p.code, p.body)
	}
	p = admin.get("/security")
	if !strings.Contains(p.body, "Alert resolved.") || strings.Count(p.body, `<td data-label="Rule">`) != 2 || strings.Contains(p.body, "/security/alerts/alr_1/") {
		t.Fatalf("after resolving: %s", p.body)
	}
	if p := admin.post("/security", "/security/alerts/alr_nope/resolve", url.Values{}); p.code != 404 {
		t.Fatalf("resolve unknown: %d", p.code)
	}
	// An empty server: an empty state and empty charts.
	empty := newTestServer(t, func(d *Deps) { d.Now = clk.Now })
	e, _ := empty.webAs(0, custodian.RoleAuditor)
	if p := e.get("/security"); !strings.Contains(p.body, `id="no-alerts"`) || !strings.Contains(p.body, "No failed sign-ins in the 24 hours") || strings.Contains(p.body, `<rect class="bar`) {
		t.Fatalf("empty dashboard: %s", p.body)
	}
}

func TestChartScale(t *testing.T) {
	for max, want := range map[int][2]int{0: {1, 1}, 1: {1, 1}, 3: {3, 1}, 5: {5, 1}, 6: {6, 2}, 9: {10, 2}, 11: {15, 5}, 26: {30, 10}, 51: {60, 20}, 260: {300, 100}} {
		if top, step := chartScale(max); top != want[0] || step != want[1] {
			t.Errorf("chartScale(%d) = %d, %d; want %v", max, top, step, want)
		}
	}
}
