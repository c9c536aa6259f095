package http

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/edge"
	"github.com/custodian-crm/custodian/metrics"
)

// signals reports what the request path sees to the metrics and to the
// attack detector, in one place.
type signals struct {
	m   *metrics.Metrics
	mon custodian.Observer
}

func (d Deps) signals() signals { return signals{m: d.Metrics, mon: d.Monitor} }

// rateLimited reports a request to route refused by a rate limit.
func (s signals) rateLimited(r *http.Request, route string) {
	s.m.RateLimited()
	s.mon.Observe(custodian.Signal{Kind: custodian.SignalRateLimited, Addr: edge.ClientAddrFrom(r.Context()), Detail: route})
}

// signInFailed reports a refused sign-in. The detector counts it per
// address and, when the attempt named an account, per account (a user id,
// or the keyed token of an address without an account: never an email).
func (s signals) signInFailed(r *http.Request, err error) {
	s.m.SignInFailed()
	var se *custodian.SignInError
	if !errors.As(err, &se) {
		return // e.g. a missing one-time code: a step of a sign-in, not a failure
	}
	s.mon.Observe(custodian.Signal{Kind: custodian.SignalFailedSignIn, Addr: edge.ClientAddrFrom(r.Context()), Account: se.Account})
}

// ProbeSignal is the signal of a scanner probe, for Deps.OnProbe.
func ProbeSignal(r *http.Request) custodian.Signal {
	return custodian.Signal{Kind: custodian.SignalSuspicious, Addr: edge.ClientAddrFrom(r.Context()), Detail: "probe"}
}

// query reads a list's query string: each parameter at most once, and
// only those in allowed (at least one; named in the message).
func query(r *http.Request, allowed ...string) (url.Values, []custodian.FieldError, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, nil, errorf(custodian.EINVALID, "The query string is malformed.")
	}
	var fields []custodian.FieldError
	for k, v := range values {
		switch {
		case !slices.Contains(allowed, k):
			last := len(allowed) - 1
			fields = append(fields, custodian.FieldError{Field: k, Message: "Unknown query parameter; use " + strings.Join(allowed[:last], ", ") + " or " + allowed[last] + "."})
		case len(v) > 1:
			fields = append(fields, custodian.FieldError{Field: k, Message: "Give this parameter once."})
		}
	}
	return values, fields, nil
}

// listLimit reads limit (default custodian.DefaultListLimit, at most
// custodian.MaxListLimit).
func listLimit(values url.Values, fields *[]custodian.FieldError) int {
	l := values.Get("limit")
	if l == "" {
		return custodian.DefaultListLimit
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > custodian.MaxListLimit {
		*fields = append(*fields, custodian.FieldError{Field: "limit", Message: fmt.Sprintf("Limit must be a whole number from 1 to %d.", custodian.MaxListLimit)})
	}
	return n
}

// timeParam reads an RFC 3339 time.
func timeParam(values url.Values, name string, fields *[]custodian.FieldError) time.Time {
	v := values.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		*fields = append(*fields, custodian.FieldError{Field: name, Message: "Give a time as RFC 3339, such as 2026-05-01T00:00:00Z."})
	}
	return t
}

// maxFilterLen bounds the text filters of the audit listing.
const maxFilterLen = 200

// handleListAudit lists audit events, newest first: actor, action (exact,
// or a prefix ending in "."), subject, since and until (RFC 3339; until is
// exclusive), limit (1 to 200, default 50) and cursor (the next_cursor of
// the previous page).
func handleListAudit(logger *slog.Logger, trail custodian.AuditTrail) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values, fields, err := query(r, "actor", "action", "subject", "since", "until", "cursor", "limit")
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		q := custodian.AuditQuery{Actor: values.Get("actor"), Action: values.Get("action"), Subject: values.Get("subject")}
		for _, name := range []string{"actor", "action", "subject"} {
			if len(values.Get(name)) > maxFilterLen {
				fields = append(fields, custodian.FieldError{Field: name, Message: fmt.Sprintf("At most %d characters.", maxFilterLen)})
			}
		}
		q.Since = timeParam(values, "since", &fields)
		q.Until = timeParam(values, "until", &fields)
		if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
			fields = append(fields, custodian.FieldError{Field: "until", Message: "Until must be after since."})
		}
		if c := values.Get("cursor"); c != "" {
			n, err := strconv.ParseInt(c, 10, 64)
			if err != nil || n < 2 {
				fields = append(fields, custodian.FieldError{Field: "cursor", Message: "Use the next_cursor of the previous page."})
			}
			q.BeforeSeq = n
		}
		q.Limit = listLimit(values, &fields)
		if len(fields) > 0 {
			writeError(w, r, logger, errorf(custodian.EINVALID, "The audit query has invalid parameters.", fields...))
			return
		}
		limit := q.Limit
		q.Limit++ // one more tells whether there is a next page
		events, err := trail.AuditEvents(r.Context(), q)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		for i := range events {
			if len(events[i].PrevHash) == 0 {
				// The first event has none: null, whichever backend
				// read it (SQLite gives nil, PostgreSQL an empty value).
				events[i].PrevHash = nil
			}
		}
		writePage(w, events, limit, func(e custodian.AuditEvent) string { return strconv.FormatInt(e.Seq, 10) })
	})
}

// writePage answers one page of a listing that asked for limit+1 items:
// the first limit of items, and the cursor of the last one shown when
// there were more (null on the last page).
func writePage[T any](w http.ResponseWriter, items []T, limit int, cursor func(T) string) {
	var next *string
	if len(items) > limit {
		items = items[:limit]
		c := cursor(items[limit-1])
		next = &c
	}
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

// handleListAlerts lists stored security alerts, most recently seen first:
// status (open or closed), rule, limit and cursor.
func handleListAlerts(logger *slog.Logger, store custodian.AlertService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values, fields, err := query(r, "status", "rule", "resolved", "cursor", "limit")
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		q := custodian.AlertQuery{Status: custodian.AlertStatus(values.Get("status")), Rule: values.Get("rule")}
		if q.Status != "" && q.Status != custodian.AlertOpen && q.Status != custodian.AlertClosed {
			fields = append(fields, custodian.FieldError{Field: "status", Message: "Status is open or closed."})
		}
		if v := values.Get("resolved"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil || (v != "true" && v != "false") {
				fields = append(fields, custodian.FieldError{Field: "resolved", Message: "Resolved is true or false."})
			}
			q.Resolved = &b
		}
		if len(q.Rule) > maxFilterLen {
			fields = append(fields, custodian.FieldError{Field: "rule", Message: fmt.Sprintf("At most %d characters.", maxFilterLen)})
		}
		if c := values.Get("cursor"); c != "" {
			us, id, ok := strings.Cut(c, "_")
			n, err := strconv.ParseInt(us, 10, 64)
			if !ok || err != nil || id == "" {
				fields = append(fields, custodian.FieldError{Field: "cursor", Message: "Use the next_cursor of the previous page."})
			}
			q.BeforeLastSeen, q.BeforeID = time.UnixMicro(n).UTC(), id
		}
		q.Limit = listLimit(values, &fields)
		if len(fields) > 0 {
			writeError(w, r, logger, errorf(custodian.EINVALID, "The alert query has invalid parameters.", fields...))
			return
		}
		limit := q.Limit
		q.Limit++
		alerts, err := store.Alerts(r.Context(), q)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writePage(w, alerts, limit, func(a custodian.StoredAlert) string {
			return strconv.FormatInt(a.LastSeen.UnixMicro(), 10) + "_" + a.ID
		})
	})
}

// handleResolveAlert marks an alert resolved (administrators).
func handleResolveAlert(logger *slog.Logger, store custodian.AlertService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		return http.StatusNoContent, nil, store.ResolveAlert(r.Context(), r.PathValue("id"), time.Now())
	})
}
