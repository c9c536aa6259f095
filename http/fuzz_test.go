package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/custodian-crm/custodian"
)

// wantRefusal fails t unless err refuses client input: malformed JSON or
// invalid fields, never an internal error.
func wantRefusal(t *testing.T, err error) {
	t.Helper()
	if c := custodian.ErrorCode(err); c != codeMalformed && c != custodian.EINVALID {
		t.Fatalf("refusal with code %q: %v", c, err)
	}
}

// FuzzDecodeCustomerBody checks that a body is either refused as
// malformed or invalid, or decoded into fields that survive a JSON round
// trip unchanged.
func FuzzDecodeCustomerBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ada","email":"a@example.com","address":{"city":"London","country":"GB"},"tags":["vip"]}`,
		`{"name":1}`, `{"address":[]}`, `{"address":{"zip":"x"}}`, `{"name":"a"} {}`, `{"unknown":true}`, `null`, ``, `{"id":"cus_x","version":3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := decodeCustomerBody(b)
		if err != nil {
			wantRefusal(t, err)
			return
		}
		enc, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeCustomerBody(enc)
		if err != nil {
			t.Fatalf("re-encoded %s refused: %v", enc, err)
		}
		if !reflect.DeepEqual(back, fields) {
			t.Fatalf("round trip changed fields:\n%+v\n%+v", fields, back)
		}
	})
}

// FuzzDecodeMergePatch checks that a merge patch is refused as malformed
// or invalid with every field error named, or decoded so that exactly the
// members present in the body, by their exact names, are set.
func FuzzDecodeMergePatch(f *testing.F) {
	for _, s := range []string{
		`{"notes":"x","email":null}`, `{"tags":null}`, `{"address":{"city":"Paris"}}`, `{"address":null}`,
		`{"name":5}`, `{"tags":[1]}`, `{"address":7}`, `[]`, `{"status":"customer","phone":"+33 1 23 45 67 89"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeMergePatch(b)
		if err != nil {
			wantRefusal(t, err)
			if custodian.ErrorCode(err) == custodian.EINVALID && len(custodian.ErrorFields(err)) == 0 {
				t.Fatalf("invalid without field errors: %v", err)
			}
			return
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(b, &members); err != nil {
			t.Fatalf("accepted a body that is not an object: %q", b)
		}
		set := map[string]bool{
			"name": p.Name != nil, "email": p.Email != nil, "phone": p.Phone != nil, "company": p.Company != nil,
			"notes": p.Notes != nil, "status": p.Status != nil, "tags": p.Tags != nil, "address": p.Address != nil,
		}
		for name, isSet := range set {
			// Member names match exactly: "Address" is refused as
			// unknown rather than taken for "address".
			_, present := members[name]
			if present != isSet {
				t.Fatalf("member %s present=%v but set=%v in %q", name, present, isSet, b)
			}
		}
	})
}

// FuzzListQuery sends arbitrary query strings to the list endpoint of a
// real server: the answer is a page (200) or a 400 problem, never an
// internal error.
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{"search=ada&status=lead&tag=vip&sort=-name&limit=20", "limit=0", "limit=abc", "cursor=xyz", "sort=nope",
		"search=%zz", "foo=bar", "limit=1&limit=2", "search=%2B44%2020%207946%200958", "search=a%40b.c", "status=bogus"} {
		f.Add(q)
	}
	h, _ := edgeServer(f, nil)
	f.Fuzz(func(t *testing.T, q string) {
		if strings.ContainsAny(q, " #\x00\r\n") || len(q) > 2000 {
			return // not a query string a client can send on the wire
		}
		req := httptest.NewRequest("GET", "/api/customers/", nil)
		req.URL.RawQuery = q
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || page.Items == nil {
				t.Fatalf("200 without a page: %s", rec.Body)
			}
		case http.StatusBadRequest:
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != custodian.EINVALID {
				t.Fatalf("400 that is not an invalid-input problem: %s", rec.Body)
			}
		default:
			t.Fatalf("query %q: status %d: %s", q, rec.Code, rec.Body)
		}
	})
}

// FuzzCreateCustomer posts arbitrary bodies to a real server: a refused
// body (4xx) stores nothing, and an accepted one (201) reads back exactly
// as it was answered.
func FuzzCreateCustomer(f *testing.F) {
	for _, s := range []string{`{"name":"Ada","email":"ada@example.com","tags":["vip"]}`, `{"name":"<b>"}`, `{"name":"x","phone":"12"}`, `{"name":"Zoë","address":{"country":"fr"}}`, `{}`, `{"name":"x"}x`} {
		f.Add(s)
	}
	h, _ := edgeServer(f, nil)
	count := func(t *testing.T) int {
		rec := serveOne(h, "GET", "/api/customers/?limit=200", "")
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		return len(page.Items)
	}
	f.Fuzz(func(t *testing.T, body string) {
		before := count(t)
		req := httptest.NewRequest("POST", "/api/customers/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusCreated:
			loc := rec.Header().Get("Location")
			got := serveOne(h, "GET", loc, "")
			if got.Code != 200 || got.Body.String() != rec.Body.String() {
				t.Fatalf("created %s but read back %d %s", rec.Body, got.Code, got.Body)
			}
			// Keep the store small so that counting stays on one page.
			del := httptest.NewRequest("DELETE", loc, nil)
			h.ServeHTTP(httptest.NewRecorder(), del)
		case rec.Code >= 400 && rec.Code < 500:
			if after := count(t); after != before {
				t.Fatalf("refused body %q changed the store: %d -> %d customers", body, before, after)
			}
		default:
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		}
	})
}
