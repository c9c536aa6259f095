package http

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/custodian-crm/custodian"
)

// PurposeHeader states why the caller accesses data; it is recorded with
// the audit events of reads, exports and erasures.
const PurposeHeader = "Custodian-Purpose"

// withPurpose validates the Custodian-Purpose header (short printable
// text) and carries it in the request's context. An invalid one is refused
// before anything is read or recorded.
func withPurpose(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			vals := r.Header.Values(PurposeHeader)
			if len(vals) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			p := strings.TrimSpace(vals[0])
			if len(vals) > 1 || p == "" || !custodian.PrintableText(p, custodian.MaxPurposeHeaderLen) {
				writeError(w, r, logger, errorf(custodian.EINVALID, "The Custodian-Purpose header is not valid.",
					custodian.FieldError{Field: PurposeHeader, Message: "Give it once, as printable text of at most 100 characters."}))
				return
			}
			next.ServeHTTP(w, r.WithContext(custodian.WithPurpose(r.Context(), p)))
		})
	}
}

func handleConsents(logger *slog.Logger, p custodian.PrivacyService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		c, err := p.Consents(r.Context(), r.PathValue("id"))
		return http.StatusOK, c, err
	})
}

func handleRecordConsent(logger *slog.Logger, p custodian.PrivacyService) http.Handler {
	return handle(logger, func(r *http.Request, in *custodian.ConsentInput) (int, any, error) {
		ev, err := p.RecordConsent(r.Context(), r.PathValue("id"), *in)
		return http.StatusCreated, ev, err
	})
}

// legalHoldBody sets (active) or lifts a legal hold; the reason is
// required either way.
type legalHoldBody struct {
	Active bool   `json:"active"`
	Reason string `json:"reason"`
}

// legalHoldJSON is the answer to a legal hold change: the hold, null once
// lifted.
type legalHoldJSON struct {
	LegalHold *custodian.LegalHold `json:"legal_hold"`
}

func handleLegalHold(logger *slog.Logger, p custodian.PrivacyService) http.Handler {
	return handle(logger, func(r *http.Request, b *legalHoldBody) (int, any, error) {
		hold, err := p.SetLegalHold(r.Context(), r.PathValue("id"), b.Active, b.Reason)
		return http.StatusOK, legalHoldJSON{hold}, err
	})
}

// eraseBody is an erasure request; the reason is required and recorded.
type eraseBody struct {
	Reason string `json:"reason"`
}

// erasureJSON is the answer to an erasure: the tombstone, and whether the
// customer had been erased before (erasing again is idempotent).
type erasureJSON struct {
	*custodian.Tombstone
	AlreadyErased bool `json:"already_erased"`
}

func handleErase(logger *slog.Logger, p custodian.PrivacyService) http.Handler {
	return handle(logger, func(r *http.Request, b *eraseBody) (int, any, error) {
		t, again, err := p.EraseCustomer(r.Context(), r.PathValue("id"), b.Reason)
		return http.StatusOK, erasureJSON{t, again}, err
	})
}

func handleExport(logger *slog.Logger, p custodian.PrivacyService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := p.ExportCustomer(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		writeExport(w, e)
	})
}

// writeExport answers with an export as a JSON file to save (the API's and
// the web interface's export alike). Customer ids are letters and digits,
// so the file name needs no quoting.
func writeExport(w http.ResponseWriter, e *custodian.Export) {
	w.Header().Set("Content-Disposition", `attachment; filename="`+e.CustomerID+`.json"`)
	writeJSON(w, http.StatusOK, e)
}

// activitiesJSON lists a customer's logged activities, newest first.
type activitiesJSON struct {
	Activities []custodian.Activity `json:"activities"`
}

func handleActivities(logger *slog.Logger, a custodian.ActivityService) http.Handler {
	return handle(logger, func(r *http.Request, _ *none) (int, any, error) {
		acts, err := a.Activities(r.Context(), r.PathValue("id"))
		return http.StatusOK, activitiesJSON{acts}, err
	})
}

func handleLogActivity(logger *slog.Logger, a custodian.ActivityService) http.Handler {
	return handle(logger, func(r *http.Request, in *custodian.ActivityInput) (int, any, error) {
		act, err := a.LogActivity(r.Context(), r.PathValue("id"), *in)
		return http.StatusCreated, act, err
	})
}
