package http

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/custodian-crm/custodian"
	"github.com/custodian-crm/custodian/ratelimit"
)

// Transport-level error codes, alongside the domain's.
const (
	codeTooLarge         = "too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeMethodNotAllowed = "method_not_allowed"
	codeMalformed        = "malformed"
)

// statusOf maps every error code to its HTTP status. It is the only place
// that does.
var statusOf = map[string]int{
	custodian.EINVALID:      http.StatusBadRequest,
	codeMalformed:           http.StatusBadRequest,
	codeBadHost:             http.StatusBadRequest,
	custodian.EUNAUTHORIZED: http.StatusUnauthorized,
	custodian.EFORBIDDEN:    http.StatusForbidden,
	custodian.ENOTFOUND:     http.StatusNotFound,
	custodian.EGONE:         http.StatusGone,
	codeMethodNotAllowed:    http.StatusMethodNotAllowed,
	custodian.ECONFLICT:     http.StatusConflict,
	custodian.EPRECONDITION: http.StatusPreconditionFailed,
	codeTooLarge:            http.StatusRequestEntityTooLarge,
	codeUnsupportedMedia:    http.StatusUnsupportedMediaType,
	custodian.EREQUIRED:     http.StatusPreconditionRequired,
	custodian.ETOOMANY:      http.StatusTooManyRequests,
	custodian.EINTERNAL:     http.StatusInternalServerError,
	custodian.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// Problem is an RFC 9457 problem details body, with the field errors and a
// stable code that clients can branch on, and the request id that support
// can find in the logs.
type Problem struct {
	Type      string                 `json:"type"`
	Title     string                 `json:"title"`
	Status    int                    `json:"status"`
	Detail    string                 `json:"detail,omitempty"`
	Instance  string                 `json:"instance,omitempty"`
	Code      string                 `json:"code"`
	Errors    []custodian.FieldError `json:"errors,omitempty"`
	RequestID string                 `json:"request_id,omitempty"`
	// Tombstone, on 410 answers, is what remains of an erased customer.
	Tombstone *custodian.Tombstone `json:"tombstone,omitempty"`
}

// writeError answers with the problem err describes. Internal errors are
// logged with their cause and answered with a generic text: no cause, stack
// or query reaches the client.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status, code := problemStatus(err)
	retry, isRetry := errors.AsType[*custodian.RetryError](err)
	if isRetry && retry.After > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(retry.After)))
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="custodian"`)
	}
	switch {
	case status >= 500 && isRetry:
		// A refusal that waiting overcomes (the server is busy), not a
		// failure: a flood of them must not flood the error log.
		logger.WarnContext(r.Context(), "request refused; retry later", "request_id", requestID(r.Context()), "code", code)
	case status >= 500:
		logger.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "code", code, "err", err)
	}
	p := Problem{Status: status, Code: code, Detail: custodian.ErrorMessage(err), Errors: custodian.ErrorFields(err)}
	if gone, ok := errors.AsType[*custodian.GoneError](err); ok {
		p.Tombstone = gone.Tombstone
	}
	writeProblem(w, r, p)
}

// problemStatus returns the status and the code of the problem err
// describes: an error whose code has no status is an internal error.
func problemStatus(err error) (int, string) {
	code := custodian.ErrorCode(err)
	if status, ok := statusOf[code]; ok {
		return status, code
	}
	return http.StatusInternalServerError, custodian.EINTERNAL
}

// writeProblem writes p, filling in the standard members.
func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if r != nil {
		p.Instance = r.URL.Path
		p.RequestID = requestID(r.Context())
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	h.Del("Location")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p) // the client may be gone; nothing to do
}

// errorf returns a transport-level error with a client-safe message.
func errorf(code, msg string, fields ...custodian.FieldError) error {
	return &custodian.Error{Code: code, Message: msg, Fields: fields}
}
