package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/custodian-crm/custodian"
)

// TestAuditListing filters and pages the audit trail through the API and
// refuses bad filters with field errors.
func TestAuditListing(t *testing.T) {
	s := newTestServer(t)
	for i := range 3 {
		s.create(fmt.Sprintf(`{"name":"Audited Person%d"}`, i))
	}
	type page struct {
		Items []struct {
			Seq     int64  `json:"seq"`
			Action  string `json:"action"`
			Actor   string `json:"actor"`
			Subject string `json:"subject"`
		} `json:"items"`
		Next *string `json:"next_cursor"`
	}
	get := func(q string) page {
		t.Helper()
		r := s.do("GET", "/api/audit/"+q, "")
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q, r.StatusCode, r.body)
		}
		var p page
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := get("?action=customer.&limit=2")
	if len(p.Items) != 2 || p.Next == nil || p.Items[0].Action != "customer.create" || p.Items[0].Seq <= p.Items[1].Seq {
		t.Fatalf("first page = %+v", p)
	}
	p2 := get("?action=customer.&limit=2&cursor=" + *p.Next)
	if len(p2.Items) != 1 || p2.Next != nil || p2.Items[0].Seq >= p.Items[1].Seq {
		t.Fatalf("second page = %+v", p2)
	}
	actor := p.Items[0].Actor
	if all := get("?actor=" + actor + "&action=customer.create"); len(all.Items) != 3 {
		t.Fatalf("by actor: %+v", all)
	}
	if one := get("?subject=" + p.Items[0].Subject); len(one.Items) != 1 {
		t.Fatalf("by subject: %+v", one)
	}
	if none := get("?since=2999-01-01T00:00:00Z"); len(none.Items) != 0 || none.Next != nil {
		t.Fatalf("future: %+v", none)
	}
	if tokens := get("?action=token.issue"); len(tokens.Items) == 0 {
		t.Fatal("token issue events missing")
	}
	for q, fields := range map[string][]string{
		"?limit=0":         {"limit"},
		"?limit=201":       {"limit"},
		"?since=yesterday": {"since"},
		"?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z": {"until"},
		"?cursor=abc":      {"cursor"},
		"?sort=seq":        {"sort"},
		"?actor=a&actor=b": {"actor"},
	} {
		wantProblem(t, s.do("GET", "/api/audit/"+q, ""), 400, "invalid", fields...)
	}
	wantProblem(t, s.do("GET", "/api/alerts/?status=maybe", ""), 400, "invalid", "status")
	wantProblem(t, s.do("GET", "/api/alerts/?resolved=maybe", ""), 400, "invalid", "resolved")
	wantProblem(t, s.do("GET", "/api/alerts/?resolved=1", ""), 400, "invalid", "resolved")
	if r := s.do("GET", "/api/alerts/?resolved=false", ""); r.StatusCode != 200 {
		t.Fatalf("unresolved alerts: %d %s", r.StatusCode, r.body)
	}
	if r := s.do("GET", "/api/alerts/", ""); r.StatusCode != 200 || string(r.body) != `{"items":[],"next_cursor":null}`+"\n" {
		t.Fatalf("alerts: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, s.do("POST", "/api/alerts/nope/resolve/", ""), 404, "not_found")
}

// emptyPrevHash reads the trail as PostgreSQL does: the first event's
// previous hash is empty rather than nil.
type emptyPrevHash struct{ custodian.AuditTrail }

func (e emptyPrevHash) AuditEvents(ctx context.Context, q custodian.AuditQuery) ([]custodian.AuditEvent, error) {
	events, err := e.AuditTrail.AuditEvents(ctx, q)
	for i := range events {
		if events[i].PrevHash == nil {
			events[i].PrevHash = []byte{}
		}
	}
	return events, err
}

// TestAuditFirstEventHasNullPrevHash lists the whole trail down to its
// first event, whose prev_hash is null (as the document says) on either
// backend, and every other event's the hash of the one before.
func TestAuditFirstEventHasNullPrevHash(t *testing.T) {
	for name, opts := range map[string][]func(*Deps){
		"sqlite":                  nil,
		"empty (like PostgreSQL)": {func(d *Deps) { d.Audit = emptyPrevHash{d.Audit} }},
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, opts...)
			s.create(`{"name":"Audited Person"}`)
			r := s.do("GET", "/api/audit/?limit=200", "")
			var page struct {
				Items []map[string]json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(r.body, &page); err != nil || len(page.Items) < 2 {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
			first := page.Items[len(page.Items)-1]
			if string(first["seq"]) != "1" || string(first["prev_hash"]) != "null" {
				t.Fatalf("first event: seq %s, prev_hash %s", first["seq"], first["prev_hash"])
			}
			for i := 0; i+1 < len(page.Items); i++ {
				if !bytes.Equal(page.Items[i]["prev_hash"], page.Items[i+1]["hash"]) {
					t.Fatalf("event %s: prev_hash %s, want the hash of the event before", page.Items[i]["seq"], page.Items[i]["prev_hash"])
				}
			}
		})
	}
}
