package http

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/custodian-crm/custodian"
)

// TestWriteErrorAnswers pins the exact answer writeError gives for the
// errors that carry more than a code: the lockout's wait as Retry-After,
// and an erased customer's tombstone in the problem body.
func TestWriteErrorAnswers(t *testing.T) {
	erased := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	tomb := &custodian.Tombstone{ID: "cus_gone", CreatedAt: erased.AddDate(-1, 0, 0), ErasedAt: erased, ErasedBy: "usr_dpo", Reason: "request 7", Mechanism: custodian.ErasedOnRequest, KeyDestroyed: true}
	lockout := &custodian.RetryError{Err: custodian.Errorf(custodian.ETOOMANY, "Too many failed sign-ins; wait before trying again."), After: 1500 * time.Millisecond}
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
		body       string
	}{
		{
			name: "gone", err: custodian.Gone(tomb), status: 410,
			body: `{"type":"about:blank","title":"Gone","status":410,"detail":"This customer's personal data was erased on 2026-05-06T07:08:09Z.","instance":"/api/customers/cus_gone/","code":"gone",` +
				`"tombstone":{"id":"cus_gone","created_at":"2025-05-06T07:08:09Z","erased_at":"2026-05-06T07:08:09Z","erased_by":"usr_dpo","reason":"request 7","mechanism":"erasure","key_destroyed":true}}` + "\n",
		},
		{
			name: "gone, wrapped", err: fmt.Errorf("read: %w", custodian.Gone(tomb)), status: 410,
			body: `{"type":"about:blank","title":"Gone","status":410,"detail":"This customer's personal data was erased on 2026-05-06T07:08:09Z.","instance":"/api/customers/cus_gone/","code":"gone",` +
				`"tombstone":{"id":"cus_gone","created_at":"2025-05-06T07:08:09Z","erased_at":"2026-05-06T07:08:09Z","erased_by":"usr_dpo","reason":"request 7","mechanism":"erasure","key_destroyed":true}}` + "\n",
		},
		{
			name: "locked out", err: &custodian.SignInError{Account: "usr_x", Err: lockout}, status: 429, retryAfter: "2",
			body: `{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"Too many failed sign-ins; wait before trying again.","instance":"/api/customers/cus_gone/","code":"too_many"}` + "\n",
		},
		{
			name: "not found", err: custodian.Errorf(custodian.ENOTFOUND, "Customer not found."), status: 404,
			body: `{"type":"about:blank","title":"Not Found","status":404,"detail":"Customer not found.","instance":"/api/customers/cus_gone/","code":"not_found"}` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			writeError(w, httptest.NewRequest("GET", "/api/customers/cus_gone/", nil), slog.New(slog.NewTextHandler(io.Discard, nil)), tc.err)
			if w.Code != tc.status || w.Header().Get("Retry-After") != tc.retryAfter || w.Body.String() != tc.body {
				t.Fatalf("answer %d, Retry-After %q, body\n%s\nwant %d, %q,\n%s", w.Code, w.Header().Get("Retry-After"), w.Body, tc.status, tc.retryAfter, tc.body)
			}
		})
	}
}
