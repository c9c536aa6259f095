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
}

func auditRows(events []custodian.AuditEvent, names *actorNames) []auditRow {
	out := make([]auditRow, len(events))
	for i, e := range events {
		out[i] = auditRow{AuditEvent: e, ActorName: names.name(e.Actor), Detail: eventDetail(e.Data)}
	}
	return out
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

// auditActions are offered as suggestions in the action filter: prefixes
// first, then every action.
var auditActions = []string{
	"customer.", "consent.", "user.", "auth.", "token.", "security.", "setting.", "keys.",
	custodian.ActionCustomerCreate, custodian.ActionCustomerUpdate, custodian.ActionCustomerDelete, custodian.ActionCustomerRead,
	custodian.ActionCustomerExport, custodian.ActionCustomerErase, custodian.ActionConsentChange, custodian.ActionLegalHold, custodian.ActionActivityLog, custodian.ActionTaskAdd, custodian.ActionTaskDone,
	custodian.ActionUserCreate, custodian.ActionUserUpdate, custodian.ActionUserRole, custodian.ActionUserDeactivate,
	custodian.ActionUserActivate, custodian.ActionUserUnlock, custodian.ActionUserInvite, custodian.ActionUserResetLink,
	custodian.ActionPasswordChange, custodian.ActionPasswordReset, custodian.ActionEmailChange, custodian.ActionTOTPEnable,
	custodian.ActionTOTPDisable, custodian.ActionTOTPReset, custodian.ActionSignIn, custodian.ActionSignInFailed,
	custodian.ActionSignOut, custodian.ActionTokenIssue, custodian.ActionTokenRevoke, custodian.ActionSettingChange,
	custodian.ActionKeyRotate, custodian.ActionSecurityAlert, custodian.ActionAlertResolve,
}

// auditData is the audit trail page's content.
type auditData struct {
	Actor, Action, Subject, Since, Until string
	Errors                               map[string]string
	Table                                auditTable
	Actors                               []option
	Actions                              []string
	Filtered, Paged                      bool
	NextURL, FirstURL                    string
}

// dateLayout is the form of the date filters (an <input type="date">).
const dateLayout = "2006-01-02"

// handleAudit lists the audit trail, newest first. Filters are ids, action
// names and dates, never personal data, so they are plain query
// parameters: the actor is chosen from a list of users (their ids go in
// the address, not their emails), and a subject that looks like an email
// address is refused. Pages continue below the last sequence number shown.
func (u *ui) handleAudit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		qv := r.URL.Query()
		d := auditData{Actor: qv.Get("actor"), Action: strings.TrimSpace(qv.Get("action")), Subject: strings.TrimSpace(qv.Get("subject")),
			Since: qv.Get("since"), Until: qv.Get("until"), Errors: map[string]string{}, Actions: auditActions}
		names := u.actorNames(ctx)
		d.Actors = actorOptions(u.printers[u.lang(r)], names.all(), d.Actor)
		q := custodian.AuditQuery{Actor: d.Actor, Action: d.Action, Subject: d.Subject, Limit: auditPageSize + 1}
		for name, v := range map[string]string{"actor": q.Actor, "action": q.Action, "subject": q.Subject} {
			if len(v) > maxFilterLen {
				d.Errors[name] = u.t(r, "At most %d characters.", maxFilterLen)
			}
		}
		if strings.Contains(d.Subject, "@") {
			d.Errors["subject"] = msg("Subjects are ids such as cus_… or usr_…; email addresses are not searched here.")
		}
		q.Since = dateParam(d.Since, "since", d.Errors)
		if until := dateParam(d.Until, "until", d.Errors); !until.IsZero() {
			q.Until = until.AddDate(0, 0, 1) // the whole last day
		}
		if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
			d.Errors["until"] = msg("The end date must not be before the start date.")
		}
		if b := qv.Get("before"); b != "" {
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil || n < 2 {
				d.Errors["before"] = msg("This page address is not valid; start from the first page.")
			}
			q.BeforeSeq, d.Paged = n, true
		}
		d.Filtered = d.Actor != "" || d.Action != "" || d.Subject != "" || d.Since != "" || d.Until != ""
		if len(d.Errors) > 0 {
			u.render(w, r, http.StatusBadRequest, "audit", uiView{Title: u.t(r, "Audit trail"), Section: "audit", Data: d})
			return
		}
		events, err := u.audit.AuditEvents(ctx, q)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		base := url.Values{}
		for _, k := range []string{"actor", "action", "subject", "since", "until"} {
			if v := strings.TrimSpace(qv.Get(k)); v != "" {
				base.Set(k, v)
			}
		}
		if d.Paged {
			d.FirstURL = withQuery("/audit", base)
		}
		if len(events) > auditPageSize {
			events = events[:auditPageSize]
			base.Set("before", strconv.FormatInt(events[len(events)-1].Seq, 10))
			d.NextURL = withQuery("/audit", base)
		}
		d.Table = auditTable{ID: "audit", Caption: msg("Audit events, newest first"), Rows: auditRows(events, names), ShowSubject: true,
			LinkCustomers: principal(r).User.Role.Can(custodian.PermCustomersRead)}
		u.render(w, r, http.StatusOK, "audit", uiView{Title: u.t(r, "Audit trail"), Section: "audit", Data: d})
	})
}

// dateParam reads a date filter as the start of that day in UTC.
func dateParam(v, name string, errs map[string]string) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(dateLayout, v)
	if err != nil {
		errs[name] = msg("Give a date such as 2026-05-01.")
	}
	return t
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
