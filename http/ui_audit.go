package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	// The zone database is built in, so that the audit page's time zones
	// are known wherever the server runs.
	_ "time/tzdata"

	"github.com/custodian-crm/custodian"
	"golang.org/x/text/message"
)

// auditPageSize is how many events a page of the audit trail shows.
const auditPageSize = 50

// auditTable is what the audit-table template shows.
type auditTable struct {
	ID, Caption string
	Rows        []auditRow
	// ShowSubject adds the subject column; LinkCustomers links customer
	// subjects to their page.
	ShowSubject, LinkCustomers bool
}

// auditRow is an audit event as a page shows it.
type auditRow struct {
	custodian.AuditEvent
	ActorName string
	// Detail is the event's data as compact JSON text (never personal).
	Detail string
	// Customer names the subject, when it is a customer and the viewer
	// may see customers' names.
	Customer *customerRef
	// Read is set on a record of the read log: one request's read of one
	// customer or of a whole list page.
	Read *readLine
}

// readLine is a record of the read log as the audit page shows it.
type readLine struct {
	Seq       int64
	Purpose   string
	Customers []customerRef
}

// customerRef is a customer a line mentions: its id, and its name when
// the viewer may see it.
type customerRef struct {
	ID   string
	Name *custodian.CustomerName
}

func auditRows(events []custodian.AuditEvent, names *actorNames) []auditRow {
	out := make([]auditRow, len(events))
	for i, e := range events {
		out[i] = eventRow(e, names)
	}
	return out
}

// eventRow is an event of the trail as a row: its actor named and its
// data as text.
func eventRow(e custodian.AuditEvent, names *actorNames) auditRow {
	return auditRow{AuditEvent: e, ActorName: names.name(e.Actor), Detail: eventDetail(e.Data)}
}

// eventDetail shows an event's data: JSON objects as "key: value" pairs,
// anything else as it is.
func eventDetail(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return string(b)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v, _ := json.Marshal(m[k]) // decoded JSON always encodes
		parts = append(parts, k+": "+strings.Trim(string(v), `"`))
	}
	return strings.Join(parts, ", ")
}

// auditActionOptions are the action filter's choices: any, each family
// of actions (an action ending in a dot matches every action it starts),
// then every action, all taken from the one list of actions.
func auditActionOptions(pr *message.Printer) []option {
	opts := []option{{"", pr.Sprintf("Any action")}}
	actions := custodian.AuditActions()
	seen := map[string]bool{}
	for _, a := range actions {
		family, _, _ := strings.Cut(a, ".")
		if !seen[family] {
			seen[family] = true
			opts = append(opts, option{family + ".", pr.Sprintf("Any %s… action", family+".")})
		}
	}
	for _, a := range actions {
		opts = append(opts, option{a, a})
	}
	return opts
}

// Bounds of the audit page.
const (
	// auditNameCap bounds how many customers one page names; further
	// ones show their ids.
	auditNameCap = 500
	// auditPurpose is the purpose recorded with the reads of the names
	// the audit page shows, unless the request states its own.
	auditPurpose = "audit trail review"
)

// auditData is the audit trail page's content.
type auditData struct {
	Actor, Action, Subject, Since, Until, Zone string
	// Reads shows the read log's records among the trail's events.
	Reads   bool
	Errors  map[string]string
	Table   auditTable
	Actors  []option
	Actions []option
	// Names says customers are shown by name (the viewer may see them).
	Names                      bool
	Filtered, Paged            bool
	NextURL, PrevURL, FirstURL string
	// ReadsURL and NoReadsURL turn the reads on and off, keeping the
	// filters (and returning to the first page).
	ReadsURL, NoReadsURL string
}

// dateLayout is the value of an <input type="date"> (the audit page's
// date filters, a task's due date); minuteLayout, of an
// <input type="datetime-local"> (a time to the minute).
const (
	dateLayout   = "2006-01-02"
	minuteLayout = "2006-01-02T15:04"
)

// auditFilterKeys are the page's filters, as its address carries them.
var auditFilterKeys = []string{"actor", "action", "subject", "since", "until", "tz", "reads"}

// auditCursor is where a page of the audit page starts in each of its two
// streams: the trail's sequence numbers and the read log's. Down pages
// list what lies below Trail and Reads (0: from the newest); up pages
// (a previous page) what lies just above them (0: nothing of that stream).
type auditCursor struct {
	Trail, Reads int64
	Up           bool
}

// handleAudit lists the audit trail, newest first, with the read log's
// records among the events when the reader asks for them (hidden by
// default: they outnumber everything else). A list or search page's reads
// are one record, so one line. Filters are ids, action names, times and
// a time zone, never personal data, so they are plain query parameters:
// the actor is chosen from a list of users (their ids go in the address),
// the action from the known set, and a subject that looks like an email
// address is refused. Customers are shown by name to the roles that may
// read customers, resolved when the page is drawn and recorded as a read;
// never stored in the trail. Pages are cursors of sequence numbers, so
// events recorded meanwhile do not move them.
func (u *ui) handleAudit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		qv := r.URL.Query()
		d := auditData{Actor: qv.Get("actor"), Action: strings.TrimSpace(qv.Get("action")), Subject: strings.TrimSpace(qv.Get("subject")),
			Since: strings.TrimSpace(qv.Get("since")), Until: strings.TrimSpace(qv.Get("until")), Zone: strings.TrimSpace(qv.Get("tz")),
			Reads: qv.Get("reads") == "1", Errors: map[string]string{}, Actions: auditActionOptions(u.printers[u.lang(r)]),
			Names: principal(r).User.Role.Can(custodian.PermCustomersRead)}
		names := u.actorNames(ctx)
		d.Actors = actorOptions(u.printers[u.lang(r)], names.all(), d.Actor)
		q := custodian.AuditQuery{Actor: d.Actor, Action: d.Action, Subject: d.Subject}
		for name, v := range map[string]string{"actor": q.Actor, "subject": q.Subject, "tz": d.Zone} {
			if len(v) > maxFilterLen {
				d.Errors[name] = u.t(r, "At most %d characters.", maxFilterLen)
			}
		}
		if d.Action != "" && !slices.ContainsFunc(d.Actions, func(o option) bool { return o.Value == d.Action }) {
			d.Errors["action"] = msg("Choose an action from the list.")
		}
		if strings.Contains(d.Subject, "@") {
			d.Errors["subject"] = msg("Subjects are ids such as cus_… or usr_…; email addresses are not searched here.")
		}
		loc := time.UTC
		if d.Zone != "" && d.Errors["tz"] == "" {
			l, err := time.LoadLocation(d.Zone)
			if err != nil || d.Zone == "Local" {
				d.Errors["tz"] = msg("This time zone is not known; times are taken as UTC without it.")
			} else {
				loc = l
			}
		}
		q.Since, _ = timeFilter(d.Since, "since", loc, d.Errors)
		if until, whole := timeFilter(d.Until, "until", loc, d.Errors); !until.IsZero() {
			q.Until = until.Add(whole) // the whole last day or minute
		}
		if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
			d.Errors["until"] = msg("The end must not be before the start.")
		}
		cur, paged := auditCursorParam(qv, d.Errors)
		d.Paged = paged
		// customer.read selects reads: the read log is where they are.
		d.Reads = d.Reads || d.Action == custodian.ActionCustomerRead
		d.Filtered = d.Actor != "" || d.Action != "" || d.Subject != "" || d.Since != "" || d.Until != ""
		base := url.Values{}
		for _, k := range auditFilterKeys {
			if v := strings.TrimSpace(qv.Get(k)); v != "" {
				base.Set(k, v)
			}
		}
		d.ReadsURL, d.NoReadsURL = withQuery("/audit", with(base, "reads", "1")), withQuery("/audit", with(base, "reads", ""))
		if len(d.Errors) > 0 {
			u.render(w, r, http.StatusBadRequest, "audit", uiView{Title: u.t(r, "Audit trail"), Section: "audit", Data: d})
			return
		}
		// Reads name customers only, and only customer.read is one.
		withReads := d.Reads && (d.Subject == "" || custodian.ValidCustomerID(d.Subject)) &&
			(d.Action == "" || d.Action == "customer." || d.Action == custodian.ActionCustomerRead)
		q.SkipReads = !d.Reads
		rq := custodian.ReadQuery{Customer: d.Subject, Actor: d.Actor, Since: q.Since, Until: q.Until}
		lines, up, err := u.auditPage(ctx, q, rq, withReads, cur)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if cur.Up && !up.more {
			// Nothing beyond this page upwards: it is the first page.
			cur, d.Paged = auditCursor{}, false
			if lines, up, err = u.auditPage(ctx, q, rq, withReads, cur); err != nil {
				u.fail(w, r, err)
				return
			}
		}
		if d.Paged {
			d.FirstURL = withQuery("/audit", base)
			d.PrevURL = withQuery("/audit", up.prev.values(base))
		}
		if up.more || cur.Up {
			d.NextURL = withQuery("/audit", up.next.values(base))
		}
		rows, err := u.auditLines(ctx, lines, names, d.Names)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Table = auditTable{ID: "audit", Caption: msg("Audit events, newest first"), Rows: rows, ShowSubject: true, LinkCustomers: d.Names}
		u.render(w, r, http.StatusOK, "audit", uiView{Title: u.t(r, "Audit trail"), Section: "audit", Data: d})
	})
}

// with returns a copy of v with key set to value (removed when empty).
func with(v url.Values, key, value string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	if value == "" {
		out.Del(key)
	} else {
		out.Set(key, value)
	}
	return out
}

// values returns the filters base with c's page parameters.
func (c auditCursor) values(base url.Values) url.Values {
	out := with(base, "", "")
	names := [2]string{"before", "rbefore"}
	if c.Up {
		names = [2]string{"after", "rafter"}
	}
	for i, n := range []int64{c.Trail, c.Reads} {
		if n > 0 {
			out.Set(names[i], strconv.FormatInt(n, 10))
		}
	}
	if c.Up && c.Trail == 0 && c.Reads == 0 {
		out.Set("after", "0") // nothing newer: still a previous page
	}
	return out
}

// auditCursorParam reads a page's cursor: before and rbefore for a page
// further down, or after and rafter for a previous page. It reports
// whether the address names a page other than the first.
func auditCursorParam(qv url.Values, errs map[string]string) (auditCursor, bool) {
	var c auditCursor
	paged := false
	read := func(name string, min int64) int64 {
		v := qv.Get(name)
		if v == "" {
			return 0
		}
		paged = true
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			errs["before"] = msg("This page address is not valid; start from the first page.")
		}
		return n
	}
	c.Trail, c.Reads = read("before", 2), read("rbefore", 2)
	at, ar := read("after", 0), read("rafter", 0)
	if qv.Has("after") || qv.Has("rafter") {
		if c.Trail != 0 || c.Reads != 0 {
			errs["before"] = msg("This page address is not valid; start from the first page.")
		}
		c = auditCursor{Trail: at, Reads: ar, Up: true}
	}
	return c, paged
}

// auditLine is one line of the audit page: an event of the trail, or a
// record of the read log.
type auditLine struct {
	event *custodian.AuditEvent
	read  *custodian.ReadRecord
}

func (l auditLine) time() time.Time {
	if l.event != nil {
		return l.event.Time
	}
	return l.read.Time
}

// newer orders lines newest first; at the same instant an event comes
// before a read (as MergeReads lists them).
func newer(a, b auditLine) bool {
	if ta, tb := a.time(), b.time(); !ta.Equal(tb) {
		return ta.After(tb)
	}
	return a.event != nil && b.read != nil
}

// auditPaging is where a page leaves off: whether there is more in its
// direction, and the cursors of the pages below (next) and above (prev).
type auditPaging struct {
	more       bool
	next, prev auditCursor
}

// auditPage reads one page of lines, newest first: up to auditPageSize+1
// from each stream beyond the cursor, merged by time with each stream kept
// in sequence order, so that a cursor is the last sequence number each
// stream showed.
func (u *ui) auditPage(ctx context.Context, q custodian.AuditQuery, rq custodian.ReadQuery, withReads bool, c auditCursor) ([]auditLine, auditPaging, error) {
	q.Limit, rq.Limit = auditPageSize+1, auditPageSize+1
	skipTrail := false
	if c.Up {
		q.AfterSeq, rq.AfterSeq = c.Trail, c.Reads
		skipTrail = c.Trail == 0
		withReads = withReads && c.Reads > 0
	} else {
		q.BeforeSeq, rq.BeforeSeq = c.Trail, c.Reads
	}
	var events []custodian.AuditEvent
	var reads []custodian.ReadRecord
	var err error
	if !skipTrail {
		if events, err = u.audit.AuditEvents(ctx, q); err != nil {
			return nil, auditPaging{}, err
		}
	}
	if withReads {
		if reads, err = u.audit.Reads(ctx, rq); err != nil {
			return nil, auditPaging{}, err
		}
	}
	lines := make([]auditLine, 0, min(auditPageSize, len(events)+len(reads)))
	var p auditPaging
	if !c.Up {
		i, j := 0, 0
		for (i < len(events) || j < len(reads)) && len(lines) < auditPageSize {
			if j == len(reads) || (i < len(events) && newer(auditLine{event: &events[i]}, auditLine{read: &reads[j]})) {
				lines, i = append(lines, auditLine{event: &events[i]}), i+1
			} else {
				lines, j = append(lines, auditLine{read: &reads[j]}), j+1
			}
		}
		p.more = i < len(events) || j < len(reads)
	} else {
		// From the oldest of what lies above the cursor, upwards.
		i, j := len(events)-1, len(reads)-1
		for (i >= 0 || j >= 0) && len(lines) < auditPageSize {
			if j < 0 || (i >= 0 && !newer(auditLine{event: &events[i]}, auditLine{read: &reads[j]})) {
				lines, i = append(lines, auditLine{event: &events[i]}), i-1
			} else {
				lines, j = append(lines, auditLine{read: &reads[j]}), j-1
			}
		}
		p.more = i >= 0 || j >= 0
		slices.Reverse(lines)
	}
	// The next page continues below the oldest line each stream showed,
	// the previous one above the newest; a stream that showed nothing
	// keeps the cursor it came with.
	p.next, p.prev = auditCursor{}, auditCursor{Up: true}
	if c.Up {
		p.next = auditCursor{Trail: c.Trail + 1, Reads: c.Reads + 1}
		if c.Trail == 0 {
			p.next.Trail = 0
		}
		if c.Reads == 0 {
			p.next.Reads = 0
		}
		p.prev = c
	} else {
		p.next = c
		p.prev.Trail, p.prev.Reads = max(c.Trail-1, 0), max(c.Reads-1, 0)
	}
	for _, l := range lines {
		if l.event != nil {
			p.next.Trail = minSeq(p.next.Trail, l.event.Seq)
			p.prev.Trail = max(p.prev.Trail, l.event.Seq)
		} else {
			p.next.Reads = minSeq(p.next.Reads, l.read.Seq)
			p.prev.Reads = max(p.prev.Reads, l.read.Seq)
		}
	}
	return lines, p, nil
}

// minSeq is the lower of a cursor (0: none yet) and a sequence number.
func minSeq(cur, seq int64) int64 {
	if cur == 0 {
		return seq
	}
	return min(cur, seq)
}

// auditLines makes the page's rows. With names, the customers the lines
// mention are named in one batched lookup (at most auditNameCap of them),
// which is recorded as a read with the audit page's purpose.
func (u *ui) auditLines(ctx context.Context, lines []auditLine, actors *actorNames, withNames bool) ([]auditRow, error) {
	var known map[string]custodian.CustomerName
	if withNames {
		var ids []string
		seen := map[string]bool{}
		add := func(id string) {
			if len(ids) < auditNameCap && custodian.ValidCustomerID(id) && !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		for _, l := range lines {
			if l.event != nil {
				add(l.event.Subject)
			} else {
				for _, c := range l.read.Customers {
					add(c)
				}
			}
		}
		if len(ids) > 0 {
			if custodian.PurposeFrom(ctx) == "" {
				ctx = custodian.WithPurpose(ctx, auditPurpose)
			}
			var err error
			if known, err = u.names.CustomerNames(ctx, ids); err != nil {
				return nil, err
			}
		}
	}
	name := func(id string) *custodian.CustomerName {
		if n, ok := known[id]; ok {
			return &n
		}
		return nil
	}
	subject := func(id string) *customerRef {
		if n := name(id); n != nil {
			return &customerRef{ID: id, Name: n}
		}
		return nil
	}
	rows := make([]auditRow, len(lines))
	for i, l := range lines {
		if l.event != nil {
			rows[i] = eventRow(*l.event, actors)
			rows[i].Customer = subject(l.event.Subject)
			continue
		}
		rd := l.read
		line := &readLine{Seq: rd.Seq, Purpose: rd.Purpose}
		for _, c := range rd.Customers {
			line.Customers = append(line.Customers, customerRef{ID: c, Name: name(c)})
		}
		row := auditRow{AuditEvent: custodian.AuditEvent{Time: rd.Time, Actor: rd.Actor, Action: custodian.ActionCustomerRead, ClientAddr: rd.ClientAddr, RequestID: rd.RequestID},
			ActorName: actors.name(rd.Actor), Read: line}
		if len(rd.Customers) == 1 {
			row.Subject, row.Customer = rd.Customers[0], subject(rd.Customers[0])
		}
		rows[i] = row
	}
	return rows, nil
}

// timeFilter reads a time filter, a day (2026-05-01) or a minute
// (2026-05-01T14:30) in loc, and returns its start and its length (what
// "up to and including" adds).
func timeFilter(v, name string, loc *time.Location, errs map[string]string) (time.Time, time.Duration) {
	if v == "" {
		return time.Time{}, 0
	}
	if t, err := time.ParseInLocation(dateLayout, v, loc); err == nil {
		return t, t.AddDate(0, 0, 1).Sub(t)
	}
	if t, err := time.ParseInLocation(minuteLayout, v, loc); err == nil {
		return t, time.Minute
	}
	errs[name] = msg("Give a date such as 2026-05-01, or a time such as 2026-05-01T14:30.")
	return time.Time{}, 0
}

// actorOptions are the actor filter's choices: anyone, the system actors
// and every user by name (sorted), and the current value if it is none of
// those.
func actorOptions(p *message.Printer, names map[string]string, cur string) []option {
	opts := []option{{"", p.Sprintf("Anyone")}}
	var users []option
	for id, n := range names {
		if strings.HasPrefix(id, "system:") {
			opts = append(opts, option{id, p.Sprintf("%s (%s)", p.Sprintf(n), id)})
			continue
		}
		users = append(users, option{id, n})
	}
	slices.SortFunc(opts[1:], func(a, b option) int { return strings.Compare(a.Value, b.Value) })
	slices.SortFunc(users, func(a, b option) int {
		if c := strings.Compare(a.Label, b.Label); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	opts = append(opts, users...)
	if cur != "" && !slices.ContainsFunc(opts, func(o option) bool { return o.Value == cur }) {
		opts = append(opts, option{cur, cur})
	}
	return opts
}

// securityData is the security dashboard's content.
type securityData struct {
	Alerts     []alertRow
	HasAlerts  bool // alerts are stored on this server
	CanResolve bool
	SignIns    *barChart
	AlertChart *barChart
	// Capped says a chart stopped counting at chartEventCap events.
	Capped bool
}

// alertRow is an unresolved alert as the dashboard shows it.
type alertRow struct {
	custodian.StoredAlert
	KeyKind, KeyValue string
}

// Bounds of the dashboard's queries.
const (
	alertListLimit = 200
	chartEventCap  = 20000
)

// handleSecurity shows the security dashboard: unresolved alerts, and
// charts of the last 24 hours drawn on the server as SVG (no script):
// failed sign-ins from the audit trail, and alerts raised, by rule, also
// from the trail. Rate-limit refusals are only counted in the metrics, not
// stored, so they appear here through the "abuse" rule's alerts.
func (u *ui) handleSecurity() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		d := securityData{HasAlerts: u.alerts != nil, CanResolve: u.alerts != nil && principal(r).User.Role.Can(custodian.PermSettingsManage)}
		names := u.actorNames(ctx)
		if u.alerts != nil {
			alerts, err := u.alerts.Alerts(ctx, custodian.AlertQuery{Resolved: new(false), Limit: alertListLimit})
			if err != nil {
				u.fail(w, r, err)
				return
			}
			for _, a := range alerts {
				d.Alerts = append(d.Alerts, newAlertRow(a, names))
			}
		}
		end := u.now().UTC().Truncate(time.Hour).Add(time.Hour)
		start := end.Add(-24 * time.Hour)
		failed, capped1, err := u.eventsSince(ctx, custodian.ActionSignInFailed, start, end)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		raised, capped2, err := u.eventsSince(ctx, custodian.ActionSecurityAlert, start, end)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Capped = capped1 || capped2
		d.SignIns = hourlyChart(u.printers[u.lang(r)], "signins", msg("Failed sign-ins, last 24 hours"), msg("failed sign-ins"), start, failed, func(custodian.AuditEvent) string { return msg("failed sign-ins") })
		d.AlertChart = hourlyChart(u.printers[u.lang(r)], "alerts", msg("Alerts raised by rule, last 24 hours"), msg("alerts"), start, raised, alertRule)
		u.render(w, r, http.StatusOK, "security", uiView{Title: u.t(r, "Security"), Section: "security", Data: d})
	})
}

func newAlertRow(a custodian.StoredAlert, names *actorNames) alertRow {
	row := alertRow{StoredAlert: a, KeyKind: "Target", KeyValue: a.Key}
	switch kind, v, _ := strings.Cut(a.Key, ":"); kind {
	case "addr":
		row.KeyKind, row.KeyValue = "Address", v
	case "account":
		row.KeyKind, row.KeyValue = "Account", names.name(v)
	}
	return row
}

// alertRule is the rule named in a security.alert event's data.
func alertRule(e custodian.AuditEvent) string {
	var d struct {
		Rule string `json:"rule"`
	}
	if json.Unmarshal(e.Data, &d) != nil || d.Rule == "" {
		return "other"
	}
	return d.Rule
}

// eventsSince returns the events of action in [start, end), at most
// chartEventCap of them, and whether it stopped there.
func (u *ui) eventsSince(ctx context.Context, action string, start, end time.Time) ([]custodian.AuditEvent, bool, error) {
	if u.audit == nil {
		return nil, false, nil
	}
	events, err := u.audit.AuditEvents(ctx, custodian.AuditQuery{Action: action, Since: start, Until: end, Limit: chartEventCap + 1})
	if err != nil {
		return nil, false, err
	}
	if len(events) > chartEventCap {
		return events[:chartEventCap], true, nil
	}
	return events, false, nil
}

// handleResolveAlertForm marks an alert resolved (the permission is the
// API's: settings:manage).
func (u *ui) handleResolveAlertForm() http.Handler {
	return u.formPost(func(w http.ResponseWriter, r *http.Request) {
		if err := u.alerts.ResolveAlert(r.Context(), r.PathValue("id"), u.now()); err != nil {
			u.fail(w, r, err)
			return
		}
		redirectWithFlash(w, r, "/security", "alert-resolved")
	})
}
