package custodian

import (
	"errors"
	"fmt"
	"time"
)

// Error codes name the kinds of failure that callers must tell apart. The
// transport layer maps each code to exactly one status, in one place.
const (
	EINVALID      = "invalid"               // the input failed validation
	ENOTFOUND     = "not_found"             // the resource does not exist (or may not be seen)
	ECONFLICT     = "conflict"              // the request conflicts with the current state
	EPRECONDITION = "precondition"          // an If-Match precondition did not hold
	EUNAVAILABLE  = "unavailable"           // a dependency is down; retrying may help
	EINTERNAL     = "internal"              // anything else; never shown in detail to clients
	EUNAUTHORIZED = "unauthorized"          // the caller is not authenticated
	EFORBIDDEN    = "forbidden"             // the caller may not do this
	ETOOMANY      = "too_many"              // the caller is over a limit
	EREQUIRED     = "precondition_required" // a conditional request was required
	EGONE         = "gone"                  // the resource existed and was erased
)

// FieldError names one input field at fault and says why, in words a person
// can act on. Field uses dotted JSON paths such as "address.country".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the domain's error: a code callers can branch on, a message safe
// to show to the client, and the fields at fault when input was refused.
// Internal causes are wrapped (Err) for logs and errors.Is, never shown.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	Err     error
	// RetryAfter, when set, tells the client how long to wait before
	// trying again (ETOOMANY).
	RetryAfter time.Duration
	// Tombstone, with EGONE, is what remains of an erased customer: the
	// answer shows it (it holds nothing personal).
	Tombstone *Tombstone
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the message of the
// first *Error in its chain, or a generic text for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "An internal error occurred."
}

// ErrorFields returns the field errors carried by err, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorRetryAfter returns how long err asks the client to wait, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorTombstone returns the tombstone carried by err, if any.
func ErrorTombstone(err error) *Tombstone {
	var e *Error
	if errors.As(err, &e) {
		return e.Tombstone
	}
	return nil
}
