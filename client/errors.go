package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// The stable codes of the server's problems (Problem.Code), to branch on.
const (
	CodeInvalid              = "invalid"                // input refused; Errors names the fields (400)
	CodeMalformed            = "malformed"              // the body is not one JSON value in UTF-8 (400)
	CodeBadHost              = "bad_host"               // the server does not serve this host name (400)
	CodeUnauthorized         = "unauthorized"           // no valid credentials, or a wrong password (401)
	CodeForbidden            = "forbidden"              // the caller may not do this (403)
	CodeNotFound             = "not_found"              // nothing there, or an invalid or used token (404)
	CodeMethodNotAllowed     = "method_not_allowed"     // the path has no such operation (405)
	CodeConflict             = "conflict"               // conflicts with the current state, such as a legal hold (409)
	CodeGone                 = "gone"                   // the customer was erased; Tombstone says when (410)
	CodePreconditionFailed   = "precondition"           // If-Match names a stale version (412)
	CodeTooLarge             = "too_large"              // the body is over 1 MiB (413)
	CodeUnsupportedMediaType = "unsupported_media_type" // the body is not JSON (415)
	CodePreconditionRequired = "precondition_required"  // If-Match is missing (428)
	CodeTooMany              = "too_many"               // over a rate limit; RetryAfter says how long to wait (429)
	CodeInternal             = "internal"               // the server failed; RequestID finds it in its log (500)
	CodeUnavailable          = "unavailable"            // a dependency is down; retrying later may help (503)
)

// Error is a refusal from the server: the problem details it answered
// with (RFC 9457), and how long it asked to wait before trying again. An
// answer that is not a problem (from a proxy in front of the server, say)
// is an Error with the status, its text as Title and an empty Code.
type Error struct {
	Problem
	// RetryAfter is the wait the Retry-After header asked for, or 0.
	RetryAfter time.Duration
}

// Error describes the refusal: status, code, detail and field errors.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "custodian: %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	switch {
	case e.Detail != "":
		fmt.Fprintf(&b, ": %s", e.Detail)
	case e.Title != "":
		fmt.Fprintf(&b, ": %s", e.Title)
	}
	for i, f := range e.Errors {
		sep := "; "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(&b, "%s%s: %s", sep, f.Field, f.Message)
		if i == len(e.Errors)-1 {
			b.WriteByte(')')
		}
	}
	return b.String()
}

// Field returns the message of the field error about field, and whether
// there is one.
func (e *Error) Field(field string) (string, bool) {
	for _, f := range e.Errors {
		if f.Field == field {
			return f.Message, true
		}
	}
	return "", false
}

// ErrorCode returns the problem code of err when it is (or wraps) an
// *Error, else "".
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ""
}

// maxProblem bounds the problem body read.
const maxProblem = 1 << 20

// readError reads a refusal into an *Error.
func readError(resp *http.Response) error {
	e := &Error{Problem: Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}}
	if d, ok := retryAfter(resp.Header, time.Now()); ok {
		e.RetryAfter = d
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProblem))
	if err != nil {
		return fmt.Errorf("%w (reading the problem: %w)", e, err)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/problem+json" {
		return e
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("%w (decoding the problem: %w)", e, err)
	}
	p.Status = resp.StatusCode // the status line is what happened
	if p.Title == "" {
		p.Title = e.Title
	}
	e.Problem = p
	return e
}
