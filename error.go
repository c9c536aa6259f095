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
	// Format and Args are Message before formatting, when it was made
	// from a format: the web interface translates Format as a message id
	// and formats Args into it. They are not part of the API.
	Format string `json:"-"`
	Args   []any  `json:"-"`
}

// Error is the domain's error: a code callers can branch on, a message safe
// to show to the client, and the fields at fault when input was refused.
// Internal causes are wrapped (Err) for logs and errors.Is, never shown.
// What only some failures carry comes in an error type of its own that
// wraps an *Error (RetryError, GoneError), found with errors.As.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	Err     error
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

// RetryError is a refusal that waiting overcomes, such as a sign-in
// lockout: it wraps the refusal (usually an *Error with ETOOMANY, which
// still gives the code and message) and says how long the caller must wait
// before trying again, which the transport sends as Retry-After. Find it
// with errors.As.
type RetryError struct {
	// Err is the refusal.
	Err error
	// After is how long to wait before the next attempt.
	After time.Duration
}

// Error returns the refusal's text.
func (e *RetryError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("retry after %v", e.After)
	}
	return e.Err.Error()
}

// Unwrap returns the refusal.
func (e *RetryError) Unwrap() error { return e.Err }

// GoneError is the error for a customer that was erased: it wraps an
// *Error with EGONE (the code and client-safe message) and carries the
// tombstone, what remains of the customer, which the answer shows (it holds
// nothing personal). Make one with Gone; find it with errors.As.
type GoneError struct {
	// Err is the EGONE error the client is told.
	Err *Error
	// Tombstone is what remains of the erased customer.
	Tombstone *Tombstone
}

// Gone returns the error for the customer erased as t says: EGONE, with a
// message giving the time of the erasure, carrying t.
func Gone(t *Tombstone) *GoneError {
	return &GoneError{
		Err:       Errorf(EGONE, "This customer's personal data was erased on %s.", t.ErasedAt.Format(time.RFC3339)),
		Tombstone: t,
	}
}

// Error returns the wrapped error's text.
func (e *GoneError) Error() string {
	if e.Err == nil {
		return EGONE
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped EGONE error.
func (e *GoneError) Unwrap() error {
	if e.Err == nil {
		return nil // not a nil *Error in a non-nil interface
	}
	return e.Err
}
