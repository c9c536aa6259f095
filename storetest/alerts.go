package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/monitor"
)

// AlertStore is what the alerts contract needs from a backend.
type AlertStore interface {
	monitor.AlertStore
	custodian.AuditRepository
}

// RunAlerts runs the security alerts contract against stores made by open:
// one attack is one row, updated in place; raising and resolving are audit
// events; listing filters and pages.
func RunAlerts(t *testing.T, open func(t *testing.T) AlertStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	s := open(t)
	a := monitor.Alert{ID: "a1", Rule: "brute_force", Key: "addr:203.0.113.7", FirstSeen: t0, LastSeen: t0.Add(time.Minute), Count: 5, Status: monitor.StatusOpen}
	created, err := s.SaveAlert(ctx, a)
	if err != nil || !created {
		t.Fatalf("first save: created %v, %v", created, err)
	}
	for i := range 3 {
		a.Count++
		a.LastSeen = a.LastSeen.Add(time.Second)
		if i == 2 {
			a.Status = monitor.StatusClosed
		}
		if created, err := s.SaveAlert(ctx, a); err != nil || created {
			t.Fatalf("update: created %v, %v", created, err)
		}
	}
	b := monitor.Alert{ID: "b2", Rule: "scanning", Key: "addr:198.51.100.1", FirstSeen: t0, LastSeen: t0.Add(time.Hour), Count: 10, Status: monitor.StatusOpen}
	if _, err := s.SaveAlert(ctx, b); err != nil {
		t.Fatal(err)
	}
	all, err := s.Alerts(ctx, monitor.AlertQuery{})
	if err != nil || len(all) != 2 || all[0].ID != "b2" || all[1].ID != "a1" {
		t.Fatalf("alerts = %+v, %v", all, err)
	}
	got := all[1]
	if got.Count != 8 || got.Status != monitor.StatusClosed || !got.FirstSeen.Equal(t0) || !got.LastSeen.Equal(a.LastSeen) || got.Key != a.Key || got.ResolvedAt != nil {
		t.Fatalf("stored alert = %+v", got)
	}
	for _, tc := range []struct {
		q    monitor.AlertQuery
		want []string
	}{
		{monitor.AlertQuery{Status: monitor.StatusOpen}, []string{"b2"}},
		{monitor.AlertQuery{Rule: "brute_force"}, []string{"a1"}},
		{monitor.AlertQuery{Limit: 1}, []string{"b2"}},
		{monitor.AlertQuery{BeforeLastSeen: b.LastSeen, BeforeID: b.ID}, []string{"a1"}},
	} {
		list, err := s.Alerts(ctx, tc.q)
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
	admin := custodian.WithActor(ctx, "usr_admin")
	if err := s.ResolveAlert(admin, "a1", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveAlert(admin, "missing", t0); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("resolving a missing alert: %v", err)
	}
	list, _ := s.Alerts(ctx, monitor.AlertQuery{Rule: "brute_force"})
	if len(list) != 1 || list[0].ResolvedAt == nil || !list[0].ResolvedAt.Equal(t0.Add(2*time.Hour)) || list[0].ResolvedBy != "usr_admin" {
		t.Fatalf("resolved alert = %+v", list)
	}
	unresolved, err := s.Alerts(ctx, monitor.AlertQuery{Resolved: new(false)})
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
	if res, err := s.Alerts(ctx, monitor.AlertQuery{Resolved: new(true)}); err != nil || len(res) != 1 || res[0].ID != "a1" {
		t.Fatalf("resolved alerts = %+v, %v; want a1 alone", res, err)
	}
	raised, _ := s.AuditEvents(ctx, custodian.AuditQuery{Action: custodian.ActionSecurityAlert})
	if len(raised) != 2 || raised[1].Subject != "a1" || raised[1].Actor != custodian.ActorMonitor {
		t.Fatalf("security.alert events = %+v", raised)
	}
	resolved, _ := s.AuditEvents(ctx, custodian.AuditQuery{Action: custodian.ActionAlertResolve})
	if len(resolved) != 1 || resolved[0].Subject != "a1" || resolved[0].Actor != "usr_admin" {
		t.Fatalf("security.alert_resolve events = %+v", resolved)
	}
}
