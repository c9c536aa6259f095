package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

// AlertStore is what the alerts contract needs from a backend.
type AlertStore interface {
	custodian.AlertRepository
	custodian.AuditRepository
}

// RunAlerts runs the security alerts contract against stores made by open:
// one attack is one row, updated in place; raising and resolving are audit
// events; listing filters and pages.
func RunAlerts(t *testing.T, open func(t *testing.T) AlertStore) {
	runTests(t, func(t *testing.T) *alertsEnv { return newAlertsEnv(t, open(t)) }, []contractTest[*alertsEnv]{
		{"OneAttackIsOneRowUpdatedInPlace", testAlertUpdatedInPlace},
		{"ListFiltersAndPages", testAlertListFilters},
		{"ResolveRecordsWhenAndWho", testAlertResolve},
		{"ListFiltersByResolution", testAlertListByResolution},
		{"RaisingAndResolvingAreAudited", testAlertsAudited},
	})
}

// alertsEnv is one alerts contract case: a store holding two alerts, a1
// (brute force, saved four times, closed) and b2 (scanning, open, seen
// last).
type alertsEnv struct {
	store AlertStore
	ctx   context.Context
	t0    time.Time
	a, b  custodian.Alert // as last saved
}

// newAlertsEnv returns the environment of an alerts contract case over s,
// saving its two alerts: a1 first, then updated three times, then b2.
func newAlertsEnv(t *testing.T, s AlertStore) *alertsEnv {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	a := custodian.Alert{ID: "a1", Rule: "brute_force", Key: "addr:203.0.113.7", FirstSeen: t0, LastSeen: t0.Add(time.Minute), Count: 5, Status: custodian.AlertOpen}
	created, err := s.SaveAlert(ctx, a)
	if err != nil || !created {
		t.Fatalf("first save: created %v, %v", created, err)
	}
	for i := range 3 {
		a.Count++
		a.LastSeen = a.LastSeen.Add(time.Second)
		if i == 2 {
			a.Status = custodian.AlertClosed
		}
		if created, err := s.SaveAlert(ctx, a); err != nil || created {
			t.Fatalf("update: created %v, %v", created, err)
		}
	}
	b := custodian.Alert{ID: "b2", Rule: "scanning", Key: "addr:198.51.100.1", FirstSeen: t0, LastSeen: t0.Add(time.Hour), Count: 10, Status: custodian.AlertOpen}
	if _, err := s.SaveAlert(ctx, b); err != nil {
		t.Fatal(err)
	}
	return &alertsEnv{store: s, ctx: ctx, t0: t0, a: a, b: b}
}

// resolve resolves a1 as usr_admin, two hours after t0.
func (e *alertsEnv) resolve(t *testing.T) {
	t.Helper()
	if err := e.store.ResolveAlert(custodian.WithActor(e.ctx, "usr_admin"), "a1", e.t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func testAlertUpdatedInPlace(t *testing.T, e *alertsEnv) {
	all, err := e.store.Alerts(e.ctx, custodian.AlertQuery{})
	if err != nil || len(all) != 2 || all[0].ID != "b2" || all[1].ID != "a1" {
		t.Fatalf("alerts = %+v, %v", all, err)
	}
	got := all[1]
	if got.Count != 8 || got.Status != custodian.AlertClosed || !got.FirstSeen.Equal(e.t0) || !got.LastSeen.Equal(e.a.LastSeen) || got.Key != e.a.Key || got.ResolvedAt != nil {
		t.Fatalf("stored alert = %+v", got)
	}
}

func testAlertListFilters(t *testing.T, e *alertsEnv) {
	for _, tc := range []struct {
		q    custodian.AlertQuery
		want []string
	}{
		{custodian.AlertQuery{Status: custodian.AlertOpen}, []string{"b2"}},
		{custodian.AlertQuery{Rule: "brute_force"}, []string{"a1"}},
		{custodian.AlertQuery{Limit: 1}, []string{"b2"}},
		{custodian.AlertQuery{BeforeLastSeen: e.b.LastSeen, BeforeID: e.b.ID}, []string{"a1"}},
	} {
		list, err := e.store.Alerts(e.ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		if len(ids) != len(tc.want) || (len(ids) > 0 && ids[0] != tc.want[0]) {
			t.Errorf("%+v: %v, want %v", tc.q, ids, tc.want)
		}
	}
}

func testAlertResolve(t *testing.T, e *alertsEnv) {
	e.resolve(t)
	if err := e.store.ResolveAlert(custodian.WithActor(e.ctx, "usr_admin"), "missing", e.t0); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("resolving a missing alert: %v", err)
	}
	list, _ := e.store.Alerts(e.ctx, custodian.AlertQuery{Rule: "brute_force"})
	if len(list) != 1 || list[0].ResolvedAt == nil || !list[0].ResolvedAt.Equal(e.t0.Add(2*time.Hour)) || list[0].ResolvedBy != "usr_admin" {
		t.Fatalf("resolved alert = %+v", list)
	}
}

func testAlertListByResolution(t *testing.T, e *alertsEnv) {
	e.resolve(t)
	unresolved, err := e.store.Alerts(e.ctx, custodian.AlertQuery{Resolved: new(false)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range unresolved {
		if a.ID == "a1" || a.ResolvedAt != nil {
			t.Fatalf("unresolved alerts include a resolved one: %+v", unresolved)
		}
	}
	if len(unresolved) == 0 {
		t.Fatal("no unresolved alerts listed")
	}
	if res, err := e.store.Alerts(e.ctx, custodian.AlertQuery{Resolved: new(true)}); err != nil || len(res) != 1 || res[0].ID != "a1" {
		t.Fatalf("resolved alerts = %+v, %v; want a1 alone", res, err)
	}
}

func testAlertsAudited(t *testing.T, e *alertsEnv) {
	e.resolve(t)
	raised, _ := e.store.AuditEvents(e.ctx, custodian.AuditQuery{Action: custodian.ActionSecurityAlert})
	if len(raised) != 2 || raised[1].Subject != "a1" || raised[1].Actor != custodian.ActorMonitor {
		t.Fatalf("security.alert events = %+v", raised)
	}
	resolved, _ := e.store.AuditEvents(e.ctx, custodian.AuditQuery{Action: custodian.ActionAlertResolve})
	if len(resolved) != 1 || resolved[0].Subject != "a1" || resolved[0].Actor != "usr_admin" {
		t.Fatalf("security.alert_resolve events = %+v", resolved)
	}
}
