package http

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestPrivacyRoutes walks consent, legal hold, erasure and export through
// the API, with their answers to bad input.
func TestPrivacyRoutes(t *testing.T) {
	s := newTestServer(t)
	id := s.create(`{"name":"Pia Privacy","email":"pia@example.com"}`)["id"].(string)
	other := s.create(`{"name":"Olaf Other"}`)["id"].(string)
	base := "/api/customers/" + id + "/"

	// Consent: an unknown purpose is refused with the allowed ones listed.
	r := s.do("POST", base+"consents/", `{"purpose":"telepathy","state":"given"}`)
	wantProblem(t, r, 400, custodian.EINVALID, "purpose")
	if !strings.Contains(string(r.body), "marketing_email, phone_calls, profiling") {
		t.Fatalf("allowed purposes not listed: %s", r.body)
	}
	wantProblem(t, s.do("POST", base+"consents/", `{"purpose":"profiling","state":"given","extra":1}`), 400, custodian.EINVALID, "extra")
	r = s.do("POST", base+"consents/", `{"purpose":"marketing_email","state":"given","source":"signup form","evidence":"Ticked the box"}`)
	if r.StatusCode != 201 || r.json(t)["state"] != "given" {
		t.Fatalf("record consent: %d %s", r.StatusCode, r.body)
	}
	r = s.do("GET", base+"consents/", "")
	cur := r.json(t)["current"].(map[string]any)
	if r.StatusCode != 200 || cur["marketing_email"].(map[string]any)["state"] != "given" {
		t.Fatalf("consents: %d %s", r.StatusCode, r.body)
	}
	r = s.do("GET", "/api/customers/?consent=marketing_email", "")
	if items := r.json(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id {
		t.Fatalf("consent filter: %s", r.body)
	}
	wantProblem(t, s.do("GET", "/api/customers/?consent=nope", ""), 400, custodian.EINVALID, "consent")

	// The purpose header: validated, then recorded with the read.
	wantProblem(t, s.do("GET", base, "", PurposeHeader, "bad\x01purpose"), 400, custodian.EINVALID, PurposeHeader)
	if r := s.do("GET", base, "", PurposeHeader, "support call 88"); r.StatusCode != 200 {
		t.Fatalf("get with purpose: %d %s", r.StatusCode, r.body)
	}

	// Legal hold blocks erasure and deletion.
	wantProblem(t, s.do("PUT", base+"legal-hold/", `{"active":true}`), 400, custodian.EINVALID, "reason")
	r = s.do("PUT", base+"legal-hold/", `{"active":true,"reason":"Case 12"}`)
	if r.StatusCode != 200 || r.json(t)["legal_hold"].(map[string]any)["reason"] != "Case 12" {
		t.Fatalf("hold: %d %s", r.StatusCode, r.body)
	}
	if got := s.do("GET", base, "").json(t)["legal_hold"]; got == nil {
		t.Fatal("customer JSON lacks the legal hold")
	}
	wantProblem(t, s.do("POST", base+"erase/", `{"reason":"asked"}`), 409, custodian.ECONFLICT)
	wantProblem(t, s.do("DELETE", base, ""), 409, custodian.ECONFLICT)
	if r := s.do("PUT", base+"legal-hold/", `{"active":false,"reason":"Case closed"}`); r.StatusCode != 200 || r.json(t)["legal_hold"] != nil {
		t.Fatalf("lift: %d %s", r.StatusCode, r.body)
	}

	// Erasure: reason required; then the tombstone; again: idempotent.
	wantProblem(t, s.do("POST", base+"erase/", `{}`), 400, custodian.EINVALID, "reason")
	r = s.do("POST", base+"erase/", `{"reason":"Customer request 77"}`, PurposeHeader, "erasure request")
	if r.StatusCode != 200 || r.json(t)["already_erased"] != false || r.json(t)["reason"] != "Customer request 77" || r.json(t)["mechanism"] != "erasure" {
		t.Fatalf("erase: %d %s", r.StatusCode, r.body)
	}
	r = s.do("POST", base+"erase/", `{"reason":"again"}`)
	if r.StatusCode != 200 || r.json(t)["already_erased"] != true || r.json(t)["reason"] != "Customer request 77" {
		t.Fatalf("erase again: %d %s", r.StatusCode, r.body)
	}
	r = s.do("GET", base, "")
	wantProblem(t, r, 410, custodian.EGONE)
	var p Problem
	json.Unmarshal(r.body, &p)
	if p.Tombstone == nil || p.Tombstone.ID != id || strings.Contains(string(r.body), "Pia") {
		t.Fatalf("410 body %s", r.body)
	}
	wantProblem(t, s.do("PATCH", base, `{"notes":"x"}`, "If-Match", "*", "Content-Type", "application/merge-patch+json"), 410, custodian.EGONE)
	wantProblem(t, s.do("POST", base+"consents/", `{"purpose":"profiling","state":"given"}`), 410, custodian.EGONE)
	wantProblem(t, s.do("GET", "/api/customers/"+custodian.NewCustomerID()+"/", ""), 404, custodian.ENOTFOUND)

	// The export of the erased customer: tombstone and history, as an
	// attachment, including who read the record and why.
	r = s.do("GET", base+"export/", "")
	if r.StatusCode != 200 || !strings.Contains(r.Header.Get("Content-Disposition"), id+".json") {
		t.Fatalf("export: %d %s", r.StatusCode, r.body)
	}
	var x custodian.Export
	if err := json.Unmarshal(r.body, &x); err != nil || x.Customer != nil || x.Erased == nil || strings.Contains(string(r.body), "pia@example.com") {
		t.Fatalf("export body: %v %s", err, r.body)
	}
	var sawPurpose bool
	for _, ev := range x.AuditEvents {
		sawPurpose = sawPurpose || (ev.Action == custodian.ActionCustomerRead && string(ev.Data) == `{"purpose":"support call 88"}`)
	}
	if !sawPurpose {
		t.Fatalf("the export does not show the read and its purpose: %s", r.body)
	}
	// The other customer is untouched.
	if r := s.do("GET", "/api/customers/"+other+"/", ""); r.StatusCode != 200 {
		t.Fatalf("other customer: %d", r.StatusCode)
	}
}
