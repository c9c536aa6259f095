package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/custodian-crm/custodian"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// readJSON reads a request body that must be one JSON value in a JSON
// media type, at most MaxBodyBytes, in valid UTF-8. It returns the raw
// bytes for decodeStrict.
func readJSON(w http.ResponseWriter, r *http.Request, mediaTypes ...string) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	ok := err == nil && (mt == "application/json" || contains(mediaTypes, mt))
	if cs, has := params["charset"]; ok && has && !strings.EqualFold(cs, "utf-8") {
		ok = false
	}
	if !ok {
		return nil, errorf(codeUnsupportedMedia, fmt.Sprintf("The request body must be %s in UTF-8.", strings.Join(append([]string{"application/json"}, mediaTypes...), " or ")))
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errorf(codeTooLarge, fmt.Sprintf("The request body must be at most %d bytes.", MaxBodyBytes))
		}
		return nil, errorf(codeMalformed, "The request body could not be read.")
	}
	if !utf8.Valid(b) {
		return nil, errorf(codeMalformed, "The request body is not valid UTF-8.")
	}
	return b, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// decodeStrict decodes exactly one JSON value into dst, refusing unknown
// fields and trailing data, and turns decoder errors into messages that
// name the field at fault. path prefixes field names ("address.").
func decodeStrict(b []byte, dst any, path string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, path)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(codeMalformed, "The request body must hold a single JSON value.")
	}
	return nil
}

func jsonError(err error, path string) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return errorf(codeMalformed, fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntax.Offset))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(codeMalformed, "The request body is empty or cut short.")
	case errors.As(err, &typ):
		field := path + typ.Field
		if field == "" {
			return errorf(codeMalformed, fmt.Sprintf("The request body must be a JSON %s.", "object"))
		}
		return errorf(custodian.EINVALID, "The request has invalid fields.", custodian.FieldError{Field: field, Message: fmt.Sprintf("Must be a JSON %s.", jsonKind(typ.Type.Kind().String()))})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errorf(custodian.EINVALID, "The request has unknown fields.", custodian.FieldError{Field: path + name, Message: "Unknown field."})
	}
	return errorf(codeMalformed, "The request body is not valid JSON.")
}

func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "int", "int64", "float64":
		return "number"
	}
	return k
}
