package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// auditOf returns the events q selects from the backend's trail.
func (e *env) auditOf(t *testing.T, q custodian.AuditQuery) []custodian.AuditEvent {
	t.Helper()
	evs, err := e.Repo.AuditEvents(e.ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// testBulkInBatches: a bulk action by filter changes every selected
// customer in batches of BulkBatchSize, with one customer.bulk event per
// batch and one event per changed customer; repeating it changes nothing.
func testBulkInBatches(t *testing.T, e *env) {
	n := custodian.BulkBatchSize + 20
	fs := make([]custodian.CustomerFields, n)
	for i := range fs {
		fs[i] = custodian.CustomerFields{Name: fmt.Sprintf("Bulk %d", i), Status: custodian.StatusLead}
	}
	if _, err := e.svc.ImportCustomers(e.ctx, fs); err != nil {
		t.Fatal(err)
	}
	other := e.create(t, custodian.CustomerFields{Name: "Not a lead", Status: custodian.StatusActive})
	req := custodian.BulkRequest{Action: custodian.BulkAddTags, Tags: []string{" Spring "}, Filter: &custodian.BulkFilter{Status: custodian.StatusLead}}
	dry := req
	dry.DryRun = true
	res, err := e.svc.BulkCustomers(e.ctx, dry)
	if err != nil || res.Matched != n || res.Changed != 0 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if evs := e.auditOf(t, custodian.AuditQuery{Action: custodian.ActionCustomerBulk}); len(evs) != 0 {
		t.Fatalf("a dry run was audited as a change: %v", evs)
	}
	res, err = e.svc.BulkCustomers(e.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != n || res.Changed != n || res.Failed != 0 || res.Batches != 2 {
		t.Fatalf("result %+v", res)
	}
	page, err := e.svc.ListCustomers(e.ctx, custodian.CustomerQuery{Tag: "spring", Limit: custodian.MaxListLimit})
	if err != nil || len(page.Items) != n {
		t.Fatalf("tagged: %d, %v", len(page.Items), err)
	}
	if c, _ := e.svc.Customer(e.ctx, other.ID); slices.Contains(c.Tags, "spring") {
		t.Fatal("a customer the filter does not select was tagged")
	}
	batches := e.auditOf(t, custodian.AuditQuery{Action: custodian.ActionCustomerBulk})
	if len(batches) != 2 {
		t.Fatalf("%d batch events", len(batches))
	}
	var d struct {
		Action  string `json:"action"`
		Changed int    `json:"changed"`
		Batch   int    `json:"batch"`
	}
	if err := json.Unmarshal(batches[1].Data, &d); err != nil || d.Action != "add_tags" || d.Changed != custodian.BulkBatchSize || d.Batch != 1 {
		t.Fatalf("first batch event %s: %+v", batches[1].Data, d)
	}
	if batches[0].Actor != "usr_test" {
		t.Fatalf("batch actor %q", batches[0].Actor)
	}
	updates := e.auditOf(t, custodian.AuditQuery{Action: custodian.ActionCustomerUpdate})
	if len(updates) != n || strings.Join(updates[0].Fields, ",") != "tags" {
		t.Fatalf("%d update events, first %v", len(updates), updates[0].Fields)
	}
	again, err := e.svc.BulkCustomers(e.ctx, req)
	if err != nil || again.Changed != 0 || again.Unchanged != n {
		t.Fatalf("again: %+v, %v", again, err)
	}
	if got := e.auditOf(t, custodian.AuditQuery{Action: custodian.ActionCustomerUpdate}); len(got) != n {
		t.Fatalf("unchanged customers were audited as updated: %d events", len(got))
	}
}

// testBulkByIDs: ids with If-Match versions change the customers at those
// versions; one at another version, or gone, is listed as failed while
// the rest of its batch is changed.
func testBulkByIDs(t *testing.T, e *env) {
	a := e.create(t, custodian.CustomerFields{Name: "Ann", Tags: []string{"old", "keep"}})
	b := e.create(t, custodian.CustomerFields{Name: "Ben", Tags: []string{"old"}})
	c := e.create(t, custodian.CustomerFields{Name: "Cat", Tags: []string{"old"}})
	gone := custodian.NewCustomerID()
	res, err := e.svc.BulkCustomers(e.ctx, custodian.BulkRequest{Action: custodian.BulkRemoveTags, Tags: []string{"old"},
		Targets: []custodian.BulkTarget{{ID: a.ID, IfVersion: a.Version}, {ID: b.ID, IfVersion: b.Version + 1}, {ID: c.ID}, {ID: gone}, {ID: a.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 4 || res.Changed != 2 || res.Failed != 2 {
		t.Fatalf("result %+v", res)
	}
	codes := map[string]string{}
	for _, f := range res.Failures {
		codes[f.ID] = f.Code
	}
	if codes[b.ID] != custodian.EPRECONDITION || codes[gone] != custodian.ENOTFOUND {
		t.Fatalf("failures %+v", res.Failures)
	}
	for id, want := range map[string][]string{a.ID: {"keep"}, b.ID: {"old"}, c.ID: {}} {
		got, err := e.svc.Customer(e.ctx, id)
		if err != nil || !slices.Equal(got.Tags, want) {
			t.Errorf("%s tags %v, want %v (%v)", id, got.Tags, want, err)
		}
	}
	st := custodian.StatusInactive
	res, err = e.svc.BulkCustomers(e.ctx, custodian.BulkRequest{Action: custodian.BulkSetStatus, Status: st, Targets: []custodian.BulkTarget{{ID: b.ID}}})
	if got, _ := e.svc.Customer(e.ctx, b.ID); err != nil || res.Changed != 1 || got.Status != st {
		t.Fatalf("set status: %+v, %v", res, err)
	}
}

// testBulkDelete: deleting by a search leaves a customer under a legal
// hold, listed as failed, and every customer the search does not match.
func testBulkDelete(t *testing.T, e *env) {
	a := e.create(t, custodian.CustomerFields{Name: "Ada Byron"})
	held := e.create(t, custodian.CustomerFields{Name: "Ada King"})
	bob := e.create(t, custodian.CustomerFields{Name: "Bob Smith"})
	if _, err := e.svc.SetLegalHold(e.ctx, held.ID, true, "litigation"); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.BulkCustomers(e.ctx, custodian.BulkRequest{Action: custodian.BulkDelete, Filter: &custodian.BulkFilter{Search: "ada"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 2 || res.Changed != 1 || len(res.Failures) != 1 || res.Failures[0].ID != held.ID || res.Failures[0].Code != custodian.ECONFLICT {
		t.Fatalf("result %+v", res)
	}
	if _, err := e.svc.Customer(e.ctx, a.ID); custodian.ErrorCode(err) != custodian.ENOTFOUND {
		t.Fatalf("deleted customer: %v", err)
	}
	for _, id := range []string{held.ID, bob.ID} {
		if _, err := e.svc.Customer(e.ctx, id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if evs := e.auditOf(t, custodian.AuditQuery{Action: custodian.ActionCustomerDelete}); len(evs) != 1 || evs[0].Subject != a.ID {
		t.Fatalf("delete events %+v", evs)
	}
}

// testBulkInvalid: an invalid request is refused with field errors and
// changes nothing.
func testBulkInvalid(t *testing.T, e *env) {
	c := e.create(t, custodian.CustomerFields{Name: "Untouched"})
	for _, req := range []custodian.BulkRequest{
		{Action: "explode", Targets: []custodian.BulkTarget{{ID: c.ID}}},
		{Action: custodian.BulkAddTags, Targets: []custodian.BulkTarget{{ID: c.ID}}},
		{Action: custodian.BulkAddTags, Tags: []string{"<script>"}, Targets: []custodian.BulkTarget{{ID: c.ID}}},
		{Action: custodian.BulkSetStatus, Status: "gone", Targets: []custodian.BulkTarget{{ID: c.ID}}},
		{Action: custodian.BulkDelete},
		{Action: custodian.BulkDelete, Targets: []custodian.BulkTarget{{ID: c.ID}}, Filter: &custodian.BulkFilter{}},
		{Action: custodian.BulkDelete, Targets: []custodian.BulkTarget{{ID: "nope"}}},
		{Action: custodian.BulkDelete, Filter: &custodian.BulkFilter{Status: "weird"}},
	} {
		if _, err := e.svc.BulkCustomers(e.ctx, req); custodian.ErrorCode(err) != custodian.EINVALID || len(custodian.ErrorFields(err)) == 0 {
			t.Errorf("%+v: %v", req, err)
		}
	}
	got, err := e.svc.Customer(e.ctx, c.ID)
	if err != nil || got.Version != 1 {
		t.Fatalf("after refused requests: %+v, %v", got, err)
	}
	if evs := e.auditOf(t, custodian.AuditQuery{Action: custodian.ActionCustomerBulk}); len(evs) != 0 {
		t.Fatalf("refused requests audited: %v", evs)
	}
}
